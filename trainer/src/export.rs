//! Export a checkpoint as a Hugging Face Llama model directory: `config.json`,
//! `model.safetensors` (fp32) and `tokenizer.json`, loadable with
//! `LlamaForCausalLM.from_pretrained(dir)`.
//!
//! sluice's parameter names are HF's, and its RoPE uses HF's rotate_half layout
//! (the two halves of each head dimension pair up), so the weights are copied
//! as they are: no q/k permutation is needed.

use crate::checkpoint;
use crate::error::{Result, TrainError};
use crate::model::ModelConfig;
use candle_core::Device;
use serde_json::json;
use std::path::Path;

/// HF `config.json` for a model config.
pub fn hf_config(cfg: &ModelConfig, eos: Option<u32>, bos: Option<u32>) -> serde_json::Value {
    json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dim(),
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_seq_len,
        "rms_norm_eps": cfg.norm_eps,
        "rope_theta": cfg.rope_theta,
        "rope_scaling": null,
        "attention_bias": false,
        "attention_dropout": 0.0,
        "mlp_bias": false,
        "tie_word_embeddings": cfg.tie_embeddings,
        "initializer_range": 0.02,
        "use_cache": true,
        "torch_dtype": "float32",
        "bos_token_id": bos.or(eos),
        "eos_token_id": eos,
    })
}

/// Write the HF directory `out` from checkpoint `ckpt` (a checkpoint or run dir).
/// `tokenizer` overrides the tokenizer found through the run's shards.
pub fn export(ckpt: &Path, out: &Path, tokenizer: Option<&Path>) -> Result<()> {
    let dir = checkpoint::resolve(ckpt)?;
    let st = checkpoint::load_state(&dir)?;
    let params = checkpoint::load_params(&dir, &st.model, &Device::Cpu)?;
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let tok_path = match tokenizer {
        Some(p) => Some(p.to_path_buf()),
        None => crate::eval::run_tokenizer_path(&dir),
    };
    let tok = tok_path.as_deref().map(crate::tokenizer::Tok::load).transpose()?;
    let eos = crate::eval::run_eos_id(&dir).or_else(|| tok.as_ref().and_then(|t| t.token_to_id(crate::refdata::EOS_TOKEN)));
    let cfg = hf_config(&st.model, eos, None);
    let js = serde_json::to_vec_pretty(&cfg).map_err(|e| TrainError::Internal(e.to_string()))?;
    crate::error::write_atomic(&out.join("config.json"), &js)?;
    let ts = params.detached();
    crate::error::save_safetensors(&ts, &out.join("model.safetensors"))?;
    if let Some(t) = &tok {
        let bytes = crate::error::read_file_limited(&t.path, crate::error::MAX_OPTION_FILE)?;
        crate::error::write_atomic(&out.join("tokenizer.json"), &bytes)?;
        let eos_tok = eos.and_then(|id| t.inner.id_to_token(id));
        let tc = json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": st.model.max_seq_len,
            "eos_token": eos_tok,
            "bos_token": eos_tok,
            "add_bos_token": false,
            "add_eos_token": false,
            "clean_up_tokenization_spaces": false,
        });
        let js = serde_json::to_vec_pretty(&tc).map_err(|e| TrainError::Internal(e.to_string()))?;
        crate::error::write_atomic(&out.join("tokenizer_config.json"), &js)?;
    }
    Ok(())
}
