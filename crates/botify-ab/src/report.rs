//! The analysis of one experiment and its renderings: markdown, JSON, CSV and a self-contained
//! HTML page with SVG charts. Nothing here prints; the CLI decides where text goes.

use crate::sessions::{BIN_MS, Metric, UserMetrics, UsersRead, read_users, read_users_assigning};
use crate::stats::{
    Correction, IntervalMethod, Srm, Summary, cuped, msprt, relative_of, srm, welch,
};
use crate::{Error, Result, svg};
use botify_core::events::ReadStats;
use botify_core::murmur::{Splitter, treatment_name};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::PathBuf;

/// A covariate imbalance between arms below this p-value means the pre-period is not a fair
/// baseline (a leaky or non-random pre-period): CUPED is then not applied.
pub const CUPED_BALANCE_ALPHA: f64 = 0.001;

#[derive(Debug, Clone)]
pub struct AbOptions {
    pub experiment: String,
    pub logs: Vec<PathBuf>,
    /// Confidence level of the intervals, e.g. 0.95; 1 − confidence is the test level.
    pub confidence: f64,
    /// Configured number of buckets (for the SRM check); default: the highest bucket seen + 1.
    pub buckets: Option<u32>,
    /// Pre-period logs for CUPED.
    pub pre: Option<Vec<PathBuf>>,
    pub metrics: Vec<Metric>,
    /// How the interval of the relative effect is computed.
    pub interval: IntervalMethod,
    /// Multiplicity correction over every (treatment, metric) pair of the report.
    pub correction: Correction,
    /// The metric the ship decision rests on.
    pub primary: Metric,
    /// Metrics that may not get worse by more than a margin.
    pub guardrails: Vec<Guardrail>,
    /// Mixing scale τ of the always-valid interval, as a relative effect (0.1 = effects of about
    /// 10%); None: no sequential interval.
    pub sequential: Option<f64>,
    /// What each treatment serves (`T1` → `session_taste(models/taste.jsonl), then …`), shown
    /// beside its name; from the experiments file or the plan.
    pub labels: std::collections::BTreeMap<String, String>,
}

impl AbOptions {
    pub fn new(experiment: &str, logs: Vec<PathBuf>) -> Self {
        AbOptions {
            experiment: experiment.into(),
            logs,
            confidence: 0.95,
            buckets: None,
            pre: None,
            metrics: Metric::USER.to_vec(),
            interval: IntervalMethod::Delta,
            correction: Correction::Maxt,
            primary: Metric::MeanTimePerSession,
            guardrails: Vec::new(),
            sequential: None,
            labels: Default::default(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(Error::Invalid(format!(
                "confidence {} is not in (0, 1)",
                self.confidence
            )));
        }
        if self.metrics.is_empty() {
            return Err(Error::Invalid("no metrics to compare".into()));
        }
        let compared = || {
            self.metrics
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.metrics.contains(&self.primary) {
            return Err(Error::Invalid(format!(
                "the primary metric {:?} is not among the metrics compared ({})",
                self.primary.name(),
                compared()
            )));
        }
        for g in &self.guardrails {
            if !self.metrics.contains(&g.metric) {
                return Err(Error::Invalid(format!(
                    "guardrail metric {:?} is not among the metrics compared ({})",
                    g.metric.name(),
                    compared()
                )));
            }
        }
        if let Some(tau) = self.sequential
            && !(tau > 0.0 && tau.is_finite())
        {
            return Err(Error::Invalid(format!(
                "the sequential mixing scale {tau} must be a positive number"
            )));
        }
        Ok(())
    }
}

/// A metric that may not get worse by more than `margin` (a fraction of the control mean).
/// Read from text as `METRIC:MARGIN` (in plans too).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Guardrail {
    pub metric: Metric,
    pub margin: f64,
}

impl std::str::FromStr for Guardrail {
    type Err = Error;

    /// `METRIC:MARGIN`, the margin as `10%` or `0.1`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::Invalid(format!(
                "guardrail {s:?} is not METRIC:MARGIN, e.g. mean_request_latency:10%"
            ))
        };
        let (metric, margin) = s.split_once(':').ok_or_else(bad)?;
        let margin = crate::parse_fraction(margin).ok_or_else(bad)?;
        if !(margin >= 0.0 && margin.is_finite()) {
            return Err(Error::Invalid(format!(
                "guardrail {s:?}: the margin must be a non-negative number"
            )));
        }
        Ok(Guardrail {
            metric: metric.parse()?,
            margin,
        })
    }
}

impl From<Guardrail> for String {
    fn from(g: Guardrail) -> String {
        format!("{}:{}%", g.metric, g.margin * 100.0)
    }
}

impl TryFrom<String> for Guardrail {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

/// Where a treatment stands against a guardrail's margin, from the relative interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardrailStatus {
    /// The whole interval is better than "worse by the margin": non-inferiority shown.
    NonInferior,
    /// The interval straddles the margin.
    Unclear,
    /// The whole interval is worse than the margin: significantly worse than allowed.
    Violated,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GuardrailCheck {
    /// % of the control mean.
    pub margin: f64,
    pub status: GuardrailStatus,
}

/// The always-valid interval of a row, % of control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sequential {
    pub lower: f64,
    pub upper: f64,
    /// The always-valid p-value of "no effect".
    pub p: f64,
}

/// One treatment against control on one metric. Effects and bounds are % of the control mean.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub treatment: String,
    pub metric: Metric,
    pub control_mean: f64,
    pub treatment_mean: f64,
    pub effect: f64,
    /// The interval of the effect, by the report's `interval` method.
    pub lower: f64,
    pub upper: f64,
    /// Welch's test on the absolute difference: p < 1 − confidence.
    pub significant: bool,
    pub p_value: f64,
    /// The p-value adjusted over every (treatment, metric) pair of the report.
    pub p_adjusted: f64,
    pub significant_adjusted: bool,
    pub control_users: usize,
    pub treatment_users: usize,
    /// With CUPED: the within-arm variance reduction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variance_reduction: Option<f64>,
    /// With CUPED: Welch's p-value of the covariate's difference between the arms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cuped_balance_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequential: Option<Sequential>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<GuardrailCheck>,
}

