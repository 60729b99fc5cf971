"""Interop of sluice's fastText classifier with Python fastText (issue 16, acceptance 1).

- A model trained by Python fastText (softmax, one-vs-all, hierarchical softmax, word
  bigrams + char n-grams, quantized .ftz) and scored by `sluice classifier predict
  --probs`: every label's probability equals Python fastText's `predict(k=-1,
  threshold=0)` within 1e-5, on every held-out document.
- The reverse: a model trained by `sluice classifier train` loads in Python fastText,
  which gives the same labels and probabilities (within 1e-5) as sluice on every
  held-out document.
- Two sluice trainings give byte-identical .bin files.

Real text from ../shared/data (SLUICE_TEST_DATA): WikiText-2 paragraphs, Pride and
Prejudice paragraphs, CMRC (Chinese Wikipedia) paragraphs and CLUE documents, one
label each; held out by document (hash of the document id).

    fasttext/scripts/ci-python.sh     (venv with fasttext-wheel, numpy, pytest)
Env: SLUICE_BIN (the sluice binary), SLUICE_TEST_DATA.
"""

import hashlib
import json
import os
import re
import subprocess

import fasttext
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA = os.environ.get("SLUICE_TEST_DATA", os.path.join(REPO, "..", "shared", "data"))
SLUICE = os.environ.get("SLUICE_BIN", os.path.join(REPO, "target", "debug", "sluice"))
TOL = 1e-5
PER_LABEL_TRAIN = 500
PER_LABEL_TEST = 60

# fastText's Python wrapper prints a warning on every load; keep the output readable.
fasttext.FastText.eprint = lambda *a, **k: None

BASE = dict(dim=16, epoch=5, lr=0.5, minCount=1, wordNgrams=1, minn=0, maxn=0, bucket=0, loss="softmax")
CONFIGS = {
    "softmax": dict(BASE),
    "ova": dict(BASE, loss="ova"),
    "hs": dict(BASE, loss="hs"),
    "ngrams": dict(BASE, wordNgrams=2, minn=2, maxn=5, bucket=20000),
}
# Odd but valid inputs, scored beside the held-out documents.
EDGE_CASES = [
    "",
    "   ",
    "a",
    "tabs\tand\x0bvertical\x0cfeeds\rcarriage returns",
    "__label__wiki is a label token inside the text",
    "日本語のテキスト、全角スペース\u3000も含む",
    "é" * 300,
    " ".join(["word"] * 5000),
]


def _fail_without_data():
    if not os.path.isfile(os.path.join(DATA, "README.md")):
        pytest.fail(f"the shared test data is missing at {DATA} (set SLUICE_TEST_DATA)")
    if not os.path.isfile(SLUICE):
        pytest.fail(f"no sluice binary at {SLUICE} (set SLUICE_BIN, or run fasttext/scripts/ci-python.sh)")


def _docs():
    """(id, label, text) of real documents, newline-free."""

    def paras(text):
        return [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]

    out = []
    wiki = open(os.path.join(DATA, "reference", "en", "wiki.validation.raw"), encoding="utf-8").read()
    for i, line in enumerate(wiki.split("\n")):
        line = line.strip()
        if len(line) > 200 and not line.startswith("="):
            out.append((f"wiki:{i}", "wiki", line))
    book = open(os.path.join(DATA, "reference", "en", "Pride_and_Prejudice.txt"), encoding="utf-8-sig").read()
    for i, p in enumerate(paras(book)):
        if len(p) > 150:
            out.append((f"book:{i}", "book", p))
    cmrc = json.load(open(os.path.join(DATA, "zh", "cmrc2018-dev.zh-wikipedia.json"), encoding="utf-8"))
    for art in cmrc["data"]:
        for j, p in enumerate(art["paragraphs"]):
            out.append((f"cmrc:{art['id']}:{j}", "zh", re.sub(r"\s+", " ", p["context"]).strip()))
    clue = open(os.path.join(DATA, "zh", "clue-corpus-small.sample.txt"), encoding="utf-8").read()
    for i, line in enumerate(clue.split("\n")):
        line = re.sub(r"\s+", " ", line).strip()
        if len(line) > 50:
            out.append((f"clue:{i}", "news", line))
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    _fail_without_data()
    d = tmp_path_factory.mktemp("data")
    train, test = [], []
    count = {}
    for doc_id, label, text in _docs():
        held_out = hashlib.sha1(doc_id.encode()).digest()[0] < 40  # ~16% held out
        key = (label, held_out)
        if count.get(key, 0) >= (PER_LABEL_TEST if held_out else PER_LABEL_TRAIN):
            continue
        count[key] = count.get(key, 0) + 1
        (test if held_out else train).append((doc_id, label, text))
    assert all(count.get((l, h), 0) > 20 for l in ("wiki", "book", "zh", "news") for h in (False, True)), count
    train_path = d / "train.txt"
    train_path.write_text("".join(f"__label__{l} {t}\n" for _, l, t in train), encoding="utf-8")
    texts = [t for _, _, t in test]
    return dict(dir=d, train=str(train_path), test_ids=[i for i, _, _ in test], test=texts)


