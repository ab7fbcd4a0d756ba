"""manifest.json (DESIGN.md): realised per-domain shares computed by reading the written shards
back, never from the plan's numbers."""
from __future__ import annotations

import os

from .shards import read_shard, sha256_file

FORMAT_VERSION = 1


def realised(mix_dir: str, shards: list[dict], dtype: str) -> dict:
    """Reads every shard listed: {split: {domain: {tokens, documents}}}; checks sizes and sha256."""
    out: dict = {}
    for s in shards:
        path = os.path.join(mix_dir, s["path"])
        tokens, offsets = read_shard(path, dtype)
        if len(tokens) != s["tokens"] or len(offsets) != s["documents"] or sha256_file(path) != s["sha256"]:
            raise ValueError(f"{path}: read back {len(tokens)} tokens / {len(offsets)} documents, "
                             f"listed {s['tokens']} / {s['documents']} (or a different sha256)")
        d = out.setdefault(s["split"], {}).setdefault(s["domain"], {"tokens": 0, "documents": 0})
        d["tokens"] += int(len(tokens))
        d["documents"] += int(len(offsets))
    return out


def shares(per_domain: dict) -> dict[str, float]:
    total = sum(v["tokens"] for v in per_domain.values())
    return {d: (v["tokens"] / total if total else 0.0) for d, v in per_domain.items()}


def build(*, seed, input_path, fingerprint, tokenizer, budget, weights, plan, anneal, val_tokens,
          shards, filters, config, versions, read_back, counts) -> dict:
    train = read_back.get("train", {})
    train_shares = shares(train)
    domains = {}
    for d, w in weights.items():
        p = plan["domains"][d]
        got = train.get(d, {"tokens": 0, "documents": 0})
        domains[d] = {"target": w, "tokens": got["tokens"], "share": train_shares.get(d, 0.0),
                      "epochs": (got["tokens"] / p["eligible_tokens"]) if p["eligible_tokens"] else 0.0,
                      "eligible_tokens": p["eligible_tokens"], "documents": got["documents"],
                      "quota": p["quota"], "short": p["short"]}
    ann = read_back.get("anneal", {})
    return {
        "format_version": FORMAT_VERSION, "seed": seed, "input": input_path, "input_fingerprint": fingerprint,
        "tokenizer": tokenizer, "tokens_budget": budget, "target_weights": weights, "domains": domains,
        "plan_notes": plan["notes"],
        "anneal": {"weights": anneal["weights"], "tokens": sum(v["tokens"] for v in ann.values()),
                   "quality_min": anneal["quality_min"], "budget": anneal["budget"],
                   "domains": {d: ann.get(d, {"tokens": 0, "documents": 0}) for d in anneal["weights"]},
                   "notes": anneal["plan"]["notes"] if anneal.get("plan") else []},
        "validation": {"tokens_per_domain": {d: v["tokens"] for d, v in read_back.get("val", {}).items()},
                       "requested_per_domain": val_tokens},
        "shards": shards, "filters": filters, "counts": counts, "config": config, "versions": versions,
    }
