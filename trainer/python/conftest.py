"""Shared fixtures: build a small real model with the sluice trainer CLI once per
session (reference shards -> tiny model -> HF export -> HellaSwag eval)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _bin() -> str:
    b = os.environ.get("SLUICE_TRAIN_BIN")
    if not b:
        target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
        b = str(Path(target) / "debug" / "examples" / "train_cli")
    if not Path(b).exists():
        pytest.fail(f"sluice trainer binary not found at {b}: run trainer/scripts/ci-python.sh or set SLUICE_TRAIN_BIN")
    return b


def _data() -> Path:
    d = Path(os.environ.get("SLUICE_DATA", REPO.parent / "shared" / "data"))
    if not (d / "eval" / "hellaswag" / "hellaswag_val_full.txt").exists():
        pytest.fail(f"shared data not found at {d} (set SLUICE_DATA)")
    return d


def run(*args):
    r = subprocess.run([_bin(), *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args[:1]))} failed:\n{r.stderr}")
    return r


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """Paths of the shard dir, run dir, HF export and HellaSwag results."""
    work = Path(os.environ.get("SLUICE_INTEROP_DIR", tmp_path_factory.mktemp("interop")))
    data = _data()
    shards, runs, hf = work / "shards", work / "run", work / "hf"
    if not (shards / "manifest.json").exists():
        run("make-shards", "--out", shards, "--vocab-size", "1024", "--max-bytes", "3000000", "--data", data)
    if not (runs / "checkpoints" / "latest").exists():
        run("train", "--shards", shards, "--preset", "tiny", "--out", runs, "--steps", "80",
            "--seq-len", "128", "--batch-tokens", "2048", "--lr", "3e-3", "--eval-every", "50",
            "--ckpt-every", "80", "--seed", "1")
    run("export", "--checkpoint", runs, "--out", hf)
    items = int(os.environ.get("SLUICE_HELLASWAG_ITEMS", "200"))
    evj = work / "hellaswag.json"
    run("eval", "--checkpoint", runs, "--tasks", "hellaswag", "--limit", items, "--save-items",
        "--json", evj, "--data", data)
    return {"shards": shards, "run": runs, "hf": hf, "eval": json.loads(evj.read_text()),
            "data": data, "items": items, "work": work}
