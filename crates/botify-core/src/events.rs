//! The event log: one JSON line per `next`/`last` call, in the course's format, and the one reader
//! that feeds both training and A/B analysis.
//!
//! `{"message": "next", "timestamp": 1772867968488, "user": 1981, "track": 525, "time": 1.0,
//!   "latency": 0.0043, "recommendation": 1236, "experiments": {"AA": "C"}}`

use crate::{Error, Result, TrackId, UserId};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Message {
    Next,
    Last,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub message: Message,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    pub user: UserId,
    pub track: TrackId,
    pub time: f32,
    /// Seconds spent in the handler.
    pub latency: f64,
    pub recommendation: Option<TrackId>,
    #[serde(default)]
    pub experiments: BTreeMap<String, String>,
}

/// Appends one event as a JSON line (with the trailing newline) without intermediate allocation.
/// `experiments` are (experiment, treatment) pairs.
#[allow(clippy::too_many_arguments)]
pub fn write_line<'a>(
    out: &mut Vec<u8>,
    message: Message,
    timestamp: u64,
    user: UserId,
    track: TrackId,
    time: f32,
    latency: f64,
    recommendation: Option<TrackId>,
    experiments: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    let msg = match message {
        Message::Next => "next",
        Message::Last => "last",
    };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{{\"message\": \"{msg}\", \"timestamp\": {timestamp}, \"user\": {user}, \"track\": {track}, \"time\": {}, \"latency\": {latency}, \"recommendation\": ",
        Float(time)
    );
    match recommendation {
        Some(r) => {
            let _ = write!(out, "{r}");
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b", \"experiments\": {");
    for (i, (name, treatment)) in experiments.into_iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        let _ = serde_json::to_writer(&mut *out, name);
        out.extend_from_slice(b": ");
        let _ = serde_json::to_writer(&mut *out, treatment);
    }
    out.extend_from_slice(b"}}\n");
}

/// Formats a listen time the way Python prints floats (`1.0`, `0.43`).
struct Float(f32);
impl std::fmt::Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.fract() == 0.0 && self.0.is_finite() {
            write!(f, "{:.1}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// The log files under `paths`: a file is taken as is; a directory contributes its `data.json`
/// and rotated backups `data.json.1`, `data.json.2`, … oldest first (`data.json.10` before
/// `data.json.2`, `data.json` last), so that reading them in order is reading the log in order.
pub fn log_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| Error::io(p, e))?;
            let mut found: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|f| {
                    f.is_file()
                        && f.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(is_log_name)
                })
                .collect();
            if found.is_empty() {
                return Err(Error::file(
                    p,
                    "holds no event log (expected data.json or data.json.N)",
                ));
            }
            found.sort_by_key(|f| std::cmp::Reverse(rotation_index(f)));
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            return Err(Error::file(p, "no such log file or directory"));
        }
    }
    Ok(files)
}

/// 0 for `data.json`, N for `data.json.N`.
fn rotation_index(f: &std::path::Path) -> u64 {
    f.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("data.json."))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn is_log_name(name: &str) -> bool {
    name == "data.json"
        || name
            .strip_prefix("data.json.")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// How reading went: files, parsed events, skipped lines and the first few reasons.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadStats {
    pub files: usize,
    pub events: u64,
    pub skipped: u64,
    /// Up to five `file:line: reason` samples of skipped lines.
    pub skipped_examples: Vec<String>,
}

impl ReadStats {
    fn merge(mut self, o: ReadStats) -> ReadStats {
        self.files += o.files;
        self.events += o.events;
        self.skipped += o.skipped;
        for e in o.skipped_examples {
            if self.skipped_examples.len() < 5 {
                self.skipped_examples.push(e);
            }
        }
        self
    }
}

