//! Statistics: Welch's t interval (Welch–Satterthwaite degrees of freedom), Holm's step-down
//! correction, the chi-square sample-ratio-mismatch test, CUPED and two-sample power.

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

/// n, mean and sample variance (ddof = 1) of a group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub var: f64,
}

impl Summary {
    pub fn of(xs: &[f64]) -> Summary {
        let n = xs.len();
        let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
        let var = if n > 1 {
            xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            f64::NAN
        };
        Summary {
            n,
            mean: if n == 0 { f64::NAN } else { mean },
            var,
        }
    }
}

/// Welch's two-sample comparison of treatment against control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Welch {
    /// treatment mean − control mean.
    pub diff: f64,
    pub se: f64,
    pub df: f64,
    /// Bounds of the `confidence` interval of `diff`.
    pub lower: f64,
    pub upper: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Student t quantile. statrs has had inaccurate quantiles: the tests pin this against scipy.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if df.is_infinite() || df > 1e7 {
        return normal_quantile(p);
    }
    StudentsT::new(0.0, 1.0, df).map_or(f64::NAN, |t| t.inverse_cdf(p))
}

pub fn normal_quantile(p: f64) -> f64 {
    Normal::new(0.0, 1.0).map_or(f64::NAN, |n| n.inverse_cdf(p))
}

/// Welch's interval; `None` when a group has fewer than two users (no variance).
pub fn welch(control: &Summary, treatment: &Summary, confidence: f64) -> Option<Welch> {
    if control.n < 2 || treatment.n < 2 {
        return None;
    }
    let (vc, vt) = (
        control.var / control.n as f64,
        treatment.var / treatment.n as f64,
    );
    let diff = treatment.mean - control.mean;
    let se = (vc + vt).sqrt();
    if se == 0.0 {
        // Both groups constant: the difference is exact.
        let p = if diff == 0.0 { 1.0 } else { 0.0 };
        return Some(Welch {
            diff,
            se,
            df: (control.n + treatment.n - 2) as f64,
            lower: diff,
            upper: diff,
            p,
        });
    }
    let df = (vc + vt).powi(2)
        / (vc.powi(2) / (control.n - 1) as f64 + vt.powi(2) / (treatment.n - 1) as f64);
    let t = t_quantile(1.0 - (1.0 - confidence) / 2.0, df);
    let stat = diff / se;
    let p = StudentsT::new(0.0, 1.0, df).map_or(f64::NAN, |d| 2.0 * d.sf(stat.abs()));
    Some(Welch {
        diff,
        se,
        df,
        lower: diff - t * se,
        upper: diff + t * se,
        p,
    })
}

