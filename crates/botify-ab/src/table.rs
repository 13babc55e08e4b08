//! A report as the course's coloured terminal table, and the one-line answers of `botify ab`
//! (the A/A verdict, a power query). Text only: the caller prints it, with ANSI colours when it
//! asks for them.

use crate::power::{PowerAnswer, PowerQuery};
use crate::report::{AbReport, Verdict};

/// `s` in an ANSI style (`"32"` green, `"1;31"` bold red) when `colour`.
pub fn paint(s: &str, code: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

impl AbReport {
    /// Green for a significant gain, red for a significant loss, yellow for significant before
    /// the correction only; then the decisions and notes.
    pub fn to_table(&self, colour: bool) -> String {
        self.table_of(|_| true, colour)
    }

    /// [`to_table`](Self::to_table) with the primary metric's rows only (the decisions rest on
    /// it) and a line saying how many rows of other metrics are left out.
    pub fn to_primary_table(&self, colour: bool) -> String {
        let mut text = self.table_of(|m| m == self.primary, colour);
        let others = self
            .rows
            .iter()
            .filter(|r| r.metric != self.primary)
            .count();
        if others > 0 {
            text.push_str(&format!(
                "({others} rows of the other metrics, guardrails among them: report.md, report.html)\n"
            ));
        }
        text
    }

    fn table_of(&self, shown: impl Fn(crate::Metric) -> bool, colour: bool) -> String {
        let mut out = Vec::new();
        let users: Vec<String> = self
            .treatments
            .iter()
            .map(|t| format!("{} {}", t.name, t.users))
            .collect();
        out.push(format!(
            "experiment {} — users: {}{}",
            self.experiment,
            users.join(", "),
            if self.cuped { " — CUPED" } else { "" }
        ));
        if self.srm.mismatch {
            let text = format!(
                "SAMPLE RATIO MISMATCH (chi² {:.1}, p {:.1e}): do not trust these results",
                self.srm.chi2, self.srm.p
            );
            out.push(paint(&text, "1;31", colour));
        }
        out.push(self.method_line());
        let headers = self.headers();
        let rows: Vec<&crate::report::Row> = self.rows.iter().filter(|r| shown(r.metric)).collect();
        let cells: Vec<Vec<String>> = rows.iter().map(|row| self.cells(row)).collect();
        let widths: Vec<usize> = (0..headers.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|c| c[i].chars().count())
                    .chain([headers[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cols: &[String]| -> String {
            let padded: Vec<String> = cols
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, &w))| {
                    let pad = " ".repeat(w.saturating_sub(c.chars().count()));
                    // Names left-aligned, numbers right-aligned.
                    if i < 2 {
                        format!("{c}{pad}")
                    } else {
                        format!("{pad}{c}")
                    }
                })
                .collect();
            padded.join("  ")
        };
        out.push(line(&headers));
        for (row, c) in rows.iter().zip(&cells) {
            // Green for a significant improvement, whichever direction that is for the metric.
            let code = match (row.significant_adjusted, row.significant, row.improves()) {
                (true, _, true) => "1;32",
                (true, _, false) => "1;31",
                (false, true, _) => "33",
                _ => "2",
            };
            out.push(paint(&line(c), code, colour));
        }
        for (d, text) in self.decisions.iter().zip(self.decision_lines()) {
            let code = match d.verdict {
                Verdict::Ship => "1;32",
                Verdict::DontShip => "1;31",
                Verdict::Inconclusive => "33",
            };
            out.push(paint(&format!("decision {text}"), code, colour));
        }
        out.extend(self.notes.iter().map(|n| format!("note: {n}")));
        let mut text = out.join("\n");
        text.push('\n');
        text
    }

    /// Whether an A/A experiment passes — no (treatment, metric) pair significant after the
    /// correction, and an even split — and the sentence that says so.
    pub fn aa_verdict(&self, colour: bool) -> (bool, String) {
        if self.aa_passes() && !self.srm.mismatch {
            let text = format!(
                "A/A check passed: no (treatment, metric) pair differs significantly ({}) and the split is even.",
                self.correction.name()
            );
            (true, paint(&text, "32", colour))
        } else {
            let text = "A/A check FAILED: an A/A experiment shows a difference or a broken split.";
            (false, paint(text, "1;31", colour))
        }
    }
}

impl PowerAnswer {
    /// The answer to `q` in words: the baseline, the users needed for its effect (if it has
    /// one) and the effect detectable with the users it has.
    pub fn to_text(&self, q: &PowerQuery) -> String {
        let mut out = format!(
            "baseline {}: {} users, mean {:.4}, sd {:.4}\n",
            q.metric,
            self.baseline.n,
            self.baseline.mean,
            self.baseline.var.sqrt()
        );
        if let (Some(rel), Some(n)) = (q.effect, self.users_needed) {
            out.push_str(&format!(
                "to detect {:+.2}% with power {:.0}% at alpha {}: {} users per group ({} for C + T1)\n",
                rel.abs() * 100.0,
                q.power * 100.0,
                q.alpha,
                n,
                2.0 * n
            ));
        }
        out.push_str(&format!(
            "with {:.0} users per group the minimum detectable effect is {:.2}% ({:.4} absolute)\n",
            self.users,
            self.mde_relative * 100.0,
            self.mde
        ));
        out
    }
}