/// Parallel fold over every non-blank line of every log file under `paths`: `add` parses a line
/// into its accumulator or says why the line is malformed; malformed lines are skipped and
/// counted, never fatal. Lines come in no particular order: callers order by timestamp, and break
/// ties with the line's position `(file index << 40) | byte offset`, which `add` also receives —
/// a fast service logs several calls of one user within the same millisecond, and the file order
/// of one replica is their true order.
pub fn fold_lines<A, M, F, R>(
    paths: &[PathBuf],
    make: M,
    add: F,
    merge: R,
) -> Result<(A, ReadStats)>
where
    A: Send,
    M: Fn() -> A + Sync + Send,
    F: Fn(&mut A, &[u8], u64) -> std::result::Result<(), String> + Sync + Send,
    R: Fn(A, A) -> A + Sync + Send,
{
    let files = log_files(paths)?;
    let mut acc = make();
    let mut stats = ReadStats::default();
    for (file_index, file) in files.iter().enumerate() {
        let text = std::fs::read(file).map_err(|e| Error::io(file, e))?;
        let base = (file_index as u64) << 40;
        // Parallel over ~1 MiB chunks cut at line ends; errors keep byte offsets and get their
        // line numbers afterwards (only for the few reported).
        let (a, mut s, bad) = line_chunks(&text, 1 << 20)
            .into_par_iter()
            .fold(
                || (make(), ReadStats::default(), Vec::<(usize, String)>::new()),
                |(mut a, mut s, mut bad), (from, to)| {
                    let mut at = from;
                    for line in text[from..to].split(|&b| b == b'\n') {
                        let offset = at;
                        at += line.len() + 1;
                        if line.iter().all(u8::is_ascii_whitespace) {
                            continue;
                        }
                        match add(&mut a, line, base | offset as u64) {
                            Ok(()) => s.events += 1,
                            Err(reason) => {
                                s.skipped += 1;
                                if bad.len() < 5 {
                                    bad.push((offset, reason));
                                }
                            }
                        }
                    }
                    (a, s, bad)
                },
            )
            .reduce(
                || (make(), ReadStats::default(), Vec::new()),
                |(a1, s1, mut b1), (a2, s2, b2)| {
                    b1.extend(b2);
                    (merge(a1, a2), s1.merge(s2), b1)
                },
            );
        let mut bad = bad;
        bad.sort_by_key(|(o, _)| *o);
        for (offset, reason) in bad.into_iter().take(5) {
            let line = memchr::memchr_iter(b'\n', &text[..offset]).count() + 1;
            if s.skipped_examples.len() < 5 {
                s.skipped_examples
                    .push(format!("{}:{line}: {reason}", file.display()));
            }
        }
        acc = merge(acc, a);
        stats = stats.merge(s);
        stats.files += 1;
    }
    Ok((acc, stats))
}

/// Splits `text` into ranges of about `size` bytes that end at line ends.
fn line_chunks(text: &[u8], size: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(text.len() / size + 1);
    let mut from = 0;
    while from < text.len() {
        let target = (from + size).min(text.len());
        let to = match memchr::memchr(b'\n', &text[target..]) {
            Some(i) => target + i,
            None => text.len(),
        };
        out.push((from, to));
        from = to + 1;
    }
    out
}

/// [`fold_lines`] over parsed [`Event`]s.
pub fn fold_events<A, M, F, R>(
    paths: &[PathBuf],
    make: M,
    add: F,
    merge: R,
) -> Result<(A, ReadStats)>
where
    A: Send,
    M: Fn() -> A + Sync + Send,
    F: Fn(&mut A, Event, u64) + Sync + Send,
    R: Fn(A, A) -> A + Sync + Send,
{
    fold_lines(
        paths,
        make,
        |a, line, pos| {
            add(a, parse_line(line)?, pos);
            Ok(())
        },
        merge,
    )
}

/// Parses one log line; the error says why it is not a valid event.
pub fn parse_line(line: &[u8]) -> std::result::Result<Event, String> {
    let ev: Event = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if !(0.0..=1.0).contains(&ev.time) {
        return Err(format!("time {} is outside [0, 1]", ev.time));
    }
    Ok(ev)
}

