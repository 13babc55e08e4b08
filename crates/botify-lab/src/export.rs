//! Event logs as Parquet for warehouses (DuckDB, Spark, BigQuery…): the course schema as typed
//! columns, the experiment assignments as one column per experiment, one Hive-style partition
//! per UTC day (`DIR/day=2026-12-03/part-0.parquet`).
//!
//! Written with the parquet crate's column writers (no Arrow arrays: the log's eight kinds of
//! column do not need them), Snappy-compressed, in row groups of at most [`ROW_GROUP`] rows, so
//! memory stays bounded whatever the log's size. Lines the reader rejects are skipped and
//! counted, as `botify ab` does.

use crate::{Error, Result};
use botify_core::events::{EventView, ReadStats, fold_lines, log_files, parse_view};
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{Type, TypePtr};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per row group: about 40 MB of buffered columns per day being written.
pub const ROW_GROUP: usize = 1 << 19;

/// Prefix of the per-experiment columns: `experiment_AB` holds each line's treatment in `AB`.
pub const EXPERIMENT_PREFIX: &str = "experiment_";

const MS_PER_DAY: u64 = 86_400_000;

/// What an export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Exported {
    /// (UTC day, file, rows), by day.
    pub files: Vec<(String, PathBuf, u64)>,
    /// The experiments found, in column order.
    pub experiments: Vec<String>,
    pub read: ReadStats,
}

/// Writes the events of the log files or directories `logs` as Parquet under `out`, which must
/// not exist or be empty (a partial export never mixes with an older one). `on_file(done,
/// total)` reports progress over the log files.
pub fn export_parquet(
    logs: &[PathBuf],
    out: &Path,
    mut on_file: impl FnMut(usize, usize),
) -> Result<Exported> {
    let files = log_files(logs)?;
    if out.exists() {
        let mut entries = std::fs::read_dir(out).map_err(|e| io(out, e))?;
        if entries.next().is_some() {
            return Err(Error::Invalid(format!(
                "{} is not empty: export into a new directory (nothing was written)",
                out.display()
            )));
        }
    }
    // First pass: the experiments, so that every file has the same columns.
    let (experiments, _) = fold_lines(
        logs,
        BTreeSet::<String>::new,
        |seen, line, _| {
            for (k, _) in parse_view(line)?.pairs() {
                if !seen.contains(k) {
                    seen.insert(k.to_string());
                }
            }
            Ok(())
        },
        |mut a, b| {
            a.extend(b);
            a
        },
    )?;
    let experiments: Vec<String> = experiments.into_iter().collect();
    let column: BTreeMap<&str, usize> = experiments
        .iter()
        .enumerate()
        .map(|(i, e)| (e.as_str(), i))
        .collect();
    let schema = schema(&experiments)?;
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP))
            .set_created_by(format!("botify {}", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let mut days: BTreeMap<u64, Partition> = BTreeMap::new();
    let mut read = ReadStats::default();
    let result = (|| {
        for (i, file) in files.iter().enumerate() {
            let text = std::fs::read(file).map_err(|e| io(file, e))?;
            for (n, line) in text.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let v = match parse_view(line) {
                    Ok(v) => v,
                    Err(reason) => {
                        read.skipped += 1;
                        if read.skipped_examples.len() < 5 {
                            read.skipped_examples.push(format!(
                                "{}:{}: {reason}",
                                file.display(),
                                n + 1
                            ));
                        }
                        continue;
                    }
                };
                read.events += 1;
                let day = v.timestamp / MS_PER_DAY;
                let part = match days.entry(day) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => e.insert(Partition::create(
                        out,
                        day,
                        schema.clone(),
                        props.clone(),
                        &experiments,
                    )?),
                };
                part.push(&v, &column);
                if part.rows.len() >= ROW_GROUP {
                    part.flush()?;
                }
            }
            read.files += 1;
            on_file(i + 1, files.len());
        }
        let mut written = Vec::new();
        for (_, part) in std::mem::take(&mut days) {
            written.push(part.finish()?);
        }
        Ok(written)
    })();
    match result {
        Ok(files) => Ok(Exported {
            files,
            experiments,
            read,
        }),
        Err(e) => {
            // No half-written file is left looking complete.
            for part in days.values() {
                let _ = std::fs::remove_file(&part.tmp);
            }
            Err(e)
        }
    }
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

/// The course schema: message, timestamp (ms, UTC), user, track, time, latency (s),
/// recommendation (null on `last`), then one nullable string column per experiment.
fn schema(experiments: &[String]) -> Result<TypePtr> {
    let column = |name: &str, physical, logical: Option<LogicalType>, repetition| {
        Type::primitive_type_builder(name, physical)
            .with_repetition(repetition)
            .with_logical_type(logical)
            .build()
            .map(Arc::new)
            .map_err(|e| pq(&format!("column {name:?}"), e))
    };
    let (req, opt) = (Repetition::REQUIRED, Repetition::OPTIONAL);
    let mut fields = vec![
        column(
            "message",
            Physical::BYTE_ARRAY,
            Some(LogicalType::String),
            req,
        )?,
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
    ];
    for e in experiments {
        fields.push(column(
            &format!("{EXPERIMENT_PREFIX}{e}"),
            Physical::BYTE_ARRAY,
            Some(LogicalType::String),
            opt,
        )?);
    }
    Type::group_type_builder("botify_event")
        .with_fields(fields)
        .build()
        .map(Arc::new)
        .map_err(|e| pq("schema", e))
}

/// One buffered row: the treatments as indices into the partition's names.
struct Row {
    last: bool,
    timestamp: i64,
    user: i64,
    track: i64,
    time: f32,
    latency: f64,
    recommendation: Option<i64>,
}