# --- sluice's CLI ------------------------------------------------------------------------------


def sluice_train(train, model, cfg, extra=()):
    cmd = [SLUICE, "classifier", "train", "--input", train, "--output", model]
    flags = dict(dim="--dim", epoch="--epoch", lr="--lr", minCount="--min-count", wordNgrams="--word-ngrams",
                 minn="--minn", maxn="--maxn", bucket="--bucket", loss="--loss")
    for k, v in cfg.items():
        cmd += [flags[k], str(v)]
    r = subprocess.run(cmd + list(extra), capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr}"


def sluice_probs(model, texts, tmp):
    """Every label's probability from `sluice classifier predict --probs`, one dict per text."""
    path = os.path.join(tmp, "input.txt")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.writelines(t + "\n" for t in texts)
    cmd = [SLUICE, "classifier", "predict", "--model", model, "--probs", "--input", path]
    r = subprocess.run(cmd, capture_output=True)
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr.decode(errors='replace')}"
    out = []
    for line in r.stdout.decode("utf-8").split("\n")[:-1]:
        if line.startswith("{"):
            obj = json.loads(line)
            out.append({k: float(v) for k, v in obj.get("probs", obj).items()})
        else:
            f = line.split(" ")
            out.append({f[i]: float(f[i + 1]) for i in range(0, len(f) - 1, 2)})
    assert len(out) == len(texts), f"sluice gave {len(out)} lines for {len(texts)} documents"
    return out


def python_probs(model, texts):
    """Python fastText's probabilities of every label, as `model.predict(text, k=-1, threshold=0.0)`
    gives them (it appends the "\n" that fastText reads as EOS), one text at a time through
    `model.f.predict`, which returns plain floats: the wheel's list path (`multilinePredict`)
    returns corrupted probabilities under numpy 2 (every label gets the top one's value)."""
    out = []
    for t in texts:
        assert "\n" not in t
        out.append({label: float(p) for p, label in model.f.predict(t + "\n", -1, 0.0, "strict")})
    return out


def assert_same(expected, got, ids, what):
    """Every label's probability within TOL, and the same top label unless the top two are within TOL.
    A label missing from one side counts as 0: fastText's hierarchical softmax prunes the labels
    whose probability is below 1e-5 (threshold 0 is log(0 + 1e-5)), which sluice still reports."""
    bad = []
    for doc_id, e, g in zip(ids, expected, got):
        labels = set(e) | set(g)
        diff = max(abs(e.get(l, 0.0) - g.get(l, 0.0)) for l in labels)
        top_e = max(e, key=e.get) if e else None
        top_g = max(g, key=g.get) if g else None
        tie = len(e) > 1 and sorted(e.values())[-1] - sorted(e.values())[-2] <= TOL
        if diff > TOL or (top_e != top_g and not tie):
            bad.append(f"{doc_id}: max |diff| {diff:.3g}, expected {e}, got {g}")
    assert not bad, f"{what}: {len(bad)} of {len(ids)} documents differ, e.g.\n" + "\n".join(bad[:5])


