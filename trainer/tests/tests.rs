//! Integration tests for sluice-train: one binary, shared helpers in `util`.
//! Synthetic shards keep most tests fast; `real_data` uses ../shared/data.

mod util;

use candle_core::{DType, Device, Tensor};
use sluice_train::model::{ModelConfig, Params, Transformer};
use sluice_train::train::{train, Metric};
use std::collections::BTreeMap;
use util::*;

/// Acceptance 1: every parameter gets a finite, non-zero gradient, and central
/// finite differences agree with backprop (f64 on CPU), with GQA and doc masking on.
#[test]
fn gradients_are_finite_nonzero_and_match_finite_differences() {
    let dev = Device::Cpu;
    let mut cfg = ModelConfig::preset("tiny", 61).unwrap();
    cfg.max_seq_len = 12;
    let params = Params::init(&cfg, 7, DType::F64, &dev).unwrap();
    // Larger-than-init weights so the check is not dominated by near-zero values.
    for (name, v) in &params.vars {
        if !name.contains("norm") {
            v.set(&(v.as_tensor() * 5.0).unwrap()).unwrap();
        } else {
            let n = v.as_tensor().dims()[0];
            let w: Vec<f64> = (0..n).map(|i| 1.0 + 0.1 * ((i * 7 % 11) as f64 - 5.0) / 5.0).collect();
            v.set(&Tensor::from_vec(w, n, &dev).unwrap()).unwrap();
        }
    }
    let model = Transformer::new(&cfg, DType::F64, &dev).unwrap();
    let toks: Vec<u32> = (0..24).map(|i| (i * 37 + 11) % 61).collect();
    let tgts: Vec<u32> = (0..24).map(|i| (i * 53 + 5) % 61).collect();
    let docs: Vec<u32> = vec![0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
    let x = Tensor::from_vec(toks, (2, 12), &dev).unwrap();
    let y = Tensor::from_vec(tgts, (2, 12), &dev).unwrap();
    let loss_of = |ws: &BTreeMap<String, Tensor>| model.loss(ws, &x, &y, Some(&docs)).unwrap();
    let loss = loss_of(&params.tensors());
    let grads = loss.backward().unwrap();
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    for (name, var) in &params.vars {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name} got no gradient"));
        let gv = g.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        assert!(gv.iter().all(|x| x.is_finite()), "{name}: non-finite gradient");
        let l1: f64 = gv.iter().map(|x| x.abs()).sum();
        assert!(l1 > 0.0, "{name}: gradient is all zero");
        // Check the 3 largest-gradient entries and one arbitrary entry.
        let mut idx: Vec<usize> = (0..gv.len()).collect();
        idx.sort_by(|&a, &b| gv[b].abs().partial_cmp(&gv[a].abs()).unwrap());
        let mut picks: Vec<usize> = idx[..3.min(idx.len())].to_vec();
        picks.push(gv.len() / 2);
        let orig = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let shape = var.as_tensor().shape().clone();
        for &i in &picks {
            let h = 1e-5;
            let mut plus = orig.clone();
            plus[i] += h;
            var.set(&Tensor::from_vec(plus, shape.clone(), &dev).unwrap()).unwrap();
            let lp = loss_of(&params.tensors()).to_scalar::<f64>().unwrap();
            let mut minus = orig.clone();
            minus[i] -= h;
            var.set(&Tensor::from_vec(minus, shape.clone(), &dev).unwrap()).unwrap();
            let lm = loss_of(&params.tensors()).to_scalar::<f64>().unwrap();
            var.set(&Tensor::from_vec(orig.clone(), shape.clone(), &dev).unwrap()).unwrap();
            let fd = (lp - lm) / (2.0 * h);
            let err = (fd - gv[i]).abs() / (fd.abs() + gv[i].abs()).max(1e-6);
            assert!(err < 1e-4, "{name}[{i}]: finite difference {fd:e} vs backprop {:e} (rel err {err:e})", gv[i]);
            worst = worst.max(err);
            checked += 1;
        }
    }
    eprintln!("gradient check: {checked} entries over {} tensors, worst relative error {worst:.2e}", params.vars.len());
}

