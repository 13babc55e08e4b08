//! Statistics: Welch's test (Welch–Satterthwaite degrees of freedom), the relative effect's
//! interval (delta method, or the course's), multiplicity corrections (Holm, Benjamini–Hochberg,
//! Westfall–Young maxT), the chi-square sample-ratio-mismatch test, CUPED with within-arm regression and a balance
//! check, ratio metrics by linearisation, an always-valid (mixture SPRT) interval, and t-based
//! power from the noncentral t distribution. Every function is pinned against scipy/statsmodels
//! values in the tests below.

use serde::Serialize;
use statrs::distribution::{ChiSquared, Continuous, ContinuousCDF, Normal, StudentsT};
use statrs::function::{beta::beta_reg, gamma::ln_gamma};

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

    /// A ratio metric `Σy / Σd` over a group's users (e.g. total listening time ÷ total
    /// sessions) as a summary whose `var / n` is the delta-method variance of the ratio: the
    /// users' linearised values `(y − R·d) / d̄` (Deng et al., 2018). Welch's test and the
    /// relative interval then apply unchanged.
    pub fn ratio(num: &[f64], den: &[f64]) -> Summary {
        let n = num.len().min(den.len());
        let (sy, sd) = (num[..n].iter().sum::<f64>(), den[..n].iter().sum::<f64>());
        if n == 0 || sd == 0.0 {
            return Summary {
                n,
                mean: f64::NAN,
                var: f64::NAN,
            };
        }
        let r = sy / sd;
        let dbar = sd / n as f64;
        let lin: Vec<f64> = (0..n).map(|i| (num[i] - r * den[i]) / dbar).collect();
        Summary {
            n,
            mean: r,
            var: Summary::of(&lin).var,
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

/// Student t quantile, correct to ~1e-12 relative for any df > 0. statrs' own inverse loses
/// accuracy from df ≈ 5·10⁵, so: below 10⁵ its answer is polished by Newton steps on
/// [`t_sf`]; above, the Cornish–Fisher expansion in 1/df (Abramowitz & Stegun 26.7.5), whose first
/// omitted term is below 1e-20 there.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p.is_nan() || df.is_nan() || df <= 0.0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 || p == 1.0 {
        return if p == 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    if p == 0.5 {
        return 0.0;
    }
    let z = normal_quantile(p);
    if df >= 1e5 {
        return cornish_fisher(z, df);
    }
    let Ok(t) = StudentsT::new(0.0, 1.0, df) else {
        return f64::NAN;
    };
    // Solve sf(x) = q on the upper half (no cancellation near p = 1), then restore the sign.
    let q = p.min(1.0 - p);
    let mut x = t.inverse_cdf(1.0 - q).abs();
    if !x.is_finite() || x == 0.0 {
        x = cornish_fisher(z.abs(), df);
    }
    for _ in 0..50 {
        let step = (t_sf(x, df) - q) / t.pdf(x);
        if !step.is_finite() {
            break;
        }
        x += step;
        if step.abs() <= 1e-15 * x.abs() {
            break;
        }
    }
    if p < 0.5 { -x } else { x }
}

fn cornish_fisher(z: f64, df: f64) -> f64 {
    let z2 = z * z;
    let g1 = z * (z2 + 1.0) / 4.0;
    let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
    let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
    let g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;
    z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df
}

pub fn normal_quantile(p: f64) -> f64 {
    Normal::new(0.0, 1.0).map_or(f64::NAN, |n| n.inverse_cdf(p))
}

/// Upper tail of Student's t, correct to ~1e-12 relative. Below df = 10⁵ through the regularised
/// incomplete beta function, in the form that keeps precision on each side of |x| = 1 (statrs'
/// own tail loses 1e-8 near x = 0 at large df); from df = 10⁵ the Cornish–Fisher expansion is
/// inverted instead: the z whose quantile is `x`, then the normal tail of z.
pub fn t_sf(x: f64, df: f64) -> f64 {
    if x.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df < 1e5 {
        let x2 = x * x;
        let upper = if x2 < 1.0 {
            // The tail is above 0.16 here: subtracting the small central mass loses nothing.
            0.5 - 0.5 * beta_reg(0.5, df / 2.0, x2 / (df + x2))
        } else {
            0.5 * beta_reg(df / 2.0, 0.5, df / (df + x2))
        };
        return if x >= 0.0 { upper } else { 1.0 - upper };
    }
    let mut z = x;
    for _ in 0..50 {
        let step = (cornish_fisher(z, df) - x) / (1.0 + (3.0 * z * z + 1.0) / (4.0 * df));
        z -= step;
        if step.abs() <= 1e-16 * z.abs().max(1.0) {
            break;
        }
    }
    Normal::new(0.0, 1.0).map_or(f64::NAN, |n| n.sf(z))
}

fn welch_df(control: &Summary, treatment: &Summary) -> f64 {
    let (vc, vt) = (
        control.var / control.n as f64,
        treatment.var / treatment.n as f64,
    );
    (vc + vt).powi(2)
        / (vc.powi(2) / (control.n - 1) as f64 + vt.powi(2) / (treatment.n - 1) as f64)
}

/// Welch's interval; `None` when a group has fewer than two users (no variance).
pub fn welch(control: &Summary, treatment: &Summary, confidence: f64) -> Option<Welch> {
    if control.n < 2 || treatment.n < 2 || control.var.is_nan() || treatment.var.is_nan() {
        return None;
    }
    let diff = treatment.mean - control.mean;
    let se = (control.var / control.n as f64 + treatment.var / treatment.n as f64).sqrt();
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
    let df = welch_df(control, treatment);
    let t = t_quantile(1.0 - (1.0 - confidence) / 2.0, df);
    let p = 2.0 * t_sf((diff / se).abs(), df);
    Some(Welch {
        diff,
        se,
        df,
        lower: diff - t * se,
        upper: diff + t * se,
        p,
    })
}

botify_core::choices! {
    /// How the interval of the relative effect (in % of control) is computed.
    #[derive(Default)]
    pub enum IntervalMethod {
        /// The delta-method interval of `x̄_T / x̄_C − 1`: the control mean's own noise counts.
        #[default]
        Delta = "delta",
        /// The course notebook's `(Δ ± t·se) / x̄_C`: the control mean taken as a constant
        /// (too narrow for gains; kept to compare numbers with the course).
        Course = "course",
    }
}

impl IntervalMethod {
    pub fn describe(self) -> &'static str {
        match self {
            IntervalMethod::Delta => "delta-method interval of the ratio of means",
            IntervalMethod::Course => {
                "course interval (Welch interval of the difference ÷ control mean)"
            }
        }
    }
}

