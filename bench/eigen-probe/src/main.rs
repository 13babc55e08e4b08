//! Time and accuracy of the PCA's symmetric eigen-solver: botify-neural's cyclic Jacobi against
//! nalgebra's SymmetricEigen, on random Gram matrices of the sizes the PCA sketch produces.

use std::time::Instant;

/// A random m × m Gram matrix (X^T X of a 4m × m matrix), row-major, from a fixed LCG.
fn gram(m: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    let mut next = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let n = 4 * m;
    let x: Vec<f64> = (0..n * m).map(|_| next()).collect();
    let mut g = vec![0.0; m * m];
    for r in 0..n {
        for i in 0..m {
            for j in 0..m {
                g[i * m + j] += x[r * m + i] * x[r * m + j];
            }
        }
    }
    g
}

/// max |A v - λ v| over the eigenpairs (columns of `v`, row-major m × m).
fn residual(a: &[f64], values: &[f64], v: &[f64], m: usize) -> f64 {
    let mut worst: f64 = 0.0;
    for k in 0..m {
        for i in 0..m {
            let av: f64 = (0..m).map(|j| a[i * m + j] * v[j * m + k]).sum();
            worst = worst.max((av - values[k] * v[i * m + k]).abs());
        }
    }
    worst
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.expect("at least one run"))
}

fn main() {
    println!("| m | Jacobi (botify) | residual | nalgebra SymmetricEigen | residual |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for m in [40, 100, 160, 300] {
        let a = gram(m, m as u64);
        let (tj, (vals, vecs)) =
            best_of(5, || botify_neural::pca::symmetric_eigen(a.clone(), m));
        let rj = residual(&a, &vals, &vecs, m);
        let (tn, e) = best_of(5, || {
            nalgebra::DMatrix::from_row_slice(m, m, &a).symmetric_eigen()
        });
        let nv: Vec<f64> = (0..m * m).map(|i| e.eigenvectors[(i / m, i % m)]).collect();
        let rn = residual(&a, e.eigenvalues.as_slice(), &nv, m);
        println!(
            "| {m} | {:.2} ms | {rj:.1e} | {:.2} ms | {rn:.1e} |",
            tj * 1e3,
            tn * 1e3
        );
    }
}