/// Acceptance 2a: the tiny model memorises one batch.
#[test]
fn tiny_overfits_one_batch() {
    let dev = Device::Cpu;
    let cfg = ModelConfig::preset("tiny", 128).unwrap();
    let params = Params::init(&cfg, 3, DType::F32, &dev).unwrap();
    let model = Transformer::new(&cfg, DType::F32, &dev).unwrap();
    let mut rng = sluice_train::shards::Rng::new(9);
    let toks: Vec<u32> = (0..4 * 33).map(|_| rng.below(128) as u32).collect();
    let (mut xs, mut ys) = (vec![], vec![]);
    for r in toks.chunks(33) {
        xs.extend_from_slice(&r[..32]);
        ys.extend_from_slice(&r[1..]);
    }
    let x = Tensor::from_vec(xs, (4, 32), &dev).unwrap();
    let y = Tensor::from_vec(ys, (4, 32), &dev).unwrap();
    let mut opt =
        sluice_train::optim::AdamW::new(sluice_train::optim::AdamWConfig { weight_decay: 0.0, ..Default::default() }, &params.vars)
            .unwrap();
    let mut first = None;
    let mut last = 0.0;
    for step in 0..150 {
        let loss = model.loss(&params.tensors(), &x, &y, None).unwrap();
        last = loss.to_scalar::<f32>().unwrap() as f64;
        first.get_or_insert(last);
        let gs = loss.backward().unwrap();
        let mut grads: BTreeMap<String, Tensor> =
            params.vars.iter().map(|(k, v)| (k.clone(), gs.get(v.as_tensor()).unwrap().clone())).collect();
        sluice_train::optim::clip_grad_norm(&mut grads, 1.0).unwrap();
        opt.step(&params.vars, &grads, if step < 10 { 3e-3 * (step + 1) as f64 / 10.0 } else { 3e-3 }).unwrap();
    }
    eprintln!("overfit one batch: loss {:.4} -> {last:.5}", first.unwrap());
    assert!(first.unwrap() > 4.0, "initial loss should be near ln(128) = 4.85");
    assert!(last < 0.05, "tiny did not overfit one batch: final loss {last}");
}

/// Acceptance 3: stop at step k, resume, and steps k+1..n are bit-identical.
#[test]
fn resume_is_bit_identical_on_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    write_synthetic_shards(&shards, 96, 6000, 2);
    let cfg = tiny_config(&shards, 96, 8);
    let dev = Device::Cpu;
    let full = train(&cfg, &dir.path().join("full"), false, None, &dev, &mut |_| {}).unwrap();
    let run = dir.path().join("split");
    let first = train(&cfg, &run, false, Some(3), &dev, &mut |_| {}).unwrap();
    assert_eq!(first.final_step, 3);
    // Resuming over a run without --resume is refused.
    assert!(train(&cfg, &run, false, None, &dev, &mut |_| {}).is_err());
    let second = train(&cfg, &run, true, None, &dev, &mut |_| {}).unwrap();
    let losses = |ms: &[Metric], kind: &str| -> Vec<(usize, u64)> {
        ms.iter().filter(|m| m.kind == kind).map(|m| (m.step, m.loss.to_bits())).collect()
    };
    let want = losses(&full.metrics, "train");
    assert_eq!(want.len(), 8);
    assert_eq!(losses(&second.metrics, "train"), want, "train losses after resume differ");
    assert_eq!(losses(&second.metrics, "val"), losses(&full.metrics, "val"));
    // The metrics file of the resumed run holds the full, identical curve.
    let on_disk = read_metrics(&run.join("metrics.jsonl"));
    assert_eq!(losses(&on_disk, "train"), want);
    // Final weights are identical too.
    let a = std::fs::read(full.last_checkpoint.unwrap().join("model.safetensors")).unwrap();
    let b = std::fs::read(second.last_checkpoint.unwrap().join("model.safetensors")).unwrap();
    assert!(a == b, "final weights differ after resume");
    // Checkpoints are complete directories; no temporary leftovers.
    for e in std::fs::read_dir(run.join("checkpoints")).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!n.contains(".tmp"), "leftover {n}");
    }
    assert!(run.join("loss.svg").exists());
}

