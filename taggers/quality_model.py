"""The model-based quality classifier (DCLM-style): a quantised fastText model telling reference-quality
real text from low-quality text, its training data (planted degradations of real text), training,
held-out evaluation by source (ROC-AUC) and its model card. `predict_hq` is the batch prediction
used by `tag_batch`; `taggers.quality.combine` merges its probability with the heuristic score.

Training data (`build_examples`), from the sample corpus `<sample>/<domain>/<source>.jsonl.gz`:
- high quality (`__label__hq`): real prose documents of the general, math and multilingual domains
  (code is judged by the heuristics only) with at least `MIN_POSITIVE_CHARS` characters;
- low quality (`__label__lq`): one planted degradation of a real document per positive, the kind
  chosen by a hash of its id (see `DEGRADATIONS`): shuffled words, mojibake (UTF-8 read as
  cp1252/latin-1), character noise, keyword-stuffing spam, boilerplate (navigation, cookie and legal
  lines around fragments of the text), and genuinely low-quality short fragments (a few words cut
  from a document).
Evaluation holds out whole SOURCES (`HELDOUT_SOURCES`): no document of a held-out source, nor any
degradation of one, is seen in training; ROC-AUC is reported overall and per degradation kind. The
shipped model is then retrained with the same settings on all sources.

Input: `taggers.topic.preprocess` (computed once per batch and shared with the topic model, which
reads it as is unless a source file's leading comment block is dropped first), cut to the first
`INPUT_CHARS` characters.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import re
import tempfile
import time
from collections import Counter, defaultdict

import numpy as np

HQ, LQ = "__label__hq", "__label__lq"
INPUT_CHARS = 1500
MIN_POSITIVE_CHARS = 200
PROSE_DOMAINS = ("general", "math", "multilingual")
HELDOUT_SOURCES = ("general/moby_dick", "general/debian_handbook", "math/sympy_docs",
                   "math/octave_manual", "multilingual/debian_reference")
DEGRADATIONS = ("shuffled", "mojibake", "char_noise", "keyword_spam", "boilerplate", "short_fragment")
TRAIN_SETTINGS = dict(lr=0.5, epoch=5, wordNgrams=2, dim=16, minn=0, maxn=0, minCount=2,
                      bucket=200_000, loss="softmax")
QUANTIZE_SETTINGS = dict(qnorm=True, retrain=False, cutoff=50_000, dsub=2)

# Boilerplate lines of web pages (navigation, cookie banners, legal footers, share buttons).
BOILERPLATE = (
    "Home | About us | Contact | Privacy policy | Terms of use", "Skip to main content",
    "This website uses cookies to improve your experience. Accept all cookies",
    "Copyright (c) 2024 All rights reserved.", "Share on Facebook Share on Twitter Email",
    "Click here to subscribe to our newsletter", "Sign in | Register | Forgot password?",
    "Previous page Next page", "Read more >>", "Related posts:", "Tags:", "Posted by admin",
    "Leave a comment", "Back to top", "Menu", "Search this site", "Powered by WordPress",
    "Log in to reply", "Add to cart", "Free shipping on all orders", "Sitemap", "Follow us",
)
SPAM_PHRASES = ("best", "cheap", "buy", "online", "free", "top", "discount", "deal", "now",
                "2024", "review", "sale", "official", "download", "click here")
_WORD = re.compile(r"[^\W\d_]{4,}")


def _h(key: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha1(f"{seed}:{key}".encode("utf-8", "replace")).digest()[:8], "big")


# ---------------------------------------------------------------------------------------------
# Degradations: each takes a real text and a Random, returns a low-quality text, or None when the
# degradation does not apply (e.g. mojibake of pure ASCII text changes nothing).

def shuffled(text: str, rng: random.Random) -> str | None:
    words = text.split()
    if len(words) < 8:
        return None
    rng.shuffle(words)
    return " ".join(words)


MOJIBAKE_MIN_NON_ASCII = 0.01   # below this share of non-ASCII characters mojibake is invisible


def mojibake(text: str, rng: random.Random) -> str | None:
    if text.isascii() or sum(1 for c in text if ord(c) > 127) < MOJIBAKE_MIN_NON_ASCII * len(text):
        return None
    wrong = rng.choice(("cp1252", "latin-1"))
    out = text.encode("utf-8").decode(wrong, errors="replace")
    return out if out != text else None


def char_noise(text: str, rng: random.Random, rate: float | None = None) -> str | None:
    if len(text) < 20:
        return None
    rate = rate if rate is not None else rng.uniform(0.10, 0.25)
    alphabet = sorted(set(text) - {"\n"}) or ["x"]
    out = []
    for ch in text:
        r = rng.random()
        if r < rate / 3:
            continue                                    # deletion
        if r < 2 * rate / 3:
            out.append(rng.choice(alphabet))            # substitution
        elif r < rate:
            out.append(ch + rng.choice(alphabet))       # insertion
        else:
            out.append(ch)
    return "".join(out)


def keyword_spam(text: str, rng: random.Random) -> str | None:
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < 5:
        return None
    common = [w for w, _ in Counter(words).most_common(12)]
    keys = rng.sample(common, min(len(common), rng.randint(2, 5)))
    n = max(30, min(400, len(text.split())))
    seps = (" ", ", ", " | ", " - ", " ")
    out = []
    for _ in range(n):
        out.append(rng.choice(keys) if rng.random() < 0.7 else rng.choice(SPAM_PHRASES))
        out.append(rng.choice(seps))
    return "".join(out).strip()


def boilerplate(text: str, rng: random.Random) -> str | None:
    words = text.split()
    if len(words) < 6:
        return None
    lines = []
    for _ in range(rng.randint(8, 30)):
        if rng.random() < 0.75:
            lines.append(rng.choice(BOILERPLATE))
        else:
            i = rng.randrange(len(words))
            lines.append(" ".join(words[i:i + rng.randint(2, 6)]))
    return "\n".join(lines)


def short_fragment(text: str, rng: random.Random) -> str | None:
    words = text.split()
    if len(words) < 6:
        return None
    i = rng.randrange(max(1, len(words) - 3))
    return " ".join(words[i:i + rng.randint(2, 10)])


_DEGRADE = {"shuffled": shuffled, "mojibake": mojibake, "char_noise": char_noise,
            "keyword_spam": keyword_spam, "boilerplate": boilerplate,
            "short_fragment": short_fragment}


def degrade(text: str, kind: str, rng: random.Random) -> str | None:
    """A planted degradation of a real text (None when `kind` does not apply to it)."""
    return _DEGRADE[kind](text, rng)


# ---------------------------------------------------------------------------------------------
# Prediction

def model_input(pre: list[str]) -> list[str]:
    """The quality model's input from `topic.preprocess_batch` output."""
    return [p[:INPUT_CHARS] for p in pre]


