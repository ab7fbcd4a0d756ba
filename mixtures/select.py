"""Selection from combined histograms: per-source caps, the held-out validation range, and the
cut-off of the shortest hash-order prefix that reaches a quota.

Histograms are numpy arrays over hash buckets (mixtures.order); a prefix of buckets is a prefix of
the hash order. Only the boundary bucket needs its documents sorted exactly (`take_prefix`)."""
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


def plan_selection(hists: dict, weights: dict, budget: int, max_epochs: float, source_cap: float,
                   val_tokens: int, anneal_weights: dict, anneal_budget: int, shard_tokens: int,
                   n_buckets: int) -> dict:
    """The whole selection plan from histograms {(domain, source): int64[4, n_buckets]} (rows:
    tokens, documents, anneal-eligible tokens, anneal-eligible documents). Raises MixError (from
    plan.allocate) when the budget does not fit. JSON-ready: buckets and counts are ints."""
    from .plan import allocate
    per_domain: dict = {}
    for (domain, source), h in sorted(hists.items()):
        per_domain.setdefault(domain, {})[source] = np.asarray(h, dtype=np.int64)
    domains = {}
    eligible, anneal_eligible = {}, {}
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
        train_hist, anneal_hist = capped[TOKENS, :bv], capped[ANNEAL_TOKENS, :bv]
        eligible[d], anneal_eligible[d] = int(train_hist.sum()), int(anneal_hist.sum())
        domains[d] = {"source_cuts": cuts, "val_cut": int(bv), "eligible_tokens": eligible[d],
                      "anneal_eligible_tokens": anneal_eligible[d],
                      "val_tokens": int(capped[TOKENS, bv:].sum()), "val_documents": int(capped[DOCS, bv:].sum()),
                      "source_cap_removed": removed, "_train_hist": train_hist, "_anneal_hist": anneal_hist}
    train = allocate(weights, budget, eligible, max_epochs)
    anneal = allocate(anneal_weights, anneal_budget, anneal_eligible, max_epochs,
                      what="ANNEAL_TOKENS") if anneal_budget > 0 else None
    for d, info in domains.items():
        th, ah = info.pop("_train_hist"), info.pop("_anneal_hist")
        tp = prefix_plan(th, train["domains"][d]["quota"])
        tp["ranges"] = n_ranges(min(tp["pass_tokens"], train["domains"][d]["quota"]), shard_tokens, n_buckets)
        info["train"] = tp
        aq = anneal["domains"][d]["quota"] if anneal else 0
        ap = prefix_plan(ah, aq)
        ap["ranges"] = n_ranges(min(ap["pass_tokens"], aq), shard_tokens, n_buckets)
        info["anneal"] = ap
        info["val_ranges"] = n_ranges(info["val_tokens"], shard_tokens, n_buckets)
    return {"n_buckets": n_buckets, "domains": domains, "train": train, "anneal": anneal}


def doc_status(plan: dict, domain: str, source: str, bucket: int) -> str:
    """'capped' (over its source's cap), 'val' (held out) or 'pool' (may enter train/anneal)."""
    info = plan["domains"][domain]
    if bucket >= info["source_cuts"].get(source, plan["n_buckets"]):
        return "capped"
    if bucket >= info["val_cut"]:
        return "val"
    return "pool"


def copies(track: dict, bucket: int, in_boundary: bool) -> int:
    """How many times a pool document enters a split: whole passes plus one if in the prefix."""
    extra = track["cut"] >= 0 and (bucket < track["cut"] or (bucket == track["cut"] and in_boundary))
    return track["passes"] + int(extra)


def range_of(bucket: int, ranges: int, n_buckets: int) -> int:
    return bucket * ranges // n_buckets
