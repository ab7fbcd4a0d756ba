"""Token and document counts of kept documents by domain, topic, source, language and quality
bucket, and tokenizer fertility (UTF-8 bytes per token, specials excluded). Counts are nested dicts
of ints that merge by addition, so a distributed combine can sum them."""
from __future__ import annotations

import numpy as np

DIMENSIONS = ("domain", "topic", "source", "lang", "quality_bucket")


def quality_bucket(q: float) -> str:
    """`0.9` for 0.9 <= q < 1.0; `1.0` for q == 1."""
    return f"{min(int(np.floor(q * 10 + 1e-9)), 10) / 10:.1f}"


def add(into: dict, other: dict) -> dict:
    """Adds nested dicts of numbers into `into` (in place) and returns it."""
    for k, v in other.items():
        if isinstance(v, dict):
            add(into.setdefault(k, {}), v)
        else:
            into[k] = into.get(k, 0) + v
    return into


def batch_counts(rows: list[dict]) -> dict:
    """rows: {domain, topic, source, lang, quality, tokens (with BOS/EOS), bytes, pieces (stored
    sequences, 1 unless the document was cut into pieces)} of kept documents. Documents cut into
    pieces are counted per domain under `split` (documents, pieces)."""
    out: dict = {"tokens": {}, "documents": {}, "fertility": {"domain": {}, "lang": {}}, "split": {}}
    for r in rows:
        keys = {"domain": r["domain"], "topic": r["topic"], "source": r["source"], "lang": r["lang"],
                "quality_bucket": quality_bucket(r["quality"])}
        for dim, key in keys.items():
            t = out["tokens"].setdefault(dim, {})
            t[key] = t.get(key, 0) + r["tokens"]
            c = out["documents"].setdefault(dim, {})
            c[key] = c.get(key, 0) + 1
        for dim in ("domain", "lang"):
            f = out["fertility"][dim].setdefault(keys[dim], {"bytes": 0, "tokens": 0})
            f["bytes"] += r["bytes"]
            f["tokens"] += r["tokens"] - 2 * r["pieces"]
        if r["pieces"] > 1:
            sp = out["split"].setdefault(r["domain"], {"documents": 0, "pieces": 0})
            sp["documents"] += 1
            sp["pieces"] += r["pieces"]
    return out


def fertility(counts: dict, dim: str) -> dict[str, float]:
    """UTF-8 bytes per token (specials excluded) per key of `dim` ('domain' or 'lang')."""
    return {k: round(v["bytes"] / v["tokens"], 4) for k, v in sorted(counts["fertility"][dim].items())
            if v["tokens"]}
