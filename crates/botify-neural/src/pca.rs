//! Principal component analysis of a sparse matrix by randomised SVD (Halko, Martinsson and
//! Tropp, 2011). The centred matrix is never formed — a product with it is a product with the
//! sparse rows minus a rank-one mean term — so 50,000 tracks × 6,000 mostly one-hot metadata
//! columns compress in about a second. DIFM uses it for track metadata, as the homework did.

use botify_core::rng::stream;
use rand::Rng;
use rayon::prelude::*;

/// Rows of a sparse matrix (compressed sparse rows).
#[derive(Debug, Clone)]
pub struct SparseRows {
    pub cols: usize,
    starts: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl SparseRows {
    pub fn new(cols: usize) -> SparseRows {
        SparseRows {
            cols,
            starts: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Appends a row of (column, value) entries; columns must be below `cols`.
    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (u32, f32)>) {
        for (c, v) in entries {
            debug_assert!((c as usize) < self.cols);
            self.indices.push(c);
            self.values.push(v);
        }
        self.starts.push(self.indices.len());
    }

    pub fn rows(&self) -> usize {
        self.starts.len() - 1
    }

    /// Row `i`'s (column, value) entries.
    pub fn row(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let span = self.starts[i]..self.starts[i + 1];
        self.indices[span.clone()]
            .iter()
            .zip(&self.values[span])
            .map(|(&c, &v)| (c as usize, f64::from(v)))
    }
}

/// The rows' coordinates on the leading principal components.
#[derive(Debug, Clone)]
pub struct Pca {
    /// rows × `components`, row-major, whitened: each column has mean 0 and variance 1.
    pub scores: Vec<f32>,
    pub components: usize,
    /// Variance along each component (before whitening), largest first.
    pub variances: Vec<f64>,
    /// Total variance of the matrix (the sum over its columns), for the share the components keep.
    pub total_variance: f64,
}

/// Power iterations: each sharpens the separation of the leading components from the rest.
const POWER_ITERATIONS: usize = 4;
/// Extra random directions beyond the components asked for (the sketch's oversampling).
const OVERSAMPLING: usize = 10;

/// The first `k` principal components of `x`'s rows (fewer if the matrix has lower rank).
pub fn pca(x: &SparseRows, k: usize, seed: u64) -> Pca {
    let (n, d) = (x.rows(), x.cols);
    let mut mean = vec![0f64; d];
    let mut squares = 0f64;
    for i in 0..n {
        for (c, v) in x.row(i) {
            mean[c] += v;
            squares += v * v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let total_variance = if n < 2 {
        0.0
    } else {
        (squares - n as f64 * mean.iter().map(|m| m * m).sum::<f64>()) / (n - 1) as f64
    };
    let k = k.min(d).min(n.saturating_sub(1));
    let none = Pca {
        scores: vec![0.0; 0],
        components: 0,
        variances: Vec::new(),
        total_variance,
    };
    if k == 0 {
        return none;
    }
    let centred = Centred { x, mean: &mean };
    let l = (k + OVERSAMPLING).min(d).min(n);
    let mut rng = stream(seed, b"pca", 0);
    let omega: Vec<f64> = (0..d * l).map(|_| gaussian(&mut rng)).collect();
    let mut q = orthonormal(centred.times(&omega, l), n);
    for _ in 0..POWER_ITERATIONS {
        if q.1 == 0 {
            return none; // the centred matrix is zero: every row is the mean
        }
        let z = orthonormal(centred.transposed_times(&q.0, q.1), d);
        if z.1 == 0 {
            return none;
        }
        q = orthonormal(centred.times(&z.0, z.1), n);
    }
    if q.1 == 0 {
        return none;
    }
    // With A ≈ Q·B and B = Qᵀ·A = Zᵀ: B·Bᵀ = Zᵀ·Z = Ũ·Σ²·Ũᵀ, and A's scores are Q·Ũ·Σ.
    let (q, m) = q;
    let z = centred.transposed_times(&q, m);
    let (values, vectors) = symmetric_eigen(gram(&z, d, m), m);
    let top = values[0].max(f64::MIN_POSITIVE);
    let keep: Vec<usize> = (0..k.min(m)).filter(|&j| values[j] > 1e-9 * top).collect();
    if keep.is_empty() {
        return none;
    }
    // Whitened scores: Q·ũⱼ·σⱼ / (σⱼ/√(n−1)) = Q·ũⱼ·√(n−1).
    let scale = ((n - 1) as f64).sqrt();
    let c = keep.len();
    let mut u = vec![0f64; m * c];
    for (jj, &j) in keep.iter().enumerate() {
        for i in 0..m {
            u[i * c + jj] = vectors[i * m + j] * scale;
        }
    }
    Pca {
        scores: multiply(&q, &u, n, m, c)
            .into_iter()
            .map(|v| v as f32)
            .collect(),
        components: c,
        variances: keep.iter().map(|&j| values[j] / (n - 1) as f64).collect(),
        total_variance,
    }
}

/// The matrix with its column means subtracted, without forming it.
struct Centred<'a> {
    x: &'a SparseRows,
    mean: &'a [f64],
}

impl Centred<'_> {
    /// (X − 1·μᵀ)·M for M of d × `m` (row-major); n × m.
    fn times(&self, mat: &[f64], m: usize) -> Vec<f64> {
        let mut shift = vec![0f64; m];
        for (c, &mu) in self.mean.iter().enumerate() {
            shift
                .iter_mut()
                .zip(&mat[c * m..(c + 1) * m])
                .for_each(|(s, &v)| *s += mu * v);
        }
        let mut out = vec![0f64; self.x.rows() * m];
        out.par_chunks_mut(m).enumerate().for_each(|(i, row)| {
            row.iter_mut().zip(&shift).for_each(|(o, s)| *o = -s);
            for (c, v) in self.x.row(i) {
                row.iter_mut()
                    .zip(&mat[c * m..(c + 1) * m])
                    .for_each(|(o, &w)| *o += v * w);
            }
        });
        out
    }

    /// (X − 1·μᵀ)ᵀ·Q for Q of n × `m`; d × m.
    fn transposed_times(&self, q: &[f64], m: usize) -> Vec<f64> {
        let d = self.x.cols;
        let mut out = vec![0f64; d * m];
        let mut column_sums = vec![0f64; m];
        for (i, qi) in q.chunks(m).enumerate() {
            column_sums.iter_mut().zip(qi).for_each(|(s, v)| *s += v);
            for (c, v) in self.x.row(i) {
                out[c * m..(c + 1) * m]
                    .iter_mut()
                    .zip(qi)
                    .for_each(|(o, &w)| *o += v * w);
            }
        }
        for (c, &mu) in self.mean.iter().enumerate() {
            out[c * m..(c + 1) * m]
                .iter_mut()
                .zip(&column_sums)
                .for_each(|(o, s)| *o -= mu * s);
        }
        out
    }
}

fn gaussian(rng: &mut impl Rng) -> f64 {
    rng.sample(rand_distr::StandardNormal)
}

/// An orthonormal basis of the columns of `y` (`rows` × m): Y·V·S⁻¹ from the eigenvectors of
/// YᵀY, twice for accuracy; directions without variance are dropped. Returns (basis, columns).
fn orthonormal(y: Vec<f64>, rows: usize) -> (Vec<f64>, usize) {
    let m = y.len() / rows.max(1);
    let mut basis = (y, m);
    for _ in 0..2 {
        let (y, m) = basis;
        let (values, vectors) = symmetric_eigen(gram(&y, rows, m), m);
        let top = values
            .first()
            .copied()
            .unwrap_or(0.0)
            .max(f64::MIN_POSITIVE);
        let keep: Vec<usize> = (0..m).filter(|&j| values[j] > 1e-12 * top).collect();
        let c = keep.len();
        if c == 0 {
            return (Vec::new(), 0);
        }
        let mut w = vec![0f64; m * c];
        for (jj, &j) in keep.iter().enumerate() {
            let s = values[j].sqrt();
            for i in 0..m {
                w[i * c + jj] = vectors[i * m + j] / s;
            }
        }
        basis = (multiply(&y, &w, rows, m, c), c);
    }
    basis
}

/// Aᵀ·A for A of `rows` × m (row-major); m × m.
fn gram(a: &[f64], rows: usize, m: usize) -> Vec<f64> {
    let mut g = vec![0f64; m * m];
    if rows > 0 && m > 0 {
        // SAFETY: `a` read as its transpose [m×rows] and as itself [rows×m], `g` [m×m].
        unsafe {
            matrixmultiply::dgemm(
                m,
                rows,
                m,
                1.0,
                a.as_ptr(),
                1,
                m as isize,
                a.as_ptr(),
                m as isize,
                1,
                0.0,
                g.as_mut_ptr(),
                m as isize,
                1,
            );
        }
    }
    g
}

/// A·B for A of n × m and B of m × p (row-major); n × p.
fn multiply(a: &[f64], b: &[f64], n: usize, m: usize, p: usize) -> Vec<f64> {
    let mut c = vec![0f64; n * p];
    if n > 0 && m > 0 && p > 0 {
        // SAFETY: the strides describe `a` [n×m], `b` [m×p] and `c` [n×p] exactly.
        unsafe {
            matrixmultiply::dgemm(
                n,
                m,
                p,
                1.0,
                a.as_ptr(),
                m as isize,
                1,
                b.as_ptr(),
                p as isize,
                1,
                0.0,
                c.as_mut_ptr(),
                p as isize,
                1,
            );
        }
    }
    c
}

/// Eigenvalues (largest first) and eigenvectors (column j of the row-major m × m result) of a
/// symmetric matrix, by cyclic Jacobi rotations — exact to rounding for the small matrices
/// (≤ a few hundred rows) the sketch produces.
pub fn symmetric_eigen(mut a: Vec<f64>, m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; m * m];
    (0..m).for_each(|i| v[i * m + i] = 1.0);
    let norm: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..60 {
        let off: f64 = (0..m)
            .flat_map(|p| (p + 1..m).map(move |q| (p, q)))
            .map(|(p, q)| a[p * m + q] * a[p * m + q])
            .sum();
        if off <= 1e-30 * norm || off == 0.0 {
            break;
        }
        for p in 0..m {
            for q in p + 1..m {
                let apq = a[p * m + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..m {
                    let (kp, kq) = (a[k * m + p], a[k * m + q]);
                    a[k * m + p] = c * kp - s * kq;
                    a[k * m + q] = s * kp + c * kq;
                }
                for k in 0..m {
                    let (pk, qk) = (a[p * m + k], a[q * m + k]);
                    a[p * m + k] = c * pk - s * qk;
                    a[q * m + k] = s * pk + c * qk;
                }
                for k in 0..m {
                    let (kp, kq) = (v[k * m + p], v[k * m + q]);
                    v[k * m + p] = c * kp - s * kq;
                    v[k * m + q] = s * kp + c * kq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| a[j * m + j].total_cmp(&a[i * m + i]));
    let values = order.iter().map(|&j| a[j * m + j]).collect();
    let mut vectors = vec![0f64; m * m];
    for (jj, &j) in order.iter().enumerate() {
        for i in 0..m {
            vectors[i * m + jj] = v[i * m + j];
        }
    }
    (values, vectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises_a_symmetric_matrix() {
        let mut rng = stream(1, b"t", 0);
        let m = 7;
        let mut a = vec![0f64; m * m];
        for i in 0..m {
            for j in 0..=i {
                let x = gaussian(&mut rng);
                a[i * m + j] = x;
                a[j * m + i] = x;
            }
        }
        let (values, vectors) = symmetric_eigen(a.clone(), m);
        assert!(values.windows(2).all(|w| w[0] >= w[1]));
        // A·v = λ·v for every pair.
        for j in 0..m {
            for i in 0..m {
                let av: f64 = (0..m).map(|k| a[i * m + k] * vectors[k * m + j]).sum();
                assert!((av - values[j] * vectors[i * m + j]).abs() < 1e-9);
            }
        }
    }

    /// Rows = three planted factors of variance 25, 4 and 1 along orthogonal sparse directions,
    /// plus tiny noise: the components find the factors in order, with their variances.
    #[test]
    fn finds_planted_components_with_their_variances() {
        let mut rng = stream(2, b"t", 0);
        let (n, d) = (3000, 40);
        let scales = [5.0, 2.0, 1.0];
        let mut x = SparseRows::new(d);
        let mut factors = Vec::new();
        for _ in 0..n {
            let f: Vec<f64> = scales.iter().map(|s| s * gaussian(&mut rng)).collect();
            // Factor j lives on columns 10j..10j+4 with weight 1/2 (unit-norm direction).
            let mut row = Vec::new();
            for (j, fj) in f.iter().enumerate() {
                for c in 0..4 {
                    let noise = 1e-3 * gaussian(&mut rng);
                    row.push(((10 * j + c) as u32, (0.5 * fj + noise) as f32));
                }
            }
            row.push((39, (3.0 + 1e-3 * gaussian(&mut rng)) as f32)); // a constant column
            x.push_row(row);
            factors.push(f);
        }
        let p = pca(&x, 5, 7);
        assert_eq!(p.components, 5);
        for (got, want) in p.variances.iter().zip([25.0, 4.0, 1.0]) {
            assert!((got / want - 1.0).abs() < 0.1, "{:?}", p.variances);
        }
        assert!(p.variances[3] < 1e-4, "{:?}", p.variances);
        for j in 0..3 {
            let col: Vec<f64> = (0..n).map(|i| f64::from(p.scores[i * 5 + j])).collect();
            let var = col.iter().map(|v| v * v).sum::<f64>() / (n - 1) as f64;
            assert!((var - 1.0).abs() < 1e-3, "component {j} variance {var}");
            let f: Vec<f64> = factors.iter().map(|f| f[j]).collect();
            let corr = correlation(&col, &f);
            assert!(corr.abs() > 0.999, "component {j}: correlation {corr}");
        }
    }

    #[test]
    fn degenerate_matrices_give_no_components() {
        let mut x = SparseRows::new(3);
        x.push_row([(0, 1.0)]);
        assert_eq!(pca(&x, 2, 1).components, 0);
        let mut x = SparseRows::new(3);
        for _ in 0..5 {
            x.push_row([(1, 2.0)]);
        }
        assert_eq!(
            pca(&x, 2, 1).components,
            0,
            "constant rows have no variance"
        );
        assert_eq!(pca(&SparseRows::new(0), 2, 1).components, 0);
    }

    fn correlation(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    }
}
