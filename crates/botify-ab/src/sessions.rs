//! From log lines to user-level metrics, streaming: memory grows with users (and the few events
//! of each user's unfinished session), not with events.
//!
//! A session is the run of a user's events (by timestamp) that ends with a `last` event; events
//! after a user's latest `last` belong to an unfinished session and are dropped, as the course
//! did. Per user: `sessions`, `tracks` (events in finished sessions), `time` (their listen time),
//! `latency` (their mean handler latency, ms).

use crate::{Error, Result};
use botify_core::UserId;
use botify_core::events::{EventView, ReadStats, fold_lines, parse_view};
use botify_core::hash::FastMap;
use botify_core::murmur::{Splitter, treatment_bucket};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A metric the analysis compares: the course's five per-user metrics and two session-level
/// ratio metrics. Its name (`mean_time_per_session`, …) is how flags, plans, reports and JSON
/// spell it; nothing else passes metric names around as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Time,
    Sessions,
    MeanRequestLatency,
    MeanTracksPerSession,
    MeanTimePerSession,
    /// An arm's total time over its total sessions (each session weighs the same, where the
    /// `mean_*_per_session` metrics weigh each user the same); its variance comes from the
    /// delta method over users, the unit of randomisation.
    RatioTimePerSession,
    RatioTracksPerSession,
}

impl Metric {
    /// The user-level metrics, in the course's order: the default of every analysis.
    pub const USER: [Metric; 5] = [
        Metric::Time,
        Metric::Sessions,
        Metric::MeanRequestLatency,
        Metric::MeanTracksPerSession,
        Metric::MeanTimePerSession,
    ];
    /// The session-level ratio metrics.
    pub const RATIO: [Metric; 2] = [Metric::RatioTimePerSession, Metric::RatioTracksPerSession];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Time => "time",
            Metric::Sessions => "sessions",
            Metric::MeanRequestLatency => "mean_request_latency",
            Metric::MeanTracksPerSession => "mean_tracks_per_session",
            Metric::MeanTimePerSession => "mean_time_per_session",
            Metric::RatioTimePerSession => "ratio_time_per_session",
            Metric::RatioTracksPerSession => "ratio_tracks_per_session",
        }
    }

    /// Whether a rise is good news (latency is the one metric where less is better).
    pub fn higher_is_better(self) -> bool {
        self != Metric::MeanRequestLatency
    }

    pub fn is_ratio(self) -> bool {
        Metric::RATIO.contains(&self)
    }
}

/// A metric equals its name: `row.metric == "mean_time_per_session"`.
impl PartialEq<&str> for Metric {
    fn eq(&self, name: &&str) -> bool {
        self.name() == *name
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Metric {
    type Err = crate::Error;

    /// A metric by its name; an unknown name is an error that lists the known ones.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let all = Metric::USER.iter().chain(&Metric::RATIO);
        all.clone()
            .find(|m| m.name() == name.trim())
            .copied()
            .ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "unknown metric {name:?}; metrics are {}",
                    all.map(|m| m.name()).collect::<Vec<_>>().join(", ")
                ))
            })
    }
}

/// Curve bins are one second wide; reports re-bin them.
pub const BIN_MS: u64 = 1000;

#[derive(Debug, Clone, Serialize)]
pub struct UserMetrics {
    pub user: UserId,
    pub treatment: u8,
    /// The user's earliest event (ms): when they entered the experiment.
    pub first_ms: u64,
    pub sessions: u32,
    pub tracks: u32,
    pub time: f64,
    pub latency_ms: f64,
}

impl UserMetrics {
    /// A ratio metric's numerator and denominator for this user.
    pub fn ratio_parts(&self, metric: Metric) -> Option<(f64, f64)> {
        let s = f64::from(self.sessions);
        match metric {
            Metric::RatioTimePerSession => Some((self.time, s)),
            Metric::RatioTracksPerSession => Some((f64::from(self.tracks), s)),
            _ => None,
        }
    }

    /// This user's value of a user-level metric (None for a ratio metric).
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        let s = f64::from(self.sessions);
        Some(match metric {
            Metric::Time => self.time,
            Metric::Sessions => s,
            Metric::MeanRequestLatency => self.latency_ms,
            Metric::MeanTracksPerSession => f64::from(self.tracks) / s,
            Metric::MeanTimePerSession => self.time / s,
            Metric::RatioTimePerSession | Metric::RatioTracksPerSession => return None,
        })
    }
}