/// Reads every event under `paths` into memory (for training), sorted by (user, timestamp,
/// position in the logs).
pub fn read_events(paths: &[PathBuf]) -> Result<(Vec<Event>, ReadStats)> {
    let (mut events, stats) = fold_events(
        paths,
        Vec::new,
        |v: &mut Vec<(u64, Event)>, e, pos| v.push((pos, e)),
        |mut a, mut b| {
            if a.len() < b.len() {
                std::mem::swap(&mut a, &mut b);
            }
            a.extend(b);
            a
        },
    )?;
    events.par_sort_unstable_by_key(|(pos, e)| (e.user, e.timestamp, *pos));
    Ok((events.into_iter().map(|(_, e)| e).collect(), stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn writes_the_course_format() {
        let mut out = Vec::new();
        write_line(
            &mut out,
            Message::Next,
            1772867968488,
            1981,
            525,
            1.0,
            0.0043,
            Some(1236),
            [("AA", "C")],
        );
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "{\"message\": \"next\", \"timestamp\": 1772867968488, \"user\": 1981, \"track\": 525, \"time\": 1.0, \"latency\": 0.0043, \"recommendation\": 1236, \"experiments\": {\"AA\": \"C\"}}\n"
        );
        let ev = parse_line(out.trim_ascii_end()).unwrap();
        assert_eq!(ev.recommendation, Some(1236));
        assert_eq!(ev.experiments["AA"], "C");
    }

    proptest! {
        #[test]
        fn write_then_parse_round_trips(user in any::<u32>(), track in any::<u32>(), t in 0u32..=100,
                                        last in any::<bool>(), ts in any::<u64>(), name in "[A-Za-z0-9_\"\\\\ ]{1,12}") {
            let mut out = Vec::new();
            let time = t as f32 / 100.0;
            let (msg, rec) = if last { (Message::Last, None) } else { (Message::Next, Some(track ^ 1)) };
            write_line(&mut out, msg, ts, user, track, time, 0.5, rec, [(name.as_str(), "T1")]);
            let ev = parse_line(&out).unwrap();
            prop_assert_eq!(ev.user, user);
            prop_assert_eq!(ev.track, track);
            prop_assert_eq!(ev.time, time);
            prop_assert_eq!(ev.timestamp, ts);
            prop_assert_eq!(ev.recommendation, rec);
            prop_assert_eq!(ev.experiments.get(&name).map(String::as_str), Some("T1"));
        }

        #[test]
        fn garbage_lines_are_errors_not_panics(s in ".{0,80}") {
            let _ = parse_line(s.as_bytes());
        }
    }

    #[test]
    fn rotated_files_come_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "data.json",
            "data.json.1",
            "data.json.2",
            "data.json.10",
            "data.json.9",
        ] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let names: Vec<String> = log_files(&[dir.path().to_path_buf()])
            .unwrap()
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "data.json.10",
                "data.json.9",
                "data.json.2",
                "data.json.1",
                "data.json"
            ]
        );
    }

    #[test]
    fn reader_skips_and_counts_malformed_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = Vec::new();
        write_line(
            &mut text,
            Message::Next,
            2,
            1,
            5,
            0.5,
            0.0,
            Some(6),
            [("E", "C")],
        );
        text.extend_from_slice(b"{not json\n\n");
        write_line(
            &mut text,
            Message::Last,
            3,
            1,
            6,
            0.2,
            0.0,
            None,
            [("E", "C")],
        );
        std::fs::write(dir.path().join("data.json"), &text).unwrap();
        let mut older = Vec::new();
        write_line(
            &mut older,
            Message::Next,
            1,
            1,
            4,
            1.0,
            0.0,
            Some(5),
            [("E", "C")],
        );
        older.extend_from_slice(b"{\"message\": \"next\", \"time\": 3.0}\n");
        std::fs::write(dir.path().join("data.json.1"), &older).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
        let (events, stats) = read_events(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(stats.files, 2);
        assert_eq!(stats.events, 3);
        assert_eq!(stats.skipped, 2);
        assert!(stats.skipped_examples[0].contains("data.json"));
        let ts: Vec<u64> = events.iter().map(|e| e.timestamp).collect();
        assert_eq!(ts, [1, 2, 3]);
        assert!(read_events(&[dir.path().join("missing")]).is_err());
    }
}

/// An event read without allocating, from a line in exactly the layout [`write_line`] produces
/// (the hot path of log analysis). `experiments` is the raw inside of the experiments object.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FastEvent<'a> {
    pub last: bool,
    pub timestamp: u64,
    pub user: UserId,
    pub track: TrackId,
    pub time: f32,
    pub latency: f64,
    pub recommendation: Option<TrackId>,
    experiments: &'a [u8],
}

impl<'a> FastEvent<'a> {
    /// The treatment of `experiment`, if the line carries it.
    pub fn treatment(&self, experiment: &str) -> Option<&'a str> {
        self.pairs().find(|(k, _)| *k == experiment).map(|(_, v)| v)
    }

    /// (experiment, treatment) pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let mut rest = self.experiments;
        std::iter::from_fn(move || {
            let (k, r) = quoted(rest)?;
            let r = r.strip_prefix(b": ")?;
            let (v, r) = quoted(r)?;
            rest = r.strip_prefix(b", ").unwrap_or(r);
            Some((k, v))
        })
    }
}

