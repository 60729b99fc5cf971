#!/usr/bin/env python3
"""Build the labelled language-ID sample set from ../shared/data (stdlib only).

Writes one JSON object a line: {lang, bucket, split, source, doc, text}.

How each label is established (never by a language detector):
- en: WikiText-2 articles (English Wikipedia) and the Project Gutenberg novels
  in reference/en (English editions; the Gutenberg licence header is cut).
- zh: zh/clue-corpus-small (Chinese web/news/comments), zh/cmrc2018 (Chinese
  Wikipedia), reference/zh (红楼梦).
- ja: the Common Crawl sample's documents whose CJK letters are at least 20%
  kana (Japanese writes kana in every sentence; Chinese and Korean text has
  none); only their segments that are mostly CJK letters are used (the Latin
  menus and English names around them are not labelled).
- de, es, fr, pl, hu, en-web: trafilatura eval pages, labelled by the page's
  declared `<html lang>`; text = the gold `with` snippets (main text a human
  marked) and the page's <p> paragraphs. A page can quote another language:
  that is label noise, kept (it is what a detector meets). Pages whose
  declared language is not the language of their text (found by reading every
  non-German page) are listed in web_exclude.tsv and left out.
- it, pt, nl, ru, fr, de, es (cc): Common Crawl sample documents whose host is a
  language edition (`it.wikipedia.org`) or a country TLD of a one-language
  country (.it, .de/.at, .fr, .br/.pt, .nl, .ru, .pl, .es), segments that are
  mostly letters of the language's script (Cyrillic for ru, Latin otherwise).
  Host-labelled crawl text is noisier (English menus on a .de site): these
  rows are reported as their own source. Documents whose text is mostly in
  another language than the host suggests, found by reading every
  host-labelled document, are listed in cc_exclude.tsv and left out.

Every sample is text, not a code: letters are at least 60% of its non-space
characters (ISBNs, dates, prices, phone numbers are left out).
Buckets by character count of the sample: short = 20-49, mid = 50-200,
long = 201-2000 (consecutive sentences joined until > 200 characters).
Split: by document (sha1 of source+doc id), ~50% tune, ~50% heldout.
"""
import gzip, hashlib, html.parser, json, os, re, sys

