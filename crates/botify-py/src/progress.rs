//! Long calls without the GIL, progress with it: the job runs on a scoped worker thread while the
//! calling thread, every 100 ms, hands what the job reported to a Python callback (a tqdm bar in
//! `botify._progress`, which works in terminals and notebooks) and watches for Ctrl-C.

use botify_lab::observer::{EpochReport, Observer};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

enum Event {
    Stage(String),
    StageDone(String, f64),
    Note(String),
    Start(String, u64),
    Advance(u64),
    Finish,
    Epoch(EpochReport),
}

/// Collects a job's reports for the calling thread; advances in a row are summed.
#[derive(Default)]
pub struct Relay {
    events: Mutex<Vec<Event>>,
}

impl Relay {
    fn push(&self, e: Event) {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        match (events.last_mut(), e) {
            (Some(Event::Advance(n)), Event::Advance(m)) => *n += m,
            (_, e) => events.push(e),
        }
    }

    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Observer for Relay {
    fn stage(&self, name: &str) {
        self.push(Event::Stage(name.into()));
    }
    fn stage_done(&self, name: &str, seconds: f64) {
        self.push(Event::StageDone(name.into(), seconds));
    }
    fn note(&self, text: &str) {
        self.push(Event::Note(text.into()));
    }
    fn start(&self, label: &str, total: u64) {
        self.push(Event::Start(label.into(), total));
    }
    fn advance(&self, n: u64) {
        self.push(Event::Advance(n));
    }
    fn finish(&self) {
        self.push(Event::Finish);
    }
    fn epoch(&self, e: &EpochReport) {
        self.push(Event::Epoch(e.clone()));
    }
}

fn deliver(py: Python<'_>, callback: &Bound<'_, PyAny>, e: Event) -> PyResult<()> {
    match e {
        Event::Stage(name) => callback.call1(("stage", name)),
        Event::StageDone(name, s) => callback.call1(("stage_done", (name, s))),
        Event::Note(text) => callback.call1(("note", text)),
        Event::Start(label, total) => callback.call1(("start", (label, total))),
        Event::Advance(n) => callback.call1(("advance", n)),
        Event::Finish => callback.call1(("finish", py.None())),
        Event::Epoch(e) => {
            let d = PyDict::new(py);
            d.set_item("model", &e.model)?;
            d.set_item("step", e.step)?;
            d.set_item("index", e.index)?;
            d.set_item("total", e.total)?;
            d.set_item("train_loss", e.train_loss)?;
            d.set_item("validation_loss", e.validation_loss)?;
            d.set_item("metric", &e.metric)?;
            d.set_item("value", e.value)?;
            d.set_item("train_value", e.train_value)?;
            d.set_item("seconds", e.seconds)?;
            callback.call1(("epoch", d))
        }
    }
    .map(drop)
}

/// Runs `job` on a worker thread without the GIL and relays its progress to `callback`
/// (`callback(kind, payload)`). A callback that raises is not called again and its error is
/// raised when the job ends; so is Ctrl-C, which the job sees only if it watches `cancel`.
pub fn run<R: Send>(
    py: Python<'_>,
    callback: Option<&Bound<'_, PyAny>>,
    job: impl FnOnce(&Relay) -> R + Send,
) -> PyResult<R> {
    run_cancellable(py, callback, &AtomicBool::new(false), job)
}

/// [`run`], setting `cancel` on Ctrl-C.
pub fn run_cancellable<R: Send>(
    py: Python<'_>,
    callback: Option<&Bound<'_, PyAny>>,
    cancel: &AtomicBool,
    job: impl FnOnce(&Relay) -> R + Send,
) -> PyResult<R> {
    let relay = Relay::default();
    let done = (Mutex::new(false), Condvar::new());
    std::thread::scope(|s| {
        let (relay_ref, done_ref) = (&relay, &done);
        let worker = s.spawn(move || {
            let r = job(relay_ref);
            *done_ref.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
            done_ref.1.notify_all();
            r
        });
        let mut pending: Option<PyErr> = None;
        loop {
            let finished = py.detach(|| {
                let flag = done.0.lock().unwrap_or_else(|p| p.into_inner());
                let (flag, _) = done
                    .1
                    .wait_timeout_while(flag, Duration::from_millis(100), |d| !*d)
                    .unwrap_or_else(|p| p.into_inner());
                *flag
            });
            let events = relay.take();
            if let (Some(cb), None) = (callback, &pending) {
                for e in events {
                    if let Err(e) = deliver(py, cb, e) {
                        pending = Some(e);
                        break;
                    }
                }
            }
            if pending.is_none()
                && let Err(e) = py.check_signals()
            {
                cancel.store(true, Ordering::Relaxed);
                pending = Some(e);
            }
            if finished {
                break;
            }
        }
        let result = py
            .detach(|| worker.join())
            .map_err(|_| crate::err("internal error: a Botify worker thread panicked"))?;
        match pending {
            Some(e) => Err(e),
            None => Ok(result),
        }
    })
}