/// A relative effect `x̄_T / x̄_C − 1` (a fraction, not %) with its interval and standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Relative {
    pub effect: f64,
    pub lower: f64,
    pub upper: f64,
    /// The standard error the interval used (of the ratio for `Delta`, of Δ / x̄_C for `Course`).
    pub se: f64,
    pub df: f64,
}

/// The relative effect's interval; `None` without a Welch comparison or with a zero control mean.
pub fn relative(
    control: &Summary,
    treatment: &Summary,
    confidence: f64,
    method: IntervalMethod,
) -> Option<Relative> {
    let w = welch(control, treatment, confidence)?;
    relative_of(control, treatment, &w, confidence, method)
}

/// [`relative`] from the groups' Welch comparison `w`, already computed.
pub fn relative_of(
    control: &Summary,
    treatment: &Summary,
    w: &Welch,
    confidence: f64,
    method: IntervalMethod,
) -> Option<Relative> {
    let c = control.mean;
    if c == 0.0 || !c.is_finite() {
        return None;
    }
    let effect = w.diff / c;
    let t = t_quantile(1.0 - (1.0 - confidence) / 2.0, w.df);
    let se = match method {
        IntervalMethod::Course => w.se / c.abs(),
        IntervalMethod::Delta => (treatment.var / (treatment.n as f64 * c * c)
            + treatment.mean.powi(2) * control.var / (control.n as f64 * c.powi(4)))
        .sqrt(),
    };
    Some(Relative {
        effect,
        lower: effect - t * se,
        upper: effect + t * se,
        se,
        df: w.df,
    })
}

/// The always-valid interval of a mixture sequential probability ratio test (Johari et al.,
/// "Always valid inference", 2017) around an estimate with standard error `se`, for a normal
/// mixing distribution of scale `tau` (in the estimate's units). It may be looked at after every
/// user: the chance that it ever excludes the truth is at most `1 − confidence`. Returns
/// (lower, upper, always-valid p-value of 0).
pub fn msprt(estimate: f64, se: f64, tau: f64, confidence: f64) -> (f64, f64, f64) {
    let v = se * se;
    let t2 = tau * tau;
    if !(v > 0.0 && t2 > 0.0) {
        return (estimate, estimate, if estimate == 0.0 { 1.0 } else { 0.0 });
    }
    let alpha = 1.0 - confidence;
    let half = (v * (v + t2) / t2 * (2.0 * (1.0 / alpha).ln() + ((v + t2) / v).ln())).sqrt();
    // Λ(0) = sqrt(V/(V+τ²)) · exp(τ²·x² / (2V(V+τ²))); the p-value is 1/Λ(0), capped at 1.
    let log_lambda = 0.5 * (v / (v + t2)).ln() + t2 * estimate * estimate / (2.0 * v * (v + t2));
    let p = (-log_lambda).exp().min(1.0);
    (estimate - half, estimate + half, p)
}

botify_core::choices! {
    /// A multiplicity correction over a family of p-values.
    #[derive(Default)]
    pub enum Correction {
        /// Westfall–Young step-down maxT with the statistics' own correlation: family-wise error
        /// rate, without Holm's loss of power when metrics move together.
        #[default]
        Maxt = "maxt",
        /// Holm's step-down: family-wise error rate under any dependence (conservative when the
        /// statistics are correlated).
        Holm = "holm",
        /// Benjamini–Hochberg step-up: false discovery rate.
        Bh = "bh",
        None = "none",
    }
}