/// Holm step-down adjusted p-values, in the input order. NaN inputs stay NaN and are not counted.
pub fn holm(ps: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..ps.len()).filter(|&i| !ps[i].is_nan()).collect();
    idx.sort_by(|&a, &b| ps[a].total_cmp(&ps[b]));
    let m = idx.len();
    let mut out = vec![f64::NAN; ps.len()];
    let mut running = 0.0f64;
    for (rank, &i) in idx.iter().enumerate() {
        running = running.max(((m - rank) as f64 * ps[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Sample-ratio mismatch: chi-square of observed users per bucket against `expected` shares.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Srm {
    pub observed: Vec<u64>,
    pub expected: Vec<f64>,
    pub chi2: f64,
    pub p: f64,
    /// p below 0.001: the split is broken and the results cannot be trusted.
    pub mismatch: bool,
}

pub fn srm(observed: &[u64], shares: &[f64]) -> Srm {
    let total: u64 = observed.iter().sum();
    let share_sum: f64 = shares.iter().sum();
    let expected: Vec<f64> = shares
        .iter()
        .map(|s| s / share_sum * total as f64)
        .collect();
    let chi2: f64 = observed
        .iter()
        .zip(&expected)
        .map(|(&o, &e)| {
            if e > 0.0 {
                (o as f64 - e).powi(2) / e
            } else {
                0.0
            }
        })
        .sum();
    let df = (observed.len().max(2) - 1) as f64;
    let p = ChiSquared::new(df).map_or(f64::NAN, |c| c.sf(chi2));
    Srm {
        observed: observed.to_vec(),
        expected,
        chi2,
        p,
        mismatch: p < 0.001,
    }
}

/// CUPED: `y - theta * (x - mean(x))` with `theta = cov(x, y) / var(x)` pooled over all users.
/// Returns the adjusted values and theta.
pub fn cuped(y: &[f64], x: &[f64]) -> (Vec<f64>, f64) {
    let n = y.len().min(x.len());
    if n < 2 {
        return (y.to_vec(), 0.0);
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let cov = (0..n).map(|i| (x[i] - mx) * (y[i] - my)).sum::<f64>();
    let var = (0..n).map(|i| (x[i] - mx).powi(2)).sum::<f64>();
    let theta = if var > 0.0 { cov / var } else { 0.0 };
    ((0..n).map(|i| y[i] - theta * (x[i] - mx)).collect(), theta)
}

/// Users needed per group to detect an absolute difference `delta` with two-sided level
/// `alpha` and `power`, for a metric with standard deviation `sd` (normal approximation).
pub fn users_per_group(sd: f64, delta: f64, alpha: f64, power: f64) -> f64 {
    let z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power);
    (2.0 * (z * sd / delta).powi(2)).ceil()
}

/// Minimum detectable absolute difference with `n` users per group.
pub fn minimum_detectable_effect(sd: f64, n: f64, alpha: f64, power: f64) -> f64 {
    let z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power);
    z * sd * (2.0 / n).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn t_quantiles_match_scipy() {
        // scipy.stats.t.ppf(0.975, df)
        for (df, want) in [
            (1.0, 12.706204736174694),
            (2.0, 4.302652729749462),
            (5.0, 2.5705818356363146),
            (10.0, 2.228138851986274),
            (30.0, 2.0422724563012378),
            (100.0, 1.9839715185235518),
            (1000.0, 1.9623390808264083),
        ] {
            let got = t_quantile(0.975, df);
            assert!(close(got, want, 1e-9), "df {df}: {got} vs scipy {want}");
        }
    }

    #[test]
    fn welch_matches_scipy() {
        // scipy.stats.ttest_ind(b, a, equal_var=False) and its confidence_interval(0.95).
        let a = Summary::of(&[1.0, 2.0, 3.0, 4.0, 5.5]);
        let b = Summary::of(&[2.0, 3.5, 4.0, 6.0, 7.0, 8.0]);
        let w = welch(&a, &b, 0.95).unwrap();
        assert!(close(w.df, 8.959796583274938, 1e-12));
        assert!(close(w.diff / w.se, 1.6283046848759573, 1e-12));
        assert!(close(w.p, 0.13805294704974744, 1e-9), "{}", w.p);
        assert!(close(w.lower, -0.7739407997027024, 1e-9), "{}", w.lower);
        assert!(close(w.upper, 4.740607466369369, 1e-9), "{}", w.upper);
    }

    #[test]
    fn degenerate_groups() {
        let one = Summary::of(&[3.0]);
        let many = Summary::of(&[1.0, 2.0]);
        assert!(welch(&one, &many, 0.95).is_none());
        let c = Summary::of(&[2.0, 2.0, 2.0]);
        let t = Summary::of(&[3.0, 3.0]);
        let w = welch(&c, &t, 0.95).unwrap();
        assert_eq!((w.lower, w.upper, w.p), (1.0, 1.0, 0.0));
        let w = welch(&c, &c, 0.95).unwrap();
        assert_eq!((w.diff, w.p), (0.0, 1.0));
    }

    #[test]
    fn holm_matches_hand_computation() {
        // m = 3: sorted 0.01, 0.02, 0.04 → 0.03, 0.04, 0.04 (monotone).
        let adj = holm(&[0.04, 0.01, 0.02]);
        let want = [0.04, 0.03, 0.04];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adj:?}");
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[f64::NAN, 0.01])[0].is_nan());
    }

    #[test]
    fn srm_matches_scipy() {
        // scipy.stats.chi2.sf(3.84, 1) = 0.05004352124870519; here chi2 = (60-50)²/50·2 = 4.
        let s = srm(&[60, 40], &[1.0, 1.0]);
        assert!((s.chi2 - 4.0).abs() < 1e-12);
        assert!((s.p - 0.04550026389635857).abs() < 1e-9, "{}", s.p);
        assert!(!s.mismatch);
        assert!(srm(&[700, 300], &[1.0, 1.0]).mismatch);
    }

    #[test]
    fn cuped_removes_the_explained_variance() {
        let x: Vec<f64> = (0..100).map(|i| (i % 10) as f64).collect();
        let y: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| 2.0 * v + (i % 3) as f64 * 0.1)
            .collect();
        let (adj, theta) = cuped(&y, &x);
        assert!((theta - 2.0).abs() < 0.05);
        assert!(Summary::of(&adj).var < 0.05 * Summary::of(&y).var);
        // The mean is unchanged.
        assert!((Summary::of(&adj).mean - Summary::of(&y).mean).abs() < 1e-9);
    }

    #[test]
    fn power_formula() {
        // sd 1, delta 0.2, alpha 0.05, power 0.8: 2·(1.96+0.8416)²/0.04 = 392.4 → 393.
        assert_eq!(users_per_group(1.0, 0.2, 0.05, 0.8), 393.0);
        let mde = minimum_detectable_effect(1.0, 393.0, 0.05, 0.8);
        assert!((mde - 0.2).abs() < 0.001);
    }

    proptest! {
        #[test]
        fn interval_contains_diff_and_narrows_with_confidence(
            a in proptest::collection::vec(-100.0f64..100.0, 2..40),
            b in proptest::collection::vec(-100.0f64..100.0, 2..40),
        ) {
            let (sa, sb) = (Summary::of(&a), Summary::of(&b));
            if let (Some(w95), Some(w80)) = (welch(&sa, &sb, 0.95), welch(&sa, &sb, 0.80)) {
                prop_assert!(w95.lower <= w95.diff && w95.diff <= w95.upper);
                prop_assert!(w80.upper - w80.lower <= w95.upper - w95.lower + 1e-9);
                prop_assert!((0.0..=1.0).contains(&w95.p));
                // Significant at 95% exactly when p < 0.05.
                if w95.se > 0.0 {
                    prop_assert_eq!(w95.lower > 0.0 || w95.upper < 0.0, w95.p < 0.05);
                }
            }
        }
    }
}
