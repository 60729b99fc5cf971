//! Checkpoints: weights (safetensors), optimizer moments (safetensors), and a
//! `state.json` with the step, data cursor and RNG state. Each checkpoint is a
//! directory written under a temporary name and renamed into place, and the
//! `latest` pointer is replaced the same way, so a crash never leaves a torn one.
//!
//! `state.json` records the SHA-256 of both tensor files (`files`), and every
//! load (resume, eval, export, the perplexity scorer) checks them before it
//! parses a byte, so a bit flip on disk is an error naming the file instead of
//! a silently different model. `latest` may only name a checkpoint directory
//! inside `checkpoints/` (one plain `step-N` component).

use crate::error::{read_json, write_atomic, Result, TrainError};
use crate::model::{ModelConfig, Params};
use crate::optim::AdamW;
use crate::shards::DataCursor;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const MODEL_FILE: &str = "model.safetensors";
pub const OPTIM_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "state.json";
pub const LATEST: &str = "latest";

/// What, besides tensors, a resumed run needs to continue exactly.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointState {
    /// Optimizer steps completed.
    pub step: usize,
    /// AdamW's bias-correction counter.
    pub optim_t: u64,
    /// Loader position and the RNG state of the current epoch's shuffle.
    pub cursor: DataCursor,
    pub model: ModelConfig,
    /// Hex SHA-256 of each tensor file of the checkpoint, by file name.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// SHA-256 of a file, streamed.
fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| TrainError::io(path, e))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| TrainError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Read checkpoint file `name` of `dir` and check it against the hash
/// `state.json` records for it.
fn read_verified(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let st = load_state(dir)?;
    let p = dir.join(name);
    let want = st.files.get(name).ok_or_else(|| {
        ck_err(
            &dir.join(STATE_FILE),
            format!("records no sha256 for {name} (a checkpoint from before sluice recorded hashes, or an edited one)"),
        )
    })?;
    let meta = std::fs::symlink_metadata(&p).map_err(|e| TrainError::io(&p, e))?;
    if !meta.is_file() {
        return Err(ck_err(&p, "is not a regular file"));
    }
    let bytes = std::fs::read(&p).map_err(|e| TrainError::io(&p, e))?;
    let got = crate::shards::hex_sha256(&bytes);
    if !got.eq_ignore_ascii_case(want) {
        return Err(ck_err(&p, format!("sha256 is {got} but state.json records {want}: the file is corrupt or was changed")));
    }
    Ok(bytes)
}

pub fn checkpoints_dir(run: &Path) -> PathBuf {
    run.join("checkpoints")
}

fn ck_err(path: &Path, msg: impl Into<String>) -> TrainError {
    TrainError::Checkpoint { path: path.to_path_buf(), msg: msg.into() }
}

/// Write checkpoint `step` of a run directory and point `latest` at it.
pub fn save(run: &Path, params: &Params, opt: &AdamW, state: &CheckpointState) -> Result<PathBuf> {
    let root = checkpoints_dir(run);
    std::fs::create_dir_all(&root).map_err(|e| TrainError::io(&root, e))?;
    let name = format!("step-{:08}", state.step);
    let dst = root.join(&name);
    let tmp = root.join(format!("{name}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    // Weights are saved as fp32 masters whatever the compute dtype.
    let weights: BTreeMap<String, Tensor> =
        params.vars.iter().map(|(k, v)| Ok((k.clone(), v.as_tensor().to_dtype(DType::F32)?))).collect::<Result<_>>()?;
    crate::error::save_safetensors(&weights, &tmp.join(MODEL_FILE))?;
    let mut moments = BTreeMap::new();
    for (k, t) in &opt.m {
        moments.insert(format!("m.{k}"), t.clone());
    }
    for (k, t) in &opt.v {
        moments.insert(format!("v.{k}"), t.clone());
    }
    crate::error::save_safetensors(&moments, &tmp.join(OPTIM_FILE))?;
    let mut state = state.clone();
    for f in [MODEL_FILE, OPTIM_FILE] {
        state.files.insert(f.to_string(), sha256_file(&tmp.join(f))?);
    }
    let js = serde_json::to_vec_pretty(&state).map_err(|e| TrainError::Internal(e.to_string()))?;
    write_atomic(&tmp.join(STATE_FILE), &js)?;
    if dst.exists() {
        std::fs::remove_dir_all(&dst).map_err(|e| TrainError::io(&dst, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| TrainError::io(&dst, e))?;
    write_atomic(&root.join(LATEST), name.as_bytes())?;
    Ok(dst)
}

/// The checkpoint directory `latest` points at, or None if the run has none.
pub fn latest(run: &Path) -> Result<Option<PathBuf>> {
    let p = checkpoints_dir(run).join(LATEST);
    if !p.exists() {
        return Ok(None);
    }
    let name = crate::error::read_file_limited(&p, 4096)?;
    let name = String::from_utf8_lossy(&name);
    let name = name.trim();
    // `latest` names a checkpoint beside it, never a path elsewhere.
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']) {
        return Err(ck_err(&p, format!("names {name:?}, not a checkpoint directory inside {}", checkpoints_dir(run).display())));
    }
    let dir = checkpoints_dir(run).join(name);
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
        return Err(ck_err(&p, format!("points at {} which is not a directory (a symlink?)", dir.display())));
    }
    if !dir.join(STATE_FILE).exists() {
        return Err(ck_err(&p, format!("points at {} which has no {STATE_FILE}", dir.display())));
    }
    Ok(Some(dir))
}

/// Resolve a `--checkpoint` argument: a run directory (its latest checkpoint), a
/// checkpoint directory, or an exported HF directory is not accepted here.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    if path.join(STATE_FILE).exists() {
        return Ok(path.to_path_buf());
    }
    latest(path)?.ok_or_else(|| ck_err(path, "is neither a checkpoint directory nor a run directory with checkpoints"))
}

pub fn load_state(dir: &Path) -> Result<CheckpointState> {
    read_json(&dir.join(STATE_FILE))
}

/// Load the weights, checked against the hash `state.json` records.
pub fn load_params(dir: &Path, cfg: &ModelConfig, device: &Device) -> Result<Params> {
    let p = dir.join(MODEL_FILE);
    let bytes = read_verified(dir, MODEL_FILE)?;
    let ts = candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| ck_err(&p, e.to_string()))?;
    drop(bytes);
    Params::from_tensors(cfg, ts.into_iter().collect(), DType::F32, &p)
}

/// Load the optimizer moments, checked against the hash `state.json` records.
pub fn load_optimizer(dir: &Path, opt: &mut AdamW, optim_t: u64, device: &Device) -> Result<()> {
    let p = dir.join(OPTIM_FILE);
    let bytes = read_verified(dir, OPTIM_FILE)?;
    let mut ts = candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| ck_err(&p, e.to_string()))?;
    drop(bytes);
    for (prefix, map) in [("m", &mut opt.m), ("v", &mut opt.v)] {
        for (k, slot) in map.iter_mut() {
            let t = ts.remove(&format!("{prefix}.{k}")).ok_or_else(|| ck_err(&p, format!("missing moment {prefix}.{k}")))?;
            if t.dims() != slot.dims() {
                return Err(ck_err(&p, format!("moment {prefix}.{k} has shape {:?}, expected {:?}", t.dims(), slot.dims())));
            }
            *slot = t;
        }
    }
    opt.t = optim_t;
    Ok(())
}
