"""Selection from combined histograms: per-source caps, the held-out validation range, and the
cut-off of the shortest hash-order prefix that reaches a quota.

Histograms are numpy arrays over hash buckets (mixtures.order); a prefix of buckets is a prefix of
the hash order. Only the boundary bucket needs its documents sorted exactly (`take_prefix`).
Caps and validation go by each document's own hash; the train and anneal prefixes go by the hash of
each stored sequence, a whole document or a piece of a long one (mixtures.pieces)."""
from __future__ import annotations

import numpy as np


def source_cap_cut(hist: np.ndarray, cap_tokens: float) -> int:
    """Number of leading buckets of one source whose tokens stay within `cap_tokens` (all if none)."""
    cum = np.cumsum(hist)
    if len(cum) == 0 or cum[-1] <= cap_tokens:
        return len(hist)
    return int(np.searchsorted(cum, cap_tokens, side="right"))


def val_cut(hist: np.ndarray, val_tokens: int) -> int:
    """First bucket of the validation range: the fewest top buckets holding >= val_tokens tokens.
    Returns len(hist) (no validation) when val_tokens is 0."""
    if val_tokens <= 0:
        return len(hist)
    tail = np.cumsum(hist[::-1])
    k = int(np.searchsorted(tail, val_tokens, side="left"))  # tail[k] >= val_tokens
    k = min(k, len(hist) - 1)
    return len(hist) - 1 - k


def prefix_plan(hist: np.ndarray, quota: int) -> dict:
    """How to take `quota` tokens from a list whose per-bucket tokens are `hist`:
    `passes` whole passes, then every bucket below `cut`, then `need` tokens from bucket `cut`
    (the boundary, taken exactly in hash order). cut = -1 when no partial pass is needed."""
    total = int(hist.sum())
    if quota <= 0:
        return {"passes": 0, "cut": -1, "need": 0, "pass_tokens": total}
    if total <= 0:
        raise ValueError(f"quota {quota} from an empty list")
    passes, rest = divmod(int(quota), total)
    if rest == 0:
        return {"passes": passes, "cut": -1, "need": 0, "pass_tokens": total}
    cum = np.cumsum(hist)
    cut = int(np.searchsorted(cum, rest, side="left"))  # cum[cut] >= rest
    before = int(cum[cut - 1]) if cut > 0 else 0
    return {"passes": passes, "cut": cut, "need": int(rest - before), "pass_tokens": total}


def take_prefix(docs: list[tuple[int, str, int]], need: int) -> list[str]:
    """Of (hash, id, tokens) in one bucket, the ids of the shortest hash-order prefix with >= need tokens."""
    out, got = [], 0
    for h, doc_id, n in sorted(docs):
        if got >= need:
            break
        out.append(doc_id)
        got += n
    return out


TOKENS, DOCS, ANNEAL_TOKENS, ANNEAL_DOCS = range(4)


