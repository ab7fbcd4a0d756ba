"""Parsing and checking the planner's user settings (WEIGHTS, LANGS, anneal weights) before any
work starts. Every problem is a MixError whose message carries the numbers."""
from __future__ import annotations

import math

DEFAULT_WEIGHTS = "general=0.5,math=0.25,code=0.17,multilingual=0.08"
WEIGHT_TOLERANCE = 1e-6


class MixError(ValueError):
    """Bad settings or input for the planner; reported before the heavy work starts."""


def _assignments(spec: str | None):
    """(part, name, "=" or "", value) for each non-empty comma-separated `name=value` part, the
    part and name stripped."""
    for part in [p.strip() for p in (spec or "").split(",") if p.strip()]:
        name, sep, value = part.partition("=")
        yield part, name.strip(), sep, value


def parse_weights(spec: str, known: tuple | list, what: str = "WEIGHTS") -> dict[str, float]:
    """`general=0.5,math=0.25,...` -> {domain: weight}; they must be known, non-negative, sum to 1."""
    out: dict[str, float] = {}
    for part, name, sep, value in _assignments(spec):
        if not sep or not name:
            raise MixError(f"{what}: {part!r} is not domain=weight")
        if name not in known:
            raise MixError(f"{what}: unknown domain {name!r} (known: {', '.join(known)})")
        if name in out:
            raise MixError(f"{what}: domain {name!r} given twice")
        try:
            w = float(value)
        except ValueError:
            raise MixError(f"{what}: weight of {name!r} is not a number: {value!r}") from None
        if not math.isfinite(w) or w < 0:
            raise MixError(f"{what}: weight of {name!r} is {value}; weights must be finite and >= 0")
        out[name] = w
    if not out:
        raise MixError(f"{what} is empty: give e.g. {DEFAULT_WEIGHTS}")
    total = sum(out.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise MixError(f"{what} sum to {total:.6g}, not 1 ({', '.join(f'{k}={v:g}' for k, v in out.items())})")
    return out


def parse_langs(spec: str | None) -> list[str] | None:
    """`en,de` -> ['de', 'en']; empty -> None (every language)."""
    langs = sorted({p.strip() for p in (spec or "").split(",") if p.strip()})
    return langs or None


def anneal_weights(target: dict[str, float], boost: dict[str, float]) -> dict[str, float]:
    """Target weights with some domains multiplied (math and code by default), renormalised."""
    raw = {d: w * boost.get(d, 1.0) for d, w in target.items()}
    total = sum(raw.values())
    if total <= 0:
        raise MixError(f"anneal weights sum to zero: {raw}")
    return {d: w / total for d, w in raw.items()}


def parse_boost(spec: str, known) -> dict[str, float]:
    """`math=2,code=2` -> {'math': 2.0, 'code': 2.0} (factors >= 0, any sum)."""
    out = {}
    for part, name, sep, value in _assignments(spec):
        if not sep or name not in known:
            raise MixError(f"anneal boost: {part!r} is not <known domain>=factor (known: {', '.join(known)})")
        try:
            f = float(value)
        except ValueError:
            raise MixError(f"anneal boost: {value!r} is not a number") from None
        if not math.isfinite(f) or f < 0:
            raise MixError(f"anneal boost: factor of {name!r} is {value}; must be >= 0")
        out[name] = f
    return out


def parse_topic_weights(spec: str | None, topics, domain_of_topic, weights: dict[str, float],
                        what: str = "TOPIC_WEIGHTS") -> dict[str, dict[str, float]]:
    """`math.word_problems=0.4,math.algebra=0.3` -> {domain: {topic: share of the domain's quota}}.

    Each topic must be one of `topics` (the taxonomy), named once, with a finite share >= 0; a topic
    belongs to its home domain (`domain_of_topic`), which must have a positive weight; the shares
    named for one domain sum to at most 1. Empty -> {} (no topic weights)."""
    out: dict[str, dict[str, float]] = {}
    seen = set()
    for part, name, sep, value in _assignments(spec):
        if not sep or not name:
            raise MixError(f"{what}: {part!r} is not topic=share")
        if name not in topics:
            import difflib
            near = difflib.get_close_matches(name, list(topics), n=3)
            hint = f"did you mean {', '.join(near)}? " if near else ""
            raise MixError(f"{what}: unknown topic {name!r} ({hint}the {len(topics)} topics are listed in "
                           f"taggers/taxonomy.py)")
        if name in seen:
            raise MixError(f"{what}: topic {name!r} given twice")
        seen.add(name)
        try:
            share = float(value)
        except ValueError:
            raise MixError(f"{what}: share of {name!r} is not a number: {value!r}") from None
        if not math.isfinite(share) or share < 0:
            raise MixError(f"{what}: share of {name!r} is {value}; shares must be finite and >= 0")
        domain = domain_of_topic(name)
        if weights.get(domain, 0) <= 0:
            raise MixError(f"{what}: topic {name!r} belongs to domain {domain!r}, which has no weight in "
                           f"WEIGHTS ({', '.join(f'{k}={v:g}' for k, v in weights.items())})")
        out.setdefault(domain, {})[name] = share
    for domain, shares in out.items():
        total = sum(shares.values())
        if total > 1.0 + WEIGHT_TOLERANCE:
            raise MixError(f"{what}: the {domain} topics' shares sum to {total:.6g}, more than 1 "
                           f"({', '.join(f'{k}={v:g}' for k, v in shares.items())})")
    return out
