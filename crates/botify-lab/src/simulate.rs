//! Simulated days as a library call: the listeners of a world against a recommender
//! configuration (in-process, the service's own code), the oracle, or a running service; the
//! event log written in-process; a callback between days (retrain, redeploy) after which an
//! experiments file and its data files are read again.

use crate::observer::Observer;
use crate::{Error, Result};
use botify_core::eventlog::{LogSender, LogWriter, Rotation};
use botify_core::{Catalog, World};
use botify_recs::experiments::{DEFAULT_HISTORY, ExperimentsConfig, Router};
use botify_recs::spec::Hosted;
use botify_sim::http::Remote;
use botify_sim::runner::{Agent, DaySummary, EpisodeStats, SessionRunner, SimParams, Simulator};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Who recommends.
pub enum Recommenders {
    /// An experiments file, read again before every day (so files retrained between days are
    /// served the next day).
    File(PathBuf),
    /// A configuration given in code; its data files are read again before every day.
    Config(ExperimentsConfig),
    /// The upper bound: knows the hidden embeddings.
    Oracle,
    /// A running service over HTTP.
    Remote {
        remote: Remote,
        /// Sessions in flight (one keep-alive connection each) and client threads.
        concurrency: usize,
        threads: usize,
    },
}

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub episodes: usize,
    pub seed: u64,
    pub days: u32,
    /// Index of the first day: days differ in randomness and timestamps.
    pub start_day: u32,
    /// Safety cap on recommendations per session.
    pub max_steps: u32,
    /// Where the in-process event log goes (a service writes its own).
    pub log_dir: Option<PathBuf>,
    /// Recommenders registered by the embedding process (`{ type = "python", name }` specs).
    pub hosted: Hosted,
    /// Where each day's sessions run (default: here, on the current rayon pool).
    pub sessions_in: Option<SessionRunner>,
    /// The world's directory, where exact neighbour lists are cached between runs (the
    /// `neighbours-k*.bin` files, tied to the embeddings' content hash); `None`: no cache.
    pub neighbour_dir: Option<PathBuf>,
    /// Set from outside (Ctrl-C) to stop between sessions; the run then fails as cancelled.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The tracks nearest each session's taste the oracle caches per day (its picks do not depend
    /// on the number: it widens its search past them when a session runs through them).
    pub oracle_candidates: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        let p = SimParams::default();
        SimOptions {
            episodes: p.episodes,
            seed: p.seed,
            days: 1,
            start_day: 0,
            max_steps: p.max_steps,
            log_dir: None,
            hosted: Hosted::default(),
            sessions_in: None,
            neighbour_dir: None,
            cancel: None,
            oracle_candidates: botify_sim::runner::ORACLE_CANDIDATES,
        }
    }
}

impl SimOptions {
    pub fn validate(&self) -> Result<()> {
        if self.episodes == 0 {
            return Err(Error::Invalid("episodes must be at least 1".into()));
        }
        if self.days == 0 {
            return Err(Error::Invalid("days must be at least 1".into()));
        }
        if self.max_steps == 0 {
            return Err(Error::Invalid("max_steps must be at least 1".into()));
        }
        if self.start_day.checked_add(self.days).is_none() {
            return Err(Error::Invalid(format!(
                "start_day {} + days {} overflows",
                self.start_day, self.days
            )));
        }
        Ok(())
    }
}

/// One simulated day.
#[derive(Debug, Clone)]
pub struct Day {
    pub summary: DaySummary,
    /// Per treatment of the routing experiment, when its treatments differ.
    pub per_treatment: Vec<(String, DaySummary)>,
    pub episodes: Vec<EpisodeStats>,
    pub seconds: f64,
}

impl Day {
    pub fn steps(&self) -> u64 {
        self.episodes.iter().map(|e| u64::from(e.steps)).sum()
    }
}

/// Per day, every session's and each treatment's mean reward and steps, as `botify sim` prints
/// them.
pub fn summary_table(days: &[Day]) -> String {
    let mut out = format!(
        "{:>5} {:>10} {:>10}  {:>22} {:>22}\n",
        "day", "treatment", "episodes", "mean reward ± se", "mean steps ± se"
    );
    let mut line = |day: u32, t: &str, s: &DaySummary| {
        out.push_str(&format!(
            "{:>5} {:>10} {:>10}  {:>22} {:>22}\n",
            day + 1,
            t,
            s.episodes,
            format!("{:.3} ± {:.3}", s.reward.mean, s.reward.se),
            format!("{:.3} ± {:.3}", s.steps.mean, s.steps.se)
        ))
    };
    for d in days {
        line(d.summary.day, "all", &d.summary);
        for (name, t) in &d.per_treatment {
            line(d.summary.day, name, t);
        }
    }
    out
}

