//! The console agent: a person plays the recommender. Generic over input and output so that it
//! is tested like any other agent.

use crate::episode::Step;
use crate::runner::{
    EpisodeStats, STEP_MS, SimParams, Simulator, close_planned, open_planned, split_listeners,
};
use crate::{Error, Result};
use botify_core::{TrackId, World};
use std::io::{BufRead, Write};

fn describe(world: &World, t: TrackId) -> String {
    let tr = &world.catalog.tracks[t as usize];
    format!("#{t} \"{}\" by {}", tr.title, tr.artist)
}

fn io(e: std::io::Error) -> Error {
    Error::Invalid(format!("console: {e}"))
}

impl Simulator<'_> {
    /// Plays `p.episodes` sessions where the person at `input` picks each next track.
    /// Typing `q` ends the run early; the finished sessions are returned.
    pub fn run_console(
        &mut self,
        p: &SimParams,
        mut input: impl BufRead,
        mut out: impl Write,
    ) -> Result<Vec<EpisodeStats>> {
        let world = self.world();
        let plan = self.prepare_day(p);
        let mut order: Vec<(u32, usize)> = plan
            .by_user
            .iter()
            .enumerate()
            .flat_map(|(u, eps)| eps.iter().map(move |&i| (i, u)))
            .collect();
        order.sort_unstable();
        let n = world.catalog.len() as u64;
        let mut stats = Vec::new();
        writeln!(
            out,
            "You are the recommender. Type a track id (0..{n}) for each next track, q to quit."
        )
        .map_err(io)?;
        let (rules, mut listeners) = split_listeners(&mut self.dynamics, world.users.len());
        // Each listener's clock: a session starts when planned, never before their previous one
        // ended.
        let mut clocks = vec![0u64; world.users.len()];
        for (i, u) in order {
            let start = plan.starts[i as usize].max(clocks[u] + STEP_MS);
            let listener = listeners[u].as_deref();
            let mut ep = open_planned(world, &self.first, (p, &plan, rules), i, listener, start);
            writeln!(out, "\nsession {} — user {}", i + 1, ep.user()).map_err(io)?;
            let first = ep.session().first;
            writeln!(out, "  played {} — listened 1.00", describe(world, first)).map_err(io)?;
            loop {
                write!(out, "next track> ").map_err(io)?;
                out.flush().map_err(io)?;
                let mut line = String::new();
                if input.read_line(&mut line).map_err(io)? == 0 || line.trim() == "q" {
                    writeln!(out, "\nbye: {} sessions finished", stats.len()).map_err(io)?;
                    return Ok(stats);
                }
                let t = match line.trim().parse::<u64>() {
                    Ok(t) if t < n => t as TrackId,
                    _ => {
                        writeln!(
                            out,
                            "  {:?} is not a track id: type an integer in 0..{n}, or q",
                            line.trim()
                        )
                        .map_err(io)?;
                        continue;
                    }
                };
                let step = ep.play(t);
                let time = match step {
                    Step::Next { time } | Step::Over { time, .. } => time,
                };
                writeln!(
                    out,
                    "  played {} — listened {time:.2} (budget left {})",
                    describe(world, t),
                    ep.session().budget
                )
                .map_err(io)?;
                if matches!(step, Step::Over { .. }) {
                    break;
                }
            }
            let s = ep.stats(0);
            let end = start + u64::from(s.steps) * STEP_MS;
            clocks[u] = end;
            close_planned(rules, listeners[u].as_deref_mut(), &ep, end);
            writeln!(
                out,
                "session over: {} tracks, total listening {:.2}",
                s.steps, s.reward
            )
            .map_err(io)?;
            stats.push(s);
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::generate::{WorldParams, generate};

    #[test]
    fn validates_input_and_plays_sessions() {
        let w = generate(&WorldParams {
            tracks: 300,
            users: 5,
            dim: 8,
            ..Default::default()
        })
        .unwrap();
        let mut sim = Simulator::new(&w, 10).unwrap();
        let p = SimParams {
            episodes: 2,
            ..Default::default()
        };
        // The same (unplayed then replayed) track until the budget runs out.
        let mut script = String::from("hello\n99999\n-3\n");
        script.push_str(&"7\n".repeat(200));
        let mut out = Vec::new();
        let stats = sim.run_console(&p, script.as_bytes(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"hello\" is not a track id"), "{text}");
        assert!(text.contains("\"99999\" is not a track id"));
        assert!(text.contains("session over"));
        assert_eq!(stats.len(), 2);
        assert!(stats.iter().all(|s| s.steps >= 5));
        // Quitting early keeps finished sessions only.
        let stats = sim.run_console(&p, "q\n".as_bytes(), Vec::new()).unwrap();
        assert!(stats.is_empty());
    }
}
