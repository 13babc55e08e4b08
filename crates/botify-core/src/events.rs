//! The event log: one JSON line per `next`/`last` call, in the course's format, and the one reader
//! that feeds both training and A/B analysis.
//!
//! `{"message": "next", "timestamp": 1772867968488, "user": 1981, "track": 525, "time": 1.0,
//!   "latency": 0.0043, "recommendation": 1236, "experiments": {"AA": "C"}}`

use crate::{Error, Result, TrackId, UserId};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// Seconds spent in the handler (0 when a log does not say).
    #[serde(default)]
    pub latency: f64,
    #[serde(default)]
    pub recommendation: Option<TrackId>,
    /// The probability with which the serving recommender chose `recommendation` (logs of a
    /// recommender that knows it; off-policy evaluation reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity: Option<f64>,
    #[serde(default)]
    pub experiments: BTreeMap<String, String>,
}

/// One `next`/`last` call as the log records it (without its experiment assignments).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    pub message: Message,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    pub user: UserId,
    pub track: TrackId,
    pub time: f32,
    /// Seconds spent in the handler.
    pub latency: f64,
    pub recommendation: Option<TrackId>,
    /// The probability with which `recommendation` was chosen, when the recommender knows it.
    pub propensity: Option<f64>,
}

/// Appends one event as a JSON line (with the trailing newline) without intermediate allocation.
/// `experiments` are (experiment, treatment) pairs.
pub fn write_line<'a>(
    out: &mut Vec<u8>,
    r: &Record,
    experiments: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    let Record {
        message,
        timestamp,
        user,
        track,
        time,
        latency,
        recommendation,
        propensity,
    } = *r;
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
    if let Some(p) = propensity {
        let _ = write!(out, ", \"propensity\": {p}");
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
            let found = log_files_in(p)?;
            if found.is_empty() {
                return Err(Error::file(
                    p,
                    "holds no event log (expected data.json or data.json.N)",
                ));
            }
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            return Err(Error::file(p, "no such log file or directory"));
        }
    }
    Ok(files)
}

/// The log files of directory `dir`, oldest first as in [`log_files`]; none is no error.
pub fn log_files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
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
    found.sort_by_key(|f| std::cmp::Reverse(rotation_index(f)));
    Ok(found)
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

/// Parses one log line into an owned [`Event`]; the error says why it is not a valid event.
/// The same parser and validation as [`parse_view`], which training and A/B analysis share.
pub fn parse_line(line: &[u8]) -> std::result::Result<Event, String> {
    parse_view(line).map(|v| v.to_event())
}

/// The one validation of a parsed line, whichever parser read it.
fn check(time: f32, latency: f64) -> std::result::Result<(), String> {
    if !(0.0..=1.0).contains(&time) {
        return Err(format!("time {time} is outside [0, 1]"));
    }
    if !(latency.is_finite() && latency >= 0.0) {
        return Err(format!("latency {latency} is not a duration in seconds"));
    }
    Ok(())
}

/// A propensity is a probability above 0 (a served track was possible).
fn check_propensity(p: Option<f64>) -> std::result::Result<(), String> {
    match p {
        Some(p) if !(p > 0.0 && p <= 1.0) => Err(format!("propensity {p} is not in (0, 1]")),
        _ => Ok(()),
    }
}

/// Parses one log line without allocating when it is in [`write_line`]'s exact layout (the hot
/// path), and through serde otherwise (other writers' logs: any key order, spacing, escapes;
/// `latency`, `recommendation` and `experiments` may be missing). Either way the line gets the
/// same validation; the error says why a line is not a valid event.
pub fn parse_view(line: &[u8]) -> std::result::Result<EventView<'_>, String> {
    if let Some(v) = parse_fast(line) {
        return Ok(v);
    }
    let l: Line = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    check(l.time, l.latency)?;
    check_propensity(l.propensity)?;
    Ok(EventView {
        last: l.message == Message::Last,
        timestamp: l.timestamp,
        user: l.user,
        track: l.track,
        time: l.time,
        latency: l.latency,
        recommendation: l.recommendation,
        propensity: l.propensity,
        experiments: Experiments::Parsed(l.experiments),
    })
}

/// A line as serde reads it, borrowing its strings where it can.
#[derive(Deserialize)]
struct Line<'a> {
    message: Message,
    timestamp: u64,
    user: UserId,
    track: TrackId,
    time: f32,
    #[serde(default)]
    latency: f64,
    #[serde(default)]
    recommendation: Option<TrackId>,
    #[serde(default)]
    propensity: Option<f64>,
    #[serde(borrow, default, deserialize_with = "pairs")]
    experiments: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);
type Pairs<'a> = Vec<Pair<'a>>;