#[derive(Default, Clone)]
struct Acc {
    /// The user's earliest event as (timestamp, treatment): the user belongs to that arm, whatever
    /// the order of files and chunks (ties go to the lower treatment).
    first: (u64, u8),
    conflict: bool,
    last_ts: u64,
    sessions: u32,
    tracks: u32,
    /// Sums in integer micro-units (time) and nanoseconds (latency): exact, so the result does
    /// not depend on the order in which parallel parts are merged.
    time: u64,
    latency: u64,
    /// Events after the latest `last` seen so far: (timestamp, time, latency).
    pending: Vec<(u64, f32, f64)>,
}

impl Acc {
    fn add(&mut self, time: f32, latency: f64) {
        self.tracks += 1;
        self.time += micro(time);
        self.latency += (latency.max(0.0) * 1e9).round() as u64;
    }

    fn settle(&mut self) {
        let last = self.last_ts;
        let mut keep = Vec::new();
        for (ts, t, l) in std::mem::take(&mut self.pending) {
            if self.sessions > 0 && ts <= last {
                self.add(t, l);
            } else {
                keep.push((ts, t, l));
            }
        }
        self.pending = keep;
    }

    /// Notes an event of treatment `bucket` at `timestamp`.
    fn assign(&mut self, timestamp: u64, bucket: u8) {
        if bucket != self.first.1 {
            self.conflict = true;
        }
        self.first = self.first.min((timestamp, bucket));
    }

    fn merge(&mut self, o: Acc) {
        self.assign(o.first.0, o.first.1);
        self.conflict |= o.conflict;
        self.sessions += o.sessions;
        self.tracks += o.tracks;
        self.time += o.time;
        self.latency += o.latency;
        self.last_ts = self.last_ts.max(o.last_ts);
        self.pending.extend(o.pending);
        self.settle();
    }
}

/// Per (treatment, second): events, listen time, sessions ended — for curves over time.
/// Listen times are summed in micro-units.
pub type Curves = BTreeMap<(u8, u64), (u64, u64, u64)>;
type CurveBins = FastMap<(u8, u64), (u64, u64, u64)>;

fn micro(time: f32) -> u64 {
    (f64::from(time) * 1e6).round() as u64
}

#[derive(Default, Clone)]
struct Partial {
    users: FastMap<UserId, Acc>,
    curves: CurveBins,
    experiments_seen: Vec<String>,
    without_experiment: u64,
    bad_treatment: u64,
    assigned_by_hash: u64,
    /// A live view's bound on events of unfinished sessions held (None: a file analysis,
    /// which keeps them all to stay exact).
    pending_budget: Option<usize>,
    /// Events of unfinished sessions held now (tracked only with a budget).
    pending_held: usize,
    /// Events of unfinished sessions given up to stay within the budget.
    pending_dropped: u64,
}

/// Events of unfinished sessions a live view holds at most (about 60 bytes each): past it, the
/// sessions idle longest are given up, as if they were abandoned.
pub const LIVE_PENDING_BUDGET: usize = 1_000_000;

impl Partial {
    fn note_experiments<'a>(&mut self, names: impl Iterator<Item = &'a str>) {
        for k in names {
            if !self.experiments_seen.iter().any(|s| s == k) && self.experiments_seen.len() < 100 {
                self.experiments_seen.push(k.to_string());
            }
        }
    }

    fn merge(mut self, mut o: Partial) -> Partial {
        if self.users.len() < o.users.len() {
            std::mem::swap(&mut self, &mut o);
        }
        for (u, acc) in o.users {
            match self.users.get_mut(&u) {
                Some(a) => a.merge(acc),
                None => {
                    self.users.insert(u, acc);
                }
            }
        }
        for (k, v) in o.curves {
            let e = self.curves.entry(k).or_default();
            e.0 += v.0;
            e.1 += v.1;
            e.2 += v.2;
        }
        for name in o.experiments_seen {
            if !self.experiments_seen.contains(&name) && self.experiments_seen.len() < 100 {
                self.experiments_seen.push(name);
            }
        }
        self.without_experiment += o.without_experiment;
        self.bad_treatment += o.bad_treatment;
        self.assigned_by_hash += o.assigned_by_hash;
        self.pending_dropped += o.pending_dropped;
        self
    }
}

/// What reading the logs for one experiment produced.
pub struct UsersRead {
    /// Users with at least one finished session, by id.
    pub users: Vec<UserMetrics>,
    pub curves: Curves,
    pub read: ReadStats,
    /// Events that carried no assignment for the experiment.
    pub without_experiment: u64,
    /// Events whose treatment is not C/T1/…
    pub bad_treatment: u64,
    /// Users seen in more than one treatment (each kept in the treatment of their earliest event).
    pub conflicting_users: usize,
    /// Events that carried no assignment and were assigned by the experiment's hash.
    pub assigned_by_hash: u64,
    /// Users whose events never finished a session.
    pub unfinished_users: usize,
    /// Events of sessions a live view gave up (idle longest) to bound its memory.
    pub pending_dropped: u64,
}

