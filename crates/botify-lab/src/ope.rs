//! Off-policy evaluation: a target policy's mean time per session (and per-step listen time)
//! estimated from the event log of other policies, whose `next` lines carry the propensity of
//! what they served. The target's probabilities come from the very recommender code the service
//! runs, replayed on each logged history.
//!
//! A session is what `botify ab` counts: a user's run of events ending with a `last` call; its
//! time is the sum of its events' listen times, the first track's included. The first track is
//! the same whatever the policy, so every estimator adds its mean and estimates the rest: step
//! `k` served `a_k` with logged probability `μ_k`, the target would have with `π_k`, and the
//! listener gave it `r_k` (the next event's listen time). With `w_k = π_k / μ_k` and
//! `W_k = w_1 ⋯ w_k`:
//!
//! - `is` (whole session): mean of `W_L · Σ r`; `is_sn` its self-normalised form;
//! - `pdis` (per decision): mean of `Σ_k W_k r_k`; `pdis_sn` normalises each step by the mean
//!   weight at that depth (a session that ended stays in with its last weight);
//! - `dm` (direct method): mean of `Σ_k v̂(h_k)` over the logged states, `v̂` the target's
//!   expected reward under a reward model `q̂` fitted on the log;
//! - `dr` (doubly robust, per decision): mean of `Σ_k W_k (r_k - q̂(h_k, a_k)) + W_{k-1} v̂(h_k)`;
//! - `pdis_clip` and `dr_clip`: the same with every `W_k` capped (variance bounded, bias added).

use crate::{Error, Result};
use botify_core::events::{Event, Message, read_events};
use botify_core::rng::stream;
use botify_core::{Catalog, TrackId};
use botify_recs::experiments::{ExperimentsConfig, Router, Treatment};
use botify_recs::spec::RecommenderSpec;
use botify_recs::{History, Listen, Request};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The estimators, the default first.
pub const ESTIMATORS: [&str; 8] = [
    "dr",
    "pdis_sn",
    "pdis",
    "is_sn",
    "is",
    "dm",
    "pdis_clip",
    "dr_clip",
];

/// What to evaluate and how.
#[derive(Debug, Clone)]
pub struct OpeOptions {
    /// Log files or directories.
    pub logs: Vec<PathBuf>,
    /// The target policy.
    pub policy: RecommenderSpec,
    /// Listens kept per user, as the service that wrote the log kept them.
    pub history: usize,
    /// The cap on cumulative weights of the clipped estimators.
    pub clip: f64,
    /// Samples of the target's answer per step for the direct method's expectation.
    pub samples: usize,
    pub seed: u64,
}

impl OpeOptions {
    pub fn new(logs: Vec<PathBuf>, policy: RecommenderSpec) -> Self {
        OpeOptions {
            logs,
            policy,
            history: botify_recs::experiments::DEFAULT_HISTORY,
            clip: 100.0,
            samples: 8,
            seed: botify_core::defaults::SEED,
        }
    }
}

/// One estimator's answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Estimate {
    pub estimator: String,
    /// Mean time per session, in `botify ab`'s units.
    pub estimate: f64,
    /// Its 95% interval (normal approximation over sessions; delta method when normalised).
    pub lower: f64,
    pub upper: f64,
    /// Effective sample size of the session weights `(Σ W)² / Σ W²` (sessions, for `dm`).
    pub ess: f64,
    /// Mean listen time per recommendation, on the logged states.
    pub step_estimate: f64,
    pub step_lower: f64,
    pub step_upper: f64,
}

/// The log's fit for off-policy evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostics {
    pub sessions: usize,
    pub steps: usize,
    /// Share of logged steps whose action the target could have taken (π > 0).
    pub support: f64,
    /// The largest session weights `W_L`.
    pub largest_weights: Vec<f64>,
    /// The logged policies' own mean time per session (the on-policy value of the log).
    pub logged_mean: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpeReport {
    pub policy: String,
    pub estimates: Vec<Estimate>,
    pub diagnostics: Diagnostics,
}

