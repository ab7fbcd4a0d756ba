"""manifest.json (DESIGN.md): realised per-domain (and, with topic weights, per-topic) shares
computed by reading the written shards back, never from the plan's numbers."""
from __future__ import annotations

import os

import numpy as np

from .shards import read_shard, read_topics, sha256_file

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


def realised_topics(mix_dir: str, shards: list[dict], dtype: str, split: str = "train") -> dict:
    """{domain: {topic: {tokens, documents}}} of a split, from each shard's tokens, index and
    `.topic.npy` sidecar (one topic per indexed document)."""
    out: dict = {}
    for s in shards:
        if s["split"] != split:
            continue
        path = os.path.join(mix_dir, s["path"])
        tokens, offsets = read_shard(path, dtype)
        topics = read_topics(path)
        if len(topics) != len(offsets):
            raise ValueError(f"{path}: {len(topics)} topics in the sidecar for {len(offsets)} documents")
        lengths = np.diff(np.append(offsets, len(tokens)))
        d = out.setdefault(s["domain"], {})
        for t, n in zip(topics, lengths.tolist()):
            v = d.setdefault(t, {"tokens": 0, "documents": 0})
            v["tokens"] += int(n)
            v["documents"] += 1
    return out


def topic_entries(plan_topics: dict, got: dict, domain_tokens: int) -> dict:
    """A weighted domain's manifest topics: the rule's target share, quota, eligible tokens and
    short flag (plan), realised tokens, documents, share of the domain and epochs (read back)."""
    out = {}
    for t in sorted(set(plan_topics) | set(got)):
        p = plan_topics.get(t, {"target": 0.0, "quota": 0, "eligible_tokens": 0, "short": False, "named": False})
        g = got.get(t, {"tokens": 0, "documents": 0})
        e = p["eligible_tokens"]
        out[t] = {"named": p["named"], "target": p["target"], "quota": p["quota"], "eligible_tokens": e,
                  "short": p["short"], "tokens": g["tokens"], "documents": g["documents"],
                  "share": g["tokens"] / domain_tokens if domain_tokens else 0.0,
                  "epochs": g["tokens"] / e if e else 0.0}
    return out


def shares(per_domain: dict) -> dict[str, float]:
    total = sum(v["tokens"] for v in per_domain.values())
    return {d: (v["tokens"] / total if total else 0.0) for d, v in per_domain.items()}


def build(*, seed, input_path, fingerprint, tokenizer, budget, weights, plan, anneal, val_tokens,
          shards, filters, config, versions, read_back, counts, topic_read_back=None) -> dict:
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
        if "topics" in p:
            domains[d]["topics"] = topic_entries(p["topics"], (topic_read_back or {}).get(d, {}), got["tokens"])
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