def predict_hq(pre: list[str], model) -> list[float]:
    """Probability of high quality for each preprocessed text (one fastText call)."""
    if not pre:
        return []
    labels, probs = model.predict(model_input(pre), k=1, threshold=0.0)
    out = []
    for ls, ps in zip(labels, probs):
        p = float(min(1.0, max(0.0, ps[0]))) if len(ps) else 0.5
        out.append(p if ls and ls[0] == HQ else 1.0 - p)
    return out


# ---------------------------------------------------------------------------------------------
# Training

def read_prose(sample_dir: str) -> list[dict]:
    """Prose documents of the sample: {id, text, source ("<domain>/<file stem>"), domain}."""
    docs = []
    for domain in PROSE_DOMAINS:
        folder = os.path.join(sample_dir, domain)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith((".jsonl.gz", ".jsonl")):
                continue
            source = f"{domain}/{name.split('.')[0]}"
            opener = gzip.open if name.endswith(".gz") else open
            with opener(os.path.join(folder, name), "rt", encoding="utf-8", errors="replace") as f:
                for i, line in enumerate(f):
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    text = rec.get("text") if isinstance(rec, dict) else None
                    if isinstance(text, str) and text.strip():
                        docs.append({"id": str(rec.get("id", f"{source}:{i}")), "text": text,
                                     "source": source, "domain": domain})
    return docs


