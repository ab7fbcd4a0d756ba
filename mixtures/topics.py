"""Topic quotas inside a domain (`--topic-weights`, Makefile `TOPIC_WEIGHTS=`).

The declared rule, for a domain with topic weights:

1. A named topic gets its given share of the domain's train quota.
2. The topics not named share what the named ones leave (1 - their sum) in proportion to their
   eligible tokens, so they keep their natural proportions among themselves. When no unnamed
   topic has eligible tokens, the named topics share the whole quota in proportion to their shares.
3. Short topics follow the short-domain rule of `mixtures.plan.allocate`: a topic whose quota
   would need more than `max_epochs` passes over its eligible tokens is upsampled to exactly that
   cap, and the rest goes to the domain's other topics in proportion to their shares (notes with
   numbers).

Selection then takes, per (domain, topic), the shortest hash(seed, id)-order prefix of the
topic's eligible documents that reaches the topic's quota (DESIGN.md's rule, one list per topic).
A named topic with no eligible tokens is an error with the numbers. Domains without topic weights
are planned exactly as before (one list per domain).
"""
from __future__ import annotations

from .config import MixError
from .plan import allocate


def effective_shares(named: dict[str, float], eligible: dict[str, int]) -> tuple[dict[str, float], list[str]]:
    """Every topic's share of its domain's quota under rules 1 and 2, and notes saying how the
    unnamed topics' share was set."""
    unnamed = {t: e for t, e in sorted(eligible.items()) if t not in named and e > 0}
    rest = max(0.0, 1.0 - sum(named.values()))
    shares = dict(named)
    total = sum(unnamed.values())
    if unnamed and rest > 0:
        for t, e in unnamed.items():
            shares[t] = rest * e / total
        notes = [f"{len(unnamed)} unnamed topic(s) share the remaining {rest:.4g} in proportion to their "
                 f"eligible tokens ({', '.join(f'{t} {e:,} -> {shares[t]:.4g}' for t, e in unnamed.items())})"]
    else:
        for t in unnamed:
            shares[t] = 0.0
        scale = sum(named.values())
        notes = []
        if rest > 0 and scale > 0:
            notes.append(f"no unnamed topic has eligible tokens: the named topics share the whole quota in "
                         f"proportion to their shares (sum {scale:.4g})")
            shares = {t: s / scale for t, s in shares.items()}
    return shares, notes


def allocate_topics(domain: str, named: dict[str, float], quota: int, eligible: dict[str, int],
                    max_epochs: float) -> dict:
    """{"topics": {topic: {named, target, quota, eligible_tokens, epochs, short}}, "notes": [...]}
    for one domain; topic quotas are integers summing to the domain's quota (or to what the topic
    caps allow when the domain itself sits at its cap and the caps round down)."""
    empty = sorted(t for t in named if eligible.get(t, 0) <= 0)
    if empty:
        have = ", ".join(f"{t} {e:,}" for t, e in sorted(eligible.items()) if e > 0) or "none"
        raise MixError(f"TOPIC_WEIGHTS: {', '.join(empty)} has no eligible tokens in {domain} (after the "
                       f"filters, source caps and the validation hold-out); the {domain} topics with "
                       f"eligible tokens: {have}")
    shares, notes = effective_shares(named, eligible)
    notes = [f"{domain}: " + n for n in notes]
    cap_all = sum(int(max_epochs * e) for e in eligible.values())
    caps = sum(int(max_epochs * eligible.get(t, 0)) for t, s in shares.items() if s > 0)
    if quota > caps and caps < cap_all:
        raise MixError(f"TOPIC_WEIGHTS: the {domain} topics given a share can hold at most {caps:,} tokens "
                       f"({max_epochs:g} epochs), short of the domain's quota {quota:,}; give a share to "
                       f"more topics or lower the named shares' sum below 1")
    if quota > caps:  # the domain sits at its cap and the per-topic caps round down
        notes.append(f"{domain}: the topic caps ({max_epochs:g} epochs each) hold {caps:,} of the domain's "
                     f"quota {quota:,} tokens")
        quota = caps
    if quota <= 0:
        alloc = {"domains": {t: {"target": s, "quota": 0, "eligible_tokens": eligible.get(t, 0),
                                 "epochs": 0.0, "short": False} for t, s in shares.items()}, "notes": []}
    else:
        alloc = allocate(shares, quota, eligible, max_epochs, what=f"{domain} quota")
    topics = {t: dict(v, named=t in named) for t, v in alloc["domains"].items()}
    return {"topics": topics, "notes": notes + alloc["notes"]}