#[test]
fn gradient_accumulation_equals_one_big_batch() {
    // Same tokens per step, 1 x 4 sequences vs 2 x 2: the losses agree closely.
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    write_synthetic_shards(&shards, 96, 6000, 2);
    let mut a = tiny_config(&shards, 96, 3);
    a.eval_every = 0;
    let mut b = a.clone();
    b.micro_batch = 2;
    let dev = Device::Cpu;
    let ra = train(&a, &dir.path().join("a"), false, None, &dev, &mut |_| {}).unwrap();
    let rb = train(&b, &dir.path().join("b"), false, None, &dev, &mut |_| {}).unwrap();
    for (x, y) in ra.metrics.iter().zip(&rb.metrics) {
        assert!((x.loss - y.loss).abs() < 1e-4, "{} vs {}", x.loss, y.loss);
        assert!((x.grad_norm.unwrap() - y.grad_norm.unwrap()).abs() < 1e-3);
    }
}

#[test]
fn divergence_stops_with_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    write_synthetic_shards(&shards, 96, 6000, 2);
    let mut cfg = tiny_config(&shards, 96, 50);
    cfg.schedule.lr = 1e30;
    cfg.schedule.min_lr = 1e30;
    cfg.schedule.warmup = 0;
    cfg.grad_clip = 0.0;
    let e = train(&cfg, &dir.path().join("run"), false, None, &Device::Cpu, &mut |_| {}).err().expect("should diverge");
    let msg = e.to_string();
    assert!(msg.contains("diverged at step") && (msg.contains("loss") || msg.contains("gradient norm")), "{msg}");
}

#[test]
fn bad_shard_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    write_synthetic_shards(&shards, 96, 6000, 2);
    let f = shards.join("train-00000.bin");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&f, bytes).unwrap();
    let cfg = tiny_config(&shards, 96, 2);
    let msg = train(&cfg, &dir.path().join("run"), false, None, &Device::Cpu, &mut |_| {}).err().unwrap().to_string();
    assert!(msg.contains("train-00000.bin"), "{msg}");
}