DATA = os.environ.get("SLUICE_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
if not os.path.isdir(DATA):
    sys.exit(f"test data not found at {DATA} (set SLUICE_TEST_DATA)")
CAP = int(os.environ.get("LANGID_CAP", "250"))  # rows per (lang, source, bucket)

SENT = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n+")


def split_of(source, doc):
    return "tune" if hashlib.sha1(f"{source}/{doc}".encode()).digest()[0] < 128 else "heldout"


def bucket(n):
    if 20 <= n < 50:
        return "short"
    if 50 <= n <= 200:
        return "mid"
    if 200 < n <= 2000:
        return "long"
    return None


def segments(text):
    """Sentences (short/mid) and runs of consecutive sentences > 200 chars (long)."""
    sents = [s.strip() for s in SENT.split(text) if s and s.strip()]
    out = []
    for s in sents:
        if bucket(len(s)) in ("short", "mid"):
            out.append(s)
    run = ""
    for s in sents:
        run = f"{run} {s}" if run and not is_cjk(s[:1]) else run + s
        if len(run) > 200:
            if len(run) <= 2000:
                out.append(run)
            run = ""
    return out


def is_cjk(c):
    return bool(c) and ("\u3040" <= c <= "\u30ff" or "\u4e00" <= c <= "\u9fff")


def letters_share(s, pred):
    letters = [c for c in s if c.isalpha()]
    return sum(1 for c in letters if pred(c)) / len(letters) if letters else 0.0


def latin(c):
    return c.isascii() or "\u00c0" <= c <= "\u024f"


def cyrillic(c):
    return "\u0400" <= c <= "\u04ff"


rows = {}


def texty(s):
    """Text, not a code: letters are at least 60% of the non-space characters
    (drops ISBNs, dates, phone numbers, prices)."""
    chars = [c for c in s if not c.isspace()]
    return sum(1 for c in chars if c.isalpha()) >= 0.6 * len(chars)


def add(lang, source, doc, text, keep=lambda s: True):
    for s in segments(text):
        if not keep(s) or not texty(s):
            continue
        b = bucket(len(s))
        rows.setdefault((lang, source, b), []).append({"lang": lang, "bucket": b, "split": split_of(source, doc), "source": source, "doc": doc, "text": s})


def detok(s):
    s = s.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    s = re.sub(r" ([.,;:!?)'])", r"\1", s)
    s = re.sub(r"([(]) ", r"\1", s)
    return s.replace(" 's", "'s").replace('" ', '"')


# en: WikiText-2 (articles split at ` = Title = ` headings)
for f in ("wiki.validation.raw", "wiki.test.raw"):
    art, title = [], None
    for line in open(os.path.join(DATA, "reference/en", f), encoding="utf-8"):
        m = re.match(r"^ = ([^=].*[^=]) = $", line.rstrip("\n"))
        if m:
            if title:
                add("en", "wikitext", title, "\n".join(art))
            title, art = m.group(1), []
        elif line.strip() and not line.strip().startswith("="):
            art.append(detok(line.strip()))
    if title:
        add("en", "wikitext", title, "\n".join(art))

# en: Gutenberg novels, one document each (paragraphs joined within a paragraph)
for f in sorted(os.listdir(os.path.join(DATA, "reference/en"))):
    if not f.endswith(".txt"):
        continue
    raw = open(os.path.join(DATA, "reference/en", f), "rb").read()
    try:
        t = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        t = raw.decode("latin-1")
    m = re.search(r"\*\*\* ?START OF[^\n]*\n", t)
    t = t[m.end():] if m else t[5000:]
    m = re.search(r"\*\*\* ?END OF", t)
    t = t[: m.start()] if m else t
    paras = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", t)]
    add("en", "gutenberg", f, "\n".join(p for p in paras if p))

# zh
for i, line in enumerate(open(os.path.join(DATA, "zh/clue-corpus-small.sample.txt"), encoding="utf-8")):
    add("zh", "clue", str(i), line.strip())
for art in json.load(open(os.path.join(DATA, "zh/cmrc2018-dev.zh-wikipedia.json"), encoding="utf-8"))["data"]:
    add("zh", "cmrc-wiki", art["title"], "\n".join(p["context"] for p in art["paragraphs"]))
for f in sorted(os.listdir(os.path.join(DATA, "reference/zh"))):
    t = open(os.path.join(DATA, "reference/zh", f), encoding="utf-8-sig", errors="replace").read()
    for j, ch in enumerate(re.split(r"\n\s*第[^\n]{1,8}回", t)):
        add("zh", "honglou", f"{f}:{j}", ch)


# web pages: trafilatura eval, labelled by <html lang>
class Paras(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lang, self.depth, self.buf, self.out, self.skip = None, 0, [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "html" and self.lang is None:
            self.lang = dict(attrs).get("lang")
        if tag in ("script", "style"):
            self.skip += 1
        if tag == "p":
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        if tag == "p" and self.depth:
            self.depth -= 1
            if not self.depth:
                self.out.append(re.sub(r"\s+", " ", "".join(self.buf)).strip())
                self.buf = []

    def handle_data(self, d):
        if self.depth and not self.skip:
            self.buf.append(d)


WEB_EXCLUDE = {l.split("\t")[0] for l in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "web_exclude.tsv"), encoding="utf-8") if l.strip() and not l.startswith("#")}
gold = json.load(open(os.path.join(DATA, "html/trafilatura-eval/gold.json"), encoding="utf-8"))
WEB = {"de", "en", "es", "fr", "pl", "hu"}
for url, g in sorted(gold.items()):
    path = os.path.join(DATA, "html/trafilatura-eval/pages", g["file"])
    raw = open(path, "rb").read()
    p = Paras()
    try:
        p.feed(raw.decode("utf-8"))
    except UnicodeDecodeError:
        p.feed(raw.decode("latin-1"))
    lang = (p.lang or "").lower().replace("_", "-").split("-")[0]
    if lang not in WEB or g["file"] in WEB_EXCLUDE:
        continue
    src = "web-en" if lang == "en" else "web"
    text = "\n".join(g.get("with", []) + p.out)
    add(lang, src, g["file"], text, keep=lambda s: letters_share(s, latin) > 0.9)

# Common Crawl sample
EXCLUDE = [l.split("\t")[0] for l in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cc_exclude.tsv"), encoding="utf-8") if l.strip() and not l.startswith("#")]
HOST = {"it": "it", "de": "de", "at": "de", "fr": "fr", "br": "pt", "pt": "pt", "nl": "nl", "ru": "ru", "pl": "pl", "es": "es"}
for line in gzip.open(os.path.join(DATA, "web/cc-main-2019-30.sample.jsonl.gz"), "rt", encoding="utf-8"):
    d = json.loads(line)
    host = re.sub(r"^https?://", "", d["metadata"]["url"]).split("/")[0].split(":")[0].lower()
    t = d["text"]
    cjk = [c for c in t if is_cjk(c)]
    kana = sum(1 for c in cjk if "\u3040" <= c <= "\u30ff")
    if cjk and kana >= 0.2 * len(cjk) and len(cjk) >= 50:
        add("ja", "cc", d["id"], t, keep=lambda s: letters_share(s, is_cjk) > 0.6)
        continue
    sub = host.split(".")[0]
    lang = sub if ("wikipedia" in host or "wiki" in host) and sub in HOST.values() else HOST.get(host.rsplit(".", 1)[-1])
    if lang and not any(d["id"].startswith(x) for x in EXCLUDE):
        keep = (lambda s: letters_share(s, cyrillic) > 0.9) if lang == "ru" else (lambda s: letters_share(s, latin) > 0.9)
        add(lang, "cc", d["id"], t, keep=keep)

out = open(sys.argv[1], "w", encoding="utf-8") if len(sys.argv) > 1 else sys.stdout
n = 0
for key in sorted(rows):
    rs = rows[key]
    # a deterministic, document-spread choice of CAP rows
    rs.sort(key=lambda r: hashlib.sha1((r["doc"] + "\0" + r["text"]).encode()).digest())
    for r in rs[:CAP]:
        out.write(json.dumps(r, ensure_ascii=False) + "\n")
        n += 1
print(f"{n} samples", file=sys.stderr)
