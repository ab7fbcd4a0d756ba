"""Token quotas per domain from target weights, a budget and a repetition cap.

The short-domain rule (declared, reported with numbers): a domain gets `weight x budget` tokens;
a domain whose share would need more than `max_epochs` passes over its eligible tokens is
upsampled to exactly that cap, and what it cannot take goes to the other domains in proportion to
their weights, repeated until every quota fits. A budget larger than the data and caps allow is an
error that says by how much."""
from __future__ import annotations

from .config import MixError


def allocate(weights: dict[str, float], budget: int, eligible: dict[str, int],
             max_epochs: float, what: str = "TOKENS") -> dict:
    """{"domains": {d: {target, quota, eligible_tokens, epochs, short}}, "notes": [...]}.

    Quotas are integers that sum to `budget`. Raises MixError when the data cannot fill it."""
    if budget <= 0:
        raise MixError(f"{what} must be positive, got {budget}")
    if max_epochs <= 0:
        raise MixError(f"max epochs must be positive, got {max_epochs}")
    caps = {d: int(max_epochs * eligible.get(d, 0)) for d in weights}
    capacity = sum(caps[d] for d, w in weights.items() if w > 0)
    if capacity < budget:
        detail = ", ".join(f"{d}: {eligible.get(d, 0):,} eligible x {max_epochs:g} = {caps[d]:,}"
                           for d, w in weights.items() if w > 0)
        raise MixError(f"{what}={budget:,} is larger than the data and caps allow: at most {capacity:,} "
                       f"tokens ({detail}); lower {what}, relax the filters or raise the epoch cap")
    quota = {d: 0.0 for d in weights}
    active = {d for d, w in weights.items() if w > 0}
    remaining = float(budget)
    notes = []
    while active:
        wsum = sum(weights[d] for d in active)
        share = {d: remaining * weights[d] / wsum for d in active}
        over = [d for d in sorted(active) if share[d] > caps[d]]
        if not over:
            for d in active:
                quota[d] = share[d]
            break
        for d in over:
            notes.append(f"{d} is short: its share needs {share[d]:,.0f} tokens but {eligible.get(d, 0):,} "
                         f"eligible x {max_epochs:g} epochs = {caps[d]:,}; upsampled to the cap, "
                         f"{share[d] - caps[d]:,.0f} tokens go to the others in proportion")
            quota[d] = float(caps[d])
            remaining -= caps[d]
            active.discard(d)
    ints = _round_to_sum(quota, budget, caps)
    domains = {}
    for d, w in weights.items():
        e = eligible.get(d, 0)
        domains[d] = {"target": w, "quota": ints[d], "eligible_tokens": int(e),
                      "epochs": (ints[d] / e) if e else 0.0,
                      "short": any(n.startswith(d + " is short") for n in notes)}
    return {"budget": int(budget), "max_epochs": max_epochs, "domains": domains, "notes": notes}


def _round_to_sum(quota: dict[str, float], budget: int, caps: dict[str, int]) -> dict[str, int]:
    """Floor each quota, then hand the leftover tokens to the largest fractions (within caps)."""
    ints = {d: int(q) for d, q in quota.items()}
    left = budget - sum(ints.values())
    for d in sorted(quota, key=lambda k: (-(quota[k] - ints[k]), k)):
        if left <= 0:
            break
        if quota[d] > 0 and ints[d] < caps[d]:
            ints[d] += 1
            left -= 1
    return ints