/// One logged recommendation, replayed.
#[derive(Debug, Clone, Copy)]
struct Step {
    reward: f64,
    /// π / μ.
    weight: f64,
    /// q̂(h, a) of the logged action.
    q: f64,
    /// v̂(h) = E_π q̂(h, ·).
    v: f64,
}

struct Session {
    /// The first track's listen time (the same under any policy).
    first: f64,
    steps: Vec<Step>,
}

/// The reward model: mean listen time by (same artist as the previous track, earlier plays of
/// the artist this session, up to 3), plus each track's shrunk deviation; a replay in the
/// session is worth 0 (the listener model never listens again).
struct RewardModel {
    bins: [f64; 8],
    track: HashMap<TrackId, f64>,
}

const SHRINK: f64 = 20.0;

/// What a step's features need: the session's tracks so far (the request's included).
fn bin(catalog: &Catalog, session: &[TrackId], prev: TrackId, a: TrackId) -> Option<usize> {
    if session.contains(&a) || !catalog.contains(u64::from(a)) {
        return None;
    }
    let artist = catalog.artist_of(a);
    let plays = session
        .iter()
        .filter(|&&t| catalog.contains(u64::from(t)) && catalog.artist_of(t) == artist)
        .count()
        .min(3);
    let same = catalog.contains(u64::from(prev)) && catalog.artist_of(prev) == artist;
    Some(usize::from(same) * 4 + plays)
}

impl RewardModel {
    fn fit(catalog: &Catalog, sessions: &[Vec<&Event>]) -> RewardModel {
        let mut sums = [(0.0f64, 0u64); 8];
        let mut per_track: HashMap<TrackId, (f64, u64, usize)> = HashMap::new();
        let mut steps = Vec::new();
        for events in sessions {
            let mut played: Vec<TrackId> = Vec::new();
            for (k, e) in events.iter().enumerate() {
                played.push(e.track);
                let (Message::Next, Some(a)) = (e.message, e.recommendation) else {
                    continue;
                };
                let r = f64::from(events[k + 1].time);
                if let Some(b) = bin(catalog, &played, e.track, a) {
                    sums[b].0 += r;
                    sums[b].1 += 1;
                    steps.push((a, b, r));
                }
            }
        }
        let mut bins = [0.0; 8];
        for (b, (s, n)) in bins.iter_mut().zip(sums) {
            *b = if n > 0 { s / n as f64 } else { 0.0 };
        }
        for (a, b, r) in steps {
            let t = per_track.entry(a).or_insert((0.0, 0, b));
            t.0 += r - bins[b];
            t.1 += 1;
        }
        let track = per_track
            .into_iter()
            .map(|(a, (s, n, _))| (a, s / (n as f64 + SHRINK)))
            .collect();
        RewardModel { bins, track }
    }

    fn q(&self, catalog: &Catalog, session: &[TrackId], prev: TrackId, a: TrackId) -> f64 {
        match bin(catalog, session, prev, a) {
            None => 0.0,
            Some(b) => (self.bins[b] + self.track.get(&a).copied().unwrap_or(0.0)).clamp(0.0, 1.0),
        }
    }
}

/// Evaluates `o.policy` on the logs.
pub fn evaluate(catalog: Arc<Catalog>, o: &OpeOptions) -> Result<OpeReport> {
    let (events, _) = read_events(&o.logs)?;
    evaluate_events(catalog, &events, o)
}