def train_python(data, cfg, path):
    m = fasttext.train_supervised(data["train"], thread=1, verbose=0, seed=0, **cfg)
    m.save_model(str(path))
    return m


# --- tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def models(data):
    """Trained models, each trained once per run: models(tool, name) -> path of the .bin."""
    cache = {}

    def get(tool, name):
        if (tool, name) not in cache:
            path = data["dir"] / f"{tool}-{name}.bin"
            if tool == "python":
                train_python(data, CONFIGS[name], path)
            else:
                sluice_train(data["train"], str(path), CONFIGS[name])
            cache[(tool, name)] = path
        return cache[(tool, name)]

    return get


def texts_and_ids(data):
    return data["test"] + EDGE_CASES, data["test_ids"] + [f"edge:{i}" for i in range(len(EDGE_CASES))]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_python_model_scored_by_sluice(data, models, name, tmp_path):
    path = models("python", name)
    m = fasttext.load_model(str(path))
    texts, ids = texts_and_ids(data)
    assert_same(python_probs(m, texts), sluice_probs(str(path), texts, tmp_path), ids, f"python {name} model")


# Product quantization of every row takes seconds per model here (k-means of 256
# centroids over ~40k rows), so two variants keep the 1000 most important rows
# (`cutoff`: a pruned dictionary, .ftz's pruneidx) and the third quantizes every
# row of a model trained on a twelfth of the lines (~6k rows, no pruneidx).
# qout needs >= 256 labels.
@pytest.mark.parametrize(
    "qargs,small",
    [(dict(cutoff=1000), False), (dict(cutoff=1000, qnorm=True, dsub=4), False), (dict(), True)],
    ids=["cutoff", "cutoff_qnorm", "every_row"],
)
def test_python_quantized_model_scored_by_sluice(data, models, qargs, small, tmp_path):
    if small:
        lines = open(data["train"], encoding="utf-8").readlines()[::12]
        (tmp_path / "small.txt").write_text("".join(lines), encoding="utf-8")
        m = fasttext.train_supervised(str(tmp_path / "small.txt"), thread=1, verbose=0, seed=0, **dict(CONFIGS["ngrams"], bucket=2000))
    else:
        m = fasttext.load_model(str(models("python", "ngrams")))
    m.quantize(**qargs)
    path = tmp_path / "model.ftz"
    m.save_model(str(path))
    m = fasttext.load_model(str(path))
    texts, ids = texts_and_ids(data)
    assert_same(python_probs(m, texts), sluice_probs(str(path), texts, tmp_path), ids, f"python .ftz {qargs}")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_sluice_model_loaded_by_python(data, models, name, tmp_path):
    path = models("sluice", name)
    cfg = CONFIGS[name]
    m = fasttext.load_model(str(path))
    assert m.get_dimension() == cfg["dim"]
    assert sorted(m.get_labels()) == ["__label__book", "__label__news", "__label__wiki", "__label__zh"]
    texts, ids = texts_and_ids(data)
    py = python_probs(m, texts)
    assert_same(py, sluice_probs(str(path), texts, tmp_path), ids, f"sluice {name} model")
    # The model learnt something: held-out documents get their source's label well above chance.
    gold = [i.split(":")[0] for i in data["test_ids"]]
    gold = ["__label__" + {"wiki": "wiki", "book": "book", "cmrc": "zh", "clue": "news"}[g] for g in gold]
    right = sum(max(p, key=p.get) == g for p, g in zip(py, gold))
    assert right / len(gold) > 0.45, f"sluice {name} model: {right}/{len(gold)} held-out documents right (chance: 1/4)"


def test_sluice_training_is_deterministic(data, models, tmp_path):
    again = tmp_path / "again.bin"
    sluice_train(data["train"], str(again), CONFIGS["ngrams"])
    assert again.read_bytes() == models("sluice", "ngrams").read_bytes(), "two sluice trainings of the same data and config differ"