impl Partial {
    /// Folds one log line into the accumulators of `experiment`; events without an assignment
    /// are assigned by `split` when given. An error names what is wrong with the line.
    fn push_line(
        &mut self,
        line: &[u8],
        experiment: &str,
        split: Option<&Splitter>,
    ) -> std::result::Result<(), String> {
        // One parser for training and analysis: the service's own layout without
        // allocating, anything else through serde, the same validation either way.
        self.push_view(&parse_view(line)?, experiment, split);
        Ok(())
    }

    fn push_view(&mut self, v: &EventView, experiment: &str, split: Option<&Splitter>) {
        let (is_last, timestamp, user, time, latency) =
            (v.last, v.timestamp, v.user, v.time, v.latency);
        let bucket = match (v.treatment(experiment), split) {
            (Some(t), _) => treatment_bucket(t),
            (None, Some(s)) => {
                self.assigned_by_hash += 1;
                Some(s.bucket(u64::from(user)))
            }
            (None, None) => {
                self.without_experiment += 1;
                if self.experiments_seen.is_empty() {
                    self.note_experiments(v.pairs().map(|(k, _)| k));
                }
                return;
            }
        };
        let Some(bucket) = bucket.filter(|&b| b < 256) else {
            self.bad_treatment += 1;
            return;
        };
        let bucket = bucket as u8;
        let acc = self.users.entry(user).or_insert_with(|| Acc {
            first: (timestamp, bucket),
            ..Acc::default()
        });
        let held_before = acc.pending.len();
        acc.assign(timestamp, bucket);
        let c = self.curves.entry((bucket, timestamp / BIN_MS)).or_default();
        c.0 += 1;
        c.1 += micro(time);
        if is_last {
            c.2 += 1;
            acc.sessions += 1;
            acc.add(time, latency);
            if timestamp > acc.last_ts {
                acc.last_ts = timestamp;
                acc.settle();
            }
        } else if acc.sessions > 0 && timestamp <= acc.last_ts {
            acc.add(time, latency);
        } else {
            acc.pending.push((timestamp, time, latency));
        }
        if let Some(budget) = self.pending_budget {
            self.pending_held = self.pending_held + acc.pending.len() - held_before;
            if self.pending_held > budget {
                self.give_up_idle_sessions(budget);
            }
        }
    }

    /// Drops the pending events of the sessions idle longest until at most half the budget is
    /// held: a sweep over the users every half budget of events, so amortised O(1) per event.
    fn give_up_idle_sessions(&mut self, budget: usize) {
        let mut idle: Vec<(u64, UserId)> = self
            .users
            .iter()
            .filter_map(|(&u, a)| a.pending.last().map(|p| (p.0, u)))
            .collect();
        idle.sort_unstable();
        for (_, u) in idle {
            if self.pending_held <= budget / 2 {
                break;
            }
            if let Some(a) = self.users.get_mut(&u) {
                let n = a.pending.len();
                a.pending = Vec::new();
                self.pending_held -= n;
                self.pending_dropped += n as u64;
            }
        }
    }

    /// The per-user metrics of everything folded in.
    fn finish(self, experiment: &str, read: ReadStats) -> Result<UsersRead> {
        if self.users.is_empty() {
            let mut seen = self.experiments_seen.clone();
            seen.sort();
            return Err(Error::Invalid(if read.events == 0 {
                format!(
                    "no valid events in the logs ({} lines skipped)",
                    read.skipped
                )
            } else {
                format!(
                    "no event carries experiment {experiment:?}; experiments in these logs: {}",
                    if seen.is_empty() {
                        "none".to_string()
                    } else {
                        seen.join(", ")
                    }
                )
            }));
        }
        let conflicting_users = self.users.values().filter(|a| a.conflict).count();
        let mut users: Vec<UserMetrics> = Vec::with_capacity(self.users.len());
        let mut unfinished_users = 0;
        for (user, a) in self.users {
            if a.sessions == 0 {
                unfinished_users += 1;
                continue;
            }
            users.push(UserMetrics {
                user,
                treatment: a.first.1,
                first_ms: a.first.0,
                sessions: a.sessions,
                tracks: a.tracks,
                time: a.time as f64 / 1e6,
                latency_ms: a.latency as f64 / 1e6 / f64::from(a.tracks.max(1)),
            });
        }
        users.sort_by_key(|u| u.user);
        Ok(UsersRead {
            users,
            curves: self.curves.into_iter().collect(),
            read,
            without_experiment: self.without_experiment,
            bad_treatment: self.bad_treatment,
            conflicting_users,
            unfinished_users,
            assigned_by_hash: self.assigned_by_hash,
            pending_dropped: self.pending_dropped,
        })
    }
}

