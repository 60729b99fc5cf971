"""Training speed, sluice against PyTorch (CPU), as whole processes.

    target/py-torch/bin/python trainer/python/speed_vs_torch.py --sluice target/release/sluice --shards DIR

Each side is one process that trains the `small` preset for --steps steps of
--batch x --seq-len tokens from the same shards (the train split, read in
order) with the same thread count: `sluice train` (candle, f32) and this script
in --torch-child mode (HF `LlamaForCausalLM`, the architecture sluice exports
to, with torch.optim.AdamW and gradient clipping: the same work per step,
startup and imports included). The pairs run alternately; the figure is
tokens trained per CPU-second (user + sys of the child process). The median
step rate inside each process (first step excluded) is printed too, labelled
as such. Progress goes to stderr, the table to stdout."""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def shard_tokens(shards, split="train"):
    m = json.load(open(Path(shards) / "manifest.json"))
    out = []
    for s in m["shards"]:
        if s.get("split", "train") != split:
            continue
        raw = open(Path(shards) / s["file"], "rb").read()
        header = np.frombuffer(raw[:1024], dtype="<i4")
        dt = "<u2" if header[0] == 20240520 else "<u4"
        out.append(np.frombuffer(raw[1024:], dtype=dt)[: header[2]].astype(np.int64))
    return np.concatenate(out)


def torch_child(a):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = json.load(open(a.cfg))
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    hf = LlamaConfig(
        vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"], intermediate_size=cfg["intermediate_size"],
        num_hidden_layers=cfg["num_layers"], num_attention_heads=cfg["num_heads"],
        num_key_value_heads=cfg["num_kv_heads"], max_position_embeddings=cfg["max_seq_len"],
        rms_norm_eps=cfg["norm_eps"], rope_theta=cfg["rope_theta"], tie_word_embeddings=cfg["tie_embeddings"],
    )
    model = LlamaForCausalLM(hf).float().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    toks = torch.from_numpy(shard_tokens(a.shards))
    w = a.seq_len + 1
    times = []
    for step in range(a.steps):
        rows = [toks[(step * a.batch + i) * w:(step * a.batch + i + 1) * w] for i in range(a.batch)]
        x = torch.stack(rows)
        t0 = time.perf_counter()
        logits = model(x[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
        print(f"torch step {step + 1}: loss {loss.item():.3f}, {time.perf_counter() - t0:.2f} s", file=sys.stderr)
    print(json.dumps({"step_tokens_per_s": a.batch * a.seq_len / statistics.median(times[1:])}))


def timed(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        sys.exit(f"failed: {' '.join(cmd)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", required=True)
    ap.add_argument("--sluice", default=os.environ.get("SLUICE_BIN", "target/release/sluice"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--pairs", type=int, default=2)
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cfg", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_child:
        return torch_child(a)

    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    tokens = a.steps * a.batch * a.seq_len
    res = {"sluice": [], "torch": []}
    with tempfile.TemporaryDirectory(prefix="sluice-speed-") as tmp:
        cfg_path = f"{tmp}/model.json"
        for i in range(a.pairs):
            run = f"{tmp}/run{i}"
            cmd = [a.sluice, "train", "--shards", a.shards, "--preset", "small", "--out", run,
                   "--steps", str(a.steps), "--seq-len", str(a.seq_len), "--batch-tokens", str(a.batch * a.seq_len),
                   "--eval-every", "0", "--ckpt-every", "0", "--seed", "0"]
            cpu, wall, _ = timed(cmd, env)
            ms = [json.loads(l) for l in open(f"{run}/metrics.jsonl")]
            step = statistics.median([m["tokens_per_s"] for m in ms if m["kind"] == "train"][1:])
            if i == 0:
                json.dump(json.load(open(f"{run}/train_config.json"))["model"], open(cfg_path, "w"))
            res["sluice"].append((cpu, wall, step))
            print(f"pair {i + 1}: sluice {cpu:.1f} CPU-s, {wall:.1f} s wall", file=sys.stderr)
            cmd = [sys.executable, __file__, "--torch-child", "--cfg", cfg_path, "--shards", a.shards,
                   "--threads", str(a.threads), "--seq-len", str(a.seq_len), "--batch", str(a.batch), "--steps", str(a.steps)]
            cpu, wall, out = timed(cmd, env)
            res["torch"].append((cpu, wall, json.loads(out.strip().splitlines()[-1])["step_tokens_per_s"]))
            print(f"pair {i + 1}: torch {cpu:.1f} CPU-s, {wall:.1f} s wall", file=sys.stderr)
        cfg = json.load(open(cfg_path))

    import torch
    import transformers

    med = {k: [statistics.median(x[j] for x in v) for j in range(3)] for k, v in res.items()}
    print(f"`small` preset (hidden {cfg['hidden_size']}, {cfg['num_layers']} layers, vocab {cfg['vocab_size']}), "
          f"{a.steps} steps x {a.batch} x {a.seq_len} tokens = {tokens} tokens per process, {a.threads} threads, "
          f"{a.pairs} pairs run alternately, medians; torch {torch.__version__} (CPU), transformers {transformers.__version__}")
    print()
    print("| whole process | CPU-seconds | wall seconds | tokens per CPU-second | in-process median step, tokens/s (wall) |")
    print("|---|---|---|---|---|")
    for k, name in (("sluice", "sluice train"), ("torch", "PyTorch (HF Llama, AdamW)")):
        cpu, wall, step = med[k]
        print(f"| {name} | {cpu:.1f} | {wall:.1f} | {tokens / cpu:.1f} | {step:.1f} |")
    print()
    print(f"ratio sluice / PyTorch, tokens per CPU-second (whole process): {med['torch'][0] / med['sluice'][0]:.2f}")
    print(f"ratio sluice / PyTorch, in-process median step rate: {med['sluice'][2] / med['torch'][2]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
