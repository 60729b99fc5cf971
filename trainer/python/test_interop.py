"""Interop: a sluice checkpoint exported to HF Llama format loads in transformers
and gives the same logits and the same HellaSwag scores as sluice itself."""

import json
import math
import re

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM

from conftest import run

EOS = "<|endoftext|>"


def load(artifacts):
    model = LlamaForCausalLM.from_pretrained(artifacts["hf"], dtype=torch.float32)
    model.eval()
    tok = Tokenizer.from_file(str(artifacts["hf"] / "tokenizer.json"))
    return model, tok


def test_config_and_weights_load_cleanly(artifacts):
    cfg = json.loads((artifacts["hf"] / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"]
    model, _ = load(artifacts)
    n = sum(p.numel() for p in model.parameters())
    assert 0.3e6 < n < 2e6, n


def test_logits_match_transformers(artifacts):
    model, tok = load(artifacts)
    texts = [
        "It is a truth universally acknowledged, that a single man in possession of a good fortune",
        "Call me Ishmael. Some years ago, never mind how long precisely, having little or no money",
    ]
    ids = [tok.encode(t, add_special_tokens=False).ids for t in texts]
    n = min(len(i) for i in ids)
    ids = [i[:n] for i in ids]
    work = artifacts["work"]
    (work / "ids.json").write_text(json.dumps(ids))
    run("logits", "--checkpoint", artifacts["run"], "--tokens", work / "ids.json", "--out", work / "logits.json")
    ours = np.array(json.loads((work / "logits.json").read_text()), dtype=np.float64)
    with torch.no_grad():
        theirs = model(torch.tensor(ids)).logits.double().numpy()
    diff = np.abs(ours - theirs).max()
    print(f"max |logit diff| = {diff:.3e} over {ours.size} logits")
    assert ours.shape == theirs.shape
    assert diff < 1e-4


def preprocess(text):
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def hellaswag_items(path, limit):
    lines = path.read_text(encoding="utf-8").split("\n")
    items = []
    for k in range(limit):
        g = lines[6 * k: 6 * k + 6]
        items.append((preprocess(g[0]), int(g[1]), [" " + preprocess(e) for e in g[2:6]]))
    return items


def encode_pair(model, tok, eos_id, context, continuation):
    # lm-eval-harness split: trailing whitespace of the context moves to the continuation.
    stripped = context.rstrip()
    continuation = context[len(stripped):] + continuation
    ctx = [eos_id] + tok.encode(stripped, add_special_tokens=False).ids
    cont = tok.encode(continuation, add_special_tokens=False).ids
    full = (ctx + cont)[-(model.config.max_position_embeddings + 1):]
    return full, len(cont)


def logliks(model, tok, eos_id, pairs):
    """Sum of continuation log-probs for each (context, continuation), in one
    right-padded batch (padding after a sequence cannot affect it: causal)."""
    rows = [encode_pair(model, tok, eos_id, c, x) for c, x in pairs]
    t = max(len(f) - 1 for f, _ in rows)
    inp = torch.zeros((len(rows), t), dtype=torch.long)
    for i, (f, _) in enumerate(rows):
        inp[i, : len(f) - 1] = torch.tensor(f[:-1])
    with torch.no_grad():
        lp = torch.log_softmax(model(inp).logits.double(), dim=-1)
    out = []
    for i, (f, n_cont) in enumerate(rows):
        tgt = f[1:]
        n = len(tgt)
        out.append(sum(lp[i, p, tgt[p]].item() for p in range(n - n_cont, n)))
    return out


def test_hellaswag_scores_match_python(artifacts):
    model, tok = load(artifacts)
    eos_id = tok.token_to_id(EOS)
    items = hellaswag_items(artifacts["data"] / "eval" / "hellaswag" / "hellaswag_val_full.txt", artifacts["items"])
    res = artifacts["eval"]["results"][0]
    assert res["task"] == "hellaswag" and res["n"] == len(items)
    acc = acc_norm = 0
    worst = 0.0
    for (ctx, gold, endings), ours in zip(items, res["items"]):
        lls = logliks(model, tok, eos_id, [(ctx, e) for e in endings])
        pred = int(np.argmax(lls))
        pred_norm = int(np.argmax([l / len(e) for l, e in zip(lls, endings)]))
        acc += pred == gold
        acc_norm += pred_norm == gold
        worst = max(worst, max(abs(a - b) for a, b in zip(lls, ours["logprobs"])))
        assert ours["gold"] == gold
    py = {"acc": acc / len(items), "acc_norm": acc_norm / len(items)}
    print(f"HellaSwag ({len(items)} items): python {py}, sluice {res['metrics']}, worst |ll diff| {worst:.2e}")
    assert worst < 1e-3
    assert math.isclose(py["acc"], res["metrics"]["acc"])
    assert math.isclose(py["acc_norm"], res["metrics"]["acc_norm"])
