//! The event-log writer: a dedicated thread fed through a bounded queue, appending to
//! `data.json` and rotating by size into `data.json.1`, `.2`, …
//!
//! Nothing is lost silently. A sender first reserves a place in the queue; a reserved line is
//! written, whatever happens to the disk, unless the process stops while the disk stays broken
//! (then [`LogWriter::close_report`] counts what was lost). When a write, a rotation or an open
//! fails (disk full, file descriptors used up, the file moved or deleted) the writer keeps the
//! unwritten bytes, stops taking new lines, retries with a backoff (reopening `data.json` when it
//! is gone or is no longer the file it holds) and resumes by itself. While it fails the queue
//! fills, and once it is full [`LogSender::try_reserve`] says the log is unavailable, so a
//! service answers "unavailable" instead of answering without logging.

use crate::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Rotation settings.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// Rotate when `data.json` would exceed this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept (`data.json.1` … `data.json.N`); older ones are deleted.
    pub backups: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 256 << 20,
            backups: 20,
        }
    }
}

/// Batches the queue holds at most (reserved or waiting for the writer).
pub const QUEUE_CAPACITY: usize = 8192;
/// Unwritten bytes the writer gathers before it writes them out (it also writes when idle).
const WRITE_CHUNK: usize = 1 << 20;
/// How often the writer checks that `data.json` is still the file it appends to.
const IDENTITY_CHECK: Duration = Duration::from_secs(1);
/// Retries of a failing log wait this long at first, doubling up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A failing log says so at most this often (one line, not one per request).
const ERROR_REPORT_EVERY: Duration = Duration::from_secs(10);
/// How long `close` keeps retrying a failing log before it counts the rest as lost.
pub const DEFAULT_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Sees each batch of lines the writer wrote (whole lines, each ending in `\n`).
pub type LineObserver = Box<dyn FnMut(&[u8]) + Send>;

/// What the writer shares with senders and readers of its state.
#[derive(Default)]
struct Shared {
    /// Places taken in the queue: reserved by senders, or sent and not yet taken by the writer.
    queued: AtomicUsize,
    failing: AtomicBool,
    write_errors: AtomicU64,
    /// Lines written to the file (and so visible to readers); shared with [`LogWriter::flushed`].
    written: Arc<AtomicU64>,
    last_error: Mutex<Option<String>>,
    /// Set by `close`: a failing writer gives up at this instant.
    give_up_at: Mutex<Option<Instant>>,
}

impl Shared {
    fn last_error(&self) -> Option<String> {
        self.last_error.lock().map(|e| e.clone()).unwrap_or(None)
    }
}

/// The writer's state, for `/health` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStatus {
    /// The last write succeeded (false while the writer retries).
    pub writable: bool,
    /// Batches waiting in the queue.
    pub queued: usize,
    pub capacity: usize,
    /// Lines written to the file so far.
    pub written: u64,
    /// Failed attempts to write, rotate or open since the start.
    pub write_errors: u64,
    /// The most recent error, kept after recovery.
    pub last_error: Option<String>,
}

impl LogStatus {
    /// The queue is full and the writer cannot write: new lines would be refused.
    pub fn refusing(&self) -> bool {
        !self.writable && self.queued >= self.capacity
    }
}

/// The log cannot take a line: its writer is failing and its queue is full.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the event log cannot be written ({reason}) and its queue of {QUEUE_CAPACITY} is full")]
pub struct LogUnavailable {
    pub reason: String,
}

/// What a reservation gives.
pub enum Reserve<'a> {
    /// A place in the queue: what is sent through it will be written.
    Slot(Slot<'a>),
    /// The queue is full but the writer is writing: wait a moment and try again.
    Full,
    /// The writer is failing and its queue is full.
    Unavailable(LogUnavailable),
}

/// A reserved place in the queue; dropping it unused gives the place back.
pub struct Slot<'a> {
    sender: &'a LogSender,
    used: bool,
}

