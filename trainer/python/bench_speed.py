"""Speed: tokens/s of one `small` training step, sluice (candle, CPU) against
PyTorch (CPU) on the same model config, batch and thread count, in one run.

    .venv/bin/python trainer/python/bench_speed.py --shards DIR [--threads 2]

The PyTorch side is HF's LlamaForCausalLM (the architecture sluice exports to)
with torch.optim.AdamW and gradient clipping: the same work per step."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def torch_tokens_per_s(cfg, seq_len, batch, steps, threads):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    hf = LlamaConfig(
        vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"], intermediate_size=cfg["intermediate_size"],
        num_hidden_layers=cfg["num_layers"], num_attention_heads=cfg["num_heads"],
        num_key_value_heads=cfg["num_kv_heads"], max_position_embeddings=cfg["max_seq_len"],
        rms_norm_eps=cfg["norm_eps"], rope_theta=cfg["rope_theta"], tie_word_embeddings=cfg["tie_embeddings"],
    )
    model = LlamaForCausalLM(hf).float().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps):
        x = torch.randint(0, cfg["vocab_size"], (batch, seq_len + 1), generator=g)
        t0 = time.perf_counter()
        logits = model(x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    return batch * seq_len / statistics.median(times[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", required=True, help="shard dir with a manifest (vocab size comes from it)")
    ap.add_argument("--bin", default=os.environ.get("SLUICE_TRAIN_BIN", str(REPO / "target/release/examples/train_cli")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=6)
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
        cmd = [a.bin, "train", "--shards", a.shards, "--preset", "small", "--out", f"{tmp}/run",
               "--steps", str(a.steps), "--seq-len", str(a.seq_len), "--batch-tokens", str(a.batch * a.seq_len),
               "--eval-every", "0", "--ckpt-every", "0"]
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        ms = [json.loads(l) for l in open(f"{tmp}/run/metrics.jsonl")]
        ours = statistics.median([m["tokens_per_s"] for m in ms if m["kind"] == "train"][1:])
        cfg = json.load(open(f"{tmp}/run/train_config.json"))["model"]
    theirs = torch_tokens_per_s(cfg, a.seq_len, a.batch, a.steps, a.threads)
    print(json.dumps({"threads": a.threads, "seq_len": a.seq_len, "batch": a.batch, "model": cfg,
                      "sluice_tokens_per_s": round(ours, 1), "torch_tokens_per_s": round(theirs, 1),
                      "ratio_sluice_over_torch": round(ours / theirs, 3)}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
