//! Terminal helpers: progress bars and colours that switch off when output is not a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

pub fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = if std::io::stderr().is_terminal() {
        ProgressBar::new(len)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>14} [{bar:30.cyan/blue}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
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

    /// Prints above the progress bar, if one is shown.
    fn line(&self, text: &str) {
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
