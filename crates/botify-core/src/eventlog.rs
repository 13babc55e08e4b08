//! The event-log writer: a dedicated thread fed through a bounded channel (back-pressure instead
//! of dropped lines), appending to `data.json` and rotating by size into `data.json.1`, `.2`, …
//! Closing flushes everything: after `close` the file holds every line that was sent.

use crate::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

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

/// Sees each batch of lines the writer wrote (whole lines, each ending in `\n`).
pub type LineObserver = Box<dyn FnMut(&[u8]) + Send>;

/// Handle to the writer thread. Cloneable senders come from [`LogWriter::sender`].
pub struct LogWriter {
    tx: Option<SyncSender<Vec<u8>>>,
    handle: Option<JoinHandle<std::io::Result<u64>>>,
    path: PathBuf,
    flushed: Arc<AtomicU64>,
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
        let file = open_append(&path).map_err(|e| Error::io(&path, e))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (tx, rx) = sync_channel::<Vec<u8>>(8192);
        let p = path.clone();
        let flushed = Arc::new(AtomicU64::new(0));
        let f = flushed.clone();
        let handle = std::thread::Builder::new()
            .name("event-log".into())
            .spawn(move || write_loop(rx, p, file, size, rotation, &f, observer))
            .map_err(|e| Error::io(dir, e))?;
        Ok(LogWriter {
            tx: Some(tx),
            handle: Some(handle),
            path,
            flushed,
        })
    }

    /// Lines written and flushed to the file so far (the writer flushes whenever it is idle):
    /// a reader waiting for lines it knows were sent polls this instead of the files.
    pub fn flushed(&self) -> Arc<AtomicU64> {
        self.flushed.clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A sender for whole lines (one or many, each ending in `\n`). Blocks when the writer is
    /// 8192 batches behind.
    pub fn sender(&self) -> SyncSender<Vec<u8>> {
        self.tx.clone().expect("sender taken only before close")
    }

    pub fn send(&self, lines: Vec<u8>) {
        if let Some(tx) = &self.tx {
            // Fails only if the writer thread died; `close` reports its error.
            let _ = tx.send(lines);
        }
    }

    /// Waits until every line sent (by this handle and all senders, once they are dropped) is on
    /// disk; returns the number of lines written.
    pub fn close(mut self) -> Result<u64> {
        self.finish()
    }

    fn finish(&mut self) -> Result<u64> {
        self.tx.take();
        match self.handle.take() {
            Some(h) => match h.join() {
                Ok(r) => r.map_err(|e| Error::io(&self.path, e)),
                Err(_) => Err(Error::file(
                    &self.path,
                    "the event-log writer thread panicked",
                )),
            },
            None => Ok(0),
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

fn rotate(path: &Path, backups: usize) -> std::io::Result<()> {
    let name = |i: usize| PathBuf::from(format!("{}.{i}", path.display()));
    if backups == 0 {
        return std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(name(backups));
    for i in (1..backups).rev() {
        if name(i).exists() {
            std::fs::rename(name(i), name(i + 1))?;
        }
    }
    std::fs::rename(path, name(1))
}

fn write_loop(
    rx: Receiver<Vec<u8>>,
    path: PathBuf,
    file: File,
    mut size: u64,
    rotation: Rotation,
    flushed: &AtomicU64,
    mut observer: Option<LineObserver>,
) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut lines = 0u64;
    loop {
        let batch = match rx.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty) => {
                // Idle: make what we have durable before waiting.
                out.flush()?;
                flushed.store(lines, Ordering::Release);
                match rx.recv() {
                    Ok(b) => b,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        if size > 0 && size + batch.len() as u64 > rotation.max_bytes {
            out.flush()?;
            drop(out);
            rotate(&path, rotation.backups)?;
            out = BufWriter::with_capacity(1 << 20, open_append(&path)?);
            size = 0;
        }
        out.write_all(&batch)?;
        if let Some(see) = observer.as_mut() {
            see(&batch);
        }
        size += batch.len() as u64;
        lines += batch.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    out.flush()?;
    out.get_ref().sync_data()?;
    flushed.store(lines, Ordering::Release);
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            w.send(format!("{{\"i\": {i}}}\n{{\"j\": {i}}}\n").into_bytes());
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
            w.send(format!("line {i:03}\n").into_bytes());
        }
        w.close().unwrap();
        let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap_or_default();
        assert_eq!(read("data.json"), "line 009\n");
        assert_eq!(read("data.json.1"), "line 008\n");
        assert_eq!(read("data.json.2"), "line 007\n");
        assert!(!dir.path().join("data.json.3").exists());
        let w = LogWriter::open(dir.path(), Rotation::default()).unwrap();
        w.send(b"more\n".to_vec());
        assert_eq!(w.close().unwrap(), 1);
        assert_eq!(read("data.json"), "line 009\nmore\n");
    }
}
