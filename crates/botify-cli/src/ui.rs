//! Terminal helpers: progress bars and colours that switch off when output is not a terminal,
//! progress as plain lines in a log file, and `--quiet`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static QUIET: AtomicBool = AtomicBool::new(false);

/// What a command prints on stdout: lines for people, or one JSON document for programs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// `--quiet`: no progress, stage lines or notes; results and errors only.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// How often progress is written as a line when stderr is not a terminal (a log file).
const LINE_EVERY: Duration = Duration::from_secs(10);

/// A progress bar on a terminal; into a file or pipe, a plain line every [`LINE_EVERY`] (so a
/// long run's log shows it is moving); nothing with `--quiet`.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    if quiet() {
        return ProgressBar::hidden();
    }
    let terminal = std::io::stderr().is_terminal();
    let pb = if terminal {
        ProgressBar::new(len)
    } else {
        ProgressBar::with_draw_target(
            Some(len),
            ProgressDrawTarget::term_like_with_hz(Box::new(LogLines::default()), 1),
        )
    };
    let template = if terminal {
        "{msg:>14} [{bar:30.cyan/blue}] {pos}/{len} ({per_sec}, eta {eta})"
    } else {
        "{msg}: {pos}/{len} ({percent}%, {elapsed} elapsed, eta {eta})"
    };
    pb.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Progress drawn as lines on stderr, at most one per [`LINE_EVERY`]: indicatif redraws the bar
/// in place, which a file cannot show.
#[derive(Debug, Default)]
struct LogLines {
    state: Mutex<(String, Option<Instant>)>,
}

impl TermLike for LogLines {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write_str(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        if let Ok(mut st) = self.state.lock() {
            st.0.push_str(s);
        }
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        if let Ok(mut st) = self.state.lock() {
            st.0.clear();
        }
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        let Ok(mut st) = self.state.lock() else {
            return Ok(());
        };
        let line = std::mem::take(&mut st.0);
        let due = st.1.is_none_or(|t| t.elapsed() >= LINE_EVERY);
        if due && !line.trim().is_empty() {
            eprintln!("{}", line.trim_end());
            st.1 = Some(Instant::now());
        }
        Ok(())
    }
}

/// Colours on stdout: a terminal that did not ask for none.
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Shows a library call's progress on the terminal: stage headers, notes, one progress bar at a
/// time and, when asked, a line per training step.
pub struct Term {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    steps: bool,
}

impl Term {
    pub fn new(steps: bool) -> Term {
        Term {
            bar: std::sync::Mutex::new(None),
            steps,
        }
    }

    fn bar(&self) -> Option<ProgressBar> {
        self.bar.lock().ok().and_then(|b| b.clone())
    }

    /// Prints above the progress bar, if one is shown; nothing with `--quiet`.
    fn line(&self, text: &str) {
        if quiet() {
            return;
        }
        match self.bar() {
            Some(b) => b.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
}

impl botify_lab::Observer for Term {
    fn stage(&self, name: &str) {
        self.line(&format!("{} {name}", paint_err("==>", "1;34")));
    }
    fn stage_done(&self, name: &str, seconds: f64) {
        self.line(&format!("    {name}: done in {seconds:.1}s"));
    }
    fn note(&self, text: &str) {
        self.line(&format!("    {text}"));
    }
    fn start(&self, label: &str, total: u64) {
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(progress(total, label));
        }
    }
    fn advance(&self, n: u64) {
        if let Ok(b) = self.bar.lock()
            && let Some(b) = b.as_ref()
        {
            b.inc(n);
        }
    }
    fn finish(&self) {
        if let Some(b) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            b.finish_and_clear();
        }
    }
    fn epoch(&self, e: &botify_lab::EpochReport) {
        if !self.steps {
            return;
        }
        let mut text = format!("{} {}", e.step, e.index);
        if e.train_loss.is_finite() {
            text.push_str(&format!(": loss {:.4}", e.train_loss));
        }
        if e.validation_loss.is_finite() {
            text.push_str(&format!(", validation loss {:.4}", e.validation_loss));
        }
        if e.train_value.is_finite() {
            text.push_str(&format!(", training {} {:.4}", e.metric, e.train_value));
        }
        if e.value.is_finite() {
            text.push_str(&format!(", {} {:.4}", e.metric, e.value));
        }
        text.push_str(&format!(" ({:.2}s)", e.seconds));
        self.line(&text);
    }
}

/// `s` in an ANSI style for stderr: coloured only when stderr is a terminal.
pub fn paint_err(s: &str, code: &str) -> String {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    botify_ab::table::paint(s, code, colour)
}

/// A flag's integer parser with its bounds in the error: sizes that would allocate without limit
/// (`--k 1000000000`, `--factors 100000`) are refused before anything runs.
pub fn in_range<T>(lo: T, hi: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |s: &str| {
        let v: T = s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a whole number"))?;
        if v < lo || v > hi {
            return Err(format!("{v} is out of range ({lo} to {hi})"));
        }
        Ok(v)
    }
}

/// A share in [0, 1): a holdout or validation fraction (1 would leave nothing to train on).
pub fn fraction(s: &str) -> Result<f64, String> {
    number(
        s,
        |v| (0.0..1.0).contains(&v),
        "must be at least 0 and below 1",
    )
}

/// A number flag's parser: `s` as a `T` that `ok` accepts, else an error saying what it `must` be.
fn number<T>(s: &str, ok: impl Fn(f64) -> bool, must: &str) -> Result<T, String>
where
    T: std::str::FromStr + Into<f64> + Copy + std::fmt::Display,
{
    let v: T = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if !ok(v.into()) {
        return Err(format!("{v} {must}"));
    }
    Ok(v)
}