impl Correction {
    /// Adjusted p-values; `corr` is the correlation matrix of the statistics behind `ps`, which
    /// only maxT uses (without it, maxT treats them as independent).
    pub fn adjust(self, ps: &[f64], corr: Option<&[Vec<f64>]>) -> Vec<f64> {
        match self {
            Correction::Maxt => match corr {
                Some(c) => maxt(ps, c),
                None => {
                    let identity: Vec<Vec<f64>> = (0..ps.len())
                        .map(|i| (0..ps.len()).map(|j| f64::from(u8::from(i == j))).collect())
                        .collect();
                    maxt(ps, &identity)
                }
            },
            Correction::Holm => holm(ps),
            Correction::Bh => benjamini_hochberg(ps),
            Correction::None => ps.to_vec(),
        }
    }
}

/// Indices of the non-NaN p-values, smallest p first.
fn ranked(ps: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..ps.len()).filter(|&i| !ps[i].is_nan()).collect();
    idx.sort_by(|&a, &b| ps[a].total_cmp(&ps[b]));
    idx
}

/// Holm step-down adjusted p-values, in the input order. NaN inputs stay NaN and are not counted.
pub fn holm(ps: &[f64]) -> Vec<f64> {
    let idx = ranked(ps);
    let m = idx.len();
    let mut out = vec![f64::NAN; ps.len()];
    let mut running = 0.0f64;
    for (rank, &i) in idx.iter().enumerate() {
        running = running.max(((m - rank) as f64 * ps[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Benjamini–Hochberg step-up adjusted p-values (statsmodels' `fdr_bh`), in the input order.
pub fn benjamini_hochberg(ps: &[f64]) -> Vec<f64> {
    let idx = ranked(ps);
    let m = idx.len();
    let mut out = vec![f64::NAN; ps.len()];
    let mut running = 1.0f64;
    for (rank, &i) in idx.iter().enumerate().rev() {
        running = running.min(ps[i] * m as f64 / (rank + 1) as f64).min(1.0);
        out[i] = running;
    }
    out
}

/// Draws of the multivariate normal behind [`maxt`]: enough for a p-value near 0.05 to carry a
/// Monte Carlo error of about 0.001; a fixed seed makes the adjustment reproducible.
const MAXT_DRAWS: usize = 50_000;

/// Westfall–Young step-down maxT adjusted p-values (Westfall & Young 1993, alg. 2.8; the
/// single-step form is R multcomp's default), with the null distribution of the maximum taken
/// from a multivariate normal with the statistics' correlation `corr`, simulated. Two-sided
/// p-values are mapped to |z| first, so Welch t statistics of any df enter on one scale.
/// NaN p-values stay NaN and are left out of the family.
pub fn maxt(ps: &[f64], corr: &[Vec<f64>]) -> Vec<f64> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let idx = ranked(ps);
    let k = idx.len();
    let mut out = vec![f64::NAN; ps.len()];
    if k == 0 {
        return out;
    }
    // |z| of each statistic, in rank order (largest first).
    let z: Vec<f64> = idx
        .iter()
        .map(|&i| normal_quantile(1.0 - ps[i] / 2.0).abs())
        .collect();
    let sub: Vec<Vec<f64>> = idx
        .iter()
        .map(|&i| idx.iter().map(|&j| corr[i][j]).collect())
        .collect();
    let l = cholesky(&sub);
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(0x6d61_7874);
    let mut hits = vec![0u64; k];
    let (mut e, mut draw) = (vec![0.0; k], vec![0.0; k]);
    for _ in 0..MAXT_DRAWS {
        for v in e.iter_mut() {
            *v = StandardNormal.sample(&mut rng);
        }
        for (r, d) in draw.iter_mut().enumerate() {
            *d = l[r][..=r]
                .iter()
                .zip(&e)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                .abs();
        }
        // Step-down: statistic r is compared with the maximum over itself and the smaller ones.
        let mut suffix_max = 0.0f64;
        for r in (0..k).rev() {
            suffix_max = suffix_max.max(draw[r]);
            if suffix_max >= z[r] {
                hits[r] += 1;
            }
        }
    }
    let mut running = 0.0f64;
    for (r, &i) in idx.iter().enumerate() {
        // Where the draws are too few to resolve a tiny p (under 100 hits, a relative error over
        // 10%), Holm's step-down bound (k − r)·p stands in: valid, and far below any level that
        // matters. Never below the raw p-value.
        let p = if hits[r] < 100 {
            ((k - r) as f64 * ps[i]).min(1.0)
        } else {
            hits[r] as f64 / MAXT_DRAWS as f64
        }
        .max(ps[i]);
        running = running.max(p).min(1.0);
        out[i] = running;
    }
    out
}

/// Lower-triangular L with L·Lᵀ = `a` for a correlation matrix; a singular direction (two
/// statistics that always move together) gets a zero column instead of failing.
fn cholesky(a: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = a.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i][k] * l[j][k]).sum();
            if i == j {
                l[i][i] = (a[i][i] - s).max(0.0).sqrt();
            } else if l[j][j] > 1e-12 {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    l
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

/// CUPED over several arms: `y − θ·(x − x̄)`, with θ the within-arm regression slope (pooled
/// over arms, so a treatment shift of `y` does not leak into it) and x̄ the mean over all arms.
#[derive(Debug, Clone, PartialEq)]
pub struct Cuped {
    /// The adjusted values, arm by arm.
    pub adjusted: Vec<Vec<f64>>,
    pub theta: f64,
    /// 1 − within-arm variance of the adjusted values ÷ within-arm variance of the raw ones.
    pub variance_reduction: f64,
}

pub fn cuped(arms: &[(&[f64], &[f64])]) -> Cuped {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    let (mut xsum, mut count) = (0.0, 0usize);
    for &(y, x) in arms {
        let (my, mx) = (mean(y), mean(x));
        for (a, b) in y.iter().zip(x) {
            sxy += (b - mx) * (a - my);
            sxx += (b - mx).powi(2);
            syy += (a - my).powi(2);
        }
        xsum += x.iter().sum::<f64>();
        count += x.len();
    }
    let theta = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let xbar = xsum / count.max(1) as f64;
    let adjusted = arms
        .iter()
        .map(|&(y, x)| {
            y.iter()
                .zip(x)
                .map(|(a, b)| a - theta * (b - xbar))
                .collect()
        })
        .collect();
    // Within-arm SS after adjustment = Syy − θ·Sxy.
    let variance_reduction = if syy > 0.0 { theta * sxy / syy } else { 0.0 };
    Cuped {
        adjusted,
        theta,
        variance_reduction,
    }
}

/// The noncentral t distribution's CDF (series of Lenth, Applied Statistics AS 243, with
/// regularised incomplete beta functions), for the power of t tests.
pub fn nct_cdf(t: f64, df: f64, nc: f64) -> f64 {
    if t < 0.0 {
        return 1.0 - nct_cdf(-t, df, -nc);
    }
    let phi = Normal::new(0.0, 1.0).map_or(f64::NAN, |n| n.cdf(-nc));
    if t == 0.0 {
        return phi;
    }
    let x = t * t / (t * t + df);
    let lambda = nc * nc / 2.0;
    let mut sum = 0.0;
    if lambda == 0.0 {
        sum = beta_reg(0.5, df / 2.0, x);
    } else {
        let (ll, ln_nc) = (lambda.ln(), nc.abs().ln());
        let sign = nc.signum();
        // Poisson weights peak at j ≈ λ: sum far enough past it that the rest is below 1e-17.
        let last = (lambda + 12.0 * lambda.sqrt() + 40.0) as usize;
        for j in 0..=last {
            let jf = j as f64;
            let base = -lambda + jf * ll;
            let p = (base - ln_gamma(jf + 1.0)).exp();
            let q = sign * (base + ln_nc - 0.5 * std::f64::consts::LN_2 - ln_gamma(jf + 1.5)).exp();
            sum += p * beta_reg(jf + 0.5, df / 2.0, x) + q * beta_reg(jf + 1.0, df / 2.0, x);
        }
    }
    (phi + sum / 2.0).clamp(0.0, 1.0)
}

/// Power of the two-sided two-sample t test with `n` users per group for a standardised effect
/// `d` (statsmodels' `TTestIndPower().power(d, n, alpha)`).
pub fn t_test_power(d: f64, n: f64, alpha: f64) -> f64 {
    let df = 2.0 * n - 2.0;
    if df <= 0.0 {
        return f64::NAN;
    }
    let nc = d.abs() * (n / 2.0).sqrt();
    let crit = t_quantile(1.0 - alpha / 2.0, df);
    if nc - crit > 38.0 {
        return 1.0;
    }
    (1.0 - nct_cdf(crit, df, nc)) + nct_cdf(-crit, df, nc)
}

/// Users per group (a real number, as statsmodels' `solve_power`; round up to use it) for the
/// two-sided t test to detect a standardised effect `d` with `power` at level `alpha`.
pub fn t_test_users(d: f64, alpha: f64, power: f64) -> f64 {
    if !(d.is_finite() && d != 0.0) {
        return f64::NAN;
    }
    let z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power);
    // df = 2n − 2 must be positive; power grows with n.
    bisect_up(1.0 + 1e-9, 4.0 * (z / d).powi(2) + 10.0, |n| {
        t_test_power(d, n, alpha) >= power
    })
}

/// The smallest standardised effect the t test detects with `power` and `n` users per group.
pub fn t_test_mde(n: f64, alpha: f64, power: f64) -> f64 {
    bisect_up(0.0, 1.0, |d| t_test_power(d, n, alpha) >= power)
}

/// The point where a monotone `reached` turns true, above `lo`: `hi` is doubled until it is
/// reached (NaN if never, up to 10¹²), then bisected to a relative 1e-12.
fn bisect_up(mut lo: f64, mut hi: f64, reached: impl Fn(f64) -> bool) -> f64 {
    while !reached(hi) {
        lo = hi;
        hi *= 2.0;
        if hi > 1e12 {
            return f64::NAN;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1e-300)
    }

    /// scipy 1.17.1 `stats.t.ppf(p, df)`, df from 1 to 10¹².
    const T_PPF: &[(f64, f64, f64)] = &[
        (1.0, 0.975, 12.706204736174694),
        (1.0, 0.995, 63.656741162871526),
        (1.0, 0.9, 3.0776835371752544),
        (1.0, 0.025, -12.706204736174705),
        (1.0, 0.6, 0.32491969623290634),
        (2.0, 0.975, 4.302652729749462),
        (2.0, 0.995, 9.924843200918287),
        (2.0, 0.9, 1.8856180831641272),
        (2.0, 0.025, -4.302652729749464),
        (2.0, 0.6, 0.2886751345948128),
        (3.0, 0.975, 3.1824463052837078),
        (3.0, 0.995, 5.840909309733355),
        (3.0, 0.9, 1.637744353696209),
        (3.0, 0.025, -3.1824463052837086),
        (3.0, 0.6, 0.2766706623326898),
        (5.0, 0.975, 2.5705818356363146),
        (5.0, 0.995, 4.032142983555228),
        (5.0, 0.9, 1.4758840488244815),
        (5.0, 0.025, -2.5705818356363155),
        (5.0, 0.6, 0.2671808657041451),
        (10.0, 0.975, 2.228138851986274),
        (10.0, 0.995, 3.16927267261695),
        (10.0, 0.9, 1.372183641110336),
        (10.0, 0.025, -2.2281388519862753),
        (10.0, 0.6, 0.2601848294920803),
        (30.0, 0.975, 2.0422724563012378),
        (30.0, 0.995, 2.7499956535672254),
        (30.0, 0.9, 1.3104150253913955),
        (30.0, 0.025, -2.042272456301238),
        (30.0, 0.6, 0.2556053649519128),
        (100.0, 0.975, 1.9839715185235518),
        (100.0, 0.995, 2.6258905214380173),
        (100.0, 0.9, 1.290074761346516),
        (100.0, 0.025, -1.983971518523552),
        (100.0, 0.6, 0.25402218245822766),
        (1000.0, 0.975, 1.9623390808264083),
        (1000.0, 0.995, 2.580754698065951),
        (1000.0, 0.9, 1.2823987214609247),
        (1000.0, 0.025, -1.9623390808264085),
        (1000.0, 0.6, 0.25341451583949876),
        (10000.0, 0.975, 1.960201239890626),
        (10000.0, 0.995, 2.5763210466685282),
        (10000.0, 0.9, 1.2816362297304775),
        (10000.0, 0.025, -1.9602012398906263),
        (10000.0, 0.6, 0.253353843445727),
        (100000.0, 0.975, 1.9599877075346095),
        (100000.0, 0.995, 2.575878469908375),
        (100000.0, 0.9, 1.2815600314493614),
        (100000.0, 0.025, -1.95998770753461),
        (100000.0, 0.6, 0.25334777715718015),
        (500000.0, 0.975, 1.9599687290938044),
        (500000.0, 0.995, 2.575839136679437),
        (500000.0, 0.9, 1.2815532587164185),
        (500000.0, 0.025, -1.9599687290938048),
        (500000.0, 0.6, 0.25334723793990505),
        (1000000.0, 0.975, 1.959966356814107),
        (1000000.0, 0.995, 2.5758342201053344),
        (1000000.0, 0.9, 1.281552412129939),
        (1000000.0, 0.025, -1.9599663568141072),
        (1000000.0, 0.6, 0.25334717053784184),
        (4950000.0, 0.975, 1.9599644637868827),
        (4950000.0, 0.995, 2.5758302967912003),
        (4950000.0, 0.9, 1.2815517365718498),
        (4950000.0, 0.025, -1.9599644637868825),
        (4950000.0, 0.6, 0.25334711675237215),
        (10000000.0, 0.975, 1.959964221767205),
        (10000000.0, 0.995, 2.5758297952037488),
        (10000000.0, 0.9, 1.2815516502030833),
        (10000000.0, 0.025, -1.9599642217672055),
        (10000000.0, 0.6, 0.25334710987600284),
        (100000000.0, 0.975, 1.9599640082627663),
        (100000000.0, 0.995, 2.5758293527143774),
        (100000000.0, 0.9, 1.2815515740104482),
        (100000000.0, 0.025, -1.9599640082627667),
        (100000000.0, 0.6, 0.2533471038098203),
        (1000000000.0, 0.975, 1.959963986912325),
        (1000000000.0, 0.995, 2.5758293084654484),
        (1000000000.0, 0.9, 1.2815515663911852),
        (1000000000.0, 0.025, -1.9599639869123253),
        (1000000000.0, 0.6, 0.25334710320320153),
        (10000000000.0, 0.975, 1.959963984777281),
        (10000000000.0, 0.995, 2.5758293040405555),
        (10000000000.0, 0.9, 1.281551565629259),
        (10000000000.0, 0.025, -1.9599639847772812),
        (10000000000.0, 0.6, 0.25334710314254),
        (1000000000000.0, 0.975, 1.9599639845424262),
        (1000000000000.0, 0.995, 2.575829303553817),
        (1000000000000.0, 0.9, 1.2815515655454472),
        (1000000000000.0, 0.025, -1.9599639845424264),
        (1000000000000.0, 0.6, 0.253347103135867),
    ];

    #[test]
    fn t_quantiles_match_scipy_from_df_1_to_1e12() {
        for &(df, p, want) in T_PPF {
            let got = t_quantile(p, df);
            assert!(
                close(got, want, 1e-9),
                "df {df} p {p}: {got} vs scipy {want}"
            );
        }
        assert_eq!(t_quantile(0.5, 7.0), 0.0);
        assert!(t_quantile(1.2, 7.0).is_nan() && t_quantile(0.9, 0.0).is_nan());
    }

    /// scipy `stats.t.sf(x, df)`.
    const T_SF: &[(f64, f64, f64)] = &[
        (29484.97, 0.0001, 0.49996010611028396),
        (29484.97, 0.3, 0.38208963524174),
        (29484.97, 1.0, 0.15865935718597723),
        (29484.97, 30.0, 4.175133197216998e-195),
        (99999.0, 0.0001, 0.4999601058717628),
        (99999.0, 0.3, 0.3820888895982868),
        (99999.0, 1.0, 0.1586564637941535),
        (99999.0, 30.0, 3.6893424222172154e-197),
        (7.0, 0.0001, 0.49996150085499014),
        (7.0, 0.3, 0.3864450252010671),
        (7.0, 1.0, 0.1753083314101037),
        (7.0, 30.0, 5.894234440366572e-09),
        (3.0, 0.5, 0.3257239824240755),
        (3.0, 1.96, 0.07242610428242682),
        (3.0, 4.0, 0.014004228005073076),
        (50.0, 0.5, 0.3096342837558857),
        (50.0, 1.96, 0.027790437027578194),
        (50.0, 4.0, 0.00010459512318201668),
        (10000.0, 0.5, 0.30854303966161684),
        (10000.0, 1.96, 0.025011760115916513),
        (10000.0, 4.0, 3.189933441156984e-05),
        (1000000.0, 0.5, 0.3085375937361857),
        (1000000.0, 1.96, 0.024998033792634926),
        (1000000.0, 4.0, 3.167351700502405e-05),
        (1000000000.0, 0.5, 0.30853753878099716),
        (1000000000.0, 1.96, 0.024997895286864812),
        (1000000000.0, 4.0, 3.1671244108233914e-05),
    ];

    #[test]
    fn t_tails_match_scipy() {
        for &(df, x, want) in T_SF {
            let got = t_sf(x, df);
            assert!(
                close(got, want, 1e-9),
                "df {df} x {x}: {got} vs scipy {want}"
            );
        }
    }

    /// scipy `stats.nct.cdf(x, df, nc)`: (df, x, nc, cdf).
    const NCT: &[(f64, f64, f64, f64)] = &[
        (10.0, 2.0, 1.5, 0.6591540724421909),
        (38.0, 2.02, 2.8, 0.2197638500105783),
        (100.0, -1.98, 0.5, 0.007115756048579165),
        (5.0, 1.0, -1.0, 0.9691926467392498),
        (200.0, 1.97, 4.0, 0.021554092150869057),
        (3.0, 0.2, 0.0, 0.5728648353768605),
    ];

    #[test]
    fn noncentral_t_matches_scipy() {
        for &(df, x, nc, want) in NCT {
            let got = nct_cdf(x, df, nc);
            assert!(
                close(got, want, 1e-9),
                "df {df} x {x} nc {nc}: {got} vs scipy {want}"
            );
        }
    }

    /// statsmodels 0.15 `TTestIndPower().solve_power(effect_size=d, alpha=0.05, power=…)`.
    const SOLVE_POWER: &[(f64, f64, f64)] = &[
        (0.2, 0.8, 393.4056930002526),
        (0.2, 0.9, 526.3331885760532),
        (0.5, 0.8, 63.76561058891169),
        (0.5, 0.9, 85.0312841157341),
        (1.0, 0.8, 16.714722446954024),
        (1.0, 0.9, 22.021088441446192),
        (2.5, 0.8, 3.7618131422306145),
        (2.5, 0.9, 4.574783692763566),
    ];
    /// statsmodels `TTestIndPower().power(effect_size=d, nobs1=n, alpha=0.05)`.
    const POWER_AT: &[(f64, f64, f64)] = &[
        (0.2, 50.0, 0.16767548649609343),
        (0.5, 64.0, 0.8014595579222542),
        (1.0, 10.0, 0.5620066465861491),
    ];

    #[test]
    fn t_test_power_matches_statsmodels() {
        for &(d, power, want) in SOLVE_POWER {
            let got = t_test_users(d, 0.05, power);
            assert!(
                close(got, want, 1e-6),
                "d {d} power {power}: {got} vs {want}"
            );
            let mde = t_test_mde(want, 0.05, power);
            assert!(close(mde, d, 1e-6), "mde at n {want}: {mde} vs {d}");
        }
        for &(d, n, want) in POWER_AT {
            let got = t_test_power(d, n, 0.05);
            assert!(close(got, want, 1e-9), "d {d} n {n}: {got} vs {want}");
        }
    }

    #[test]
    fn corrections_match_statsmodels_multipletests() {
        let ps = [0.01, 0.04, 0.03, 0.005, 0.2, 0.049];
        let holm_want = [0.05, 0.12, 0.12, 0.03, 0.2, 0.12];
        let bh_want = [0.03, 0.0588, 0.0588, 0.03, 0.2, 0.0588];
        for (got, want) in [(holm(&ps), holm_want), (benjamini_hochberg(&ps), bh_want)] {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
            }
        }
        assert_eq!(holm(&[0.9, 0.8]), vec![1.0, 1.0]);
        assert!(holm(&[f64::NAN, 0.01])[0].is_nan());
        assert!(benjamini_hochberg(&[f64::NAN, 0.01])[0].is_nan());
        assert_eq!(Correction::None.adjust(&[0.3], None), vec![0.3]);
    }

    #[test]
    fn maxt_between_holm_sidak_for_independent_and_raw_for_identical_statistics() {
        let ps = [0.01, 0.04, 0.2];
        // Independent: the step-down Šidák values 1 − (1 − p)^(m − rank), to Monte Carlo error.
        let got = Correction::Maxt.adjust(&ps, None);
        let sidak = [1.0 - 0.99f64.powi(3), 1.0 - 0.96f64.powi(2), 0.2];
        for (g, w) in got.iter().zip(sidak) {
            assert!((g - w).abs() < 0.004, "{got:?} vs {sidak:?}");
        }
        // Perfectly correlated: one test, whatever the count.
        let ones = vec![vec![1.0; 3]; 3];
        let same = maxt(&[0.02, 0.02, 0.02], &ones);
        assert!(same.iter().all(|p| (p - 0.02).abs() < 0.003), "{same:?}");
        // Never below the raw p, monotone in the raw p, NaN kept out.
        let corr = vec![
            vec![1.0, 0.6, 0.0],
            vec![0.6, 1.0, 0.3],
            vec![0.0, 0.3, 1.0],
        ];
        let adj = maxt(&[0.03, f64::NAN, 0.001], &corr);
        assert!(adj[1].is_nan() && adj[0] >= 0.03 && adj[2] >= 0.001 && adj[2] <= adj[0]);
        // Reproducible.
        assert_eq!(maxt(&ps, &ones), maxt(&ps, &ones));
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
        // The course notebook's relative interval: scipy's bounds over the control mean (3.1).
        let course = relative(&a, &b, 0.95, IntervalMethod::Course).unwrap();
        assert!(close(course.lower, -0.7739407997027024 / 3.1, 1e-9));
        assert!(close(course.upper, 4.740607466369369 / 3.1, 1e-9));
    }

    #[test]
    fn the_interval_agrees_with_the_p_value_at_millions_of_users() {
        // 4.95M users per arm: the half-width is 1.96·se, and significance at 95% is p < 0.05.
        let c = Summary {
            n: 4_950_000,
            mean: 10.0,
            var: 25.0,
        };
        let t = Summary {
            n: 4_950_000,
            mean: 10.006,
            var: 25.0,
        };
        let w = welch(&c, &t, 0.95).unwrap();
        // df ≈ 9.9·10⁶: scipy's t.ppf(0.975) is 1.95996446… at 4.95·10⁶ and 1.95996422… at 10⁷.
        let half = (w.upper - w.diff) / w.se;
        assert!((1.9599642..1.9599645).contains(&half), "{half}");
        assert_eq!(w.lower > 0.0, w.p < 0.05);
    }

    #[test]
    fn relative_intervals() {
        let c = Summary {
            n: 400,
            mean: 10.0,
            var: 16.0,
        };
        let t = Summary {
            n: 500,
            mean: 12.0,
            var: 36.0,
        };
        let course = relative(&c, &t, 0.95, IntervalMethod::Course).unwrap();
        let w = welch(&c, &t, 0.95).unwrap();
        // The course's interval is Welch's divided by the control mean.
        assert!(
            close(course.lower, w.lower / 10.0, 1e-12)
                && close(course.upper, w.upper / 10.0, 1e-12)
        );
        let delta = relative(&c, &t, 0.95, IntervalMethod::Delta).unwrap();
        // se_r² = s_T²/(n_T·x̄_C²) + x̄_T²·s_C²/(n_C·x̄_C⁴) = 36/50000 + 144·16/4e6.
        let se = (36.0 / 50_000.0 + 144.0 * 16.0 / 4.0e6f64).sqrt();
        assert!(close(delta.se, se, 1e-12));
        assert!(close(delta.effect, 0.2, 1e-12));
        assert!(close(
            delta.upper - delta.effect,
            t_quantile(0.975, w.df) * se,
            1e-12
        ));
        // For a gain the delta interval is wider than the course's.
        assert!(delta.upper - delta.lower > course.upper - course.lower);
        let zero = Summary {
            n: 10,
            mean: 0.0,
            var: 1.0,
        };
        assert!(relative(&zero, &t, 0.95, IntervalMethod::Delta).is_none());
    }

    #[test]
    fn ratio_summary_is_the_delta_method_variance_of_the_ratio() {
        let y = [10.0, 4.0, 7.0, 0.0, 12.0];
        let d = [2.0, 1.0, 2.0, 1.0, 3.0];
        let s = Summary::ratio(&y, &d);
        assert!(close(s.mean, 33.0 / 9.0, 1e-12));
        // Var(R) ≈ (s_y² − 2R·s_yd + R²·s_d²) / (n·d̄²).
        let (sy, sd) = (Summary::of(&y), Summary::of(&d));
        let cov = y
            .iter()
            .zip(&d)
            .map(|(a, b)| (a - sy.mean) * (b - sd.mean))
            .sum::<f64>()
            / 4.0;
        let r = s.mean;
        let want = (sy.var - 2.0 * r * cov + r * r * sd.var) / (5.0 * sd.mean * sd.mean);
        assert!(close(s.var / 5.0, want, 1e-12), "{} vs {want}", s.var / 5.0);
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
    fn srm_matches_scipy() {
        // chi2 = (60-50)²/50·2 = 4; scipy.stats.chi2.sf(4, 1) = 0.04550026389635857.
        let s = srm(&[60, 40], &[1.0, 1.0]);
        assert!((s.chi2 - 4.0).abs() < 1e-12);
        assert!((s.p - 0.04550026389635857).abs() < 1e-9, "{}", s.p);
        assert!(!s.mismatch);
        assert!(srm(&[700, 300], &[1.0, 1.0]).mismatch);
        // An empty third bucket is a mismatch only when the third bucket is counted.
        assert!(!srm(&[680, 630], &[1.0, 1.0]).mismatch);
        assert!(srm(&[680, 630, 0], &[1.0, 1.0, 1.0]).mismatch);
    }

    #[test]
    fn cuped_uses_the_within_arm_slope() {
        // y = 2x + noise in each arm, and the treatment adds 5 to y and nothing to x.
        let x: Vec<f64> = (0..200).map(|i| (i % 10) as f64).collect();
        let noise = |i: usize| ((i * 7919) % 13) as f64 * 0.05;
        let yc: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| 2.0 * v + noise(i))
            .collect();
        let yt: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| 2.0 * v + 5.0 + noise(i + 1))
            .collect();
        let c = cuped(&[(&yc, &x), (&yt, &x)]);
        assert!((c.theta - 2.0).abs() < 0.02, "{}", c.theta);
        assert!(c.variance_reduction > 0.95, "{}", c.variance_reduction);
        let (ac, at) = (Summary::of(&c.adjusted[0]), Summary::of(&c.adjusted[1]));
        // Same covariate in both arms: the adjustment keeps the difference of means.
        assert!(
            ((at.mean - ac.mean) - (Summary::of(&yt).mean - Summary::of(&yc).mean)).abs() < 1e-9
        );
        assert!(ac.var < 0.05 * Summary::of(&yc).var);
    }

    #[test]
    fn msprt_interval_is_wider_than_the_fixed_one_and_shrinks_with_data() {
        let (lo, hi, p) = msprt(0.1, 0.02, 0.1, 0.95);
        assert!(hi - 0.1 > 1.96 * 0.02 && (hi - 0.1 - (0.1 - lo)).abs() < 1e-12);
        assert!(p < 0.05 && lo > 0.0);
        let (lo2, hi2, _) = msprt(0.1, 0.01, 0.1, 0.95);
        assert!(hi2 - lo2 < hi - lo);
        let (_, _, p0) = msprt(0.0, 0.02, 0.1, 0.95);
        assert_eq!(p0, 1.0);
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

        #[test]
        fn quantile_inverts_the_tail(p in 0.001f64..0.999, df in 1.0f64..1e6) {
            let x = t_quantile(p, df);
            prop_assert!((t_sf(x, df) - (1.0 - p)).abs() < 1e-10);
        }
    }
}
