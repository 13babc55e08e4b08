//! Adam over rows of a parameter table, updating only the rows that received a gradient (lazy
//! or "sparse" Adam, as PyTorch's `SparseAdam`): each row keeps its own step count, so a rarely
//! seen track gets bias-corrected steps as large as a popular one's.

/// A `rows × dim` table of parameters with Adam state.
#[derive(Debug, Clone)]
pub struct SparseAdam {
    pub dim: usize,
    pub values: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    steps: Vec<u32>,
    pub lr: f32,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPS: f32 = 1e-8;

impl SparseAdam {
    pub fn new(values: Vec<f32>, dim: usize, lr: f32) -> Self {
        let n = values.len();
        SparseAdam {
            dim,
            m: vec![0.0; n],
            v: vec![0.0; n],
            steps: vec![0; n / dim.max(1)],
            values,
            lr,
        }
    }

    pub fn row(&self, r: usize) -> &[f32] {
        &self.values[r * self.dim..(r + 1) * self.dim]
    }

    /// One Adam step on row `r` with gradient `g`.
    pub fn step(&mut self, r: usize, g: &[f32]) {
        self.steps[r] += 1;
        let t = self.steps[r] as i32;
        let (c1, c2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        let span = r * self.dim..(r + 1) * self.dim;
        for (((w, m), v), &g) in self.values[span.clone()]
            .iter_mut()
            .zip(&mut self.m[span.clone()])
            .zip(&mut self.v[span])
            .zip(g)
        {
            *m = BETA1 * *m + (1.0 - BETA1) * g;
            *v = BETA2 * *v + (1.0 - BETA2) * g * g;
            *w -= self.lr * (*m / c1) / ((*v / c2).sqrt() + EPS);
        }
    }

    /// One step on every row (a dense layer): `grads` holds the whole table's gradient.
    pub fn step_all(&mut self, grads: &[f32]) {
        for r in 0..self.steps.len() {
            self.step(r, &grads[r * self.dim..(r + 1) * self.dim]);
        }
    }

    /// Sums the gradients of equal rows (`rows[i]` got `grads[i·dim..]`), then steps each row
    /// once, so a track seen twice in a batch gets one step, as with a dense optimiser.
    pub fn step_rows(&mut self, rows: &[u32], grads: &[f32]) {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_unstable_by_key(|&i| rows[i]);
        let mut acc = vec![0f32; self.dim];
        let mut i = 0;
        while i < order.len() {
            let r = rows[order[i]];
            acc.iter_mut().for_each(|x| *x = 0.0);
            while i < order.len() && rows[order[i]] == r {
                let g = &grads[order[i] * self.dim..(order[i] + 1) * self.dim];
                acc.iter_mut().zip(g).for_each(|(a, b)| *a += b);
                i += 1;
            }
            self.step(r as usize, &acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_a_quadratic_and_touches_only_stepped_rows() {
        // Row 0 descends f(w) = (w − 3)²; row 1 is never stepped.
        let mut a = SparseAdam::new(vec![0.0, 0.0, 5.0, 5.0], 2, 0.1);
        for _ in 0..500 {
            let g: Vec<f32> = a.row(0).iter().map(|w| 2.0 * (w - 3.0)).collect();
            a.step(0, &g);
        }
        assert!(
            a.row(0).iter().all(|w| (w - 3.0).abs() < 0.05),
            "{:?}",
            a.row(0)
        );
        assert_eq!(a.row(1), [5.0, 5.0]);
    }

    #[test]
    fn duplicate_rows_in_a_batch_are_summed_into_one_step() {
        let mut a = SparseAdam::new(vec![0.0; 4], 2, 0.1);
        let mut b = a.clone();
        a.step_rows(&[1, 0, 1], &[1.0, 1.0, 2.0, 2.0, 3.0, 3.0]);
        b.step(0, &[2.0, 2.0]);
        b.step(1, &[4.0, 4.0]);
        assert_eq!(a.values, b.values);
        assert_eq!(a.steps, [1, 1]);
    }
}