def build_examples(docs: list[dict], seed: int, max_per_source: int) -> list[dict]:
    """Positives (long enough real documents, at most `max_per_source` per source in id-hash order)
    and one degradation of each (kind by id hash; the next kind when one does not apply)."""
    by_source = defaultdict(list)
    for d in docs:
        if len(d["text"]) >= MIN_POSITIVE_CHARS:
            by_source[d["source"]].append(d)
    out = []
    for source in sorted(by_source):
        items = sorted(by_source[source], key=lambda d: _h(d["id"], seed))[:max_per_source]
        for d in items:
            out.append({"text": d["text"], "label": HQ, "kind": "real", "source": source})
            rng = random.Random(_h(d["id"], seed + 1))
            k0 = _h(d["id"], seed + 2) % len(DEGRADATIONS)
            for j in range(len(DEGRADATIONS)):
                kind = DEGRADATIONS[(k0 + j) % len(DEGRADATIONS)]
                bad = degrade(d["text"], kind, rng)
                if bad and bad.strip() and bad != d["text"]:
                    out.append({"text": bad, "label": LQ, "kind": kind, "source": source})
                    break
    return out


def _fit(examples: list[dict], seed: int, workdir: str):
    import fasttext

    from taggers.topic import preprocess_batch
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    pre = model_input(preprocess_batch([examples[i]["text"] for i in order]))
    path = os.path.join(workdir, "quality.train.txt")
    with open(path, "w", encoding="utf-8") as f:
        for i, p in zip(order, pre):
            f.write(f"{examples[i]['label']} {p}\n")
    model = fasttext.train_supervised(input=path, seed=seed, thread=1, verbose=0, **TRAIN_SETTINGS)
    model.quantize(input=path, **QUANTIZE_SETTINGS)
    return model