/// Acceptance 2b (small scale, CI-fast) + eval and export on real files: BPE
/// shards from the reference texts, tiny trained briefly, validation loss falls,
/// every eval task parses its real file and scores.
#[test]
fn real_data_train_eval_export() {
    let data = require_data();
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    let m = sluice_train::refdata::make_reference_shards(
        &shards,
        &sluice_train::refdata::RefShardsConfig { data_dir: data.clone(), vocab_size: 512, max_bytes: 400_000, val_every: 10 },
    )
    .unwrap();
    assert_eq!(m.vocab_size, 512);
    let mut cfg = tiny_config(&shards, 512, 30);
    cfg.seq_len = 64;
    cfg.batch_tokens = 8 * 64;
    cfg.micro_batch = 8;
    cfg.schedule = sluice_train::optim::Schedule { lr: 3e-3, min_lr: 3e-4, warmup: 3, total: 30 };
    cfg.eval_every = 10;
    cfg.eval_batches = 4;
    cfg.doc_mask = true;
    let run = dir.path().join("run");
    let out = train(&cfg, &run, false, None, &Device::Cpu, &mut |_| {}).unwrap();
    let val: Vec<f64> = out.metrics.iter().filter(|m| m.kind == "val").map(|m| m.loss).collect();
    eprintln!("real-data tiny val curve: {val:?}");
    assert_eq!(val.len(), 3);
    assert!(val[2] < val[0] && val[0] < (512f64).ln() + 0.1, "validation loss did not fall: {val:?}");

    // Export: the HF files are there and the weights round-trip.
    let hf = dir.path().join("hf");
    sluice_train::export::export(&run, &hf, Some(&shards.join("tokenizer.json"))).unwrap();
    let conf: serde_json::Value = serde_json::from_slice(&std::fs::read(hf.join("config.json")).unwrap()).unwrap();
    assert_eq!(conf["vocab_size"], 512);
    assert_eq!(conf["num_key_value_heads"], 2);
    assert!(hf.join("tokenizer.json").exists());
    let w = candle_core::safetensors::load(hf.join("model.safetensors"), &Device::Cpu).unwrap();
    assert!(w.contains_key("model.layers.1.mlp.down_proj.weight"));

    // Eval: every task on its real file, a few items each.
    let scorer = sluice_train::eval::Scorer::load(&run, Some(&shards.join("tokenizer.json")), &Device::Cpu, 8).unwrap();
    let opts = sluice_train::eval::EvalOptions { data_dir: data, limit: Some(3), shots: 1, save_items: true };
    for t in sluice_train::eval::TASKS {
        let r = sluice_train::eval::run_task(&scorer, t, &opts).unwrap();
        assert!(r.n > 0, "{t}: no items");
        for (k, v) in &r.metrics {
            assert!(v.is_finite(), "{t} {k} = {v}");
        }
    }
    // Batching does not change scores: one at a time vs all together.
    let reqs = vec![
        scorer.request("The cat sat on the", " mat").unwrap(),
        scorer.request("A much longer context that goes on and on about", " nothing at all").unwrap(),
        scorer.request("Short", " one").unwrap(),
    ];
    let together = scorer.score(&reqs).unwrap();
    for (r, s) in reqs.iter().zip(&together) {
        let alone = scorer.score(std::slice::from_ref(r)).unwrap()[0];
        assert!((alone.logprob - s.logprob).abs() < 1e-4, "{} vs {}", alone.logprob, s.logprob);
        assert_eq!(alone.greedy, s.greedy);
    }
}

/// `sluice train` arguments as the command line gives them.
fn train_args(argv: &[&str]) -> sluice_train::cli::TrainArgs {
    use clap::{Args, FromArgMatches};
    let cmd = sluice_train::cli::TrainArgs::augment_args(clap::Command::new("train")).no_binary_name(true);
    sluice_train::cli::TrainArgs::from_arg_matches(&cmd.try_get_matches_from(argv).unwrap()).unwrap()
}

fn rewrite_manifest(shards: &std::path::Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let p = shards.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
}

/// Issue 21, hole 3: a manifest naming `/etc/passwd` (or `../x`) as its
/// tokenizer made `sluice train` copy that file into the run directory.
#[test]
fn manifest_tokenizer_outside_the_shard_directory_is_refused_and_nothing_is_copied() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    write_synthetic_shards(&shards, 96, 6000, 2);
    std::fs::write(dir.path().join("secret.json"), b"{\"secret\": 1}").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.json"), shards.join("link.json")).unwrap();
    let run = dir.path().join("run");
    for bad in ["/etc/passwd", "../secret.json", "sub/../../secret.json", "link.json"] {
        rewrite_manifest(&shards, |m| m["tokenizer"] = bad.into());
        let args = train_args(&["--shards", shards.to_str().unwrap(), "--out", run.to_str().unwrap(), "--preset", "tiny", "--steps", "1"]);
        let e = format!("{:#}", sluice_train::cli::run_train(&args).unwrap_err());
        assert!(e.contains("manifest.json") && e.contains(bad), "{bad}: {e}");
        assert!(!run.join("tokenizer.json").exists(), "{bad}: copied into the run");
    }
    // A tokenizer inside the directory whose bytes differ from the recorded hash.
    std::fs::write(shards.join("tokenizer.json"), b"{}").unwrap();
    rewrite_manifest(&shards, |m| {
        m["tokenizer"] = "tokenizer.json".into();
        m["tokenizer_sha256"] = "00".repeat(32).into();
    });
    let args = train_args(&["--shards", shards.to_str().unwrap(), "--out", run.to_str().unwrap(), "--preset", "tiny", "--steps", "1"]);
    let e = format!("{:#}", sluice_train::cli::run_train(&args).unwrap_err());
    assert!(e.contains("tokenizer.json") && e.contains("sha256"), "{e}");
    assert!(!run.join("tokenizer.json").exists());
}

