use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use std::time::Instant;

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let (n, dim, pairs, batch) = (50_000usize, 64usize, 300_000usize, 4096usize);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let emb_in = candle_nn::embedding(n, dim, vb.pp("in"))?;
    let emb_out = candle_nn::embedding(n, dim, vb.pp("out"))?;
    let mut s = 12345u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let a: Vec<u32> = (0..pairs).map(|_| (next() % n as u64) as u32).collect();
    let b: Vec<u32> = a.iter().map(|&x| (x + 1 + (next() % 10) as u32) % n as u32).collect();
    let y: Vec<f32> = (0..pairs).map(|_| (next() % 100) as f32 / 100.0).collect();
    let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW { lr: 0.01, weight_decay: 0.0, ..Default::default() })?;
    for epoch in 0..3 {
        let t = Instant::now();
        let mut total = 0f32;
        for start in (0..pairs).step_by(batch) {
            let end = (start + batch).min(pairs);
            let ai = Tensor::from_slice(&a[start..end], end - start, &dev)?;
            let bi = Tensor::from_slice(&b[start..end], end - start, &dev)?;
            let yt = Tensor::from_slice(&y[start..end], end - start, &dev)?;
            let pred = candle_nn::ops::sigmoid(&(emb_in.forward(&ai)? * emb_out.forward(&bi)?)?.sum(1)?)?;
            let loss = (pred - yt)?.sqr()?.mean_all()?;
            opt.backward_step(&loss)?;
            total += loss.to_scalar::<f32>()?;
        }
        println!("candle epoch {epoch}: {:.2}s loss {:.4}", t.elapsed().as_secs_f64(), total);
    }
    Ok(())
}