/// Reads the logs under `paths` and computes per-user metrics for `experiment`.
pub fn read_users(paths: &[PathBuf], experiment: &str) -> Result<UsersRead> {
    read_users_assigning(paths, experiment, None)
}

/// As [`read_users`]; events without an assignment for the experiment (a log from before it
/// started) are assigned by `split`, the experiment's own murmur3 hash, when given.
pub fn read_users_assigning(
    paths: &[PathBuf],
    experiment: &str,
    split: Option<&Splitter>,
) -> Result<UsersRead> {
    let (p, read) = fold_lines(
        paths,
        Partial::default,
        |p: &mut Partial, line, _| p.push_line(line, experiment, split),
        Partial::merge,
    )?;
    p.finish(experiment, read)
}

/// The same per-user metrics as [`read_users`], folded in as lines arrive (a live service's
/// event log): memory grows with users, not with lines, and [`LiveUsers::users`] at any moment
/// equals [`read_users`] over the lines pushed so far.
#[derive(Clone)]
pub struct LiveUsers {
    experiment: String,
    partial: Partial,
    read: ReadStats,
}

impl LiveUsers {
    pub fn new(experiment: &str) -> Self {
        Self::with_budget(experiment, LIVE_PENDING_BUDGET)
    }

    /// As [`LiveUsers::new`], holding at most `budget` events of unfinished sessions.
    pub fn with_budget(experiment: &str, budget: usize) -> Self {
        LiveUsers {
            experiment: experiment.to_string(),
            partial: Partial {
                pending_budget: Some(budget.max(2)),
                ..Partial::default()
            },
            read: ReadStats::default(),
        }
    }

    pub fn experiment(&self) -> &str {
        &self.experiment
    }

    /// Folds in whole lines (each ending in `\n`; blank lines are skipped as the file reader does).
    pub fn push_lines(&mut self, lines: &[u8]) {
        for line in non_blank_lines(lines) {
            match parse_view(line) {
                Ok(v) => self.push_view(&v),
                Err(e) => self.skip(&e),
            }
        }
    }

    fn push_view(&mut self, v: &EventView) {
        self.partial.push_view(v, &self.experiment, None);
        self.read.events += 1;
    }

    fn skip(&mut self, reason: &str) {
        self.read.skipped += 1;
        if self.read.skipped_examples.len() < 5 {
            let at = self.read.events + self.read.skipped;
            self.read
                .skipped_examples
                .push(format!("live line {at}: {reason}"));
        }
    }

    /// Events of unfinished sessions held now.
    pub fn pending_held(&self) -> usize {
        self.partial.pending_held
    }

    /// Events folded in so far (valid lines).
    pub fn events(&self) -> u64 {
        self.read.events
    }

    /// The per-user metrics so far.
    pub fn users(&self) -> Result<UsersRead> {
        let mut read = self.read.clone();
        read.files = 1;
        self.partial.clone().finish(&self.experiment, read)
    }
}

fn non_blank_lines(lines: &[u8]) -> impl Iterator<Item = &[u8]> {
    lines
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

/// Experiments a [`LiveLog`] follows at most (a log names a handful).
pub const LIVE_EXPERIMENTS: usize = 16;

/// [`LiveUsers`] for every experiment the lines name (up to [`LIVE_EXPERIMENTS`]), each line
/// parsed once: an experiment is followed from the first line that carries it, which is every
/// line [`read_users`] would count for it.
#[derive(Default)]
pub struct LiveLog {
    experiments: Vec<LiveUsers>,
    lines: u64,
}

impl LiveLog {
    pub fn push_lines(&mut self, lines: &[u8]) {
        for line in non_blank_lines(lines) {
            self.lines += 1;
            match parse_view(line) {
                Ok(v) => {
                    for (name, _) in v.pairs() {
                        if self.experiments.len() < LIVE_EXPERIMENTS
                            && !self.experiments.iter().any(|e| e.experiment == name)
                        {
                            self.experiments.push(LiveUsers::new(name));
                        }
                    }
                    for e in &mut self.experiments {
                        e.push_view(&v);
                    }
                }
                Err(reason) => {
                    for e in &mut self.experiments {
                        e.skip(&reason);
                    }
                }
            }
        }
    }

    /// Non-blank lines seen, valid or not.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The experiments seen, in order of first appearance.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.experiments.iter().map(|e| e.experiment())
    }

    pub fn get(&self, experiment: &str) -> Option<&LiveUsers> {
        self.experiments.iter().find(|e| e.experiment == experiment)
    }
}
