//! AdamW with decoupled weight decay, the warmup + cosine learning-rate schedule,
//! and gradient clipping by global norm (candle ships none of these for our needs).

use crate::error::{Result, TrainError};
use crate::model::is_decayed;
use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Optimiser hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay, applied to matrices only (see `model::is_decayed`).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1 }
    }
}

/// AdamW whose moments are fp32 tensors keyed by parameter name.
pub struct AdamW {
    pub cfg: AdamWConfig,
    /// Number of updates applied so far (the bias-correction exponent).
    pub t: u64,
    pub m: BTreeMap<String, Tensor>,
    pub v: BTreeMap<String, Tensor>,
}

impl AdamW {
    pub fn new(cfg: AdamWConfig, vars: &BTreeMap<String, Var>) -> Result<AdamW> {
        let mut m = BTreeMap::new();
        let mut v = BTreeMap::new();
        for (k, var) in vars {
            let z = Tensor::zeros(var.shape(), DType::F32, var.device())?;
            m.insert(k.clone(), z.clone());
            v.insert(k.clone(), z);
        }
        Ok(AdamW { cfg, t: 0, m, v })
    }

    /// One update with learning rate `lr`; `grads` must hold every parameter.
    pub fn step(&mut self, vars: &BTreeMap<String, Var>, grads: &BTreeMap<String, Tensor>, lr: f64) -> Result<()> {
        self.t += 1;
        let c = &self.cfg;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        for (name, var) in vars {
            let g = grads.get(name).ok_or_else(|| TrainError::Internal(format!("no gradient for {name}")))?;
            let g = g.to_dtype(DType::F32)?;
            let m = self.m.get_mut(name).ok_or_else(|| TrainError::Internal(format!("no moment for {name}")))?;
            *m = ((&*m * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            let v = self.v.get_mut(name).ok_or_else(|| TrainError::Internal(format!("no moment for {name}")))?;
            *v = ((&*v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let update = ((&*m / bc1)? / ((&*v / bc2)?.sqrt()? + c.eps)?)?;
            let w = var.as_tensor().to_dtype(DType::F32)?;
            // Decoupled decay: shrink the weight directly, not through the gradient.
            let w = if is_decayed(name) && c.weight_decay > 0.0 { (w * (1.0 - lr * c.weight_decay))? } else { w };
            let w = (w - (update * lr)?)?;
            var.set(&w.to_dtype(var.dtype())?)?;
        }
        Ok(())
    }
}

/// Learning-rate schedule: linear warmup to `lr`, then cosine decay to `min_lr`
/// at `total` steps (and `min_lr` after).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub lr: f64,
    pub min_lr: f64,
    pub warmup: usize,
    pub total: usize,
}

impl Schedule {
    /// Learning rate for 0-based `step`.
    pub fn at(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        if step >= self.total || self.total <= self.warmup {
            return self.min_lr;
        }
        let p = (step - self.warmup) as f64 / (self.total - self.warmup) as f64;
        self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + (std::f64::consts::PI * p).cos())
    }
}

/// Global L2 norm over all gradients (accumulated in f64 on the host, in the
/// sorted name order, so it is deterministic).
pub fn global_norm(grads: &BTreeMap<String, Tensor>) -> Result<f64> {
    let mut sq = 0f64;
    for g in grads.values() {
        sq += g.to_dtype(DType::F32)?.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    }
    Ok(sq.sqrt())
}

/// Scale gradients so their global norm is at most `max_norm`; returns the norm
/// before clipping. `max_norm <= 0` disables clipping.
pub fn clip_grad_norm(grads: &mut BTreeMap<String, Tensor>, max_norm: f64) -> Result<f64> {
    let norm = global_norm(grads)?;
    if max_norm > 0.0 && norm.is_finite() && norm > max_norm {
        let s = max_norm / (norm + 1e-6);
        for g in grads.values_mut() {
            *g = (&*g * s)?;
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_shape() {
        let s = Schedule { lr: 1.0, min_lr: 0.1, warmup: 10, total: 110 };
        assert!((s.at(0) - 0.1).abs() < 1e-12);
        assert!((s.at(9) - 1.0).abs() < 1e-12);
        assert!((s.at(10) - 1.0).abs() < 1e-12);
        assert!((s.at(60) - 0.55).abs() < 1e-12);
        assert!((s.at(110) - 0.1).abs() < 1e-12);
        assert!(s.at(30) > s.at(31));
    }

    #[test]
    fn clipping_scales_to_max_norm() {
        let dev = Device::Cpu;
        let mut g = BTreeMap::new();
        g.insert("a".to_string(), Tensor::new(&[3f32, 0.0], &dev).unwrap());
        g.insert("b".to_string(), Tensor::new(&[4f32], &dev).unwrap());
        let n = clip_grad_norm(&mut g, 1.0).unwrap();
        assert!((n - 5.0).abs() < 1e-6);
        assert!((global_norm(&g).unwrap() - 1.0).abs() < 1e-5);
        let n = clip_grad_norm(&mut g, 10.0).unwrap();
        assert!((n - 1.0).abs() < 1e-5);
    }

    #[test]
    fn adamw_matches_hand_computation() {
        // One step on w = [1.0] with g = [0.5]: m̂ = g, v̂ = g², update = g/(|g|+eps) ≈ 1.
        let dev = Device::Cpu;
        let mut vars = BTreeMap::new();
        vars.insert("x.weight".to_string(), Var::new(&[1f32], &dev).unwrap());
        vars.insert("model.norm.weight".to_string(), Var::new(&[1f32], &dev).unwrap());
        let mut grads = BTreeMap::new();
        grads.insert("x.weight".to_string(), Tensor::new(&[0.5f32], &dev).unwrap());
        grads.insert("model.norm.weight".to_string(), Tensor::new(&[0.5f32], &dev).unwrap());
        let cfg = AdamWConfig { weight_decay: 0.5, ..Default::default() };
        let mut opt = AdamW::new(cfg, &vars).unwrap();
        opt.step(&vars, &grads, 0.1).unwrap();
        let w = vars["x.weight"].as_tensor().to_vec1::<f32>().unwrap()[0];
        let n = vars["model.norm.weight"].as_tensor().to_vec1::<f32>().unwrap()[0];
        assert!((w - (1.0 * (1.0 - 0.1 * 0.5) - 0.1)).abs() < 1e-6, "{w}");
        assert!((n - 0.9).abs() < 1e-6, "norms are not decayed: {n}");
    }
}
