//! Event logs as Parquet for warehouses (DuckDB, Spark, BigQuery…): the course schema as typed
//! columns, the propensity, and the experiment assignments as one map column (so every file has
//! the same schema whatever experiments its day ran), one Hive-style partition per UTC day
//! (`DIR/day=2026-12-03/part-0.parquet`).
//!
//! An export directory remembers how far it has read each log file (`_botify_export.json`), so
//! `append` writes only the lines logged since, as new `part-N` files of their days. A file is
//! known by its directory and its first line, which rotation (`data.json` → `data.json.1`) keeps.
//!
//! Written with the parquet crate's column writers (no Arrow arrays: the log's columns do not
//! need them), Snappy-compressed, in row groups of at most [`ROW_GROUP`] rows, so memory stays
//! bounded whatever the log's size. Lines the reader rejects are skipped and counted, as
//! `botify ab` does.

use crate::{Error, Result};
use botify_core::events::{EventView, ReadStats, log_files, parse_view};
use botify_core::hash::FastMap;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{Type, TypePtr};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per row group: about 40 MB of buffered columns per day being written.
pub const ROW_GROUP: usize = 1 << 19;

/// The file in an export directory that records what has been exported.
pub const STATE_FILE: &str = "_botify_export.json";

const MS_PER_DAY: u64 = 86_400_000;

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Exported {
    /// (UTC day, file, rows), by day.
    pub files: Vec<(String, PathBuf, u64)>,
    /// The experiments met in the lines written.
    pub experiments: Vec<String>,
    pub read: ReadStats,
    /// Log files read from where an earlier export stopped (0 on a first export).
    pub resumed: usize,
}

/// How far an export directory has read the logs.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Export runs so far: the next run writes `part-{runs}.parquet`.
    runs: u64,
    files: Vec<FileProgress>,
}

/// One log file's progress: its directory, its first line (its identity across rotations) and the
/// bytes of whole lines exported.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileProgress {
    dir: PathBuf,
    first_line: String,
    bytes: u64,
}

/// Writes the events of the log files or directories `logs` as Parquet under `out`. Without
/// `append`, `out` must not exist or be empty (a partial export never mixes with an older one);
/// with it, an earlier export there is continued: only lines logged since are written (a new
/// directory starts a first export). A trailing line without its newline (being written) waits
/// for the next run. `on_file(done, total)` reports progress over the log files.
pub fn export_parquet(
    logs: &[PathBuf],
    out: &Path,
    append: bool,
    mut on_file: impl FnMut(usize, usize),
) -> Result<Exported> {
    let files = log_files(logs)?;
    let state_path = out.join(STATE_FILE);
    let mut state = if out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| io(out, e))?
            .next()
            .is_some()
    {
        if !append {
            return Err(Error::Invalid(format!(
                "{} is not empty: export into a new directory, or add --append to continue the \
                 export there (nothing was written)",
                out.display()
            )));
        }
        let text = std::fs::read_to_string(&state_path).map_err(|e| {
            Error::Invalid(format!(
                "{} is not an export directory ({}: {e}); nothing was written",
                out.display(),
                state_path.display()
            ))
        })?;
        serde_json::from_str::<State>(&text).map_err(|e| {
            Error::Invalid(format!(
                "{}: {e}; nothing was written",
                state_path.display()
            ))
        })?
    } else {
        State::default()
    };
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_created_by(format!("botify {}", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let schema = schema()?;
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let part = format!("part-{}.parquet", state.runs);
    let mut days: BTreeMap<u64, Partition> = BTreeMap::new();
    let mut finished: Vec<(String, PathBuf, u64)> = Vec::new();
    let mut read = ReadStats::default();
    let mut resumed = 0;
    let mut names = Names::default();
    let mut progress = state.files.clone();
    let result = (|| {
        for (i, file) in files.iter().enumerate() {
            let Some(Unexported { text, start, index }) = unexported(file, &mut progress)? else {
                read.files += 1;
                on_file(i + 1, files.len());
                continue;
            };
            resumed += usize::from(start > 0);
            // Whole lines only: a line still being written waits for the next run.
            let whole = text.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            for (n, line) in text[..whole].split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let v = match parse_view(line) {
                    Ok(v) => v,
                    Err(reason) => {
                        read.skipped += 1;
                        if read.skipped_examples.len() < 5 {
                            let at = if start == 0 {
                                format!(":{}", n + 1)
                            } else {
                                format!(" (byte {start} on, line {})", n + 1)
                            };
                            read.skipped_examples
                                .push(format!("{}{at}: {reason}", file.display()));
                        }
                        continue;
                    }
                };
                read.events += 1;
                let day = v.timestamp / MS_PER_DAY;
                let p =
                    match days.entry(day) {
                        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::btree_map::Entry::Vacant(e) => e.insert(
                            Partition::create(out, day, &part, schema.clone(), props.clone())?,
                        ),
                    };
                p.push(&v, &mut names);
                if p.rows.len() >= ROW_GROUP {
                    p.flush(&names)?;
                }
            }
            progress[index].bytes = start + whole as u64;
            read.files += 1;
            on_file(i + 1, files.len());
        }
        for (_, p) in std::mem::take(&mut days) {
            finished.push(p.finish(&names)?);
        }
        state.runs += 1;
        state.files = std::mem::take(&mut progress);
        write_state(&state_path, &state)
    })();
    match result {
        Ok(()) => Ok(Exported {
            files: finished,
            experiments: names.experiments(),
            read,
            resumed,
        }),
        Err(e) => {
            // No half-written file is left looking complete, and none of this run stays: the
            // state still says where the next run starts.
            for p in days.values() {
                let _ = std::fs::remove_file(&p.tmp);
            }
            for (_, path, _) in &finished {
                let _ = std::fs::remove_file(path);
            }
            Err(e)
        }
    }
}