def n_ranges(pass_tokens: int, shard_tokens: int, n_buckets: int) -> int:
    """Shards per pass: enough bucket ranges that each holds about `shard_tokens` tokens."""
    return int(min(max(1, -(-int(pass_tokens) // max(1, int(shard_tokens)))), n_buckets))


def pools(hists: dict, weights: dict, source_cap: float, val_tokens: int, n_buckets: int) -> dict:
    """Per domain: each source's cap cut, the validation cut and the pool's token counts, from
    document histograms {(domain, source): int64[4, n_buckets]} over each document's own hash
    bucket (rows: tokens, documents, anneal-eligible tokens, anneal-eligible documents)."""
    per_domain: dict = {}
    for (domain, source), h in sorted(hists.items()):
        per_domain.setdefault(domain, {})[source] = np.asarray(h, dtype=np.int64)
    domains = {}
    for d in weights:
        sources = per_domain.get(d, {})
        total = sum(int(h[TOKENS].sum()) for h in sources.values())
        cap = source_cap * total
        cuts, capped = {}, np.zeros((4, n_buckets), dtype=np.int64)
        removed = {"documents": 0, "tokens": 0}
        for s, h in sources.items():
            c = source_cap_cut(h[TOKENS], cap) if source_cap < 1.0 else n_buckets
            cuts[s] = c
            capped[:, :c] += h[:, :c]
            removed["documents"] += int(h[DOCS, c:].sum())
            removed["tokens"] += int(h[TOKENS, c:].sum())
        bv = val_cut(capped[TOKENS], val_tokens)
        domains[d] = {"source_cuts": cuts, "val_cut": int(bv), "eligible_tokens": int(capped[TOKENS, :bv].sum()),
                      "anneal_eligible_tokens": int(capped[ANNEAL_TOKENS, :bv].sum()),
                      "val_tokens": int(capped[TOKENS, bv:].sum()), "val_documents": int(capped[DOCS, bv:].sum()),
                      "source_cap_removed": removed}
    return {"n_buckets": n_buckets, "domains": domains}


def pool_cuts(pool: dict) -> dict:
    """What `doc_status` needs of `pools(...)`."""
    return {"n_buckets": pool["n_buckets"],
            "domains": {d: {"source_cuts": v["source_cuts"], "val_cut": v["val_cut"]}
                        for d, v in pool["domains"].items()}}


POOL_TRAIN, POOL_ANNEAL = range(2)  # rows of a pool histogram


def plan_selection(hists: dict, pool_hists: dict, weights: dict, budget: int, max_epochs: float,
                   source_cap: float, val_tokens: int, anneal_weights: dict, anneal_budget: int,
                   shard_tokens: int, n_buckets: int, topic_weights: dict | None = None) -> dict:
    """The whole selection plan. Raises MixError (from plan.allocate) when the budget does not fit.
    JSON-ready: buckets and counts are ints.

    `hists` {(domain, source): int64[4, n_buckets]} count documents by their own hash bucket (rows:
    tokens, documents, anneal-eligible tokens, anneal-eligible documents): they set the source caps
    and the validation range (`pools`). `pool_hists` {(domain, topic key): int64[2, n_buckets]} count
    the tokens of the pool's stored sequences (whole documents, or the pieces of long ones) by their
    own selection bucket (rows: train tokens, anneal-eligible tokens); the topic key is "" except in
    domains with `topic_weights` {domain: {topic: share}}, whose train track then holds one prefix
    plan per topic (mixtures.topics) under `topics`, beside the domain's `ranges`; the anneal and
    validation tracks stay per domain."""
    from .plan import allocate
    topic_weights = topic_weights or {}
    domains = pools(hists, weights, source_cap, val_tokens, n_buckets)["domains"]
    eligible = {d: info["eligible_tokens"] for d, info in domains.items()}
    anneal_eligible = {d: info["anneal_eligible_tokens"] for d, info in domains.items()}
    train = allocate(weights, budget, eligible, max_epochs)
    anneal = allocate(anneal_weights, anneal_budget, anneal_eligible, max_epochs,
                      what="ANNEAL_TOKENS") if anneal_budget > 0 else None
    for d, info in domains.items():
        own = {t: np.asarray(h, dtype=np.int64) for (dd, t), h in sorted(pool_hists.items()) if dd == d}
        th = sum((h[POOL_TRAIN] for h in own.values()), np.zeros(n_buckets, dtype=np.int64))
        ah = sum((h[POOL_ANNEAL] for h in own.values()), np.zeros(n_buckets, dtype=np.int64))
        if int(th.sum()) != eligible[d] or int(ah.sum()) != anneal_eligible[d]:
            raise RuntimeError(f"{d}: the pool histograms hold {int(th.sum()):,} train and {int(ah.sum()):,} "
                               f"anneal tokens, the document histograms {eligible[d]:,} and {anneal_eligible[d]:,}")
        quota = train["domains"][d]["quota"]
        if d in topic_weights:
            tp = topic_track(d, topic_weights[d], quota, {t: h[POOL_TRAIN] for t, h in own.items()},
                             max_epochs, train)
        else:
            tp = prefix_plan(th, quota)
        tp["ranges"] = n_ranges(min(tp["pass_tokens"], quota), shard_tokens, n_buckets)
        info["train"] = tp
        aq = anneal["domains"][d]["quota"] if anneal else 0
        ap = prefix_plan(ah, aq)
        ap["ranges"] = n_ranges(min(ap["pass_tokens"], aq), shard_tokens, n_buckets)
        info["anneal"] = ap
        info["val_ranges"] = n_ranges(info["val_tokens"], shard_tokens, n_buckets)
    return {"n_buckets": n_buckets, "domains": domains, "train": train, "anneal": anneal}


def topic_track(domain: str, named: dict, quota: int, hists: dict, max_epochs: float, train: dict) -> dict:
    """A weighted domain's train track from its pool tokens per topic and bucket `hists` {topic:
    int64[n_buckets]}: {"pass_tokens", "topics": {topic: prefix plan}}; the topic quotas, targets
    and notes go into `train` (the domain plan) as well."""
    from .topics import allocate_topics
    counted = {t: int(h.sum()) for t, h in hists.items()}
    alloc = allocate_topics(domain, named, quota, counted, max_epochs)
    train["domains"][domain]["topics"] = alloc["topics"]
    train["notes"] += alloc["notes"]
    return {"pass_tokens": sum(counted.values()),
            "topics": {t: prefix_plan(hists[t], v["quota"]) for t, v in alloc["topics"].items()}}


def doc_status(plan: dict, domain: str, source: str, bucket: int) -> str:
    """'capped' (over its source's cap), 'val' (held out) or 'pool' (may enter train/anneal), from
    the bucket of the document's own hash (shared by all its pieces)."""
    info = plan["domains"][domain]
    if bucket >= info["source_cuts"].get(source, plan["n_buckets"]):
        return "capped"
    if bucket >= info["val_cut"]:
        return "val"
    return "pool"


NO_COPIES = {"passes": 0, "cut": -1, "need": 0}


def track_of(plan: dict, split: str, domain: str, topic: str) -> tuple[dict, str]:
    """(prefix plan, topic key) of a pool document in a split: the topic's own plan in a domain
    with topic weights (train), else the domain's plan with key ""."""
    track = plan["domains"][domain][split]
    topics = track.get("topics")
    if topics is None:
        return track, ""
    return topics.get(topic, NO_COPIES), topic


def copies(track: dict, bucket: int, in_boundary: bool) -> int:
    """How many times a pool document enters a split: whole passes plus one if in the prefix."""
    extra = track["cut"] >= 0 and (bucket < track["cut"] or (bucket == track["cut"] and in_boundary))
    return track["passes"] + int(extra)


def range_of(bucket: int, ranges: int, n_buckets: int) -> int:
    return bucket * ranges // n_buckets