fn load_router(
    who: &Recommenders,
    catalog: &Arc<Catalog>,
    hosted: &Hosted,
) -> Result<Option<Router>> {
    let cfg = match who {
        Recommenders::File(f) => ExperimentsConfig::load(f)?,
        Recommenders::Config(c) => c.clone(),
        Recommenders::Oracle | Recommenders::Remote { .. } => return Ok(None),
    };
    Ok(Some(Router::build_with(
        cfg,
        catalog.clone(),
        botify_recs::spec::files(),
        hosted,
    )?))
}

/// Runs `o.days` days; `between(day)` runs after every day but the last (with the index of the
/// day to come), and the recommenders are built again after it.
pub fn simulate(
    world: &World,
    who: &Recommenders,
    o: &SimOptions,
    obs: &dyn Observer,
    between: &mut dyn FnMut(u32) -> Result<()>,
) -> Result<Vec<Day>> {
    o.validate()?;
    // Shared by every day's recommenders (the catalogue is cloned once, not per day).
    let catalog = Arc::new(world.catalog.clone());
    let mut router = load_router(who, &catalog, &o.hosted)?;
    let history = router.as_ref().map_or(DEFAULT_HISTORY, |r| r.history);
    let log = o
        .log_dir
        .as_ref()
        .filter(|_| !matches!(who, Recommenders::Remote { .. }))
        .map(|d| LogWriter::open(d, Rotation::default()))
        .transpose()?;
    let sender = log.as_ref().map(|l| l.sender());
    let mut sim = Simulator::new(world, history)?;
    sim.set_oracle_candidates(o.oracle_candidates);
    sim.set_session_runner(o.sessions_in.clone());
    sim.set_cancel(o.cancel.clone());
    if let Some(dir) = &o.neighbour_dir {
        load_neighbours(&mut sim, dir, obs);
    }
    let mut out = Vec::with_capacity(o.days as usize);
    for k in 0..o.days {
        let day = o.start_day + k;
        if k > 0 {
            between(day)?;
            router = load_router(who, &catalog, &o.hosted)?;
        }
        let p = SimParams {
            episodes: o.episodes,
            seed: o.seed,
            day,
            max_steps: o.max_steps,
        };
        let t = Instant::now();
        let serving = match (who, &router) {
            (
                Recommenders::Remote {
                    remote,
                    concurrency,
                    threads,
                },
                _,
            ) => Serving::Remote {
                remote,
                concurrency: *concurrency,
                threads: *threads,
            },
            (_, Some(r)) => Serving::Router(r),
            (_, None) => Serving::Oracle,
        };
        let neighbours = o.neighbour_dir.as_deref();
        let episodes = run_day(&mut sim, serving, &p, sender.as_ref(), neighbours, obs)?;
        out.push(Day {
            summary: DaySummary::of(day, &episodes),
            per_treatment: per_treatment(&episodes, day, router.as_ref()),
            episodes,
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    drop(sender);
    if let Some(l) = log {
        let path = l.path().to_path_buf();
        let lines = l.close()?;
        obs.note(&format!("wrote {lines} events to {}", path.display()));
    }
    Ok(out)
}

/// Where a day's recommendations come from.
pub enum Serving<'a> {
    /// The recommenders of an experiments configuration, in this process.
    Router(&'a Router),
    /// The upper bound that knows the hidden embeddings.
    Oracle,
    /// A running service over HTTP: sessions in flight (one keep-alive connection each) and
    /// client threads.
    Remote {
        remote: &'a Remote,
        concurrency: usize,
        threads: usize,
    },
}

/// One simulated day, as `botify sim` and every day of a plan's run run it: the exact nearest
/// tracks of the day's interests first, with a progress bar of their own (on a catalogue of
/// millions this search is most of a first day), then the sessions, logged in-process into
/// `log` (a service logs its own); the neighbour lists are then cached in `neighbour_dir`.
pub fn run_day(
    sim: &mut Simulator,
    who: Serving,
    p: &SimParams,
    log: Option<&LogSender>,
    neighbour_dir: Option<&Path>,
    obs: &dyn Observer,
) -> Result<Vec<EpisodeStats>> {
    let searched = std::cell::Cell::new(false);
    let start = |n| {
        searched.set(true);
        obs.start("nearest tracks", n);
    };
    let oracle = matches!(who, Serving::Oracle);
    let built = sim.search_neighbours(p, oracle, &start, &|n| obs.advance(n));
    if searched.get() {
        obs.finish();
    }
    if let Some(seconds) = built {
        obs.note(&format!("built the exact neighbour index in {seconds:.2}s"));
    }
    let sessions = sim.planned_sessions(p);
    obs.start(&format!("day {}", p.day + 1), sessions as u64);
    let progress = |n| obs.advance(n);
    let episodes = match who {
        Serving::Remote {
            remote,
            concurrency,
            threads,
        } => sim.run_day_remote(remote, p, concurrency, threads, &progress)?,
        Serving::Router(r) => sim.run_day(&Agent::Router(r), p, log, &progress)?,
        Serving::Oracle => sim.run_day(&Agent::Oracle, p, log, &progress)?,
    };
    obs.finish();
    if let Some(dir) = neighbour_dir {
        save_neighbours(sim, dir, obs);
    }
    Ok(episodes)
}

/// Adds the neighbour lists cached in `dir` to `sim`. A damaged cache is only a note: the lists
/// are computed again.
pub(crate) fn load_neighbours(sim: &mut Simulator, dir: &Path, obs: &dyn Observer) {
    match sim.load_neighbours(dir) {
        Ok(0) => {}
        Ok(n) => obs.note(&format!("{n} exact neighbour lists from {}", dir.display())),
        Err(e) => obs.note(&format!("ignoring the neighbour cache: {e}")),
    }
}

/// Caches the neighbour lists computed so far in `dir` for later runs; a failure (a read-only
/// world directory) is only a note.
pub(crate) fn save_neighbours(sim: &mut Simulator, dir: &Path, obs: &dyn Observer) {
    if let Err(e) = sim.save_neighbours(dir) {
        obs.note(&format!("could not cache neighbour lists: {e}"));
    }
}

fn per_treatment(
    eps: &[EpisodeStats],
    day: u32,
    router: Option<&Router>,
) -> Vec<(String, DaySummary)> {
    let Some(r) = router else { return Vec::new() };
    let specs: Vec<_> = r.route_spec().treatments.values().collect();
    if specs.windows(2).all(|w| w[0] == w[1]) {
        return Vec::new();
    }
    r.treatments
        .iter()
        .enumerate()
        .map(|(b, t)| {
            let sub: Vec<EpisodeStats> = eps
                .iter()
                .filter(|e| e.treatment as usize == b)
                .cloned()
                .collect();
            (t.name.clone(), DaySummary::of(day, &sub))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::generate::{WorldParams, generate};
    use botify_recs::spec::RecommenderSpec;

    fn world() -> World {
        generate(&WorldParams {
            tracks: 300,
            users: 40,
            dim: 8,
            seed: 5,
            ..WorldParams::default()
        })
        .unwrap()
    }

    fn opts(days: u32, start_day: u32) -> SimOptions {
        SimOptions {
            episodes: 50,
            seed: 9,
            days,
            start_day,
            max_steps: 100,
            log_dir: None,
            ..SimOptions::default()
        }
    }

    /// Collects notes.
    #[derive(Default)]
    struct Notes(std::sync::Mutex<Vec<String>>);
    impl Observer for Notes {
        fn note(&self, text: &str) {
            self.0.lock().unwrap().push(text.to_string());
        }
    }

    #[test]
    fn neighbour_lists_are_cached_next_to_the_world_and_change_nothing() {
        let w = world();
        let dir = tempfile::tempdir().unwrap();
        let who = Recommenders::Config(ExperimentsConfig::single(
            "S",
            RecommenderSpec::StickyArtist { fallback: None },
        ));
        let plain = simulate(&w, &who, &opts(2, 0), &crate::Quiet, &mut |_| Ok(())).unwrap();
        let cached = SimOptions {
            neighbour_dir: Some(dir.path().to_path_buf()),
            ..opts(2, 0)
        };
        let first = Notes::default();
        let a = simulate(&w, &who, &cached, &first, &mut |_| Ok(())).unwrap();
        assert!(dir.path().join("neighbours-k10.bin").is_file());
        let second = Notes::default();
        let b = simulate(&w, &who, &cached, &second, &mut |_| Ok(())).unwrap();
        let loaded = second.0.lock().unwrap().clone();
        assert!(
            loaded
                .iter()
                .any(|n| n.contains("exact neighbour lists from")),
            "{loaded:?}"
        );
        for ((x, y), z) in plain.iter().zip(&a).zip(&b) {
            assert_eq!(x.episodes, y.episodes);
            assert_eq!(x.episodes, z.episodes);
        }
        // Another world in the same directory: the lists are not its own, so they are not used.
        let other = generate(&WorldParams {
            tracks: 300,
            users: 40,
            dim: 8,
            seed: 6,
            ..WorldParams::default()
        })
        .unwrap();
        let notes = Notes::default();
        let fresh = simulate(&other, &who, &opts(1, 0), &crate::Quiet, &mut |_| Ok(())).unwrap();
        let reused = simulate(&other, &who, &cached, &notes, &mut |_| Ok(())).unwrap();
        assert_eq!(fresh[0].episodes, reused[0].episodes);
        let said = notes.0.lock().unwrap().clone();
        assert!(
            !said.iter().any(|n| n.contains("neighbour lists from")),
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|n| n.contains("built the exact neighbour index")),
            "{said:?}"
        );
        // A damaged file is a note, and the run goes on.
        std::fs::write(dir.path().join("neighbours-k10.bin"), b"BOTIFYNN garbage").unwrap();
        let notes = Notes::default();
        simulate(&w, &who, &cached, &notes, &mut |_| Ok(())).unwrap();
        let said = notes.0.lock().unwrap().clone();
        assert!(
            said.iter()
                .any(|n| n.contains("ignoring the neighbour cache")),
            "{said:?}"
        );
    }

    #[test]
    fn start_day_is_the_first_day_and_between_runs_only_between_days() {
        let w = world();
        let who = Recommenders::Config(ExperimentsConfig::single("S", RecommenderSpec::Random {}));
        let mut calls = Vec::new();
        let days = simulate(&w, &who, &opts(3, 4), &crate::Quiet, &mut |d| {
            calls.push(d);
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, [5, 6]);
        let indices: Vec<u32> = days.iter().map(|d| d.summary.day).collect();
        assert_eq!(indices, [4, 5, 6]);
        // Day 4 started on its own is the same day as day 4 after others.
        let alone = simulate(&w, &who, &opts(1, 4), &crate::Quiet, &mut |_| Ok(())).unwrap();
        assert_eq!(alone[0].episodes, days[0].episodes);
        let zero = simulate(&w, &who, &opts(1, 0), &crate::Quiet, &mut |_| Ok(())).unwrap();
        assert_ne!(zero[0].episodes, days[0].episodes);
    }

    #[test]
    fn an_experiments_file_is_read_again_after_between() {
        let w = world();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("experiments.toml");
        let write = |spec: RecommenderSpec| {
            let cfg = ExperimentsConfig::single("S", spec);
            std::fs::write(&file, toml::to_string(&cfg).unwrap()).unwrap();
        };
        write(RecommenderSpec::Random {});
        let who = Recommenders::File(file.clone());
        // Day 2 under StickyArtist, swapped in between the days.
        let days = simulate(&w, &who, &opts(2, 0), &crate::Quiet, &mut |_| {
            write(RecommenderSpec::StickyArtist { fallback: None });
            Ok(())
        })
        .unwrap();
        write(RecommenderSpec::StickyArtist { fallback: None });
        let sticky = simulate(&w, &who, &opts(1, 1), &crate::Quiet, &mut |_| Ok(())).unwrap();
        // Neither recommender reads the history, so day 2 is exactly StickyArtist's day 2.
        assert_eq!(days[1].episodes, sticky[0].episodes);
        assert_ne!(days[0].episodes, days[1].episodes);
    }

    #[test]
    fn a_session_runner_runs_each_days_sessions_once_and_changes_nothing() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let w = world();
        let who = Recommenders::Config(ExperimentsConfig::single(
            "S",
            RecommenderSpec::StickyArtist { fallback: None },
        ));
        let plain = simulate(&w, &who, &opts(2, 0), &crate::Quiet, &mut |_| Ok(())).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let one_thread = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap(),
        );
        let o = SimOptions {
            sessions_in: Some(SessionRunner(Arc::new(
                move |run: &mut (dyn FnMut() + Send)| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    one_thread.install(run)
                },
            ))),
            ..opts(2, 0)
        };
        let run = simulate(&w, &who, &o, &crate::Quiet, &mut |_| Ok(())).unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        for (a, b) in plain.iter().zip(&run) {
            assert_eq!(a.episodes, b.episodes);
        }
    }

    #[test]
    fn a_set_cancel_flag_stops_the_run_as_cancelled() {
        let w = world();
        let who = Recommenders::Config(ExperimentsConfig::single(
            "S",
            RecommenderSpec::StickyArtist { fallback: None },
        ));
        let o = SimOptions {
            cancel: Some(Arc::new(std::sync::atomic::AtomicBool::new(true))),
            ..opts(2, 0)
        };
        let Err(e) = simulate(&w, &who, &o, &crate::Quiet, &mut |_| Ok(())) else {
            panic!("a set cancel flag stops the run");
        };
        assert!(
            e.to_string()
                .contains("cancelled: day 1 stopped after 0 of"),
            "{e}"
        );
    }

    #[test]
    fn zero_days_or_episodes_are_refused() {
        let w = world();
        for o in [
            opts(0, 0),
            SimOptions {
                episodes: 0,
                ..opts(1, 0)
            },
        ] {
            let e = simulate(
                &w,
                &Recommenders::Oracle,
                &o,
                &crate::Quiet,
                &mut |_| Ok(()),
            )
            .unwrap_err();
            assert!(e.to_string().contains("at least 1"), "{e}");
        }
    }
}