impl Slot<'_> {
    /// Queues whole lines (each ending in `\n`); never blocks.
    pub fn send(mut self, lines: Vec<u8>) {
        self.used = true;
        // The reservation guarantees room, so only a writer thread that died (a panic) refuses:
        // the log is then failing for good, its place stays taken, and once the queue is full
        // every further line is refused instead of being lost quietly.
        if self.sender.tx.try_send(lines).is_err() {
            let shared = &self.sender.shared;
            shared.failing.store(true, Ordering::Release);
            shared.write_errors.fetch_add(1, Ordering::AcqRel);
            if let Ok(mut last) = shared.last_error.lock() {
                *last = Some("the event-log writer thread stopped".into());
            }
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.used {
            self.sender.shared.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A cloneable handle that queues lines for the writer.
#[derive(Clone)]
pub struct LogSender {
    tx: SyncSender<Vec<u8>>,
    shared: Arc<Shared>,
}

impl LogSender {
    /// Reserves a place in the queue without waiting.
    pub fn try_reserve(&self) -> Reserve<'_> {
        let q = &self.shared.queued;
        let mut n = q.load(Ordering::Acquire);
        loop {
            if n >= QUEUE_CAPACITY {
                return if self.shared.failing.load(Ordering::Acquire) {
                    Reserve::Unavailable(LogUnavailable {
                        reason: self
                            .shared
                            .last_error()
                            .unwrap_or_else(|| "unknown error".into()),
                    })
                } else {
                    Reserve::Full
                };
            }
            match q.compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    return Reserve::Slot(Slot {
                        sender: self,
                        used: false,
                    });
                }
                Err(now) => n = now,
            }
        }
    }

    /// Queues whole lines, waiting while the queue is full and the writer writes (back-pressure
    /// instead of dropped lines); fails when the writer is failing and the queue is full.
    pub fn send(&self, lines: Vec<u8>) -> std::result::Result<(), LogUnavailable> {
        loop {
            match self.try_reserve() {
                Reserve::Slot(slot) => {
                    slot.send(lines);
                    return Ok(());
                }
                Reserve::Full => std::thread::sleep(Duration::from_micros(100)),
                Reserve::Unavailable(e) => return Err(e),
            }
        }
    }

    pub fn status(&self) -> LogStatus {
        status(&self.shared)
    }
}

fn status(s: &Shared) -> LogStatus {
    LogStatus {
        writable: !s.failing.load(Ordering::Acquire),
        queued: s.queued.load(Ordering::Acquire).min(QUEUE_CAPACITY),
        capacity: QUEUE_CAPACITY,
        written: s.written.load(Ordering::Acquire),
        write_errors: s.write_errors.load(Ordering::Acquire),
        last_error: s.last_error(),
    }
}

/// What closing the log found: lines written over its life, and lines it had accepted but could
/// not write before the close grace ran out (with the error that stopped them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReport {
    pub written: u64,
    pub lost: u64,
    pub error: Option<String>,
}

/// Handle to the writer thread. Senders come from [`LogWriter::sender`].
pub struct LogWriter {
    sender: Option<LogSender>,
    handle: Option<JoinHandle<CloseReport>>,
    path: PathBuf,
    shared: Arc<Shared>,
}

impl LogWriter {
    /// Opens (appending to) `dir/data.json`, creating `dir` if needed.
    pub fn open(dir: &Path, rotation: Rotation) -> Result<Self> {
        Self::open_observed(dir, rotation, None)
    }