impl Row {
    /// Whether the effect goes the metric's good way (a time rise, a latency drop).
    pub fn improves(&self) -> bool {
        (self.effect > 0.0) == self.metric.higher_is_better()
    }
}

/// What to do with a treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ship,
    DontShip,
    Inconclusive,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ship => "ship",
            Verdict::DontShip => "don't ship",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub treatment: String,
    pub verdict: Verdict,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TreatmentInfo {
    pub name: String,
    /// What it serves, when the analysis was told (an experiments file, a plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommender: Option<String>,
    pub users: usize,
    pub sessions: u64,
}

impl TreatmentInfo {
    /// `T1 (session_taste(…))`, or the bare name when the recommender is not known.
    pub fn title(&self) -> String {
        match &self.recommender {
            Some(r) => format!("{} ({r})", self.name),
            None => self.name.clone(),
        }
    }
}

/// The primary metric's effect as users arrived: at each point, the users who had entered the
/// experiment by then, compared on their whole-period values.
#[derive(Debug, Clone, Serialize)]
pub struct CumulativePoint {
    /// Users in the comparison (all arms).
    pub users: usize,
    /// Their share of all the experiment's users.
    pub share: f64,
    /// Effect vs control, % of the control mean, and its interval (always-valid when the report
    /// has sequential intervals, else the fixed-horizon interval at each point).
    pub effect: f64,
    pub lower: f64,
    pub upper: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cumulative {
    pub treatment: String,
    pub points: Vec<CumulativePoint>,
}

/// Per-user values of the primary metric: a histogram per arm on shared bins.
#[derive(Debug, Clone, Serialize)]
pub struct Distribution {
    pub metric: Metric,
    /// Bin edges (bins + 1); values above the last edge are counted in the last bin.
    pub edges: Vec<f64>,
    /// (treatment, users per bin).
    pub arms: Vec<(String, Vec<u64>)>,
    /// Users above the last edge (the 99th percentile), counted in the last bin.
    pub clipped: u64,
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
    /// The interval method of every row's `lower`/`upper`.
    pub interval: IntervalMethod,
    /// The correction behind `p_adjusted`, over all rows.
    pub correction: Correction,
    pub primary: Metric,
    pub guardrails: Vec<Guardrail>,
    /// The mixing scale of the rows' always-valid intervals, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequential_tau: Option<f64>,
    pub treatments: Vec<TreatmentInfo>,
    pub srm: Srm,
    pub rows: Vec<Row>,
    pub decisions: Vec<Decision>,
    pub cuped: bool,
    pub read: ReadStats,
    pub curves: Vec<Curve>,
    /// The primary metric's effect per treatment as users arrived.
    pub cumulative: Vec<Cumulative>,
    /// Whether `cumulative`'s intervals are always-valid (else fixed-horizon at each point).
    pub cumulative_always_valid: bool,
    /// The primary metric per user, per arm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
    /// Things a reader must know: skipped lines, missing treatments, conflicts, zero variance…
    pub notes: Vec<String>,
}

impl AbReport {
    /// True when no (treatment, metric) pair differs significantly after the family-wide
    /// correction: the verdict of an A/A test.
    pub fn aa_passes(&self) -> bool {
        !self.rows.iter().any(|r| r.significant_adjusted)
    }
}

/// A group's summary of `metric`: per-user values, or the delta-method summary of a ratio.
fn summarise(users: &[UserMetrics], metric: Metric) -> Summary {
    let parts: Vec<(f64, f64)> = users.iter().filter_map(|u| u.ratio_parts(metric)).collect();
    if parts.is_empty() {
        Summary::of(&metric_values(users, metric))
    } else {
        let (num, den): (Vec<f64>, Vec<f64>) = parts.into_iter().unzip();
        Summary::ratio(&num, &den)
    }
}

fn metric_values(users: &[UserMetrics], metric: Metric) -> Vec<f64> {
    users.iter().filter_map(|u| u.metric(metric)).collect()
}

/// CUPED for one pair of arms on one metric: the adjusted summaries, or why it was not applied.
struct CupedPair {
    control: Summary,
    treatment: Summary,
    reduction: Option<f64>,
    balance_p: f64,
}

fn cuped_pair(
    control: &[UserMetrics],
    treatment: &[UserMetrics],
    metric: Metric,
    pre: &HashMap<u32, UserMetrics>,
    confidence: f64,
) -> CupedPair {
    let covariate = |us: &[UserMetrics]| -> Vec<Option<f64>> {
        us.iter()
            .map(|u| pre.get(&u.user).and_then(|p| p.metric(metric)))
            .map(|v| v.filter(|x| x.is_finite()))
            .collect()
    };
    let (xc, xt) = (covariate(control), covariate(treatment));
    // Users without a pre-period get the mean covariate: no adjustment for them.
    let known: Vec<f64> = xc.iter().chain(&xt).flatten().copied().collect();
    let fill = if known.is_empty() {
        0.0
    } else {
        known.iter().sum::<f64>() / known.len() as f64
    };
    let filled =
        |x: Vec<Option<f64>>| -> Vec<f64> { x.into_iter().map(|v| v.unwrap_or(fill)).collect() };
    let (xc, xt) = (filled(xc), filled(xt));
    let (yc, yt) = (
        metric_values(control, metric),
        metric_values(treatment, metric),
    );
    let balance_p =
        welch(&Summary::of(&xc), &Summary::of(&xt), confidence).map_or(f64::NAN, |w| w.p);
    if balance_p < CUPED_BALANCE_ALPHA {
        return CupedPair {
            control: Summary::of(&yc),
            treatment: Summary::of(&yt),
            reduction: None,
            balance_p,
        };
    }
    let c = cuped(&[(&yc, &xc), (&yt, &xt)]);
    CupedPair {
        control: Summary::of(&c.adjusted[0]),
        treatment: Summary::of(&c.adjusted[1]),
        reduction: Some(c.variance_reduction),
        balance_p,
    }
}

/// Reads the logs and compares every treatment with control on every metric.
pub fn analyse(o: &AbOptions) -> Result<AbReport> {
    o.validate()?;
    analyse_users(o, read_users(&o.logs, &o.experiment)?)
}

/// Compares every treatment with control on every metric of users already read (from files,
/// or folded in live by [`crate::sessions::LiveUsers`]); `o.logs` is not read, `o.pre` is.
pub fn analyse_users(o: &AbOptions, read: UsersRead) -> Result<AbReport> {
    o.validate()?;
    let mut notes = read_notes(o, &read);
    let UsersRead {
        users,
        curves,
        read,
        ..
    } = read;
    let Arms {
        buckets,
        by_bucket,
        treatments,
        split,
    } = arms(o, users, &mut notes);
    // CUPED covariates: the same metric per user in the pre-period. A real pre-period log
    // predates the experiment and carries no assignment: its users are assigned by the
    // experiment's own hash.
    let pre: Option<HashMap<u32, UserMetrics>> = match &o.pre {
        Some(paths) => {
            let split = Splitter::new(&o.experiment, buckets);
            let r = read_users_assigning(paths, &o.experiment, Some(&split))
                .map_err(|e| Error::Invalid(format!("--pre logs: {e}")))?;
            Some(r.users.into_iter().map(|u| (u.user, u)).collect())
        }
        None => None,
    };
    let alpha = 1.0 - o.confidence;
    let mut rows = Vec::new();
    // (bucket, metric index) of each row, for the correlation of their statistics.
    let mut keys: Vec<(usize, usize)> = Vec::new();
    for (mi, &metric) in o.metrics.iter().enumerate() {
        for (b, group) in by_bucket.iter().enumerate().skip(1) {
            let arm = Arm {
                bucket: b,
                control: &by_bucket[0],
                treatment: group,
            };
            keys.push((b, mi));
            rows.push(compare(o, &arm, metric, pre.as_ref(), &mut notes));
        }
        if metric.is_ratio() && pre.is_some() {
            notes.push(format!(
                "{metric} is a ratio metric: CUPED does not apply to it; unadjusted"
            ));
        }
    }
    // One family: every (treatment, metric) pair shown, so that "anything significant" keeps its
    // promised error rate however many metrics and treatments there are.
    let corr = (o.correction == Correction::Maxt)
        .then(|| statistic_correlation(&by_bucket, &o.metrics, &keys));
    let adjusted = o.correction.adjust(
        &rows.iter().map(|r| r.p_value).collect::<Vec<_>>(),
        corr.as_deref(),
    );
    for (r, p) in rows.iter_mut().zip(adjusted) {
        r.p_adjusted = p;
        r.significant_adjusted = p < alpha;
    }
    for r in &rows {
        if r.effect.is_nan() && r.control_users > 0 && r.treatment_users > 0 {
            notes.push(format!(
                "{} on {}: no interval (a group has fewer than 2 users or the control mean is 0)",
                r.treatment, r.metric
            ));
        }
    }
    if by_bucket[0].is_empty() {
        notes.push("control (C) has no users: nothing to compare against".into());
    }
    let decisions = decide(&rows, o.primary, o.correction);
    let cumulative = cumulative(o, &by_bucket);
    let distribution = distribution(o.primary, &by_bucket);
    Ok(AbReport {
        cumulative,
        cumulative_always_valid: o.sequential.is_some(),
        distribution,
        experiment: o.experiment.clone(),
        confidence: o.confidence,
        interval: o.interval,
        correction: o.correction,
        primary: o.primary,
        guardrails: o.guardrails.clone(),
        sequential_tau: o.sequential,
        curves: make_curves(&curves, buckets),
        treatments,
        srm: split,
        rows,
        decisions,
        cuped: pre.is_some(),
        read,
        notes,
    })
}

/// What reading the logs found that a reader of the report must know.
fn read_notes(o: &AbOptions, r: &UsersRead) -> Vec<String> {
    let mut notes = Vec::new();
    if r.read.skipped > 0 {
        notes.push(format!(
            "{} malformed log lines skipped, e.g. {}",
            r.read.skipped,
            r.read.skipped_examples.first().cloned().unwrap_or_default()
        ));
    }
    if r.without_experiment > 0 {
        notes.push(format!(
            "{} events of the logs belong to other experiments than {} (earlier days, other tests) and are not part of this analysis",
            r.without_experiment, o.experiment
        ));
    }
    if r.bad_treatment > 0 {
        notes.push(format!(
            "{} events have a treatment that is not C, T1, …; ignored",
            r.bad_treatment
        ));
    }
    if r.conflicting_users > 0 {
        notes.push(format!(
            "USERS IN TWO ARMS: {} users appear in more than one treatment (was the experiment reconfigured?); each is counted in the treatment of their earliest event",
            r.conflicting_users
        ));
    }
    if r.unfinished_users > 0 {
        notes.push(format!(
            "{} users never finished a session and are not counted",
            r.unfinished_users
        ));
    }
    if r.pending_dropped > 0 {
        notes.push(format!(
            "the live view gave up {} events of the sessions idle longest to bound its memory (they never ended while it held them)",
            r.pending_dropped
        ));
    }
    notes
}

/// The users split into their arms, each arm's size, and the sample-ratio check.
struct Arms {
    buckets: u32,
    by_bucket: Vec<Vec<UserMetrics>>,
    treatments: Vec<TreatmentInfo>,
    split: Srm,
}

fn arms(o: &AbOptions, users: Vec<UserMetrics>, notes: &mut Vec<String>) -> Arms {
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
            recommender: o.labels.get(&treatment_name(b as u32)).cloned(),
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
    Arms {
        buckets,
        by_bucket,
        treatments,
        split,
    }
}

/// A treatment arm and the control it is compared with.
struct Arm<'a> {
    bucket: usize,
    control: &'a [UserMetrics],
    treatment: &'a [UserMetrics],
}

