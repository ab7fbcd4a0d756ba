"""Statistics of the built corpus and the table printed at the end of `make sample`.

Owns: per-source counts (documents, bytes, size percentiles in characters, labels, languages),
domain and grand totals, the minimum-size checks per domain, and the text table.
"""
from __future__ import annotations

import math

MIN_DOMAIN_DOCS = 2_000
MIN_DOMAIN_MB = 5.0
MIN_TOTAL_DOCS = 20_000
MIN_TOTAL_MB = 60.0


def percentile(sorted_vals: list[int], q: float) -> int:
    """Nearest-rank percentile of an ascending list (0 for an empty list)."""
    if not sorted_vals:
        return 0
    k = min(len(sorted_vals) - 1, max(0, math.ceil(q / 100 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def _sizes(lengths: list[int]) -> dict:
    s = sorted(lengths)
    return {"p10_chars": percentile(s, 10), "p50_chars": percentile(s, 50),
            "p90_chars": percentile(s, 90), "max_chars": s[-1] if s else 0}


def source_stats(records: list[dict]) -> dict:
    """Counts for one source's kept records."""
    lengths = [len(r["text"]) for r in records]
    labels: dict[str, int] = {}
    langs: dict[str, int] = {}
    for r in records:
        lab = r["meta"].get("label")
        if lab:
            labels[lab] = labels.get(lab, 0) + 1
        lg = r["meta"].get("lang")
        if lg:
            langs[lg] = langs.get(lg, 0) + 1
    return {"documents": len(records),
            "bytes": sum(len(r["text"].encode("utf-8")) for r in records),
            "_lengths": lengths, **_sizes(lengths),
            "labels": dict(sorted(labels.items())), "langs": dict(sorted(langs.items()))}


def summarise(rows: list[dict], settings: dict) -> dict:
    """Domain totals, grand total and checks from per-source rows (lengths are dropped after)."""
    domains: dict[str, dict] = {}
    all_lengths: list[int] = []
    for r in rows:
        d = domains.setdefault(r["domain"], {"documents": 0, "bytes": 0, "_lengths": [],
                                             "labels": {}, "langs": {}, "skipped_files": 0})
        d["documents"] += r["documents"]
        d["bytes"] += r["bytes"]
        d["_lengths"] += r["_lengths"]
        d["skipped_files"] += r["skipped_files"]
        for k in ("labels", "langs"):
            for name, n in r[k].items():
                d[k][name] = d[k].get(name, 0) + n
        all_lengths += r["_lengths"]
    for d in domains.values():
        d.update(_sizes(d.pop("_lengths")))
        d["mb"] = round(d["bytes"] / 1e6, 2)
        d["labels"] = dict(sorted(d["labels"].items()))
        d["langs"] = dict(sorted(d["langs"].items()))
    for r in rows:
        r.pop("_lengths", None)
        r["mb"] = round(r["bytes"] / 1e6, 2)
    total = {"documents": sum(d["documents"] for d in domains.values()),
             "bytes": sum(d["bytes"] for d in domains.values()),
             "skipped_files": sum(d["skipped_files"] for d in domains.values()),
             **_sizes(sorted(all_lengths))}
    total["mb"] = round(total["bytes"] / 1e6, 2)
    problems = []
    for name in ("general", "math", "code", "multilingual"):
        d = domains.get(name, {"documents": 0, "mb": 0})
        if d["documents"] < MIN_DOMAIN_DOCS or d["mb"] < MIN_DOMAIN_MB:
            problems.append(f"domain {name}: {d['documents']} docs / {d['mb']} MB is below "
                            f"{MIN_DOMAIN_DOCS} docs / {MIN_DOMAIN_MB} MB")
    if total["documents"] < MIN_TOTAL_DOCS or total["mb"] < MIN_TOTAL_MB:
        problems.append(f"total {total['documents']} docs / {total['mb']} MB is below "
                        f"{MIN_TOTAL_DOCS} docs / {MIN_TOTAL_MB} MB")
    return {"schema": "mixcurate.corpus.stats/1", "settings": settings, "sources": rows,
            "domains": domains, "total": total, "checks": {"ok": not problems,
                                                           "problems": problems}}


def format_table(stats: dict) -> str:
    """The table printed at the end of a build (and on a no-op rerun)."""
    head = (f"{'domain':<13}{'source':<18}{'docs':>8}{'MB':>8}{'p10':>7}{'p50':>7}{'p90':>8}"
            f"{'max':>8}{'skipped':>8}")
    lines = [head, "-" * len(head)]

    def row(domain, source, r):
        return (f"{domain:<13}{source:<18}{r['documents']:>8}{r['bytes'] / 1e6:>8.2f}"
                f"{r['p10_chars']:>7}{r['p50_chars']:>7}{r['p90_chars']:>8}{r['max_chars']:>8}"
                f"{r.get('skipped_files', 0):>8}")

    for domain in ("general", "math", "code", "multilingual"):
        for r in stats["sources"]:
            if r["domain"] == domain:
                lines.append(row(domain, r["source"], r))
        if domain in stats["domains"]:
            d = stats["domains"][domain]
            lines.append(row(domain, "= TOTAL", d))
            extra = d["langs"] if domain == "multilingual" else None
            if domain == "code":
                lines.append(f"{'':13}labels: " + ", ".join(f"{k.split('.', 1)[1]}={v}"
                                                             for k, v in d["labels"].items()))
            if extra:
                lines.append(f"{'':13}langs ({len(extra)}): "
                             + ", ".join(f"{k}={v}" for k, v in extra.items()))
            lines.append("")
    lines.append(row("ALL", "", stats["total"]))
    for p in stats.get("checks", {}).get("problems", []):
        lines.append(f"WARNING: {p}")
    if "timing_s" in stats:
        t = stats["timing_s"]
        lines.append(f"built in {t['total']} s (fetch+unpack {t['fetch_and_unpack']} s, extract "
                     f"{t['extract']} s, write {t['write']} s)")
    return "\n".join(lines)
