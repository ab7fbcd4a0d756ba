"""Prints what a finished tag run holds: documents per domain and language, and rejects by reason.

    python -m pipeline.summary runs/tag
Reads only OUTPUT/stats.json and OUTPUT/docs (pyarrow), and requires OUTPUT/_SUCCESS.
"""
from __future__ import annotations

import glob
import json
import os
import sys

import pyarrow.parquet as pq

from pipeline.staging import OutputError, require_success


def domain_lang_table(docs_dir: str, top_langs: int = 10) -> list[list]:
    """Rows [domain, total, count per top language..., other] counted from the Parquet files."""
    counts: dict[tuple[str, str], int] = {}
    for path in sorted(glob.glob(os.path.join(docs_dir, "part-*.parquet"))):
        table = pq.read_table(path, columns=["domain", "lang"])
        for domain, lang in zip(table.column("domain").to_pylist(), table.column("lang").to_pylist()):
            counts[(domain, lang)] = counts.get((domain, lang), 0) + 1
    by_lang: dict[str, int] = {}
    for (_, lang), n in counts.items():
        by_lang[lang] = by_lang.get(lang, 0) + n
    langs = [l for l, _ in sorted(by_lang.items(), key=lambda kv: (-kv[1], kv[0]))[:top_langs]]
    rows = [["domain", "docs", *langs, "other"]]
    for domain in sorted({d for d, _ in counts}):
        per = [counts.get((domain, l), 0) for l in langs]
        total = sum(n for (d, _), n in counts.items() if d == domain)
        rows.append([domain, total, *per, total - sum(per)])
    return rows


def format_table(rows: list[list]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(v).rjust(w) if i else str(v).ljust(w) for i, (v, w) in enumerate(zip(r, widths)))
             for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m pipeline.summary TAG_OUTPUT", file=sys.stderr)
        return 2
    out = argv[0]
    try:
        require_success(out, "tag")
    except OutputError as exc:
        print(f"summary: error: {exc}", file=sys.stderr)
        return 2
    with open(os.path.join(out, "stats.json")) as f:
        stats = json.load(f)
    print(f"\nTagged documents per domain and language ({out}/docs):")
    print(format_table(domain_lang_table(os.path.join(out, "docs"))))
    print(f"\nInputs: {stats['inputs']['records']} records in {stats['inputs']['files']} files; "
          f"tagged {stats['tagged']}, rejected {stats['rejected']} ({out}/rejects)")
    for reason, n in stats["rejected_by_reason"].items():
        print(f"  {reason:<18} {n}")
    t = stats["throughput"]
    print(f"Throughput: {t['wall_s']} s wall, {t['cpu_s']} CPU-s, {t['docs_per_cpu_s']} docs and "
          f"{t['mb_per_cpu_s']} MB per CPU-second on {t['runner']} with {t['workers']} workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