/// One treatment against control on one metric: the effect and its interval (CUPED-adjusted
/// with a pre-period), Welch's p-value, the always-valid interval and the guardrail check. The
/// adjusted p-value is filled in later, over the whole family.
fn compare(
    o: &AbOptions,
    arm: &Arm,
    metric: Metric,
    pre: Option<&HashMap<u32, UserMetrics>>,
    notes: &mut Vec<String>,
) -> Row {
    let (control, group) = (arm.control, arm.treatment);
    let c_raw = summarise(control, metric);
    let t_raw = summarise(group, metric);
    let adjusted = match pre {
        Some(pre) if !metric.is_ratio() => {
            Some(cuped_pair(control, group, metric, pre, o.confidence))
        }
        _ => None,
    };
    let (c, t) = adjusted
        .as_ref()
        .map_or((c_raw, t_raw), |a| (a.control, a.treatment));
    if let Some(a) = &adjusted
        && a.reduction.is_none()
    {
        notes.push(format!(
            "CUPED NOT APPLIED to {} on {metric}: the pre-period differs between the arms already (Welch p = {:.2e}); a leaky or non-random pre-period would bias the result, so the unadjusted comparison is shown",
            treatment_name(arm.bucket as u32),
            a.balance_p
        ));
    }
    let w = welch(&c, &t, o.confidence);
    let relative_by = |method| relative_of(&c, &t, w.as_ref()?, o.confidence, method);
    let rel = relative_by(o.interval);
    let pct = |x: f64| x * 100.0;
    let (effect, lower, upper) = rel.map_or((f64::NAN, f64::NAN, f64::NAN), |r| {
        (pct(r.effect), pct(r.lower), pct(r.upper))
    });
    let p = match (w, rel) {
        (Some(w), Some(_)) => w.p,
        _ => f64::NAN,
    };
    let sequential = o.sequential.and_then(|tau| {
        // The always-valid interval is built on the delta method's standard error.
        let r = match o.interval {
            IntervalMethod::Delta => rel,
            IntervalMethod::Course => relative_by(IntervalMethod::Delta),
        }?;
        let (lo, hi, p) = msprt(r.effect, r.se, tau, o.confidence);
        Some(Sequential {
            lower: pct(lo),
            upper: pct(hi),
            p,
        })
    });
    Row {
        treatment: treatment_name(arm.bucket as u32),
        metric,
        control_mean: c_raw.mean,
        treatment_mean: t_raw.mean,
        effect,
        lower,
        upper,
        significant: p < 1.0 - o.confidence,
        p_value: p,
        p_adjusted: f64::NAN,
        significant_adjusted: false,
        control_users: c_raw.n,
        treatment_users: t_raw.n,
        variance_reduction: adjusted.as_ref().and_then(|a| a.reduction),
        cuped_balance_p: adjusted.as_ref().map(|a| a.balance_p),
        sequential,
        guardrail: guardrail_check(o, metric, lower, upper),
    }
}