/// One day's file being written: rows buffered up to a row group.
struct Partition {
    day: String,
    tmp: PathBuf,
    path: PathBuf,
    writer: SerializedFileWriter<File>,
    rows: Vec<Row>,
    /// Per experiment (in column order), each buffered row's treatment.
    treatments: Vec<Vec<Option<u32>>>,
    /// Treatment names met so far, as shared byte arrays (cloning one is a reference count).
    names: Vec<ByteArray>,
    index: std::collections::HashMap<String, u32>,
    total: u64,
}

impl Partition {
    fn create(
        out: &Path,
        day: u64,
        schema: TypePtr,
        props: Arc<WriterProperties>,
        experiments: &[String],
    ) -> Result<Partition> {
        let name = civil_date(day);
        let dir = out.join(format!("day={name}"));
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let path = dir.join("part-0.parquet");
        let tmp = dir.join("part-0.parquet.partial");
        let file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let writer = SerializedFileWriter::new(file, schema, props)
            .map_err(|e| pq(&tmp.display().to_string(), e))?;
        Ok(Partition {
            day: name,
            tmp,
            path,
            writer,
            rows: Vec::with_capacity(1024),
            treatments: vec![Vec::new(); experiments.len()],
            names: Vec::new(),
            index: Default::default(),
            total: 0,
        })
    }

    /// Buffers one event; `column` maps an experiment to its index among the experiment columns.
    fn push(&mut self, v: &EventView, column: &BTreeMap<&str, usize>) {
        self.rows.push(Row {
            last: v.last,
            timestamp: v.timestamp as i64,
            user: i64::from(v.user),
            track: i64::from(v.track),
            time: v.time,
            latency: v.latency,
            recommendation: v.recommendation.map(i64::from),
        });
        for t in &mut self.treatments {
            t.push(None);
        }
        for (k, treatment) in v.pairs() {
            let Some(&col) = column.get(k) else {
                continue;
            };
            let id = match self.index.get(treatment) {
                Some(&id) => id,
                None => {
                    let id = self.names.len() as u32;
                    self.names
                        .push(ByteArray::from(treatment.as_bytes().to_vec()));
                    self.index.insert(treatment.to_string(), id);
                    id
                }
            };
            if let Some(slot) = self.treatments[col].last_mut() {
                *slot = Some(id);
            }
        }
    }

    /// Writes the buffered rows as one row group.
    fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let what = self.tmp.display().to_string();
        let fail = |e| pq(&what, e);
        let rows = std::mem::take(&mut self.rows);
        let (next, last) = (ByteArray::from("next"), ByteArray::from("last"));
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
                    let def: Vec<i16> = rows
                        .iter()
                        .map(|r| i16::from(r.recommendation.is_some()))
                        .collect();
                    w.write_batch(&v, Some(&def), None)
                }
                (i, ColumnWriter::ByteArrayColumnWriter(w)) if i >= 7 => {
                    let t = std::mem::take(&mut self.treatments[i - 7]);
                    let v: Vec<ByteArray> = t
                        .iter()
                        .flatten()
                        .map(|&id| self.names[id as usize].clone())
                        .collect();
                    let def: Vec<i16> = t.iter().map(|x| i16::from(x.is_some())).collect();
                    w.write_batch(&v, Some(&def), None)
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
        Ok(())
    }

    /// Flushes, closes and moves the file to its final name.
    fn finish(mut self) -> Result<(String, PathBuf, u64)> {
        self.flush()?;
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

    #[test]
    fn days_become_partitions_with_typed_columns_and_one_column_per_experiment() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        std::fs::create_dir(&log).unwrap();
        let day = MS_PER_DAY * 20_790;
        let lines = [
            format!(
                r#"{{"message": "next", "timestamp": {}, "user": 7, "track": 3, "time": 0.5, "latency": 0.001, "recommendation": 9, "experiments": {{"AB": "T1", "HW": "C"}}}}"#,
                day + 5
            ),
            "not json".to_string(),
            format!(
                r#"{{"message": "last", "timestamp": {}, "user": 7, "track": 9, "time": 1.0, "latency": 0.002, "recommendation": null, "experiments": {{"AB": "T1"}}}}"#,
                day + 6
            ),
            format!(
                r#"{{"message": "next", "timestamp": {}, "user": 8, "track": 4, "time": 0.25, "latency": 0.003, "recommendation": 1, "experiments": {{}}}}"#,
                day + MS_PER_DAY
            ),
        ];
        std::fs::write(log.join("data.json"), lines.join("\n")).unwrap();
        let out = dir.path().join("pq");
        let mut progress = Vec::new();
        let done = export_parquet(std::slice::from_ref(&log), &out, |i, n| {
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
        let cols: Vec<(String, Field)> = first[0]
            .get_column_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
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
                "experiment_AB",
                "experiment_HW"
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
        assert_eq!(
            (cols[7].1.clone(), cols[8].1.clone()),
            (Field::Str("T1".into()), Field::Str("C".into()))
        );
        let second: Vec<(String, Field)> = first[1]
            .get_column_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(second[0].1, Field::Str("last".into()));
        assert_eq!(
            (second[6].1.clone(), second[8].1.clone()),
            (Field::Null, Field::Null)
        );
        let next_day = records(&done.files[1].1);
        assert_eq!(next_day.len(), 1);
        // A second export into the same directory is refused and changes nothing.
        let err = export_parquet(&[log], &out, |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("not empty"), "{err}");
        assert_eq!(records(&done.files[0].1).len(), 2);
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
        let done = export_parquet(&[dir.path().join("data.json")], &out, |_, _| {}).unwrap();
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