    /// As [`LogWriter::open`]; `observer` sees every batch of lines right after it is written,
    /// on the writer thread (off the request path), in file order.
    pub fn open_observed(
        dir: &Path,
        rotation: Rotation,
        observer: Option<LineObserver>,
    ) -> Result<Self> {
        // A zero size would rotate after every batch and delete lines as soon as written.
        if rotation.max_bytes == 0 {
            return Err(Error::file(
                dir,
                "the log rotation size must be at least 1 byte",
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join("data.json");
        let mut sink = Sink::new(path.clone(), rotation);
        sink.open().map_err(|e| Error::io(&path, e))?;
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE_CAPACITY);
        let shared = Arc::new(Shared::default());
        let writer = Writer {
            rx,
            sink,
            shared: shared.clone(),
            observer,
            abandoned: None,
        };
        let handle = std::thread::Builder::new()
            .name("event-log".into())
            .spawn(move || writer.run())
            .map_err(|e| Error::io(dir, e))?;
        Ok(LogWriter {
            sender: Some(LogSender {
                tx,
                shared: shared.clone(),
            }),
            handle: Some(handle),
            path,
            shared,
        })
    }

    /// Lines written to the file so far (the writer writes whenever it is idle): a reader
    /// waiting for lines it knows were sent polls this instead of the files.
    pub fn flushed(&self) -> Arc<AtomicU64> {
        self.shared.written.clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A sender for whole lines (one or many, each ending in `\n`).
    pub fn sender(&self) -> LogSender {
        match &self.sender {
            Some(s) => s.clone(),
            // `sender` is taken only by `close`, which consumes the writer.
            None => unreachable!("the log writer is closed"),
        }
    }

    /// Queues lines as [`LogSender::send`] does.
    pub fn send(&self, lines: Vec<u8>) -> std::result::Result<(), LogUnavailable> {
        self.sender().send(lines)
    }

    pub fn status(&self) -> LogStatus {
        status(&self.shared)
    }

    /// Waits until every line sent (by this handle and all senders, once they are dropped) is in
    /// the file; returns the number of lines written, or an error naming how many could not be.
    pub fn close(self) -> Result<u64> {
        let path = self.path.clone();
        let r = self.close_report(DEFAULT_CLOSE_GRACE);
        match r.lost {
            0 => Ok(r.written),
            lost => Err(Error::file(
                path,
                format!(
                    "{lost} event-log lines could not be written ({}); {} were",
                    r.error.unwrap_or_default(),
                    r.written
                ),
            )),
        }
    }

    /// Closes the log: a healthy writer writes everything; a failing one keeps retrying for at
    /// most `grace` and then counts what it could not write.
    pub fn close_report(mut self, grace: Duration) -> CloseReport {
        self.finish(grace)
    }

    fn finish(&mut self, grace: Duration) -> CloseReport {
        if let Ok(mut g) = self.shared.give_up_at.lock() {
            *g = Some(Instant::now() + grace);
        }
        self.sender.take();
        match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|_| CloseReport {
                written: self.shared.written.load(Ordering::Acquire),
                lost: 0,
                error: Some("the event-log writer thread panicked".into()),
            }),
            None => CloseReport {
                written: self.shared.written.load(Ordering::Acquire),
                lost: 0,
                error: None,
            },
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let _ = self.finish(DEFAULT_CLOSE_GRACE);
    }
}

/// The file side: the open `data.json`, its size, and the bytes not yet written to it.
struct Sink {
    path: PathBuf,
    rotation: Rotation,
    file: Option<File>,
    /// (device, inode) of the open file, to notice that `data.json` was moved or replaced.
    identity: Option<(u64, u64)>,
    size: u64,
    pending: Vec<u8>,
    pending_lines: u64,
    /// Bytes of `pending` already in the file.
    offset: usize,
    /// The next write goes to a fresh file: rotate first.
    rotate_due: bool,
    last_check: Instant,
}

impl Sink {
    fn new(path: PathBuf, rotation: Rotation) -> Self {
        Sink {
            path,
            rotation,
            file: None,
            identity: None,
            size: 0,
            pending: Vec::with_capacity(WRITE_CHUNK),
            pending_lines: 0,
            offset: 0,
            rotate_due: false,
            last_check: Instant::now(),
        }
    }

    fn open(&mut self) -> std::io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let meta = file.metadata()?;
        self.size = meta.len();
        self.identity = identity(&meta);
        self.file = Some(file);
        Ok(())
    }

    /// `data.json` is gone or is another file than the one we append to (a log shipper moved
    /// it, someone deleted it).
    fn moved(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(m) => identity(&m) != self.identity,
            Err(_) => true,
        }
    }