/// [`evaluate`] on events already read (`o.logs` is not read again): several targets on one
/// log read it once.
pub fn evaluate_events(
    catalog: Arc<Catalog>,
    events: &[Event],
    o: &OpeOptions,
) -> Result<OpeReport> {
    if o.clip.is_nan() || o.clip < 1.0 {
        return Err(Error::Invalid(format!(
            "clip {} must be at least 1",
            o.clip
        )));
    }
    if o.samples == 0 {
        return Err(Error::Invalid("samples must be at least 1".into()));
    }
    let by_user = sessions_by_user(events);
    let missing = by_user
        .iter()
        .flat_map(|(_, s)| s.iter().flatten())
        .filter(|e| e.message == Message::Next && e.propensity.is_none())
        .count();
    if missing > 0 {
        return Err(Error::Invalid(format!(
            "{missing} recommendations in the log carry no propensity: it was written before \
             propensities were logged, or by a recommender that does not know them (a Python \
             one); off-policy evaluation needs the logging policy's probabilities"
        )));
    }
    let all: Vec<Vec<&Event>> = by_user
        .iter()
        .flat_map(|(_, s)| s.iter().cloned())
        .collect();
    if all.is_empty() {
        return Err(Error::Invalid(
            "the log holds no complete session (events ending with a `last` call)".into(),
        ));
    }
    let model = RewardModel::fit(&catalog, &all);
    let router = Router::build(
        ExperimentsConfig::single("OPE", o.policy.clone()),
        catalog.clone(),
    )?;
    let target = &router.treatments[0];
    // A probe: the target must know its probabilities.
    let probe = Request {
        user: 0,
        track: 0,
        time: 1.0,
    };
    if target
        .propensity(probe, &[], 0, catalog.len() as u32)
        .is_none()
    {
        return Err(Error::Invalid(format!(
            "the target policy {} does not know its probabilities (a Python recommender)",
            o.policy.label()
        )));
    }
    let sessions: Vec<Session> = by_user
        .par_iter()
        .flat_map_iter(|(events, sessions)| replay(&catalog, target, &model, o, events, sessions))
        .collect();
    let logged_mean = sessions
        .iter()
        .map(|s| s.first + s.steps.iter().map(|k| k.reward).sum::<f64>())
        .sum::<f64>()
        / sessions.len() as f64;
    let steps: usize = sessions.iter().map(|s| s.steps.len()).sum();
    let supported = sessions
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|k| k.weight > 0.0)
        .count();
    let mut largest: Vec<f64> = sessions
        .iter()
        .map(|s| session_weight(s, f64::INFINITY))
        .collect();
    largest.sort_by(|a, b| b.total_cmp(a));
    largest.truncate(5);
    let estimates = ESTIMATORS
        .iter()
        .map(|name| estimate(name, &sessions, o.clip))
        .collect();
    Ok(OpeReport {
        policy: o.policy.label(),
        estimates,
        diagnostics: Diagnostics {
            sessions: sessions.len(),
            steps,
            support: if steps > 0 {
                supported as f64 / steps as f64
            } else {
                0.0
            },
            largest_weights: largest,
            logged_mean,
        },
    })
}

/// Events by user (all of them, for the history) and each user's complete sessions.
type UserSessions<'e> = (Vec<&'e Event>, Vec<Vec<&'e Event>>);