/// `"text"` at the start of `s` (no escapes) and the rest after it.
fn quoted(s: &[u8]) -> Option<(&str, &[u8])> {
    let s = s.strip_prefix(b"\"")?;
    let end = memchr::memchr(b'"', s)?;
    Some((std::str::from_utf8(&s[..end]).ok()?, &s[end + 1..]))
}

fn number<T: std::str::FromStr>(s: &[u8], stop: u8) -> Option<(T, &[u8])> {
    let end = memchr::memchr(stop, s)?;
    let v = std::str::from_utf8(&s[..end]).ok()?.parse().ok()?;
    Some((v, &s[end..]))
}

/// Parses a line in [`write_line`]'s exact layout; `None` for anything else (callers then fall
/// back to the general JSON parser, so other writers' logs still read correctly).
pub fn parse_fast(line: &[u8]) -> Option<FastEvent<'_>> {
    if memchr::memchr(b'\\', line).is_some() {
        return None;
    }
    let r = line.strip_prefix(b"{\"message\": \"")?;
    let (last, r) = if let Some(r) = r.strip_prefix(b"next") {
        (false, r)
    } else {
        (true, r.strip_prefix(b"last")?)
    };
    let r = r.strip_prefix(b"\", \"timestamp\": ")?;
    let (timestamp, r) = number::<u64>(r, b',')?;
    let r = r.strip_prefix(b", \"user\": ")?;
    let (user, r) = number::<u32>(r, b',')?;
    let r = r.strip_prefix(b", \"track\": ")?;
    let (track, r) = number::<u32>(r, b',')?;
    let r = r.strip_prefix(b", \"time\": ")?;
    let (time, r) = number::<f32>(r, b',')?;
    let r = r.strip_prefix(b", \"latency\": ")?;
    let (latency, r) = number::<f64>(r, b',')?;
    let r = r.strip_prefix(b", \"recommendation\": ")?;
    let (recommendation, r) = match r.strip_prefix(b"null") {
        Some(r) => (None, r),
        None => {
            let (v, r) = number::<u32>(r, b',')?;
            (Some(v), r)
        }
    };
    let r = r.strip_prefix(b", \"experiments\": {")?;
    let experiments = r.trim_ascii_end().strip_suffix(b"}}")?;
    if !(0.0..=1.0).contains(&time) || !latency.is_finite() {
        return None;
    }
    Some(FastEvent {
        last,
        timestamp,
        user,
        track,
        time,
        latency,
        recommendation,
        experiments,
    })
}

#[cfg(test)]
mod fast_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_parser_agrees_with_serde(user in any::<u32>(), track in any::<u32>(), t in 0u32..=100, lat in 0.0f64..1.0,
                                         last in any::<bool>(), ts in any::<u64>(), names in proptest::collection::btree_set("[A-Za-z0-9_ ]{1,8}", 0..4)) {
            // Experiment names are keys of one JSON object, so they are unique.
            let mut out = Vec::new();
            let (msg, rec) = if last { (Message::Last, None) } else { (Message::Next, Some(track ^ 7)) };
            let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "T1")).collect();
            write_line(&mut out, msg, ts, user, track, t as f32 / 100.0, lat, rec, pairs.iter().copied());
            let slow = parse_line(&out).unwrap();
            let fast = parse_fast(&out).unwrap();
            prop_assert_eq!(fast.last, slow.message == Message::Last);
            prop_assert_eq!((fast.timestamp, fast.user, fast.track, fast.time, fast.recommendation),
                            (slow.timestamp, slow.user, slow.track, slow.time, slow.recommendation));
            // std's parse is correctly rounded; serde_json's default may differ in the last bit.
            prop_assert!((fast.latency - slow.latency).abs() <= 1e-15 * slow.latency.abs().max(1e-300));
            for (k, v) in &slow.experiments {
                prop_assert_eq!(fast.treatment(k), Some(v.as_str()));
            }
            prop_assert_eq!(fast.pairs().count(), slow.experiments.len());
        }

        #[test]
        fn fast_parser_declines_what_it_does_not_know(s in ".{0,120}") {
            let _ = parse_fast(s.as_bytes());
        }
    }

    #[test]
    fn other_layouts_fall_back() {
        assert!(parse_fast(br#"{"message":"next","timestamp":1,"user":1,"track":1,"time":1.0,"latency":0.1,"recommendation":2,"experiments":{}}"#).is_none());
        assert!(parse_fast(br#"{"message": "next", "timestamp": 1, "user": 1, "track": 1, "time": 1.0, "latency": 0.1, "recommendation": 2, "experiments": {"A\"B": "C"}}"#).is_none());
    }
}