fn pairs<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Pairs<'de>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Pairs<'de>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of experiment → treatment")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut m: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut v = Vec::with_capacity(4);
            while let Some((k, t)) = m.next_entry::<Cow<'de, str>, Cow<'de, str>>()? {
                v.push((k, t));
            }
            Ok(v)
        }
    }
    d.deserialize_map(V)
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
            &Record {
                message: Message::Next,
                timestamp: 1772867968488,
                user: 1981,
                track: 525,
                time: 1.0,
                latency: 0.0043,
                recommendation: Some(1236),
                propensity: None,
            },
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

    #[test]
    fn a_propensity_is_written_after_the_recommendation_and_checked() {
        let mut out = Vec::new();
        let r = Record {
            message: Message::Next,
            timestamp: 5,
            user: 1,
            track: 2,
            time: 0.5,
            latency: 0.0,
            recommendation: Some(3),
            propensity: Some(0.25),
        };
        write_line(&mut out, &r, [("E", "T1")]);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.contains("\"recommendation\": 3, \"propensity\": 0.25, \"experiments\""),
            "{text}"
        );
        assert_eq!(
            parse_line(out.trim_ascii_end()).unwrap().propensity,
            Some(0.25)
        );
        let zero = br#"{"message":"next","timestamp":5,"user":1,"track":2,"time":0.5,"recommendation":3,"propensity":0}"#;
        let e = parse_line(zero).unwrap_err();
        assert!(e.contains("propensity 0"), "{e}");
        // Old logs have none.
        let old =
            br#"{"message":"next","timestamp":5,"user":1,"track":2,"time":0.5,"recommendation":3}"#;
        assert_eq!(parse_line(old).unwrap().propensity, None);
    }

    proptest! {
        #[test]
        fn write_then_parse_round_trips(user in any::<u32>(), track in any::<u32>(), t in 0u32..=100,
                                        last in any::<bool>(), ts in any::<u64>(), name in "[A-Za-z0-9_\"\\\\ ]{1,12}") {
            let mut out = Vec::new();
            let time = t as f32 / 100.0;
            let (msg, rec) = if last { (Message::Last, None) } else { (Message::Next, Some(track ^ 1)) };
            write_line(&mut out, &Record { message: msg, timestamp: ts, user, track, time, latency: 0.5, recommendation: rec, propensity: None }, [(name.as_str(), "T1")]);
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
            &Record {
                message: Message::Next,
                timestamp: 2,
                user: 1,
                track: 5,
                time: 0.5,
                latency: 0.0,
                recommendation: Some(6),
                propensity: None,
            },
            [("E", "C")],
        );
        text.extend_from_slice(b"{not json\n\n");
        write_line(
            &mut text,
            &Record {
                message: Message::Last,
                timestamp: 3,
                user: 1,
                track: 6,
                time: 0.2,
                latency: 0.0,
                recommendation: None,
                propensity: None,
            },
            [("E", "C")],
        );
        std::fs::write(dir.path().join("data.json"), &text).unwrap();
        let mut older = Vec::new();
        write_line(
            &mut older,
            &Record {
                message: Message::Next,
                timestamp: 1,
                user: 1,
                track: 4,
                time: 1.0,
                latency: 0.0,
                recommendation: Some(5),
                propensity: None,
            },
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

/// An event as read from a line, borrowing from it (see [`parse_view`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EventView<'a> {
    pub last: bool,
    pub timestamp: u64,
    pub user: UserId,
    pub track: TrackId,
    pub time: f32,
    pub latency: f64,
    pub recommendation: Option<TrackId>,
    pub propensity: Option<f64>,
    experiments: Experiments<'a>,
}

/// The experiments object: the raw inside of `{…}` in the service's layout, or parsed pairs.
#[derive(Debug, Clone, PartialEq)]
enum Experiments<'a> {
    Raw(&'a [u8]),
    Parsed(Pairs<'a>),
}

impl EventView<'_> {
    /// The treatment of `experiment`, if the line carries it.
    pub fn treatment(&self, experiment: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == experiment).map(|(_, v)| v)
    }

    /// (experiment, treatment) pairs.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let (mut rest, parsed): (&[u8], &[Pair]) = match &self.experiments {
            Experiments::Raw(r) => (r, &[]),
            Experiments::Parsed(p) => (&[], p),
        };
        let raw = std::iter::from_fn(move || {
            let (k, r) = quoted(rest)?;
            let r = r.strip_prefix(b": ")?;
            let (v, r) = quoted(r)?;
            rest = r.strip_prefix(b", ").unwrap_or(r);
            Some((k, v))
        });
        raw.chain(parsed.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
    }

    pub fn to_event(&self) -> Event {
        Event {
            message: if self.last {
                Message::Last
            } else {
                Message::Next
            },
            timestamp: self.timestamp,
            user: self.user,
            track: self.track,
            time: self.time,
            latency: self.latency,
            recommendation: self.recommendation,
            propensity: self.propensity,
            experiments: self
                .pairs()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
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

/// Parses a line in [`write_line`]'s exact layout; `None` for anything else ([`parse_view`]
/// then falls back to serde, so other writers' logs still read correctly).
fn parse_fast(line: &[u8]) -> Option<EventView<'_>> {
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
    let (propensity, r) = match r.strip_prefix(b", \"propensity\": ") {
        Some(r) => {
            let (v, r) = number::<f64>(r, b',')?;
            (Some(v), r)
        }
        None => (None, r),
    };
    let r = r.strip_prefix(b", \"experiments\": {")?;
    let experiments = r.trim_ascii_end().strip_suffix(b"}}")?;
    // Invalid values fall back to serde, which gives the reason.
    check(time, latency).ok()?;
    check_propensity(propensity).ok()?;
    Some(EventView {
        last,
        timestamp,
        user,
        track,
        time,
        latency,
        recommendation,
        propensity,
        experiments: Experiments::Raw(experiments),
    })
}

#[cfg(test)]
mod fast_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_parser_agrees_with_serde(user in any::<u32>(), track in any::<u32>(), t in 0u32..=100, lat in 0.0f64..1.0,
                                         last in any::<bool>(), ts in any::<u64>(), names in proptest::collection::btree_set("[A-Za-z0-9_ ]{1,8}", 0..4),
                                         p in proptest::option::of(1e-9f64..=1.0)) {
            // Experiment names are keys of one JSON object, so they are unique.
            let mut out = Vec::new();
            let (msg, rec) = if last { (Message::Last, None) } else { (Message::Next, Some(track ^ 7)) };
            let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "T1")).collect();
            let propensity = p.filter(|_| !last);
            write_line(&mut out, &Record { message: msg, timestamp: ts, user, track, time: t as f32 / 100.0, latency: lat, recommendation: rec, propensity }, pairs.iter().copied());
            let slow: Event = serde_json::from_slice(&out).unwrap();
            let fast = parse_fast(&out).unwrap();
            prop_assert_eq!(fast.last, slow.message == Message::Last);
            prop_assert_eq!((fast.timestamp, fast.user, fast.track, fast.time, fast.recommendation),
                            (slow.timestamp, slow.user, slow.track, slow.time, slow.recommendation));
            // Written by Display, read back exactly (the shortest representation round-trips).
            prop_assert_eq!(fast.propensity, propensity);
            // serde_json's default float parser may differ in the last bit, as for latency.
            prop_assert_eq!(slow.propensity.is_some(), propensity.is_some());
            if let (Some(a), Some(b)) = (slow.propensity, propensity) {
                prop_assert!((a - b).abs() <= 1e-15 * b);
            }
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
    fn both_paths_accept_and_refuse_the_same_lines() {
        // Another writer's layout, without latency: accepted (latency 0) as the fast path would.
        let compact = br#"{"message":"last","timestamp":5,"user":1,"track":2,"time":0.5,"experiments":{"E":"T1"}}"#;
        let v = parse_view(compact).unwrap();
        assert!(v.last && v.latency == 0.0 && v.recommendation.is_none());
        assert_eq!(v.treatment("E"), Some("T1"));
        assert_eq!(parse_line(compact).unwrap().experiments["E"], "T1");
        // A time out of range is refused on both paths, with the reason.
        let mut out = Vec::new();
        write_line(
            &mut out,
            &Record {
                message: Message::Next,
                timestamp: 1,
                user: 1,
                track: 1,
                time: 1.0,
                latency: 0.1,
                recommendation: Some(2),
                propensity: None,
            },
            [("E", "C")],
        );
        let bad = String::from_utf8(out)
            .unwrap()
            .replace("\"time\": 1.0", "\"time\": 1.5");
        assert!(parse_fast(bad.as_bytes()).is_none());
        assert!(parse_view(bad.as_bytes()).unwrap_err().contains("time 1.5"));
        let compact_bad = br#"{"message":"next","timestamp":1,"user":1,"track":1,"time":1.5}"#;
        assert!(parse_view(compact_bad).unwrap_err().contains("time 1.5"));
        let negative =
            br#"{"message":"next","timestamp":1,"user":1,"track":1,"time":0.5,"latency":-1}"#;
        assert!(parse_view(negative).unwrap_err().contains("latency"));
    }

    #[test]
    fn other_layouts_fall_back() {
        assert!(parse_fast(br#"{"message":"next","timestamp":1,"user":1,"track":1,"time":1.0,"latency":0.1,"recommendation":2,"experiments":{}}"#).is_none());
        assert!(parse_fast(br#"{"message": "next", "timestamp": 1, "user": 1, "track": 1, "time": 1.0, "latency": 0.1, "recommendation": 2, "experiments": {"A\"B": "C"}}"#).is_none());
    }
}