/// What a log file has that no export took yet.
struct Unexported {
    /// Its bytes from where the export stopped.
    text: Vec<u8>,
    /// That offset.
    start: u64,
    /// Its entry in the progress record (a new file's is added at offset 0).
    index: usize,
}

/// The unexported part of `file`, or None when it has nothing new. The record is committed only
/// when the whole run succeeds, so entries added here are lost with a failed run.
fn unexported(file: &Path, progress: &mut Vec<FileProgress>) -> Result<Option<Unexported>> {
    let mut f = File::open(file).map_err(|e| io(file, e))?;
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut f, &mut head).map_err(|e| io(file, e))?;
    head.truncate(n);
    if !head.contains(&b'\n') {
        // No whole line yet (or a first line longer than any event): nothing to export now.
        if n == head.capacity() {
            return Err(Error::Invalid(format!(
                "{}: its first line is longer than 64 KiB: not an event log",
                file.display()
            )));
        }
        return Ok(None);
    }
    let dir = log_dir(file)?;
    let first = first_line(&head);
    let index = match progress
        .iter()
        .position(|p| p.dir == dir && p.first_line == first)
    {
        Some(k) => k,
        None => {
            progress.push(FileProgress {
                dir,
                first_line: first.to_string(),
                bytes: 0,
            });
            progress.len() - 1
        }
    };
    let start = progress[index].bytes;
    let size = f.metadata().map_err(|e| io(file, e))?.len();
    if size < start {
        return Err(Error::Invalid(format!(
            "{}: {size} bytes, but {start} were exported from it before: the file was cut \
             (nothing was written)",
            file.display()
        )));
    }
    if size == start {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(start)).map_err(|e| io(file, e))?;
    let mut text = Vec::with_capacity((size - start) as usize);
    f.read_to_end(&mut text).map_err(|e| io(file, e))?;
    Ok(Some(Unexported { text, start, index }))
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn first_line(text: &[u8]) -> &str {
    let end = text.iter().position(|&b| b == b'\n').unwrap_or(text.len());
    std::str::from_utf8(&text[..end]).unwrap_or("")
}

fn log_dir(file: &Path) -> Result<PathBuf> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    dir.canonicalize().map_err(|e| io(dir, e))
}