fn sessions_by_user(events: &[Event]) -> Vec<UserSessions<'_>> {
    let mut out: Vec<UserSessions> = Vec::new();
    for e in events {
        if out.last().is_none_or(|(evs, _)| evs[0].user != e.user) {
            out.push((Vec::new(), Vec::new()));
        }
        out.last_mut().unwrap().0.push(e);
    }
    for (events, sessions) in &mut out {
        let mut current = Vec::new();
        for &e in events.iter() {
            current.push(e);
            if e.message == Message::Last {
                sessions.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

/// One user's sessions replayed: the history as the service kept it, the target's probability
/// of each logged action, the reward model's values.
fn replay(
    catalog: &Catalog,
    target: &Treatment,
    model: &RewardModel,
    o: &OpeOptions,
    events: &[&Event],
    sessions: &[Vec<&Event>],
) -> Vec<Session> {
    let n = catalog.len() as u32;
    let mut history = History::new(o.history);
    let mut out = Vec::with_capacity(sessions.len());
    // Sessions are consecutive runs of the user's events; walk both together.
    let mut next_session = sessions.iter().peekable();
    let mut i = 0;
    while i < events.len() {
        let starts_session = next_session
            .peek()
            .is_some_and(|s| std::ptr::eq(s[0], events[i]));
        if !starts_session {
            push(&mut history, events[i]);
            i += 1;
            continue;
        }
        let s = next_session.next().expect("peeked");
        let user = s[0].user;
        let mut rng = stream(o.seed, b"ope", (u64::from(user) << 24) ^ i as u64);
        let mut played: Vec<TrackId> = Vec::new();
        let mut steps = Vec::with_capacity(s.len());
        for (k, e) in s.iter().enumerate() {
            played.push(e.track);
            if let (Message::Next, Some(a), Some(mu)) = (e.message, e.recommendation, e.propensity)
            {
                let req = Request {
                    user,
                    track: e.track,
                    time: e.time,
                };
                let h = history.as_slice();
                let pi = target.propensity(req, h, a, n).unwrap_or(0.0);
                let v = (0..o.samples)
                    .map(|_| {
                        let t = target.next_track(req, h, &mut rng, n);
                        model.q(catalog, &played, e.track, t)
                    })
                    .sum::<f64>()
                    / o.samples as f64;
                steps.push(Step {
                    reward: f64::from(s[k + 1].time),
                    weight: pi / mu,
                    q: model.q(catalog, &played, e.track, a),
                    v,
                });
            }
            push(&mut history, e);
        }
        i += s.len();
        out.push(Session {
            first: f64::from(s[0].time),
            steps,
        });
    }
    out
}

fn push(history: &mut History, e: &Event) {
    history.push(Listen {
        track: e.track,
        time: e.time,
        rec: e.recommendation,
    });
}

/// `W_L`, each cumulative weight capped at `clip`.
fn session_weight(s: &Session, clip: f64) -> f64 {
    weighted(s, clip).last().map_or(1.0, |(_, w, _)| w)
}

/// A session's steps with the cumulative weights before and after each, capped at `cap`.
fn weighted(s: &Session, cap: f64) -> impl Iterator<Item = (f64, f64, &Step)> {
    s.steps.iter().scan(1.0, move |w, k| {
        let before = *w;
        *w = (*w * k.weight).min(cap);
        Some((before, *w, k))
    })
}

/// Per session, the sum over its steps of `term(W_(k-1), W_k, step)`, the cumulative weights
/// capped at `cap`.
fn per_decision(sessions: &[Session], cap: f64, term: impl Fn(f64, f64, &Step) -> f64) -> Vec<f64> {
    sessions
        .iter()
        .map(|s| {
            weighted(s, cap)
                .map(|(before, w, k)| term(before, w, k))
                .sum()
        })
        .collect()
}

/// Mean and 95% half-width of per-session terms.
fn mean_ci(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = if n > 1.0 {
        x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, 1.96 * (var / n).sqrt())
}

fn ess(weights: impl Iterator<Item = f64> + Clone) -> f64 {
    let s: f64 = weights.clone().sum();
    let s2: f64 = weights.map(|w| w * w).sum();
    if s2 > 0.0 { s * s / s2 } else { 0.0 }
}

/// One estimator over the replayed sessions.
fn estimate(name: &str, sessions: &[Session], clip: f64) -> Estimate {
    let cap = if name.ends_with("_clip") {
        clip
    } else {
        f64::INFINITY
    };
    // Per-session terms of the whole-session estimate (the first track's time included), and
    // the influence terms of a normalised one.
    let terms: Vec<f64> = match name {
        "is" | "is_sn" => sessions
            .iter()
            .map(|s| session_weight(s, cap) * s.steps.iter().map(|k| k.reward).sum::<f64>())
            .collect(),
        "pdis" | "pdis_clip" | "pdis_sn" => per_decision(sessions, cap, |_, w, k| w * k.reward),
        "dm" => sessions
            .iter()
            .map(|s| s.steps.iter().map(|k| k.v).sum())
            .collect(),
        _ => per_decision(sessions, cap, |before, w, k| {
            w * (k.reward - k.q) + before * k.v
        }),
    };
    let first: Vec<f64> = sessions.iter().map(|s| s.first).collect();
    let (estimate, half) = match name {
        "is_sn" => {
            let w: Vec<f64> = sessions.iter().map(|s| session_weight(s, cap)).collect();
            ratio_with_first(&terms, &w, &first)
        }
        "pdis_sn" => pdis_sn(sessions, &first),
        _ => {
            let x: Vec<f64> = terms.iter().zip(&first).map(|(t, f)| t + f).collect();
            mean_ci(&x)
        }
    };
    let ess = match name {
        "dm" => sessions.len() as f64,
        _ => ess(sessions.iter().map(|s| session_weight(s, cap))),
    };
    let (step, step_half) = step_estimate(name, sessions, cap);
    Estimate {
        estimator: name.to_string(),
        estimate,
        lower: estimate - half,
        upper: estimate + half,
        ess,
        step_estimate: step,
        step_lower: step - step_half,
        step_upper: step + step_half,
    }
}

/// `mean(first) + Σ num / Σ w` with the delta method's half-width.
fn ratio_with_first(num: &[f64], w: &[f64], first: &[f64]) -> (f64, f64) {
    let n = num.len() as f64;
    let (sn, sw) = (num.iter().sum::<f64>(), w.iter().sum::<f64>());
    let r = if sw > 0.0 { sn / sw } else { 0.0 };
    let wbar = sw / n;
    let fbar = first.iter().sum::<f64>() / n;
    let psi: Vec<f64> = (0..num.len())
        .map(|i| {
            first[i]
                + if wbar > 0.0 {
                    (num[i] - r * w[i]) / wbar
                } else {
                    0.0
                }
        })
        .collect();
    let (_, half) = mean_ci(&psi);
    (fbar + r, half)
}

/// Per-decision self-normalised IS: at each depth the weighted rewards over the mean weight of
/// every session (a session that ended keeps its last weight and adds no reward), with the
/// delta method's half-width from each session's summed influence.
fn pdis_sn(sessions: &[Session], first: &[f64]) -> (f64, f64) {
    let n = sessions.len();
    let depth = sessions.iter().map(|s| s.steps.len()).max().unwrap_or(0);
    let weights: Vec<Vec<f64>> = sessions
        .iter()
        .map(|s| weighted(s, f64::INFINITY).map(|(_, w, _)| w).collect())
        .collect();
    let w_at = |i: usize, k: usize| -> f64 {
        let ws = &weights[i];
        match ws.get(k) {
            Some(&w) => w,
            None => ws.last().copied().unwrap_or(1.0),
        }
    };
    let r_at = |i: usize, k: usize| sessions[i].steps.get(k).map_or(0.0, |s| s.reward);
    let mut value = first.iter().sum::<f64>() / n as f64;
    let mut psi: Vec<f64> = first.to_vec();
    for k in 0..depth {
        let sw: f64 = (0..n).map(|i| w_at(i, k)).sum();
        if sw <= 0.0 {
            continue;
        }
        let sr: f64 = (0..n).map(|i| w_at(i, k) * r_at(i, k)).sum();
        let r = sr / sw;
        let wbar = sw / n as f64;
        value += r;
        for (i, p) in psi.iter_mut().enumerate() {
            *p += w_at(i, k) * (r_at(i, k) - r) / wbar;
        }
    }
    let (_, half) = mean_ci(&psi);
    (value, half)
}

/// The per-step (bandit) view: one term per logged recommendation.
fn step_estimate(name: &str, sessions: &[Session], cap: f64) -> (f64, f64) {
    let steps: Vec<&Step> = sessions.iter().flat_map(|s| &s.steps).collect();
    if steps.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let w = |k: &Step| k.weight.min(cap);
    match name {
        "is_sn" | "pdis_sn" => {
            let num: Vec<f64> = steps.iter().map(|k| w(k) * k.reward).collect();
            let ws: Vec<f64> = steps.iter().map(|k| w(k)).collect();
            let zeros = vec![0.0; steps.len()];
            ratio_with_first(&num, &ws, &zeros)
        }
        "dm" => mean_ci(&steps.iter().map(|k| k.v).collect::<Vec<_>>()),
        "dr" | "dr_clip" => mean_ci(
            &steps
                .iter()
                .map(|k| k.v + w(k) * (k.reward - k.q))
                .collect::<Vec<_>>(),
        ),
        _ => mean_ci(&steps.iter().map(|k| w(k) * k.reward).collect::<Vec<_>>()),
    }
}

/// The per-step (contextual-bandit) estimators on given arrays — (reward, π/μ, q̂ of the logged
/// action, E_π q̂) per logged step — as (estimator, estimate, lower, upper), for checking against
/// other implementations on the same numbers.
pub fn step_estimates(steps: &[(f64, f64, f64, f64)], clip: f64) -> Vec<(String, f64, f64, f64)> {
    let sessions: Vec<Session> = steps
        .iter()
        .map(|&(reward, weight, q, v)| Session {
            first: 0.0,
            steps: vec![Step {
                reward,
                weight,
                q,
                v,
            }],
        })
        .collect();
    ESTIMATORS
        .iter()
        .map(|name| {
            let cap = if name.ends_with("_clip") {
                clip
            } else {
                f64::INFINITY
            };
            let (e, half) = step_estimate(name, &sessions, cap);
            (name.to_string(), e, e - half, e + half)
        })
        .collect()
}

/// The report as a table for people.
pub fn to_table(r: &OpeReport) -> String {
    let d = &r.diagnostics;
    let mut out = format!(
        "target {}: {} sessions, {} recommendations; support {:.1}% of logged steps; largest session weights {}\nlogged policies' own mean time per session {:.4}\n",
        r.policy,
        d.sessions,
        d.steps,
        100.0 * d.support,
        d.largest_weights
            .iter()
            .map(|w| format!("{w:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
        d.logged_mean
    );
    out.push_str(&format!(
        "{:<10} {:>10} {:>22} {:>10} {:>10} {:>22}\n",
        "estimator", "estimate", "95% CI", "ESS", "per step", "95% CI"
    ));
    for e in &r.estimates {
        out.push_str(&format!(
            "{:<10} {:>10.4} {:>22} {:>10.1} {:>10.4} {:>22}\n",
            e.estimator,
            e.estimate,
            format!("[{:.4}, {:.4}]", e.lower, e.upper),
            e.ess,
            e.step_estimate,
            format!("[{:.4}, {:.4}]", e.step_lower, e.step_upper),
        ));
    }
    out
}

/// How to check the estimators against the simulator's truth.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// The policy whose logs the estimators read.
    pub logging: RecommenderSpec,
    pub targets: Vec<RecommenderSpec>,
    /// Sessions per logged day.
    pub sessions: usize,
    /// Independent logs (different seeds).
    pub repeats: u32,
    /// Sessions of each target run online for its true value.
    pub truth_sessions: usize,
    pub seed: u64,
    /// Where the logs go (kept for inspection).
    pub dir: PathBuf,
}

/// One (target, estimator) pair over the repeats.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationRow {
    pub target: String,
    pub estimator: String,
    /// The target's online mean time per session (±`truth_se`).
    pub truth: f64,
    pub truth_se: f64,
    pub mean_estimate: f64,
    pub bias: f64,
    pub rmse: f64,
    /// Share of repeats whose 95% interval covers the truth.
    pub coverage: f64,
    /// Median effective sample size.
    pub ess: f64,
    /// Share of logged steps the target could have taken.
    pub support: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    pub logging: String,
    pub rows: Vec<ValidationRow>,
    /// Per estimator: Spearman's rank correlation of the estimates with the truths across the
    /// targets, averaged over the repeats.
    pub rank_correlation: Vec<(String, f64)>,
}

/// Runs each target online for its truth, then `repeats` logged days of the logging policy,
/// and every estimator of every target on each.
pub fn validate(
    world: &botify_core::World,
    o: &ValidateOptions,
    obs: &dyn crate::observer::Observer,
) -> Result<Validation> {
    use crate::simulate::{Recommenders, SimOptions, simulate};
    if o.targets.is_empty() || o.repeats == 0 || o.sessions == 0 || o.truth_sessions == 0 {
        return Err(Error::Invalid(
            "validation needs targets, repeats, sessions and truth sessions".into(),
        ));
    }
    let catalog = Arc::new(world.catalog.clone());
    let config = |spec: &RecommenderSpec| {
        Recommenders::Config(ExperimentsConfig::single("OPE", spec.clone()))
    };
    let mut truths = Vec::new();
    for (i, t) in o.targets.iter().enumerate() {
        obs.stage(&format!("truth of {}", t.label()));
        let days = simulate(
            world,
            &config(t),
            &SimOptions {
                episodes: o.truth_sessions,
                seed: o.seed ^ 0x7275_7468 ^ i as u64,
                ..SimOptions::default()
            },
            obs,
            &mut |_| Ok(()),
        )?;
        // A session's time in the log's units: the first track (listened fully) and the rest.
        let r = &days[0].summary.reward;
        truths.push((1.0 + r.mean, r.se));
    }
    // estimates[target][estimator][repeat]
    let mut estimates: Vec<Vec<Vec<Estimate>>> =
        vec![vec![Vec::new(); ESTIMATORS.len()]; o.targets.len()];
    let mut support = vec![0.0; o.targets.len()];
    for r in 0..o.repeats {
        obs.stage(&format!("logged day {} of {}", r + 1, o.repeats));
        let log_dir = o.dir.join(format!("log-{r}"));
        let _ = std::fs::remove_dir_all(&log_dir);
        simulate(
            world,
            &config(&o.logging),
            &SimOptions {
                episodes: o.sessions,
                seed: o.seed.wrapping_add(u64::from(r)),
                log_dir: Some(log_dir.clone()),
                ..SimOptions::default()
            },
            obs,
            &mut |_| Ok(()),
        )?;
        let (events, _) = read_events(std::slice::from_ref(&log_dir))?;
        for (t, target) in o.targets.iter().enumerate() {
            let mut opts = OpeOptions::new(vec![log_dir.clone()], target.clone());
            opts.seed = o.seed ^ u64::from(r);
            let report = evaluate_events(catalog.clone(), &events, &opts)?;
            support[t] += report.diagnostics.support / f64::from(o.repeats);
            for (e, est) in report.estimates.into_iter().enumerate() {
                estimates[t][e].push(est);
            }
        }
    }
    let mut rows = Vec::new();
    for (t, target) in o.targets.iter().enumerate() {
        let (truth, truth_se) = truths[t];
        for (e, name) in ESTIMATORS.iter().enumerate() {
            let runs = &estimates[t][e];
            let n = runs.len() as f64;
            let mean = runs.iter().map(|x| x.estimate).sum::<f64>() / n;
            let rmse = (runs
                .iter()
                .map(|x| (x.estimate - truth).powi(2))
                .sum::<f64>()
                / n)
                .sqrt();
            let covered = runs
                .iter()
                .filter(|x| x.lower <= truth && truth <= x.upper)
                .count() as f64;
            let mut ess: Vec<f64> = runs.iter().map(|x| x.ess).collect();
            ess.sort_by(f64::total_cmp);
            rows.push(ValidationRow {
                target: target.label(),
                estimator: name.to_string(),
                truth,
                truth_se,
                mean_estimate: mean,
                bias: mean - truth,
                rmse,
                coverage: covered / n,
                ess: ess[ess.len() / 2],
                support: support[t],
            });
        }
    }
    let truth_values: Vec<f64> = truths.iter().map(|t| t.0).collect();
    let rank_correlation = ESTIMATORS
        .iter()
        .enumerate()
        .map(|(e, name)| {
            let per_repeat: f64 = (0..o.repeats as usize)
                .map(|r| {
                    let est: Vec<f64> = (0..o.targets.len())
                        .map(|t| estimates[t][e][r].estimate)
                        .collect();
                    spearman(&est, &truth_values)
                })
                .sum::<f64>()
                / f64::from(o.repeats);
            (name.to_string(), per_repeat)
        })
        .collect();
    Ok(Validation {
        logging: o.logging.label(),
        rows,
        rank_correlation,
    })
}

/// Spearman's rank correlation (average ranks for ties); 0 when either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(x: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..x.len()).collect();
        idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
        let mut r = vec![0.0; x.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
                j += 1;
            }
            for &k in &idx[i..=j] {
                r[k] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

/// The validation as a table for people (markdown).
pub fn validation_table(v: &Validation) -> String {
    let mut out = format!(
        "logging policy: {}

",
        v.logging
    );
    out.push_str("| target | truth | estimator | mean estimate | bias | RMSE | 95% coverage | ESS | support |
");
    out.push_str(
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |
",
    );
    for r in &v.rows {
        out.push_str(&format!(
            "| {} | {:.3} ± {:.3} | {} | {:.3} | {:+.3} | {:.3} | {:.0}% | {:.0} | {:.0}% |
",
            r.target,
            r.truth,
            r.truth_se,
            r.estimator,
            r.mean_estimate,
            r.bias,
            r.rmse,
            100.0 * r.coverage,
            r.ess,
            100.0 * r.support
        ));
    }
    out.push_str(
        "
| estimator | rank correlation with the truth across targets |
| --- | ---: |
",
    );
    for (name, rho) in &v.rank_correlation {
        out.push_str(&format!(
            "| {name} | {rho:.2} |
"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(first: f64, steps: &[(f64, f64, f64, f64)]) -> Session {
        Session {
            first,
            steps: steps
                .iter()
                .map(|&(reward, weight, q, v)| Step {
                    reward,
                    weight,
                    q,
                    v,
                })
                .collect(),
        }
    }

    #[test]
    fn estimators_by_hand() {
        // Two sessions: first tracks 1.0; (r, w, q̂, v̂) per step.
        let s = vec![
            session(1.0, &[(0.5, 2.0, 0.4, 0.3), (1.0, 0.5, 0.6, 0.5)]),
            session(1.0, &[(0.2, 0.0, 0.1, 0.2)]),
        ];
        let get = |name| estimate(name, &s, 100.0).estimate;
        // is: W = 1 and 0: (1 · 1.5 + 0 · 0.2) / 2 + 1.
        assert!((get("is") - 1.75).abs() < 1e-12);
        // is_sn: 1.5 / (1 + 0) + 1.
        assert!((get("is_sn") - 2.5).abs() < 1e-12);
        // pdis: session 1: 2 · 0.5 + 1 · 1.0 = 2; session 2: 0 → 1 + 2 / 2.
        assert!((get("pdis") - 2.0).abs() < 1e-12);
        // pdis_sn: depth 1: (2 · 0.5 + 0 · 0.2) / (2 + 0) = 0.5; depth 2: (1 · 1.0 + 0 · 0) /
        // (1 + 0) = 1 → 1 + 1.5.
        assert!((get("pdis_sn") - 2.5).abs() < 1e-12);
        // dm: (0.3 + 0.5 + 0.2) / 2 + 1.
        assert!((get("dm") - 1.5).abs() < 1e-12);
        // dr: session 1: 2 (0.5 − 0.4) + 1 · 0.3 + 1 (1.0 − 0.6) + 2 · 0.5 = 1.9;
        //     session 2: 0 (0.2 − 0.1) + 1 · 0.2 = 0.2 → 1 + 2.1 / 2.
        assert!((get("dr") - 2.05).abs() < 1e-12);
        // Clipped at 1.5: session 1's first weight becomes 1.5, then 0.75.
        let clipped = estimate("pdis_clip", &s, 1.5).estimate;
        assert!((clipped - (1.0 + (1.5 * 0.5 + 0.75 * 1.0) / 2.0)).abs() < 1e-12);
        assert!((estimate("is", &s, 100.0).ess - 1.0).abs() < 1e-12);
    }

    #[test]
    fn spearman_ranks() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[3.0, 2.0, 1.0], &[10.0, 20.0, 30.0]) + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), 0.0);
    }

    #[test]
    fn on_policy_weights_give_the_logged_mean() {
        let s = vec![
            session(1.0, &[(0.5, 1.0, 0.0, 0.0), (0.9, 1.0, 0.0, 0.0)]),
            session(1.0, &[(0.3, 1.0, 0.0, 0.0)]),
        ];
        for name in ["is", "is_sn", "pdis", "pdis_sn", "dr"] {
            let e = estimate(name, &s, 100.0);
            assert!((e.estimate - 1.85).abs() < 1e-12, "{name}: {}", e.estimate);
        }
    }
}
