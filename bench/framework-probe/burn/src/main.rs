use burn::backend::{Autodiff, NdArray};
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::{Int, Tensor, TensorData, activation::sigmoid, backend::Backend};

use std::time::Instant;

#[derive(Module, Debug)]
struct Pairs<B: Backend> {
    emb_in: Embedding<B>,
    emb_out: Embedding<B>,
}

type B = Autodiff<NdArray>;

fn main() {
    let dev = Default::default();
    let (n, dim, pairs, batch) = (50_000usize, 64usize, 300_000usize, 4096usize);
    let mut model = Pairs::<B> {
        emb_in: EmbeddingConfig::new(n, dim).init(&dev),
        emb_out: EmbeddingConfig::new(n, dim).init(&dev),
    };
    let mut s = 12345u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let a: Vec<i64> = (0..pairs).map(|_| (next() % n as u64) as i64).collect();
    let b: Vec<i64> = a.iter().map(|&x| (x + 1 + (next() % 10) as i64) % n as i64).collect();
    let y: Vec<f32> = (0..pairs).map(|_| (next() % 100) as f32 / 100.0).collect();
    let mut opt = AdamConfig::new().init();
    for epoch in 0..3 {
        let t = Instant::now();
        let mut total = 0f32;
        for start in (0..pairs).step_by(batch) {
            let end = (start + batch).min(pairs);
            let m = end - start;
            let ai = Tensor::<B, 2, Int>::from_data(TensorData::new(a[start..end].to_vec(), [1, m]), &dev);
            let bi = Tensor::<B, 2, Int>::from_data(TensorData::new(b[start..end].to_vec(), [1, m]), &dev);
            let yt = Tensor::<B, 1>::from_data(TensorData::new(y[start..end].to_vec(), [m]), &dev);
            let ea = model.emb_in.forward(ai).reshape([m, dim]);
            let eb = model.emb_out.forward(bi).reshape([m, dim]);
            let pred = sigmoid((ea * eb).sum_dim(1).reshape([m]));
            let loss = (pred - yt).powf_scalar(2.0).mean();
            total += loss.clone().into_scalar();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(0.01, model, grads);
        }
        println!("burn epoch {epoch}: {:.2}s loss {:.4}", t.elapsed().as_secs_f64(), total);
    }
}
