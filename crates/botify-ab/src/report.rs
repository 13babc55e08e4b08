//! The analysis of one experiment and its renderings: markdown, JSON, CSV and a self-contained
//! HTML page with SVG charts. Nothing here prints; the CLI decides where text goes.

use crate::sessions::{BIN_MS, METRICS, UserMetrics, UsersRead, read_users};
use crate::stats::{Srm, Summary, cuped, holm, srm, welch};
use crate::{Error, Result, svg};
use botify_core::events::ReadStats;
use botify_core::murmur::treatment_name;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct AbOptions {
    pub experiment: String,
    pub logs: Vec<PathBuf>,
    /// Confidence level of the intervals, e.g. 0.95.
    pub confidence: f64,
    /// Configured number of buckets (for the SRM check); default: the highest bucket seen + 1.
    pub buckets: Option<u32>,
    /// Pre-period logs for CUPED.
    pub pre: Option<Vec<PathBuf>>,
    pub metrics: Vec<String>,
}

impl AbOptions {
    pub fn new(experiment: &str, logs: Vec<PathBuf>) -> Self {
        AbOptions {
            experiment: experiment.into(),
            logs,
            confidence: 0.95,
            buckets: None,
            pre: None,
            metrics: METRICS.iter().map(|m| m.to_string()).collect(),
        }
    }
}

/// One treatment against control on one metric. Effects and bounds are % of the control mean.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub treatment: String,
    pub metric: String,
    pub control_mean: f64,
    pub treatment_mean: f64,
    pub effect: f64,
    pub lower: f64,
    pub upper: f64,
    pub significant: bool,
    pub p_value: f64,
    /// Holm-adjusted p-value over the treatments compared on this metric.
    pub p_holm: f64,
    pub significant_holm: bool,
    pub control_users: usize,
    pub treatment_users: usize,
    /// With CUPED: 1 − var(adjusted)/var(raw) over both groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variance_reduction: Option<f64>,
}