/// Issue 21, hole 3: a shard entry `../../../../etc/passwd` was opened.
#[test]
fn manifest_shard_outside_the_shard_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    write_synthetic_shards(&shards, 96, 6000, 2);
    std::fs::copy(shards.join("val-00000.bin"), dir.path().join("outside.bin")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.bin"), shards.join("link.bin")).unwrap();
    for bad in ["../../../../etc/passwd", "/etc/passwd", "../outside.bin", "link.bin", "./train-00000.bin", "."] {
        rewrite_manifest(&shards, |m| m["shards"][1]["file"] = bad.into());
        let e = sluice_train::shards::ShardSet::open(&shards).unwrap_err().to_string();
        assert!(e.contains("manifest.json") && e.contains(bad), "{bad}: {e}");
    }
    // A shard whose size disagrees with the manifest is refused before it is read.
    rewrite_manifest(&shards, |m| {
        m["shards"][1]["file"] = "val-00000.bin".into();
        m["shards"][1]["tokens"] = 1_000_000_000u64.into();
    });
    let e = sluice_train::shards::ShardSet::open(&shards).unwrap().load("val").unwrap_err().to_string();
    assert!(e.contains("val-00000.bin") && e.contains("bytes"), "{e}");
}

/// Issue 21, hole 10: a bit flip in a checkpoint's tensors resumed silently.
#[test]
fn checkpoint_bit_flip_is_an_error_on_resume_eval_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    write_synthetic_shards(&shards, 96, 6000, 2);
    let cfg = tiny_config(&shards, 96, 6);
    let run = dir.path().join("run");
    let dev = Device::Cpu;
    let first = train(&cfg, &run, false, Some(3), &dev, &mut |_| {}).unwrap();
    let ck = first.last_checkpoint.unwrap();
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(ck.join("state.json")).unwrap()).unwrap();
    assert_eq!(state["files"].as_object().unwrap().len(), 2, "{state}");
    for file in ["model.safetensors", "optimizer.safetensors"] {
        let p = ck.join(file);
        let orig = std::fs::read(&p).unwrap();
        let mut b = orig.clone();
        let at = b.len() - 5; // inside the tensor data, not the header
        b[at] ^= 0x10;
        std::fs::write(&p, &b).unwrap();
        let e = train(&cfg, &run, true, None, &dev, &mut |_| {}).err().expect("resume must fail").to_string();
        assert!(e.contains(file) && e.contains("sha256"), "{e}");
        if file == "model.safetensors" {
            let e = sluice_train::export::export(&run, &dir.path().join("hf"), None).unwrap_err().to_string();
            assert!(e.contains(file) && e.contains("sha256"), "{e}");
        }
        std::fs::write(&p, &orig).unwrap();
    }
    // A checkpoint without recorded hashes is refused, not trusted.
    let mut st = state.clone();
    st.as_object_mut().unwrap().remove("files");
    std::fs::write(ck.join("state.json"), serde_json::to_vec(&st).unwrap()).unwrap();
    let e = train(&cfg, &run, true, None, &dev, &mut |_| {}).err().unwrap().to_string();
    assert!(e.contains("records no sha256"), "{e}");
    std::fs::write(ck.join("state.json"), serde_json::to_vec(&state).unwrap()).unwrap();
    // `latest` may not point outside checkpoints/.
    let latest = run.join("checkpoints/latest");
    let name = std::fs::read_to_string(&latest).unwrap();
    std::fs::write(&latest, "../../shards").unwrap();
    let e = sluice_train::checkpoint::latest(&run).unwrap_err().to_string();
    assert!(e.contains("not a checkpoint directory"), "{e}");
    std::fs::write(&latest, name).unwrap();
    // Intact, it resumes to the end.
    assert_eq!(train(&cfg, &run, true, None, &dev, &mut |_| {}).unwrap().final_step, 6);
}