/// A guardrail's verdict on one row: the interval of "how much worse", in % of control,
/// against the margin.
fn guardrail_check(
    o: &AbOptions,
    metric: Metric,
    lower: f64,
    upper: f64,
) -> Option<GuardrailCheck> {
    let g = o.guardrails.iter().find(|g| g.metric == metric)?;
    if lower.is_nan() {
        return None;
    }
    let (best, worst) = if metric.higher_is_better() {
        (-upper, -lower)
    } else {
        (lower, upper)
    };
    let margin = g.margin * 100.0;
    let status = if worst < margin {
        GuardrailStatus::NonInferior
    } else if best > margin {
        GuardrailStatus::Violated
    } else {
        GuardrailStatus::Unclear
    };
    Some(GuardrailCheck { margin, status })
}

/// Each user's value of every metric (a ratio metric's linearised value), arm by arm.
fn user_vectors(users: &[UserMetrics], metrics: &[Metric]) -> Vec<Vec<f64>> {
    let ratios: Vec<Option<Summary>> = metrics
        .iter()
        .map(|&m| m.is_ratio().then(|| summarise(users, m)))
        .collect();
    users
        .iter()
        .map(|u| {
            metrics
                .iter()
                .zip(&ratios)
                .map(|(&m, r)| match (r, u.ratio_parts(m)) {
                    // (y − R·d): the constant 1/d̄ cancels in a correlation.
                    (Some(r), Some((y, d))) => y - r.mean * d,
                    _ => u.metric(m).unwrap_or(0.0),
                })
                .collect()
        })
        .collect()
}