impl Row {
    /// Whether the effect goes the metric's good way (a time rise, a latency drop).
    pub fn improves(&self) -> bool {
        (self.effect > 0.0) == crate::sessions::higher_is_better(&self.metric)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TreatmentInfo {
    pub name: String,
    pub users: usize,
    pub sessions: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CurvePoint {
    /// Bin start, ms since the epoch.
    pub t_ms: u64,
    pub sessions: u64,
    pub tracks_per_session: f64,
    pub time_per_session: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub treatment: String,
    pub points: Vec<CurvePoint>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AbReport {
    pub experiment: String,
    pub confidence: f64,
    pub treatments: Vec<TreatmentInfo>,
    pub srm: Srm,
    pub rows: Vec<Row>,
    pub cuped: bool,
    pub read: ReadStats,
    pub curves: Vec<Curve>,
    /// Things a reader must know: skipped lines, missing treatments, conflicts, zero variance…
    pub notes: Vec<String>,
}

impl AbReport {
    /// True when no metric differs significantly (after Holm): the verdict of an A/A test.
    pub fn aa_passes(&self) -> bool {
        !self.rows.iter().any(|r| r.significant_holm)
    }
}

fn metric_values(users: &[UserMetrics], metric: &str) -> Vec<f64> {
    users.iter().filter_map(|u| u.metric(metric)).collect()
}

/// Reads the logs and compares every treatment with control on every metric.
pub fn analyse(o: &AbOptions) -> Result<AbReport> {
    if !(o.confidence > 0.0 && o.confidence < 1.0) {
        return Err(Error::Invalid(format!(
            "confidence {} is not in (0, 1)",
            o.confidence
        )));
    }
    for m in &o.metrics {
        if !METRICS.contains(&m.as_str()) {
            return Err(Error::Invalid(format!(
                "unknown metric {m:?}; metrics are {}",
                METRICS.join(", ")
            )));
        }
    }
    let UsersRead {
        users,
        curves,
        read,
        without_experiment,
        bad_treatment,
        conflicting_users,
        unfinished_users,
    } = read_users(&o.logs, &o.experiment)?;
    let mut notes = Vec::new();
    if read.skipped > 0 {
        notes.push(format!(
            "{} malformed log lines skipped, e.g. {}",
            read.skipped,
            read.skipped_examples.first().cloned().unwrap_or_default()
        ));
    }
    if without_experiment > 0 {
        notes.push(format!(
            "{without_experiment} events carry no assignment for {} and were ignored",
            o.experiment
        ));
    }
    if bad_treatment > 0 {
        notes.push(format!(
            "{bad_treatment} events have a treatment that is not C, T1, …; ignored"
        ));
    }
    if conflicting_users > 0 {
        notes.push(format!(
            "{conflicting_users} users appear in more than one treatment (was the experiment reconfigured?); each is kept in its first"
        ));
    }
    if unfinished_users > 0 {
        notes.push(format!(
            "{unfinished_users} users never finished a session and are not counted"
        ));
    }
    let max_bucket = users
        .iter()
        .map(|u| u32::from(u.treatment))
        .max()
        .unwrap_or(0);
    let buckets = o
        .buckets
        .unwrap_or(max_bucket + 1)
        .max(max_bucket + 1)
        .max(2);
    let mut by_bucket: Vec<Vec<UserMetrics>> = vec![Vec::new(); buckets as usize];
    for u in users {
        by_bucket[u.treatment as usize].push(u);
    }
    let treatments: Vec<TreatmentInfo> = by_bucket
        .iter()
        .enumerate()
        .map(|(b, us)| TreatmentInfo {
            name: treatment_name(b as u32),
            users: us.len(),
            sessions: us.iter().map(|u| u64::from(u.sessions)).sum(),
        })
        .collect();
    for t in &treatments {
        if t.users == 0 {
            notes.push(format!("treatment {} has no users in these logs", t.name));
        }
    }
    let split = srm(
        &treatments
            .iter()
            .map(|t| t.users as u64)
            .collect::<Vec<_>>(),
        &vec![1.0; buckets as usize],
    );
    if split.mismatch {
        notes.push(format!(
            "SAMPLE RATIO MISMATCH: users per treatment {:?} differ from an even split (chi² = {:.1}, p = {:.2e}); do not trust these results",
            split.observed, split.chi2, split.p
        ));
    }
    // CUPED covariates: the same metric per user in the pre-period.
    let pre: Option<HashMap<u32, UserMetrics>> = match &o.pre {
        Some(paths) => {
            let r = read_users(paths, &o.experiment)
                .map_err(|e| Error::Invalid(format!("--pre logs: {e}")))?;
            Some(r.users.into_iter().map(|u| (u.user, u)).collect())
        }
        None => None,
    };
    let mut rows = Vec::new();
    for metric in &o.metrics {
        let control = &by_bucket[0];
        let cy = metric_values(control, metric);
        let c_raw = Summary::of(&cy);
        let mut metric_rows = Vec::new();
        for (b, group) in by_bucket.iter().enumerate().skip(1) {
            let ty = metric_values(group, metric);
            let t_raw = Summary::of(&ty);
            let (c, t, reduction) = match &pre {
                None => (c_raw, t_raw, None),
                Some(pre) => {
                    let both: Vec<&UserMetrics> = control.iter().chain(group.iter()).collect();
                    let y: Vec<f64> = cy.iter().chain(ty.iter()).copied().collect();
                    let known: Vec<f64> = both
                        .iter()
                        .filter_map(|u| pre.get(&u.user)?.metric(metric))
                        .collect();
                    let fill = Summary::of(&known).mean;
                    let x: Vec<f64> = both
                        .iter()
                        .map(|u| {
                            pre.get(&u.user)
                                .and_then(|p| p.metric(metric))
                                .unwrap_or(fill)
                        })
                        .map(|v| if v.is_nan() { 0.0 } else { v })
                        .collect();
                    let (adj, _) = cuped(&y, &x);
                    let var_before = Summary::of(&y).var;
                    let var_after = Summary::of(&adj).var;
                    let (ac, at) = adj.split_at(cy.len());
                    (
                        Summary::of(ac),
                        Summary::of(at),
                        Some(1.0 - var_after / var_before),
                    )
                }
            };
            let w = welch(&c, &t, o.confidence);
            let pct = |x: f64| x / c_raw.mean * 100.0;
            let (effect, lower, upper, p) = match w {
                Some(w) if c_raw.mean != 0.0 => (pct(w.diff), pct(w.lower), pct(w.upper), w.p),
                _ => (f64::NAN, f64::NAN, f64::NAN, f64::NAN),
            };
            metric_rows.push(Row {
                treatment: treatment_name(b as u32),
                metric: metric.clone(),
                control_mean: c_raw.mean,
                treatment_mean: t_raw.mean,
                effect,
                lower,
                upper,
                significant: lower > 0.0 || upper < 0.0,
                p_value: p,
                p_holm: f64::NAN,
                significant_holm: false,
                control_users: c_raw.n,
                treatment_users: t_raw.n,
                variance_reduction: reduction,
            });
        }
        let adjusted = holm(&metric_rows.iter().map(|r| r.p_value).collect::<Vec<_>>());
        for (r, p) in metric_rows.iter_mut().zip(adjusted) {
            r.p_holm = p;
            r.significant_holm = p < 1.0 - o.confidence;
        }
        for r in &metric_rows {
            if r.effect.is_nan() && r.control_users > 0 && r.treatment_users > 0 {
                notes.push(format!(
                    "{} on {}: no interval (a group has fewer than 2 users or the control mean is 0)",
                    r.treatment, r.metric
                ));
            }
        }
        rows.extend(metric_rows);
    }
    if by_bucket[0].is_empty() {
        notes.push("control (C) has no users: nothing to compare against".into());
    }
    Ok(AbReport {
        experiment: o.experiment.clone(),
        confidence: o.confidence,
        curves: make_curves(&curves, buckets),
        treatments,
        srm: split,
        rows,
        cuped: pre.is_some(),
        read,
        notes,
    })
}

/// Re-bins the per-second curves into at most 40 points per treatment.
fn make_curves(c: &crate::sessions::Curves, buckets: u32) -> Vec<Curve> {
    let (lo, hi) = c
        .keys()
        .fold((u64::MAX, 0), |(lo, hi), &(_, s)| (lo.min(s), hi.max(s)));
    if lo > hi {
        return Vec::new();
    }
    let width = ((hi - lo) / 40 + 1).max(1);
    (0..buckets)
        .map(|b| {
            let mut bins: Vec<(u64, u64, u64)> = vec![(0, 0, 0); ((hi - lo) / width + 1) as usize];
            for (&(_, s), &(tracks, time, sessions)) in c.range((b as u8, lo)..=(b as u8, hi)) {
                let bin = &mut bins[((s - lo) / width) as usize];
                bin.0 += tracks;
                bin.1 += time;
                bin.2 += sessions;
            }
            Curve {
                treatment: treatment_name(b),
                points: bins
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| b.2 > 0)
                    .map(|(i, &(tracks, time, sessions))| CurvePoint {
                        t_ms: (lo + i as u64 * width) * BIN_MS,
                        sessions,
                        tracks_per_session: tracks as f64 / sessions as f64,
                        time_per_session: time as f64 / 1e6 / sessions as f64,
                    })
                    .collect(),
            }
        })
        .collect()
}

fn num(x: f64, digits: usize) -> String {
    if x.is_nan() {
        "—".into()
    } else {
        format!("{x:.digits$}")
    }
}

fn interval(r: &Row) -> String {
    if r.lower.is_nan() {
        "—".into()
    } else {
        format!("[{:+.2}, {:+.2}]", r.lower, r.upper)
    }
}

fn pval(p: f64) -> String {
    if p.is_nan() {
        "—".into()
    } else if p < 1e-300 {
        "< 1e-300".into()
    } else if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

impl Row {
    /// The formatted cells every rendering shows: treatment, metric, control and treatment means,
    /// effect %, interval %, p, Holm p.
    pub fn cells(&self) -> [String; 8] {
        [
            self.treatment.clone(),
            self.metric.clone(),
            num(self.control_mean, 4),
            num(self.treatment_mean, 4),
            if self.effect.is_nan() {
                "—".into()
            } else {
                format!("{:+.2}", self.effect)
            },
            interval(self),
            pval(self.p_value),
            pval(self.p_holm),
        ]
    }
}

impl AbReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "treatment,metric,control_mean,treatment_mean,effect,lower,upper,significant,p_value,p_holm,significant_holm,control_users,treatment_users,variance_reduction\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.treatment,
                r.metric,
                r.control_mean,
                r.treatment_mean,
                r.effect,
                r.lower,
                r.upper,
                r.significant,
                r.p_value,
                r.p_holm,
                r.significant_holm,
                r.control_users,
                r.treatment_users,
                r.variance_reduction
                    .map_or(String::new(), |v| v.to_string())
            );
        }
        s
    }

    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## A/B: {}\n", self.experiment);
        let _ = writeln!(
            s,
            "Users: {}. Split check (SRM): chi² = {:.2}, p = {} — {}.{}\n",
            self.treatments
                .iter()
                .map(|t| format!("{} {}", t.name, t.users))
                .collect::<Vec<_>>()
                .join(", "),
            self.srm.chi2,
            pval(self.srm.p),
            if self.srm.mismatch {
                "**MISMATCH**"
            } else {
                "ok"
            },
            if self.cuped {
                " CUPED on the pre-period."
            } else {
                ""
            }
        );
        let conf = self.confidence * 100.0;
        let _ = writeln!(
            s,
            "| treatment | metric | control | treatment | effect % | {conf:.0}% CI % | p | p (Holm) | significant |"
        );
        s.push_str("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |\n");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} |",
                r.cells().join(" | "),
                match (r.significant, r.significant_holm) {
                    (true, true) => "yes",
                    (true, false) => "raw only",
                    _ => "no",
                }
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "\n> {n}");
        }
        s
    }

    /// A self-contained page: tables, forest plots per metric, curves over time, SRM status.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(64 << 10);
        let esc = svg::escape;
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>A/B {}</title>\n<style>\
body{{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}}\
table{{border-collapse:collapse;margin:1em 0;font-size:14px}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}}\
td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){{text-align:left}}.pos{{color:#1a7f37;font-weight:600}}.neg{{color:#c62828;font-weight:600}}\
.ns{{color:#777}}.warn{{background:#fff3cd;border:1px solid #e0b000;padding:.6em 1em;border-radius:6px}}.ok{{color:#1a7f37}}\
.charts{{display:flex;flex-wrap:wrap;gap:1em}}figure{{margin:0}}figcaption{{font-size:13px;color:#555}}</style></head><body>\n",
            esc(&self.experiment)
        );
        let _ = writeln!(
            h,
            "<h1>A/B experiment <code>{}</code></h1>",
            esc(&self.experiment)
        );
        let _ = writeln!(
            h,
            "<p>{} events from {} files ({} skipped). Confidence {:.0}%.{}</p>",
            self.read.events,
            self.read.files,
            self.read.skipped,
            self.confidence * 100.0,
            if self.cuped {
                " Metrics CUPED-adjusted with the pre-period."
            } else {
                ""
            }
        );
        h.push_str("<h2>Users and split</h2><table><tr><th>treatment</th><th>users</th><th>sessions</th><th>expected users</th></tr>");
        for (t, e) in self.treatments.iter().zip(&self.srm.expected) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td></tr>",
                t.name, t.users, t.sessions, e
            );
        }
        h.push_str("</table>");
        if self.srm.mismatch {
            let _ = writeln!(
                h,
                "<p class=\"warn\"><b>Sample ratio mismatch</b>: chi² = {:.1}, p = {}. The split is broken; do not trust the results.</p>",
                self.srm.chi2,
                pval(self.srm.p)
            );
        } else {
            let _ = writeln!(
                h,
                "<p class=\"ok\">Split check passed (chi² = {:.2}, p = {}).</p>",
                self.srm.chi2,
                pval(self.srm.p)
            );
        }
        h.push_str("<h2>Results</h2><table><tr><th>treatment</th><th>metric</th><th>control</th><th>treatment</th><th>effect %</th><th>CI %</th><th>p</th><th>p (Holm)</th></tr>");
        for r in &self.rows {
            let class = match (r.significant_holm, r.improves()) {
                (true, true) => "pos",
                (true, false) => "neg",
                _ => "ns",
            };
            let _ = write!(
                h,
                "<tr class=\"{class}\"><td>{}</td></tr>",
                r.cells().join("</td><td>")
            );
        }
        h.push_str("</table>");
        h.push_str("<h2>Effects with confidence intervals</h2><div class=\"charts\">");
        let metrics: Vec<&str> = {
            let mut m: Vec<&str> = self.rows.iter().map(|r| r.metric.as_str()).collect();
            m.dedup();
            m
        };
        for m in metrics {
            let items: Vec<svg::ForestItem> = self
                .rows
                .iter()
                .filter(|r| r.metric == m)
                .map(|r| svg::ForestItem {
                    label: r.treatment.clone(),
                    effect: r.effect,
                    lower: r.lower,
                    upper: r.upper,
                    significant: r.significant_holm,
                    good: r.improves(),
                })
                .collect();
            let _ = write!(
                h,
                "<figure>{}<figcaption>{m}: effect vs C, % of control</figcaption></figure>",
                svg::forest(m, &items)
            );
        }
        h.push_str("</div><h2>Over the experiment</h2><div class=\"charts\">");
        let (unit_ms, unit) = time_unit(self.curves_span());
        let series = |f: fn(&CurvePoint) -> f64| -> Vec<svg::Series> {
            self.curves
                .iter()
                .filter(|c| !c.points.is_empty())
                .map(|c| svg::Series {
                    label: c.treatment.clone(),
                    points: c
                        .points
                        .iter()
                        .map(|p| ((p.t_ms as f64 - self.curves_start()) / unit_ms, f(p)))
                        .collect(),
                })
                .collect()
        };
        let _ = write!(
            h,
            "<figure>{}<figcaption>tracks per session, by {unit} since the first event</figcaption></figure>",
            svg::lines(
                "tracks per session",
                unit,
                &series(|p| p.tracks_per_session)
            )
        );
        let _ = write!(
            h,
            "<figure>{}<figcaption>listening time per session, by {unit} since the first event</figcaption></figure>",
            svg::lines("time per session", unit, &series(|p| p.time_per_session))
        );
        h.push_str("</div>");
        if !self.notes.is_empty() {
            h.push_str("<h2>Notes</h2><ul>");
            for n in &self.notes {
                let _ = write!(h, "<li>{}</li>", esc(n));
            }
            h.push_str("</ul>");
        }
        h.push_str("</body></html>\n");
        h
    }

    /// Milliseconds from the first to the last point of the curves.
    fn curves_span(&self) -> f64 {
        let end = self
            .curves
            .iter()
            .flat_map(|c| c.points.last())
            .map(|p| p.t_ms as f64)
            .fold(f64::NEG_INFINITY, f64::max);
        (end - self.curves_start()).max(0.0)
    }

    fn curves_start(&self) -> f64 {
        self.curves
            .iter()
            .flat_map(|c| c.points.first())
            .map(|p| p.t_ms as f64)
            .fold(f64::INFINITY, f64::min)
    }
}

/// The unit that reads best for a span: a run of seconds over HTTP and a simulated day both get
/// an axis of a few to a few dozen units. Returns (milliseconds per unit, its name).
fn time_unit(span_ms: f64) -> (f64, &'static str) {
    if span_ms < 120_000.0 {
        (1e3, "seconds")
    } else if span_ms < 7_200_000.0 {
        (6e4, "minutes")
    } else {
        (3.6e6, "hours")
    }
}

#[cfg(test)]
mod unit_tests {
    use super::time_unit;

    #[test]
    fn the_time_axis_unit_follows_the_span() {
        assert_eq!(time_unit(12_000.0).1, "seconds");
        assert_eq!(time_unit(600_000.0).1, "minutes");
        assert_eq!(time_unit(86_400_000.0).1, "hours");
    }
}