    /// Writes what is pending, rotating first when due. On error the unwritten bytes stay.
    fn write(&mut self) -> std::io::Result<()> {
        if self.rotate_due {
            self.file = None;
            rotate(&self.path, self.rotation.backups)?;
            self.rotate_due = false;
        }
        if self.file.is_none() {
            self.open()?;
        }
        let Some(file) = self.file.as_mut() else {
            return Err(std::io::Error::other("no open file"));
        };
        while self.offset < self.pending.len() {
            match file.write(&self.pending[self.offset..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.offset += n;
                    self.size += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Before a retry: if the file was moved away, the next write opens a new `data.json` and
    /// starts again at the beginning of the line it was in, so no line is torn in the new file.
    fn prepare_retry(&mut self) {
        if self.file.is_some() && self.moved() {
            self.file = None;
            self.offset = self.pending[..self.offset]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
        }
    }
}

#[cfg(unix)]
fn identity(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(_: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Renames `data.json` → `.1` → `.2` …, dropping the oldest; a file that is not there (moved
/// away) is nothing to rename.
fn rotate(path: &Path, backups: usize) -> std::io::Result<()> {
    let gone_is_fine = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    let name = |i: usize| PathBuf::from(format!("{}.{i}", path.display()));
    if backups == 0 {
        return gone_is_fine(std::fs::remove_file(path));
    }
    gone_is_fine(std::fs::remove_file(name(backups)))?;
    for i in (1..backups).rev() {
        gone_is_fine(std::fs::rename(name(i), name(i + 1)))?;
    }
    gone_is_fine(std::fs::rename(path, name(1)))
}

struct Writer {
    rx: Receiver<Vec<u8>>,
    sink: Sink,
    shared: Arc<Shared>,
    observer: Option<LineObserver>,
    /// The close grace ran out while failing: the error, and every later line counts as lost.
    abandoned: Option<String>,
}

impl Writer {
    fn run(mut self) -> CloseReport {
        let mut lost = 0u64;
        loop {
            let batch = match self.rx.try_recv() {
                Ok(b) => b,
                Err(TryRecvError::Empty) => {
                    // Idle: put what we have in the file before waiting.
                    self.write_out();
                    self.check_identity();
                    match self.rx.recv() {
                        Ok(b) => b,
                        Err(_) => break,
                    }
                }
                Err(TryRecvError::Disconnected) => break,
            };
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            if self.abandoned.is_some() {
                lost += count_lines(&batch);
                continue;
            }
            self.take(batch);
            if self.sink.last_check.elapsed() >= IDENTITY_CHECK {
                self.check_identity();
            }
        }
        self.write_out();
        if self.abandoned.is_some() {
            lost += self.sink.pending_lines;
        } else if let Some(f) = &self.sink.file {
            let _ = f.sync_data();
        }
        CloseReport {
            written: self.shared.written.load(Ordering::Acquire),
            lost,
            error: self.abandoned.take(),
        }
    }

    /// Appends a batch to what is pending, rotating at the batch boundary when the file would
    /// grow past its size.
    fn take(&mut self, batch: Vec<u8>) {
        let s = &self.sink;
        let unwritten = (s.pending.len() - s.offset) as u64;
        if s.size + unwritten > 0
            && s.size + unwritten + batch.len() as u64 > s.rotation.max_bytes
            && self.write_out()
        {
            self.sink.rotate_due = true;
        }
        self.sink.pending_lines += count_lines(&batch);
        self.sink.pending.extend_from_slice(&batch);
        if self.sink.pending.len() >= WRITE_CHUNK {
            self.write_out();
        }
    }

    /// Moves to a new `data.json` when the one we append to was moved away or deleted.
    fn check_identity(&mut self) {
        self.sink.last_check = Instant::now();
        if self.sink.file.is_some() && self.abandoned.is_none() && self.sink.moved() {
            self.write_out();
            self.sink.file = None;
        }
    }

    /// Writes everything pending, retrying until it succeeds or the close grace runs out
    /// (false then).
    fn write_out(&mut self) -> bool {
        if self.abandoned.is_some() {
            return false;
        }
        if self.sink.pending.is_empty() && !self.sink.rotate_due {
            return true;
        }
        let mut backoff = FIRST_BACKOFF;
        let mut failing_since: Option<Instant> = None;
        let mut reported = Instant::now();
        loop {
            match self.sink.write() {
                Ok(()) => break,
                Err(e) => {
                    let msg = format!("{}: {e}", self.sink.path.display());
                    self.shared.write_errors.fetch_add(1, Ordering::AcqRel);
                    if let Ok(mut last) = self.shared.last_error.lock() {
                        *last = Some(msg.clone());
                    }
                    if failing_since.is_none() {
                        failing_since = Some(Instant::now());
                        self.shared.failing.store(true, Ordering::Release);
                        tracing::error!(
                            "event log: cannot write {msg}; retrying, and refusing requests once \
                             {QUEUE_CAPACITY} lines wait"
                        );
                    } else if reported.elapsed() >= ERROR_REPORT_EVERY {
                        reported = Instant::now();
                        tracing::error!(
                            "event log: still cannot write {msg} ({} errors so far)",
                            self.shared.write_errors.load(Ordering::Acquire)
                        );
                    }
                    let give_up = self.shared.give_up_at.lock().ok().and_then(|g| *g);
                    if give_up.is_some_and(|t| Instant::now() >= t) {
                        self.abandoned = Some(msg);
                        return false;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    self.sink.prepare_retry();
                }
            }
        }
        if let Some(since) = failing_since {
            self.shared.failing.store(false, Ordering::Release);
            tracing::info!(
                "event log: {} is writable again after {:.1} s",
                self.sink.path.display(),
                since.elapsed().as_secs_f64()
            );
        }
        if let Some(see) = self.observer.as_mut() {
            see(&self.sink.pending);
        }
        self.shared
            .written
            .fetch_add(self.sink.pending_lines, Ordering::AcqRel);
        self.sink.pending.clear();
        self.sink.pending_lines = 0;
        self.sink.offset = 0;
        true
    }
}

fn count_lines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(w: &LogWriter, s: String) {
        w.send(s.into_bytes()).unwrap();
    }

    #[test]
    fn writes_rotates_and_keeps_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let w = LogWriter::open(
            dir.path(),
            Rotation {
                max_bytes: 1000,
                backups: 50,
            },
        )
        .unwrap();
        let senders: Vec<_> = (0..4).map(|_| w.sender()).collect();
        std::thread::scope(|s| {
            for (k, tx) in senders.into_iter().enumerate() {
                s.spawn(move || {
                    for i in 0..250 {
                        tx.send(format!("{{\"k\": {k}, \"i\": {i}}}\n").into_bytes())
                            .unwrap();
                    }
                });
            }
        });
        let flushed = w.flushed();
        assert_eq!(w.close().unwrap(), 1000);
        assert_eq!(flushed.load(Ordering::Acquire), 1000);
        let mut total = 0;
        let mut files = 0;
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            assert!(text.len() <= 1000);
            total += text.lines().count();
            files += 1;
        }
        assert_eq!(total, 1000);
        assert!(files > 10);
    }

    #[test]
    fn the_observer_sees_exactly_the_lines_written_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        let w = LogWriter::open_observed(
            dir.path(),
            Rotation::default(),
            Some(Box::new(move |b: &[u8]| {
                s.lock().unwrap().extend_from_slice(b)
            })),
        )
        .unwrap();
        for i in 0..300 {
            send(&w, format!("{{\"i\": {i}}}\n{{\"j\": {i}}}\n"));
        }
        assert_eq!(w.close().unwrap(), 600);
        let file = std::fs::read(dir.path().join("data.json")).unwrap();
        assert_eq!(*seen.lock().unwrap(), file);
    }

    #[test]
    fn a_zero_rotation_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let r = Rotation {
            max_bytes: 0,
            backups: 3,
        };
        let e = LogWriter::open(dir.path(), r).err().expect("refused");
        assert!(e.to_string().contains("rotation size"), "{e}");
    }

    #[test]
    fn drops_oldest_backups_and_appends_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let w = LogWriter::open(
            dir.path(),
            Rotation {
                max_bytes: 10,
                backups: 2,
            },
        )
        .unwrap();
        for i in 0..10 {
            send(&w, format!("line {i:03}\n"));
        }
        w.close().unwrap();
        let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap_or_default();
        assert_eq!(read("data.json"), "line 009\n");
        assert_eq!(read("data.json.1"), "line 008\n");
        assert_eq!(read("data.json.2"), "line 007\n");
        assert!(!dir.path().join("data.json.3").exists());
        let w = LogWriter::open(dir.path(), Rotation::default()).unwrap();
        send(&w, "more\n".into());
        assert_eq!(w.close().unwrap(), 1);
        assert_eq!(read("data.json"), "line 009\nmore\n");
    }

    fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
        let t = Instant::now();
        while !ok() {
            assert!(t.elapsed() < Duration::from_secs(20), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `/dev/full` answers every write with ENOSPC: `data.json` pointing at it is a full disk.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_fills_the_queue_then_refuses_and_every_accepted_line_arrives_once_it_has_room() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.json");
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let w = LogWriter::open(dir.path(), Rotation::default()).unwrap();
        let tx = w.sender();
        let mut accepted = 0u64;
        let refused = loop {
            match tx.try_reserve() {
                Reserve::Slot(slot) => {
                    slot.send(format!("{{\"i\": {accepted}}}\n").into_bytes());
                    accepted += 1;
                }
                Reserve::Full => std::thread::sleep(Duration::from_millis(1)),
                Reserve::Unavailable(e) => break e,
            }
            assert!(accepted < 100_000, "the log never refused");
        };
        assert!(refused.to_string().contains("No space left"), "{refused}");
        let st = w.status();
        assert!(
            !st.writable && st.refusing() && st.write_errors > 0,
            "{st:?}"
        );
        assert_eq!(st.written, 0);
        // The disk has room again: the same path is now a regular file.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"").unwrap();
        wait_until("the writer recovers", || w.status().written == accepted);
        assert!(w.status().writable);
        assert!(matches!(tx.try_reserve(), Reserve::Slot(_)));
        drop(tx);
        assert_eq!(w.close().unwrap(), accepted);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() as u64, accepted);
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(*l, format!("{{\"i\": {i}}}"));
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn closing_a_log_that_cannot_be_written_counts_what_was_lost() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/full", dir.path().join("data.json")).unwrap();
        let w = LogWriter::open(dir.path(), Rotation::default()).unwrap();
        for i in 0..5 {
            send(&w, format!("{i}\n"));
        }
        let r = w.close_report(Duration::from_millis(50));
        assert_eq!((r.written, r.lost), (0, 5));
        assert!(r.error.unwrap().contains("No space left"));
    }

    #[test]
    fn a_log_moved_away_is_reopened_and_rotation_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let w = LogWriter::open(
            dir.path(),
            Rotation {
                max_bytes: 200,
                backups: 100,
            },
        )
        .unwrap();
        let shipped = dir.path().join("shipped.json");
        for i in 0..100 {
            send(&w, format!("{{\"i\": {i:04}}}\n"));
        }
        wait_until("lines written", || w.status().written == 100);
        std::fs::rename(dir.path().join("data.json"), &shipped).unwrap();
        for i in 100..400 {
            send(&w, format!("{{\"i\": {i:04}}}\n"));
        }
        assert_eq!(w.close().unwrap(), 400);
        let mut seen: Vec<String> = Vec::new();
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            seen.extend(text.lines().map(str::to_string));
        }
        seen.sort();
        let want: Vec<String> = (0..400).map(|i| format!("{{\"i\": {i:04}}}")).collect();
        assert_eq!(seen, want);
        assert!(dir.path().join("data.json").exists());
    }
}