/// The state, written to a temporary file and renamed, so a crash leaves the old one whole.
fn write_state(path: &Path, state: &State) -> Result<()> {
    let tmp = path.with_extension("json.partial");
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn pq(what: &str, e: parquet::errors::ParquetError) -> Error {
    Error::Invalid(format!("{what}: {e}"))
}

/// The schema, the same for every file: message, timestamp (ms, UTC), user, track, time, latency
/// (s), recommendation (null on `last`), propensity (null where not logged), and `experiments`,
/// a map from experiment name to treatment.
fn schema() -> Result<TypePtr> {
    let column = |name: &str, physical, logical: Option<LogicalType>, repetition| {
        Type::primitive_type_builder(name, physical)
            .with_repetition(repetition)
            .with_logical_type(logical)
            .build()
            .map(Arc::new)
            .map_err(|e| pq(&format!("column {name:?}"), e))
    };
    let (req, opt) = (Repetition::REQUIRED, Repetition::OPTIONAL);
    let string = Some(LogicalType::String);
    let key_value = Type::group_type_builder("key_value")
        .with_repetition(Repetition::REPEATED)
        .with_fields(vec![
            column("key", Physical::BYTE_ARRAY, string.clone(), req)?,
            column("value", Physical::BYTE_ARRAY, string.clone(), req)?,
        ])
        .build()
        .map_err(|e| pq("experiments", e))?;
    let experiments = Type::group_type_builder("experiments")
        .with_repetition(req)
        .with_logical_type(Some(LogicalType::Map))
        .with_fields(vec![Arc::new(key_value)])
        .build()
        .map_err(|e| pq("experiments", e))?;
    let fields = vec![
        column("message", Physical::BYTE_ARRAY, string, req)?,
        column(
            "timestamp",
            Physical::INT64,
            Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
            req,
        )?,
        column("user", Physical::INT64, None, req)?,
        column("track", Physical::INT64, None, req)?,
        column("time", Physical::FLOAT, None, req)?,
        column("latency", Physical::DOUBLE, None, req)?,
        column("recommendation", Physical::INT64, None, opt)?,
        column("propensity", Physical::DOUBLE, None, opt)?,
        Arc::new(experiments),
    ];
    Type::group_type_builder("botify_event")
        .with_fields(fields)
        .build()
        .map(Arc::new)
        .map_err(|e| pq("schema", e))
}

/// Experiment and treatment names met so far, as shared byte arrays (cloning one is a reference
/// count), each written once per row group by index.
#[derive(Default)]
struct Names {
    bytes: Vec<ByteArray>,
    index: FastMap<Box<str>, u32>,
    /// Per name id: whether it names an experiment.
    is_experiment: Vec<bool>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = self.bytes.len() as u32;
        self.bytes.push(ByteArray::from(name.as_bytes().to_vec()));
        self.is_experiment.push(false);
        self.index.insert(name.into(), id);
        id
    }

    fn experiments(&self) -> Vec<String> {
        let mut out: Vec<String> = (0..self.bytes.len())
            .filter(|&i| self.is_experiment[i])
            .map(|i| String::from_utf8_lossy(self.bytes[i].data()).into_owned())
            .collect();
        out.sort();
        out
    }
}

/// One buffered row; its assignments are `pairs[previous row's end..pairs_end]` of the partition.
struct Row {
    last: bool,
    timestamp: i64,
    user: i64,
    track: i64,
    time: f32,
    latency: f64,
    recommendation: Option<i64>,
    propensity: Option<f64>,
    pairs_end: usize,
}

/// One day's file being written: rows buffered up to a row group.
struct Partition {
    day: String,
    tmp: PathBuf,
    path: PathBuf,
    writer: SerializedFileWriter<File>,
    rows: Vec<Row>,
    /// (experiment, treatment) name ids of the buffered rows, in row order.
    pairs: Vec<(u32, u32)>,
    total: u64,
}

impl Partition {
    fn create(
        out: &Path,
        day: u64,
        part: &str,
        schema: TypePtr,
        props: Arc<WriterProperties>,
    ) -> Result<Partition> {
        let name = civil_date(day);
        let dir = out.join(format!("day={name}"));
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let path = dir.join(part);
        if path.exists() {
            return Err(Error::Invalid(format!(
                "{} exists, but {} does not count it: the export directory was changed by hand \
                 (nothing was written)",
                path.display(),
                STATE_FILE
            )));
        }
        let tmp = dir.join(format!("{part}.partial"));
        let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let writer = SerializedFileWriter::new(file, schema, props)
            .map_err(|e| pq(&tmp.display().to_string(), e))?;
        Ok(Partition {
            day: name,
            tmp,
            path,
            writer,
            rows: Vec::with_capacity(1024),
            pairs: Vec::new(),
            total: 0,
        })
    }