def roc_auc(scores, labels) -> float:
    """ROC-AUC of scores for binary labels (1 = positive), ties counted half (Mann-Whitney U)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks of ties
    uniq, start, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(model, examples: list[dict]) -> dict:
    from taggers.topic import preprocess_batch
    probs = predict_hq(preprocess_batch([e["text"] for e in examples]), model)
    y = [e["label"] == HQ for e in examples]
    res = {"auc": roc_auc(probs, y), "n": len(examples), "per_kind": {}}
    pos = [p for p, t in zip(probs, y) if t]
    for kind in DEGRADATIONS:
        neg = [p for p, e in zip(probs, examples) if e["kind"] == kind]
        if neg:
            res["per_kind"][kind] = {"n": len(neg), "auc": roc_auc(pos + neg, [1] * len(pos) + [0] * len(neg)),
                                     "mean_hq_prob": float(np.mean(neg))}
    res["per_kind"]["real"] = {"n": len(pos), "auc": float("nan"), "mean_hq_prob": float(np.mean(pos)) if pos else float("nan")}
    res["accuracy@0.5"] = float(np.mean([(p >= 0.5) == t for p, t in zip(probs, y)]))
    return res


def train(sample_dir: str, output: str, seed: int = 0, max_per_source: int = 1500,
          heldout_sources=HELDOUT_SOURCES, log=print) -> dict:
    """Builds examples, evaluates on held-out sources, retrains on all, writes `.ftz` and card."""
    t0 = time.time()
    docs = read_prose(sample_dir)
    if not docs:
        raise SystemExit(f"no prose documents under {sample_dir}/{{{','.join(PROSE_DOMAINS)}}}")
    examples = build_examples(docs, seed, max_per_source)
    held = set(heldout_sources)
    missing = held - {e["source"] for e in examples}
    if missing:
        raise SystemExit(f"held-out sources not in {sample_dir}: {', '.join(sorted(missing))}")
    train_ex = [e for e in examples if e["source"] not in held]
    test_ex = [e for e in examples if e["source"] in held]
    log(f"train-quality: {len(examples)} examples ({len(train_ex)} train, {len(test_ex)} held out "
        f"from {len(held)} sources)")
    with tempfile.TemporaryDirectory() as work:
        m = _fit(train_ex, seed, work)
        heldout = evaluate(m, test_ex)
        train_eval = evaluate(m, train_ex)
        final = _fit(examples, seed, work)
    os.makedirs(os.path.dirname(os.path.abspath(output)) or ".", exist_ok=True)
    final.save_model(output)
    result = {"examples": len(examples), "train": len(train_ex), "heldout": heldout,
              "train_eval": train_eval, "seconds": time.time() - t0,
              "size_bytes": os.path.getsize(output),
              "counts": Counter((e["source"], e["kind"]) for e in examples)}
    card = os.path.splitext(output)[0] + ".md"
    with open(card, "w", encoding="utf-8") as f:
        f.write(model_card(result, sample_dir, output, seed, max_per_source, sorted(held)))
    from taggers.topic_training import write_eval
    write_eval(os.path.splitext(output)[0] + ".eval.json",
               {"heldout_sources": sorted(held), "auc": round(heldout["auc"], 4), "n": heldout["n"],
                "auc_per_kind": {k: round(v["auc"], 4) for k, v in heldout["per_kind"].items()
                                 if k != "real"}})
    log(f"train-quality: held-out ROC-AUC {heldout['auc']:.4f}; wrote {output} "
        f"({result['size_bytes']:,} bytes) and {card} in {result['seconds']:.0f} s")
    return result


def model_card(r, sample_dir, output, seed, max_per_source, held) -> str:
    out = io.StringIO()
    w = out.write
    w("# Quality classifier (`taggers/models/quality.ftz`)\n\n")
    w("DCLM-style fastText classifier: reference-quality real text (`hq`) against low-quality text "
      "(`lq`: planted degradations of real text and short fragments), quantised. Written by "
      "`taggers.quality_model.train`; this card is regenerated with the model.\n\n")
    w(f"Command: `python -m taggers train-quality --sample {sample_dir} --output {output} --seed "
      f"{seed}` (`make train-taggers`); {r['seconds']:.0f} s, one thread, fixed seed.\n\n")
    w(f"Size: {r['size_bytes']:,} bytes. Settings: {TRAIN_SETTINGS}; quantize {QUANTIZE_SETTINGS}. "
      f"Input: `taggers.topic.preprocess`, first {INPUT_CHARS} characters.\n\n")
    w(f"Data: prose sources of the sample ({', '.join(PROSE_DOMAINS)}), documents of at least "
      f"{MIN_POSITIVE_CHARS} characters, at most {max_per_source} per source (id-hash order); one "
      "degradation per positive. Held-out sources (never seen in training, nor their degradations): "
      f"{', '.join(held)}. The shipped model is retrained on all sources with the same settings.\n\n")
    h = r["heldout"]
    w(f"## Held-out ROC-AUC (sources above)\n\n**overall: {h['auc']:.4f}** on {h['n']:,} examples "
      f"(accuracy at 0.5: {h['accuracy@0.5']:.3f}; train-source AUC {r['train_eval']['auc']:.4f}).\n\n")
    w("| examples | n | ROC-AUC vs real | mean P(hq) |\n|---|---|---|---|\n")
    for kind, v in h["per_kind"].items():
        auc = "–" if kind == "real" else f"{v['auc']:.4f}"
        w(f"| {kind} | {v['n']:,} | {auc} | {v['mean_hq_prob']:.3f} |\n")
    w("\n## Examples per source and kind\n\n| source | " + " | ".join(("real",) + DEGRADATIONS)
      + " |\n|---|" + "---|" * (len(DEGRADATIONS) + 1) + "\n")
    for src in sorted({s for s, _ in r["counts"]}):
        w(f"| {src}{' (held out)' if src in held else ''} | "
          + " | ".join(str(r["counts"].get((src, k), 0)) for k in ("real",) + DEGRADATIONS) + " |\n")
    w("\nLimits: the negatives are planted, not crawled spam; short real texts (quotes, one-line "
      "definitions) look like fragments to this model, so its probability is combined with the "
      "heuristic score (see `taggers/quality.py`) rather than used alone, and code is scored by "
      "the heuristics only.\n")
    return out.getvalue()
