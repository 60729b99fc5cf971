//! Time the parts of one training step (forward, backward, optimizer) of a preset
//! on synthetic tokens: `cargo run --release -p sluice-train --example step_profile -- small 16 256`.

use candle_core::{DType, Device, Tensor};
use sluice_train::model::{ModelConfig, Params, Transformer};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let preset = a.get(1).map(String::as_str).unwrap_or("small");
    let b: usize = a.get(2).map_or(Ok(16), |s| s.parse())?;
    let t: usize = a.get(3).map_or(Ok(256), |s| s.parse())?;
    let dev = Device::Cpu;
    let cfg = ModelConfig::preset(preset, 8192)?;
    let p = Params::init(&cfg, 0, DType::F32, &dev)?;
    let m = Transformer::new(&cfg, DType::F32, &dev)?;
    let mut rng = sluice_train::shards::Rng::new(1);
    let x: Vec<u32> = (0..b * t).map(|_| rng.below(8192) as u32).collect();
    let x = Tensor::from_vec(x, (b, t), &dev)?;
    let mut opt = sluice_train::optim::AdamW::new(Default::default(), &p.vars)?;
    // Matmul throughput for comparison: the MLP up-projection's shape.
    let a = Tensor::ones((b * t, cfg.hidden_size), DType::F32, &dev)?;
    let w = Tensor::ones((cfg.intermediate_size, cfg.hidden_size), DType::F32, &dev)?;
    let t0 = Instant::now();
    for _ in 0..5 {
        let _ = a.matmul(&w.t()?)?;
    }
    let flops = 5.0 * 2.0 * (b * t * cfg.hidden_size * cfg.intermediate_size) as f64;
    eprintln!("matmul: {:.1} GFLOP/s", flops / t0.elapsed().as_secs_f64() / 1e9);
    let big = Tensor::ones((b * t, cfg.intermediate_size), DType::F32, &dev)?;
    let t0 = Instant::now();
    for _ in 0..5 {
        let _ = (&big * &big)?;
    }
    let n = 5.0 * big.elem_count() as f64;
    eprintln!("elementwise mul: {:.0} M elements/s", n / t0.elapsed().as_secs_f64() / 1e6);
    let row = Tensor::ones((1, cfg.intermediate_size), DType::F32, &dev)?;
    let t0 = Instant::now();
    for _ in 0..5 {
        let _ = big.broadcast_mul(&row)?;
    }
    eprintln!("broadcast mul: {:.0} M elements/s", n / t0.elapsed().as_secs_f64() / 1e6);
    for it in 0..3 {
        let t0 = Instant::now();
        let logits = m.forward(&p.tensors(), &x, None)?;
        let t1 = Instant::now();
        let (bb, tt, v) = logits.dims3()?;
        let loss = sluice_train::model::cross_entropy(&logits.reshape((bb * tt, v))?, &x.flatten_all()?)?;
        let _ = loss.to_scalar::<f32>()?;
        let t2 = Instant::now();
        let g = loss.backward()?;
        let t3 = Instant::now();
        let grads = p.vars.iter().map(|(k, v)| (k.clone(), g.get(v.as_tensor()).unwrap().clone())).collect();
        opt.step(&p.vars, &grads, 1e-4)?;
        let t4 = Instant::now();
        eprintln!(
            "iter {it}: forward {:.2}s loss {:.2}s backward {:.2}s adamw {:.2}s => {:.0} tok/s",
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
            (t4 - t3).as_secs_f64(),
            (b * t) as f64 / (t4 - t0).as_secs_f64()
        );
    }
    Ok(())
}