    /// Buffers one event.
    fn push(&mut self, v: &EventView, names: &mut Names) {
        for (experiment, treatment) in v.pairs() {
            let e = names.id(experiment);
            names.is_experiment[e as usize] = true;
            self.pairs.push((e, names.id(treatment)));
        }
        self.rows.push(Row {
            last: v.last,
            timestamp: v.timestamp as i64,
            user: i64::from(v.user),
            track: i64::from(v.track),
            time: v.time,
            latency: v.latency,
            recommendation: v.recommendation.map(i64::from),
            propensity: v.propensity,
            pairs_end: self.pairs.len(),
        });
    }

    /// Writes the buffered rows as one row group.
    fn flush(&mut self, names: &Names) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let what = self.tmp.display().to_string();
        let fail = |e| pq(&what, e);
        let rows = std::mem::take(&mut self.rows);
        let (next, last) = (ByteArray::from("next"), ByteArray::from("last"));
        // The map's levels: one entry per assignment (repetition 0 starts a row, 1 continues
        // it); an empty map is one level of definition 0 with no value.
        let mut def = Vec::with_capacity(self.pairs.len() + rows.len());
        let mut rep = Vec::with_capacity(def.capacity());
        let mut start = 0;
        for r in &rows {
            if r.pairs_end == start {
                def.push(0);
                rep.push(0);
            }
            for k in start..r.pairs_end {
                def.push(1);
                rep.push(i16::from(k > start));
            }
            start = r.pairs_end;
        }
        let name = |id: u32| names.bytes[id as usize].clone();
        let mut group = self.writer.next_row_group().map_err(fail)?;
        let mut index = 0;
        while let Some(mut col) = group.next_column().map_err(fail)? {
            let written = match (index, col.untyped()) {
                (0, ColumnWriter::ByteArrayColumnWriter(w)) => {
                    let v: Vec<ByteArray> = rows
                        .iter()
                        .map(|r| if r.last { last.clone() } else { next.clone() })
                        .collect();
                    w.write_batch(&v, None, None)
                }
                (i @ 1..=3, ColumnWriter::Int64ColumnWriter(w)) => {
                    let v: Vec<i64> = rows
                        .iter()
                        .map(|r| [r.timestamp, r.user, r.track][i - 1])
                        .collect();
                    w.write_batch(&v, None, None)
                }
                (4, ColumnWriter::FloatColumnWriter(w)) => {
                    let v: Vec<f32> = rows.iter().map(|r| r.time).collect();
                    w.write_batch(&v, None, None)
                }
                (5, ColumnWriter::DoubleColumnWriter(w)) => {
                    let v: Vec<f64> = rows.iter().map(|r| r.latency).collect();
                    w.write_batch(&v, None, None)
                }
                (6, ColumnWriter::Int64ColumnWriter(w)) => {
                    let v: Vec<i64> = rows.iter().filter_map(|r| r.recommendation).collect();
                    let d: Vec<i16> = rows
                        .iter()
                        .map(|r| i16::from(r.recommendation.is_some()))
                        .collect();
                    w.write_batch(&v, Some(&d), None)
                }
                (7, ColumnWriter::DoubleColumnWriter(w)) => {
                    let v: Vec<f64> = rows.iter().filter_map(|r| r.propensity).collect();
                    let d: Vec<i16> = rows
                        .iter()
                        .map(|r| i16::from(r.propensity.is_some()))
                        .collect();
                    w.write_batch(&v, Some(&d), None)
                }
                (i @ 8..=9, ColumnWriter::ByteArrayColumnWriter(w)) => {
                    let v: Vec<ByteArray> = self
                        .pairs
                        .iter()
                        .map(|&(e, t)| name(if i == 8 { e } else { t }))
                        .collect();
                    w.write_batch(&v, Some(&def), Some(&rep))
                }
                (i, _) => {
                    return Err(Error::Invalid(format!(
                        "{what}: column {i} has an unexpected type (a bug in the exporter)"
                    )));
                }
            };
            written.map_err(fail)?;
            col.close().map_err(fail)?;
            index += 1;
        }
        group.close().map_err(fail)?;
        self.total += rows.len() as u64;
        self.rows = rows;
        self.rows.clear();
        self.pairs.clear();
        Ok(())
    }

    /// Flushes, closes and moves the file to its final name.
    fn finish(mut self, names: &Names) -> Result<(String, PathBuf, u64)> {
        self.flush(names)?;
        let what = self.tmp.display().to_string();
        self.writer.close().map_err(|e| pq(&what, e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| io(&self.path, e))?;
        Ok((self.day, self.path, self.total))
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::{Field, Row as Record};

    fn records(path: &Path) -> Vec<Record> {
        let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
        reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    fn line(message: &str, ts: u64, user: u32, rec: &str, experiments: &str) -> String {
        format!(
            r#"{{"message": "{message}", "timestamp": {ts}, "user": {user}, "track": 3, "time": 0.5, "latency": 0.001, "recommendation": {rec}, "experiments": {{{experiments}}}}}"#
        )
    }

    fn columns(r: &Record) -> Vec<(String, Field)> {
        r.get_column_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    #[test]
    fn days_become_partitions_with_typed_columns_and_a_map_of_experiments() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::create_dir(&log).unwrap();
        let day = MS_PER_DAY * 20_790;
        let lines = [
            line("next", day + 5, 7, "9", r#""AB": "T1", "HW": "C""#)
                .replace(r#""experiments""#, r#""propensity": 0.25, "experiments""#),
            "not json".to_string(),
            line("last", day + 6, 7, "null", r#""AB": "T1""#),
            line("next", day + MS_PER_DAY, 8, "1", ""),
        ];
        std::fs::write(log.join("data.json"), lines.join("\n") + "\n").unwrap();
        let out = dir.path().join("pq");
        let mut progress = Vec::new();
        let done = export_parquet(std::slice::from_ref(&log), &out, false, |i, n| {
            progress.push((i, n))
        })
        .unwrap();
        assert_eq!(progress, vec![(1, 1)]);
        assert_eq!(done.experiments, vec!["AB", "HW"]);
        assert_eq!((done.read.events, done.read.skipped), (3, 1));
        assert!(
            done.read.skipped_examples[0].contains("data.json:2"),
            "{:?}",
            done.read
        );
        let days: Vec<(&str, u64)> = done
            .files
            .iter()
            .map(|(d, _, n)| (d.as_str(), *n))
            .collect();
        assert_eq!(days, vec![("2026-12-03", 2), ("2026-12-04", 1)]);
        assert!(out.join("day=2026-12-04/part-0.parquet").is_file());
        let first = records(&done.files[0].1);
        let cols = columns(&first[0]);
        let names: Vec<&str> = cols.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "message",
                "timestamp",
                "user",
                "track",
                "time",
                "latency",
                "recommendation",
                "propensity",
                "experiments"
            ]
        );
        assert_eq!(cols[0].1, Field::Str("next".into()));
        assert_eq!(cols[1].1, Field::TimestampMillis((day + 5) as i64));
        assert_eq!(
            (cols[2].1.clone(), cols[3].1.clone()),
            (Field::Long(7), Field::Long(3))
        );
        assert_eq!(
            (cols[4].1.clone(), cols[5].1.clone()),
            (Field::Float(0.5), Field::Double(0.001))
        );
        assert_eq!(cols[6].1, Field::Long(9));
        assert_eq!(cols[7].1, Field::Double(0.25));
        let map = |f: &Field| match f {
            Field::MapInternal(m) => m
                .entries()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
            other => panic!("experiments: {other:?}"),
        };
        assert_eq!(map(&cols[8].1), [r#""AB"="T1""#, r#""HW"="C""#]);
        let second = columns(&first[1]);
        assert_eq!(second[0].1, Field::Str("last".into()));
        assert_eq!(
            (second[6].1.clone(), second[7].1.clone()),
            (Field::Null, Field::Null)
        );
        assert_eq!(map(&second[8].1), [r#""AB"="T1""#]);
        let next_day = records(&done.files[1].1);
        assert_eq!(map(&columns(&next_day[0])[8].1), Vec::<String>::new());
        // A second export into the same directory is refused and changes nothing.
        let err = export_parquet(std::slice::from_ref(&log), &out, false, |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not empty") && err.contains("--append"),
            "{err}"
        );
        assert_eq!(records(&done.files[0].1).len(), 2);
    }

    #[test]
    fn append_writes_only_what_was_logged_since_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::create_dir(&log).unwrap();
        let day = MS_PER_DAY * 20_790;
        let data = log.join("data.json");
        let half = line("next", day + 1, 1, "2", r#""A": "C""#);
        // The second line is still being written: no newline yet.
        std::fs::write(
            &data,
            format!(
                "{}\n{}",
                line("next", day, 1, "2", r#""A": "C""#),
                &half[..20]
            ),
        )
        .unwrap();
        let out = dir.path().join("pq");
        let first = export_parquet(std::slice::from_ref(&log), &out, true, |_, _| {}).unwrap();
        assert_eq!((first.read.events, first.resumed), (1, 0));
        assert!(out.join("day=2026-12-03/part-0.parquet").is_file());
        // Nothing new: nothing written, and no empty files.
        let none = export_parquet(std::slice::from_ref(&log), &out, true, |_, _| {}).unwrap();
        assert_eq!((none.read.events, none.files.len()), (0, 0));
        // The line is finished, more follow, the file rotates and a new one starts another day
        // with another experiment.
        let mut text = std::fs::read_to_string(&data).unwrap();
        text.push_str(&half[20..]);
        text.push('\n');
        text.push_str(&(line("last", day + 2, 1, "null", r#""A": "C""#) + "\n"));
        std::fs::write(&data, text).unwrap();
        std::fs::rename(&data, log.join("data.json.1")).unwrap();
        std::fs::write(
            &data,
            line("next", day + MS_PER_DAY, 2, "5", r#""B": "T1""#) + "\n",
        )
        .unwrap();
        let second = export_parquet(std::slice::from_ref(&log), &out, true, |_, _| {}).unwrap();
        assert_eq!((second.read.events, second.resumed), (3, 1));
        assert_eq!(second.experiments, ["A", "B"]);
        let days: Vec<(&str, u64)> = second
            .files
            .iter()
            .map(|(d, _, n)| (d.as_str(), *n))
            .collect();
        assert_eq!(days, [("2026-12-03", 2), ("2026-12-04", 1)]);
        assert!(second.files[0].1.ends_with("day=2026-12-03/part-2.parquet"));
        let all: usize = [
            "day=2026-12-03/part-0.parquet",
            "day=2026-12-03/part-2.parquet",
            "day=2026-12-04/part-2.parquet",
        ]
        .iter()
        .map(|f| records(&out.join(f)).len())
        .sum();
        assert_eq!(all, 4);
        // A cut file is an error that writes nothing.
        std::fs::write(
            log.join("data.json.1"),
            line("next", day, 1, "2", r#""A": "C""#) + "\n",
        )
        .unwrap();
        let err = export_parquet(std::slice::from_ref(&log), &out, true, |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("was cut"), "{err}");
        assert!(!out.join("day=2026-12-04/part-3.parquet").exists());
        // A directory that is not an export is refused.
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("notes.txt"), "mine").unwrap();
        let err = export_parquet(&[log], &other, true, |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an export directory"), "{err}");
    }

    #[test]
    fn many_row_groups_keep_every_row_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let n = ROW_GROUP + 1000;
        let text: String = (0..n)
            .map(|i| format!("{{\"message\": \"next\", \"timestamp\": {}, \"user\": {i}, \"track\": 1, \"time\": 1.0, \"latency\": 0.0, \"recommendation\": 2, \"experiments\": {{\"E\": \"C\"}}}}\n", MS_PER_DAY + i as u64))
            .collect();
        std::fs::write(dir.path().join("data.json"), text).unwrap();
        let out = dir.path().join("pq");
        let done = export_parquet(&[dir.path().join("data.json")], &out, false, |_, _| {}).unwrap();
        assert_eq!(done.files.len(), 1);
        let reader = SerializedFileReader::new(File::open(&done.files[0].1).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 2);
        let users: Vec<i64> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| match r.unwrap().get_column_iter().nth(2) {
                Some((_, Field::Long(u))) => *u,
                other => panic!("user column: {other:?}"),
            })
            .collect();
        assert_eq!(users, (0..n as i64).collect::<Vec<_>>());
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(59), "1970-03-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(1_772_867_968_488 / MS_PER_DAY), "2026-03-07");
        assert_eq!(civil_date(20_790), "2026-12-03");
    }
}
