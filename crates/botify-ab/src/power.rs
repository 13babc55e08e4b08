//! Power analysis from a baseline log: the users needed to detect an effect, or the effect
//! detectable with the users one has — for the two-sided two-sample t test itself (noncentral t,
//! as statsmodels' `TTestIndPower`), not its normal approximation, which under-powers small
//! samples.

use crate::sessions::{Metric, read_users};
use crate::stats::Summary;
use crate::stats::{t_test_mde, t_test_users};
use crate::{Error, Result};
use std::path::PathBuf;

/// What `botify ab power` asks.
#[derive(Debug, Clone)]
pub struct PowerQuery {
    pub metric: Metric,
    pub baseline_logs: Vec<PathBuf>,
    /// The experiment whose control group is the baseline; None: all users of the log's first
    /// experiment.
    pub experiment: Option<String>,
    /// Relative effect to detect (0.02 = 2%).
    pub effect: Option<f64>,
    /// Users per group one can have (for the minimum detectable effect); None: the control
    /// group's size when `experiment` is given (the baseline is then one group), else half the
    /// baseline's users (as if they were split in two).
    pub users: Option<f64>,
    pub alpha: f64,
    pub power: f64,
}

/// The baseline and the answers.
#[derive(Debug, Clone)]
pub struct PowerAnswer {
    pub baseline: Summary,
    /// Users per group to detect `effect`.
    pub users_needed: Option<f64>,
    /// Users per group the minimum detectable effect is computed for.
    pub users: f64,
    /// Minimum detectable effect, absolute and relative to the baseline mean.
    pub mde: f64,
    pub mde_relative: f64,
}

impl PowerQuery {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.metric.is_ratio() {
            return bad(format!(
                "power is computed for a per-user metric ({}), not {}",
                Metric::USER.map(|m| m.name()).join(", "),
                self.metric
            ));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return bad(format!("--alpha {} must be in (0, 1)", self.alpha));
        }
        if !(self.power > 0.0 && self.power < 1.0) {
            return bad(format!("--power {} must be in (0, 1)", self.power));
        }
        if let Some(u) = self.users
            && !(u >= 2.0 && u.is_finite())
        {
            return bad(format!(
                "--users {u} must be a finite number of at least 2 users per group"
            ));
        }
        if let Some(e) = self.effect
            && !(e != 0.0 && e.is_finite())
        {
            return bad("--effect must be a non-zero finite number".into());
        }
        Ok(())
    }

    pub fn answer(&self) -> Result<PowerAnswer> {
        self.validate()?;
        let experiment = match &self.experiment {
            Some(e) => e.clone(),
            None => first_experiment(&self.baseline_logs)?,
        };
        let r = read_users(&self.baseline_logs, &experiment)?;
        let control: Vec<f64> = r
            .users
            .iter()
            .filter(|u| self.experiment.is_none() || u.treatment == 0)
            .filter_map(|u| u.metric(self.metric))
            .collect();
        let s = Summary::of(&control);
        if s.n < 2 || s.var.is_nan() {
            return Err(Error::Invalid(format!(
                "the baseline has {} users with finished sessions: need at least 2",
                s.n
            )));
        }
        let sd = s.var.sqrt();
        let users_needed = self
            .effect
            .map(|e| t_test_users(e.abs() * s.mean / sd, self.alpha, self.power).ceil());
        let users = self.users.unwrap_or(if self.experiment.is_some() {
            s.n as f64
        } else {
            s.n as f64 / 2.0
        });
        let mde = t_test_mde(users, self.alpha, self.power) * sd;
        Ok(PowerAnswer {
            users_needed,
            users,
            mde,
            mde_relative: mde / s.mean,
            baseline: s,
        })
    }
}

/// The first experiment named in the logs.
pub fn first_experiment(paths: &[PathBuf]) -> Result<String> {
    let (names, _) = botify_core::events::fold_events(
        paths,
        Vec::new,
        |v: &mut Vec<String>, e, _| {
            if v.is_empty() {
                v.extend(e.experiments.keys().cloned());
            }
        },
        |a, b| if a.is_empty() { b } else { a },
    )?;
    names.into_iter().next().ok_or_else(|| {
        Error::Invalid(
            "the baseline log carries no experiment assignments; pass --experiment".into(),
        )
    })
}
