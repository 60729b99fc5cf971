//! Stand-alone front end for the trainer until `sluice train|eval|export` are
//! wired into the main binary; it parses exactly the same arguments. Two extra
//! subcommands serve tests and benches: `make-shards` (reference shards with a
//! trained BPE) and `logits` (dump logits for given token ids, for interop checks).

use clap::{Parser, Subcommand};
use sluice_train::cli::{run_eval, run_export, run_train, EvalArgs, ExportArgs, TrainArgs};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "train_cli", about = "sluice trainer: train, eval, export")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Train(TrainArgs),
    Eval(EvalArgs),
    Export(ExportArgs),
    /// Build shards from ../shared/data/reference/en with a freshly trained BPE.
    MakeShards {
        /// Output shard directory.
        #[arg(long)]
        out: PathBuf,
        /// BPE vocabulary size.
        #[arg(long, default_value_t = 8192)]
        vocab_size: usize,
        /// Read at most this many bytes of text.
        #[arg(long, default_value_t = 64_000_000)]
        max_bytes: usize,
        /// Every n-th document goes to the validation split.
        #[arg(long, default_value_t = 20)]
        val_every: usize,
        /// Shared data directory.
        #[arg(long, env = "SLUICE_DATA", default_value = "../shared/data")]
        data: PathBuf,
    },
    /// Write the logits of a checkpoint for a JSON list of token-id lists.
    Logits {
        /// Run or checkpoint directory.
        #[arg(long)]
        checkpoint: PathBuf,
        /// JSON file: [[ids...], ...] (all the same length).
        #[arg(long)]
        tokens: PathBuf,
        /// Output JSON: [b][t][vocab] floats.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Train(a) => run_train(&a),
        Cmd::Eval(a) => run_eval(&a),
        Cmd::Export(a) => run_export(&a),
        Cmd::MakeShards { out, vocab_size, max_bytes, val_every, data } => {
            let cfg = sluice_train::refdata::RefShardsConfig { data_dir: data, vocab_size, max_bytes, val_every };
            let m = sluice_train::refdata::make_reference_shards(&out, &cfg)?;
            for s in &m.shards {
                eprintln!("{}: {} {} tokens", s.file, s.split, s.tokens);
            }
            eprintln!("vocab {} eos {}", m.vocab_size, m.eos_id);
            Ok(())
        }
        Cmd::Logits { checkpoint, tokens, out } => {
            let ids: Vec<Vec<u32>> = serde_json::from_slice(&std::fs::read(&tokens)?)?;
            let dev = candle_core::Device::Cpu;
            let dir = sluice_train::checkpoint::resolve(&checkpoint)?;
            let st = sluice_train::checkpoint::load_state(&dir)?;
            let p = sluice_train::checkpoint::load_params(&dir, &st.model, &dev)?;
            let m = sluice_train::model::Transformer::new(&st.model, candle_core::DType::F32, &dev)?;
            let (b, t) = (ids.len(), ids.first().map_or(0, |r| r.len()));
            let x = candle_core::Tensor::from_vec(ids.concat(), (b, t), &dev)?;
            let l = m.forward(&p.detached(), &x, None)?.to_vec3::<f32>()?;
            std::fs::write(&out, serde_json::to_vec(&l)?)?;
            Ok(())
        }
    }
}