/// Sample covariance matrix of the rows of `v` (users × metrics), divided by the user count:
/// the covariance of the arm's metric means.
fn mean_covariance(v: &[Vec<f64>], m: usize) -> Vec<Vec<f64>> {
    let n = v.len();
    let mut cov = vec![vec![0.0; m]; m];
    if n < 2 {
        return cov;
    }
    let mean: Vec<f64> = (0..m)
        .map(|j| v.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let scale = ((n - 1) * n) as f64;
    for (a, row) in cov.iter_mut().enumerate() {
        for (b, c) in row.iter_mut().enumerate() {
            *c = v
                .iter()
                .map(|r| (r[a] - mean[a]) * (r[b] - mean[b]))
                .sum::<f64>()
                / scale;
        }
    }
    cov
}

/// Correlation of the rows' statistics (differences of arm means against the shared control):
/// Cov(Δ_{t,m}, Δ_{t',m'}) = [t = t']·Cov_t(m, m') + Cov_C(m, m'), of the means.
fn statistic_correlation(
    by_bucket: &[Vec<UserMetrics>],
    metrics: &[Metric],
    keys: &[(usize, usize)],
) -> Vec<Vec<f64>> {
    let m = metrics.len();
    let covs: Vec<Vec<Vec<f64>>> = by_bucket
        .iter()
        .map(|us| mean_covariance(&user_vectors(us, metrics), m))
        .collect();
    let cov = |i: usize, j: usize| -> f64 {
        let ((ti, mi), (tj, mj)) = (keys[i], keys[j]);
        let own = if ti == tj { covs[ti][mi][mj] } else { 0.0 };
        own + covs[0][mi][mj]
    };
    (0..keys.len())
        .map(|i| {
            (0..keys.len())
                .map(|j| {
                    let d = (cov(i, i) * cov(j, j)).sqrt();
                    if i == j {
                        1.0
                    } else if d > 0.0 {
                        (cov(i, j) / d).clamp(-1.0, 1.0)
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect()
}

/// Ship only when the primary metric improves significantly (after the correction) and no
/// guardrail is significantly worse than its margin.
fn decide(rows: &[Row], primary: Metric, correction: Correction) -> Vec<Decision> {
    // Rows run metric by metric: each treatment once, in order of first appearance.
    let mut treatments: Vec<&str> = Vec::new();
    for r in rows {
        if !treatments.contains(&r.treatment.as_str()) {
            treatments.push(&r.treatment);
        }
    }
    let adj = match correction {
        Correction::None => String::new(),
        c => format!(" ({})", c.name()),
    };
    treatments
        .into_iter()
        .map(|t| {
            let mine = rows.iter().filter(|r| r.treatment == t);
            let violated: Vec<String> = mine
                .clone()
                .filter(|r| {
                    r.guardrail
                        .is_some_and(|g| g.status == GuardrailStatus::Violated)
                })
                .map(|r| r.metric.to_string())
                .collect();
            let p = mine.clone().find(|r| r.metric == primary);
            let (verdict, reason) = match p {
                _ if !violated.is_empty() => (
                    Verdict::DontShip,
                    format!("guardrail violated: {}", violated.join(", ")),
                ),
                None => (Verdict::Inconclusive, format!("no {primary} row")),
                Some(r) if r.effect.is_nan() => {
                    (Verdict::Inconclusive, format!("no comparison on {primary}"))
                }
                Some(r) if r.significant_adjusted && r.improves() => (
                    Verdict::Ship,
                    format!(
                        "{primary} {:+.2}% [{:+.2}, {:+.2}], significant{adj}",
                        r.effect, r.lower, r.upper
                    ),
                ),
                Some(r) if r.significant_adjusted => (
                    Verdict::DontShip,
                    format!("{primary} significantly worse: {:+.2}%{adj}", r.effect),
                ),
                Some(r) => (
                    Verdict::Inconclusive,
                    format!("{primary} {:+.2}%, not significant{adj}", r.effect),
                ),
            };
            Decision {
                treatment: t.to_string(),
                verdict,
                reason,
            }
        })
        .collect()
}

/// Points of the cumulative curves: at most this many per treatment.
const CUMULATIVE_POINTS: usize = 24;

/// The primary metric's effect per treatment over the users who had arrived by each of up to
/// [`CUMULATIVE_POINTS`] moments (by their first event), each compared as the report compares
/// (delta-method interval; always-valid when the report has sequential intervals).
fn cumulative(o: &AbOptions, by_bucket: &[Vec<UserMetrics>]) -> Vec<Cumulative> {
    let by_arrival: Vec<Vec<UserMetrics>> = by_bucket
        .iter()
        .map(|us| {
            let mut v = us.clone();
            v.sort_by_key(|u| (u.first_ms, u.user));
            v
        })
        .collect();
    let mut arrivals: Vec<u64> = by_bucket.iter().flatten().map(|u| u.first_ms).collect();
    arrivals.sort_unstable();
    let total = arrivals.len();
    if total == 0 || by_arrival[0].len() < 2 {
        return Vec::new();
    }
    let moments: Vec<u64> = (1..=CUMULATIVE_POINTS)
        .map(|k| arrivals[(total * k).div_ceil(CUMULATIVE_POINTS) - 1])
        .collect();
    let prefix = |v: &[UserMetrics], t: u64| v.partition_point(|u| u.first_ms <= t);
    // Control at each moment, shared by every treatment's comparison.
    let control: Vec<Summary> = moments
        .iter()
        .map(|&t| summarise(&by_arrival[0][..prefix(&by_arrival[0], t)], o.primary))
        .collect();
    (1..by_arrival.len())
        .map(|b| {
            let mut points: Vec<CumulativePoint> = Vec::new();
            for (&t, c) in moments.iter().zip(&control) {
                let users: usize = by_arrival.iter().map(|v| prefix(v, t)).sum();
                if points.last().is_some_and(|p| p.users == users) {
                    continue;
                }
                let tr = summarise(&by_arrival[b][..prefix(&by_arrival[b], t)], o.primary);
                let rel = welch(c, &tr, o.confidence)
                    .and_then(|w| relative_of(c, &tr, &w, o.confidence, IntervalMethod::Delta));
                let Some(r) = rel else { continue };
                let (lower, upper) = match o.sequential {
                    Some(tau) => {
                        let (lo, hi, _) = msprt(r.effect, r.se, tau, o.confidence);
                        (lo, hi)
                    }
                    None => (r.lower, r.upper),
                };
                points.push(CumulativePoint {
                    users,
                    share: users as f64 / total as f64,
                    effect: 100.0 * r.effect,
                    lower: 100.0 * lower,
                    upper: 100.0 * upper,
                });
            }
            Cumulative {
                treatment: treatment_name(b as u32),
                points,
            }
        })
        .collect()
}

/// Histogram bins of the per-user distribution.
const DISTRIBUTION_BINS: usize = 30;

/// The per-user values of `metric` per arm on shared bins from the lowest value to the 99th
/// percentile of all users (the rest in the last bin); None for a ratio metric (it has no
/// per-user value) or without users.
fn distribution(metric: Metric, by_bucket: &[Vec<UserMetrics>]) -> Option<Distribution> {
    let mut all: Vec<f64> = by_bucket
        .iter()
        .flatten()
        .filter_map(|u| u.metric(metric))
        .filter(|v| v.is_finite())
        .collect();
    if all.is_empty() {
        return None;
    }
    all.sort_by(f64::total_cmp);
    let lo = all[0];
    let hi = all[((all.len() - 1) as f64 * 0.99).round() as usize];
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let width = (hi - lo) / DISTRIBUTION_BINS as f64;
    let edges: Vec<f64> = (0..=DISTRIBUTION_BINS)
        .map(|i| lo + width * i as f64)
        .collect();
    let clipped = all.iter().filter(|&&v| v > hi).count() as u64;
    let arms = by_bucket
        .iter()
        .enumerate()
        .map(|(b, us)| {
            let mut counts = vec![0u64; DISTRIBUTION_BINS];
            for v in us
                .iter()
                .filter_map(|u| u.metric(metric))
                .filter(|v| v.is_finite())
            {
                let i = (((v - lo) / width) as usize).min(DISTRIBUTION_BINS - 1);
                counts[i] += 1;
            }
            (treatment_name(b as u32), counts)
        })
        .collect();
    Some(Distribution {
        metric,
        edges,
        arms,
        clipped,
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

fn bounds(lower: f64, upper: f64) -> String {
    if lower.is_nan() {
        "—".into()
    } else {
        format!("[{lower:+.2}, {upper:+.2}]")
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

impl AbReport {
    /// Column headers of the results table, shared by every rendering.
    pub fn headers(&self) -> Vec<String> {
        let mut h: Vec<String> = ["treatment", "metric", "control", "treatment", "effect %"]
            .map(String::from)
            .to_vec();
        h.push(format!(
            "{:.0}% CI % ({})",
            self.confidence * 100.0,
            self.interval.name()
        ));
        h.push("p".into());
        h.push(format!("p ({})", self.correction.name()));
        if self.sequential_tau.is_some() {
            h.push("always-valid CI %".into());
        }
        if !self.guardrails.is_empty() {
            h.push("guardrail".into());
        }
        h
    }

    /// The formatted cells of a row, matching [`AbReport::headers`].
    pub fn cells(&self, r: &Row) -> Vec<String> {
        let mut c = vec![
            r.treatment.clone(),
            r.metric.to_string(),
            num(r.control_mean, 4),
            num(r.treatment_mean, 4),
            if r.effect.is_nan() {
                "—".into()
            } else {
                format!("{:+.2}", r.effect)
            },
            bounds(r.lower, r.upper),
            pval(r.p_value),
            pval(r.p_adjusted),
        ];
        if self.sequential_tau.is_some() {
            c.push(
                r.sequential
                    .map_or("—".into(), |q| bounds(q.lower, q.upper)),
            );
        }
        if !self.guardrails.is_empty() {
            c.push(r.guardrail.map_or(String::new(), |g| {
                format!("{} (margin {:.1}%)", g.status.name(), g.margin)
            }));
        }
        c
    }
}

impl GuardrailStatus {
    pub fn name(self) -> &'static str {
        match self {
            GuardrailStatus::NonInferior => "non-inferior",
            GuardrailStatus::Unclear => "unclear",
            GuardrailStatus::Violated => "VIOLATED",
        }
    }
}

impl AbReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "treatment,metric,control_mean,treatment_mean,effect,lower,upper,interval,significant,p_value,p_adjusted,correction,significant_adjusted,control_users,treatment_users,variance_reduction,cuped_balance_p,sequential_lower,sequential_upper,sequential_p,guardrail_margin,guardrail_status\n",
        );
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.treatment,
                r.metric,
                r.control_mean,
                r.treatment_mean,
                r.effect,
                r.lower,
                r.upper,
                self.interval.name(),
                r.significant,
                r.p_value,
                r.p_adjusted,
                self.correction.name(),
                r.significant_adjusted,
                r.control_users,
                r.treatment_users,
                opt(r.variance_reduction),
                opt(r.cuped_balance_p),
                opt(r.sequential.map(|q| q.lower)),
                opt(r.sequential.map(|q| q.upper)),
                opt(r.sequential.map(|q| q.p)),
                opt(r.guardrail.map(|g| g.margin)),
                r.guardrail.map_or("", |g| g.status.name()),
            );
        }
        s
    }

    /// One line on how the numbers were computed, for every rendering.
    pub fn method_line(&self) -> String {
        format!(
            "{:.0}% intervals: {} (`--interval {}`); p-values: Welch's t test, adjusted over all {} (treatment, metric) pairs by {}{}.",
            self.confidence * 100.0,
            self.interval.describe(),
            self.interval.name(),
            self.rows.len(),
            match self.correction {
                Correction::Maxt =>
                    "Westfall–Young step-down maxT (family-wise error, using the statistics' correlation)",
                Correction::Holm => "Holm (family-wise error)",
                Correction::Bh => "Benjamini–Hochberg (false discovery rate)",
                Correction::None => "nothing (no correction)",
            },
            match self.sequential_tau {
                Some(t) => format!("; always-valid intervals: mixture SPRT, τ = {t}"),
                None => String::new(),
            }
        )
    }

    /// The decisions as text lines: `T1: ship — reason`.
    pub fn decision_lines(&self) -> Vec<String> {
        self.decisions
            .iter()
            .map(|d| {
                format!(
                    "{}: {} — {}",
                    self.title_of(&d.treatment),
                    d.verdict.label(),
                    d.reason
                )
            })
            .collect()
    }

    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## A/B: {}\n", self.experiment);
        let _ = writeln!(
            s,
            "| arm | recommender | users | sessions |\n| --- | --- | --- | --- |"
        );
        for t in &self.treatments {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                t.name,
                t.recommender.as_deref().unwrap_or("—"),
                t.users,
                t.sessions
            );
        }
        let _ = writeln!(
            s,
            "\nSplit check (SRM): chi² = {:.2}, p = {} — {}.{}\n",
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
        let _ = writeln!(s, "{}\n", self.method_line());
        let headers = self.headers();
        let _ = writeln!(s, "| {} | significant |", headers.join(" | "));
        let _ = writeln!(s, "|{}", " --- |".repeat(headers.len() + 1));
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} |",
                self.cells(r).join(" | "),
                match (r.significant, r.significant_adjusted) {
                    (true, true) => "yes",
                    (true, false) => "unadjusted only",
                    _ => "no",
                }
            );
        }
        if !self.decisions.is_empty() {
            let _ = writeln!(s, "\nDecision (primary metric {}):\n", self.primary);
            for d in self.decision_lines() {
                let _ = writeln!(s, "- {d}");
            }
        }
        self.markdown_cumulative(&mut s);
        self.markdown_distribution(&mut s);
        for n in &self.notes {
            let _ = writeln!(s, "\n> {n}");
        }
        s
    }

    /// The cumulative effect at a quarter, half, three quarters and all of the users.
    fn markdown_cumulative(&self, s: &mut String) {
        if self.cumulative.iter().all(|c| c.points.is_empty()) {
            return;
        }
        let _ = writeln!(
            *s,
            "\nEffect on {} as users arrived ({} interval; % of control):\n\n| treatment | 25% of users | 50% | 75% | 100% |\n| --- | --- | --- | --- | --- |",
            self.primary,
            if self.cumulative_always_valid {
                "always-valid"
            } else {
                "fixed-horizon"
            }
        );
        for c in &self.cumulative {
            let at = |share: f64| {
                c.points
                    .iter()
                    .find(|p| p.share >= share - 1e-9)
                    .map_or("—".to_string(), |p| {
                        format!("{:+.1}% [{:+.1}, {:+.1}]", p.effect, p.lower, p.upper)
                    })
            };
            let _ = writeln!(
                *s,
                "| {} | {} | {} | {} | {} |",
                self.title_of(&c.treatment),
                at(0.25),
                at(0.5),
                at(0.75),
                at(1.0)
            );
        }
    }

    /// Quartiles of the primary metric per user, per arm.
    fn markdown_distribution(&self, s: &mut String) {
        let Some(d) = &self.distribution else { return };
        let _ = writeln!(
            *s,
            "\n{} per user (quantiles from the histogram):\n\n| arm | p10 | p25 | median | p75 | p90 |\n| --- | --- | --- | --- | --- | --- |",
            d.metric
        );
        for (arm, counts) in &d.arms {
            let q = |p: f64| num(d.quantile(counts, p), 2);
            let _ = writeln!(
                *s,
                "| {arm} | {} | {} | {} | {} | {} |",
                q(0.1),
                q(0.25),
                q(0.5),
                q(0.75),
                q(0.9)
            );
        }
    }

    /// A treatment's name with its recommender, when known.
    pub fn title_of(&self, treatment: &str) -> String {
        self.treatments
            .iter()
            .find(|t| t.name == treatment)
            .map_or(treatment.to_string(), TreatmentInfo::title)
    }

    /// A self-contained page: tables, forest plots per metric, curves over time, SRM status.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(64 << 10);
        let esc = svg::escape;
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>A/B {}</title>\n<style>\
body{{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}}\
table{{border-collapse:collapse;margin:1em 0;font-size:14px}}td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}}\
td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){{text-align:left}}.pos{{color:#1a7f37;font-weight:600}}.neg{{color:#c62828;font-weight:600}}\
.ns{{color:#777}}.warn{{background:#fff3cd;border:1px solid #e0b000;padding:.6em 1em;border-radius:6px}}.ok{{color:#1a7f37}}\
.charts{{display:flex;flex-wrap:wrap;gap:1em}}figure{{margin:0;max-width:100%}}svg{{max-width:100%;height:auto}}.scroll{{overflow-x:auto}}figcaption{{font-size:13px;color:#555;max-width:480px}}\
.small figure svg{{width:340px;height:auto}}.small figcaption{{max-width:340px}}</style></head><body>\n",
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
        self.html_split(&mut h);
        self.html_results(&mut h);
        self.html_decisions(&mut h);
        self.html_forests(&mut h);
        self.html_curves(&mut h);
        self.html_cumulative(&mut h);
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

    /// The report page's arms and sample-ratio check.
    fn html_split(&self, h: &mut String) {
        h.push_str("<h2>Arms and split</h2><div class=\"scroll\"><table id=\"arms\"><tr><th>treatment</th><th>recommender</th><th>users</th><th>sessions</th><th>expected users</th></tr>");
        for (t, e) in self.treatments.iter().zip(&self.srm.expected) {
            let _ = write!(
                *h,
                "<tr><td>{}</td><td class=\"rec\">{}</td><td>{}</td><td>{}</td><td>{:.0}</td></tr>",
                svg::escape(&t.name),
                svg::escape(t.recommender.as_deref().unwrap_or("—")),
                t.users,
                t.sessions,
                e
            );
        }
        h.push_str("</table></div>");
        if self.srm.mismatch {
            let _ = writeln!(
                *h,
                "<p class=\"warn\"><b>Sample ratio mismatch</b>: chi² = {:.1}, p = {}. The split is broken; do not trust the results.</p>",
                self.srm.chi2,
                pval(self.srm.p)
            );
        } else {
            let _ = writeln!(
                *h,
                "<p class=\"ok\">Split check passed (chi² = {:.2}, p = {}).</p>",
                self.srm.chi2,
                pval(self.srm.p)
            );
        }
    }

    /// The report page's results table.
    fn html_results(&self, h: &mut String) {
        let esc = svg::escape;
        let _ = write!(
            *h,
            "<h2>Results</h2><p>{}</p><div class=\"scroll\"><table id=\"results\"><tr><th>{}</th></tr>",
            esc(&self.method_line()),
            self.headers()
                .iter()
                .map(|c| esc(c))
                .collect::<Vec<_>>()
                .join("</th><th>")
        );
        for r in &self.rows {
            let class = match (r.significant_adjusted, r.improves()) {
                (true, true) => "pos",
                (true, false) => "neg",
                _ => "ns",
            };
            let _ = write!(
                *h,
                "<tr class=\"{class}\"><td>{}</td></tr>",
                self.cells(r)
                    .iter()
                    .map(|c| esc(c))
                    .collect::<Vec<_>>()
                    .join("</td><td>")
            );
        }
        h.push_str("</table></div>");
    }

    /// The report page's ship decisions.
    fn html_decisions(&self, h: &mut String) {
        let esc = svg::escape;
        if !self.decisions.is_empty() {
            let _ = write!(
                *h,
                "<h2>Decision</h2><p>Primary metric <code>{}</code>: ship only when it improves significantly and no guardrail is significantly worse than its margin.</p><ul>",
                esc(self.primary.name())
            );
            for d in &self.decisions {
                let class = match d.verdict {
                    Verdict::Ship => "pos",
                    Verdict::DontShip => "neg",
                    Verdict::Inconclusive => "ns",
                };
                let _ = write!(
                    *h,
                    "<li><b>{}</b>: <span class=\"{class}\">{}</span> — {}</li>",
                    esc(&self.title_of(&d.treatment)),
                    d.verdict.label(),
                    esc(&d.reason)
                );
            }
            h.push_str("</ul>");
        }
    }

    /// The report page's effect charts, one per metric.
    fn html_forests(&self, h: &mut String) {
        h.push_str("<h2>Effects with confidence intervals</h2><div class=\"charts\">");
        let metrics: Vec<Metric> = {
            let mut m: Vec<Metric> = self.rows.iter().map(|r| r.metric).collect();
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
                    significant: r.significant_adjusted,
                    good: r.improves(),
                })
                .collect();
            let _ = write!(
                *h,
                "<figure>{}<figcaption>{m}: effect vs C, % of control</figcaption></figure>",
                svg::forest(m.name(), &items)
            );
        }
    }

    /// The report page's curves over the experiment: by sessions finished (all arms), which
    /// reads the same for a simulated day, a run over HTTP at any speed and a week of traffic.
    fn html_curves(&self, h: &mut String) {
        h.push_str("</div><h2>Over the experiment</h2><div class=\"charts\">");
        let progress = self.sessions_by_time();
        let done = |t: u64| progress.range(..=t).next_back().map_or(0.0, |(_, &n)| n) / 1000.0;
        let series = |f: fn(&CurvePoint) -> f64| -> Vec<svg::Series> {
            self.curves
                .iter()
                .filter(|c| !c.points.is_empty())
                .map(|c| svg::Series {
                    label: c.treatment.clone(),
                    points: c.points.iter().map(|p| (done(p.t_ms), f(p))).collect(),
                })
                .collect()
        };
        let x = "thousand sessions finished (all arms)";
        let _ = write!(
            *h,
            "<figure>{}<figcaption>tracks per session in each stretch of the experiment</figcaption></figure>",
            svg::lines("tracks per session", x, &series(|p| p.tracks_per_session))
        );
        let _ = write!(
            *h,
            "<figure>{}<figcaption>listening time per session in each stretch of the experiment</figcaption></figure>",
            svg::lines("time per session", x, &series(|p| p.time_per_session))
        );
        h.push_str("</div>");
    }

    /// Sessions finished by the end of each curve bin, over all arms.
    fn sessions_by_time(&self) -> std::collections::BTreeMap<u64, f64> {
        let mut per_bin: std::collections::BTreeMap<u64, u64> = Default::default();
        for c in &self.curves {
            for p in &c.points {
                *per_bin.entry(p.t_ms).or_default() += p.sessions;
            }
        }
        let mut total = 0;
        per_bin
            .into_iter()
            .map(|(t, n)| {
                total += n;
                (t, total as f64)
            })
            .collect()
    }

    /// The cumulative effect with its band, and the per-user distribution.
    fn html_cumulative(&self, h: &mut String) {
        let esc = svg::escape;
        let _ = write!(
            *h,
            "<h2>Effect as users arrived</h2><p>{} vs C in % of control, over the users who had arrived by each point (their whole-period values), with the {} as a band: one chart per treatment.</p><div class=\"charts small\" id=\"cumulative\">",
            esc(self.primary.name()),
            if self.cumulative_always_valid {
                "always-valid interval (safe to look at as it grows)"
            } else {
                "fixed-horizon 95% interval at each point (valid only at the end: do not stop early on it)"
            }
        );
        for (k, c) in self.cumulative.iter().enumerate() {
            let points: Vec<(f64, f64, f64, f64)> = c
                .points
                .iter()
                .map(|p| (100.0 * p.share, p.effect, p.lower, p.upper))
                .collect();
            let _ = write!(
                *h,
                "<figure>{}<figcaption>{}</figcaption></figure>",
                svg::band(
                    &format!("{}: cumulative effect", c.treatment),
                    "% of the experiment's users",
                    &points,
                    k + 1
                ),
                esc(&self.title_of(&c.treatment))
            );
        }
        h.push_str("</div><div class=\"charts\">");
        if let Some(d) = &self.distribution {
            let series: Vec<svg::Series> = d
                .arms
                .iter()
                .map(|(arm, counts)| {
                    let n = counts.iter().sum::<u64>().max(1) as f64;
                    svg::Series {
                        label: arm.clone(),
                        points: counts
                            .iter()
                            .enumerate()
                            .map(|(i, &c)| {
                                ((d.edges[i] + d.edges[i + 1]) / 2.0, 100.0 * c as f64 / n)
                            })
                            .collect(),
                    }
                })
                .collect();
            let _ = write!(
                *h,
                "<figure id=\"distribution\">{}<figcaption>% of each arm's users by their {}; the last bin also holds the {} users above the 99th percentile ({:.2})</figcaption></figure>",
                svg::lines(&format!("{} per user", d.metric), d.metric.name(), &series),
                esc(d.metric.name()),
                d.clipped,
                d.edges[d.edges.len() - 1]
            );
        }
        h.push_str("</div>");
    }
}

impl Distribution {
    /// The value below which a share `p` of `counts`' users fall, interpolated within its bin.
    pub fn quantile(&self, counts: &[u64], p: f64) -> f64 {
        let n: u64 = counts.iter().sum();
        if n == 0 {
            return f64::NAN;
        }
        let target = p * n as f64;
        let mut below = 0.0;
        for (i, &c) in counts.iter().enumerate() {
            if below + c as f64 >= target && c > 0 {
                let inside = (target - below) / c as f64;
                return self.edges[i] + inside * (self.edges[i + 1] - self.edges[i]);
            }
            below += c as f64;
        }
        self.edges[self.edges.len() - 1]
    }
}
