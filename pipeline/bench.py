"""`make bench` for tagging: documents and MB per CPU-second (user + system of every process,
start-up included) for the whole Beam tag job and for the taggers alone, on the same input, in the
same run, with the ratio between them. Each measurement runs REPEATS times; medians are printed.

    python -m pipeline.bench --input data/sample --output runs/bench [--repeats 3]
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import statistics
import sys

from taggers.bench import timed  # one definition of 'wall and CPU of a child command'


def concatenate(input_dir: str, dest: str) -> tuple[int, int]:
    """All sample documents in one plain JSONL for `taggers predict`; returns (docs, text bytes)."""
    docs = nbytes = 0
    with open(dest, "w", encoding="utf-8") as out:
        for path in sorted(glob.glob(os.path.join(input_dir, "**", "*.jsonl.gz"), recursive=True)):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        out.write(line if line.endswith("\n") else line + "\n")
                        docs += 1
                        nbytes += len(json.loads(line).get("text", "").encode("utf-8"))
    return docs, nbytes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.bench")
    ap.add_argument("--input", default="data/sample")
    ap.add_argument("--output", default="runs/bench")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    if not os.path.exists(os.path.join(args.input, "_SUCCESS")):
        raise SystemExit(f"bench: {args.input} is not a finished sample; run `make sample` first")
    os.makedirs(args.output, exist_ok=True)
    all_jsonl = os.path.join(args.output, "all.jsonl")
    docs, nbytes = concatenate(args.input, all_jsonl)
    mb = nbytes / 1e6
    print(f"bench: {docs} documents, {mb:.1f} MB of text from {args.input}; {os.cpu_count()} cores")

    rows = {}
    for name, cmd in {
        "taggers alone (python -m taggers predict, 1 process)": [
            sys.executable, "-m", "taggers", "predict", "--input", all_jsonl,
            "--output", os.path.join(args.output, "predicted.jsonl")],
        "tag job (Beam FnApiRunner, all cores)": [
            sys.executable, "-m", "pipeline.tag_job", "--input", args.input,
            "--output", os.path.join(args.output, "tag"), "--force"],
    }.items():
        walls, cpus = [], []
        for _ in range(args.repeats):
            wall, cpu = timed(cmd)
            walls.append(wall)
            cpus.append(cpu)
        rows[name] = (statistics.median(walls), statistics.median(cpus))

    print(f"\n{'measurement':<56} {'wall s':>8} {'CPU s':>8} {'docs/CPU-s':>11} {'MB/CPU-s':>9}")
    for name, (wall, cpu) in rows.items():
        print(f"{name:<56} {wall:8.1f} {cpu:8.1f} {docs / cpu:11.1f} {mb / cpu:9.3f}")
    (t_wall, t_cpu), (j_wall, j_cpu) = rows.values()
    print(f"\nratio, tag job to taggers alone (per CPU-second): {t_cpu / j_cpu:.2f}  "
          f"(medians of {args.repeats}; 1.0 would mean Beam adds no cost)")
    shutil.rmtree(os.path.join(args.output, "tag"), ignore_errors=True)
    with open(os.path.join(args.output, "bench.json"), "w") as f:
        json.dump({"docs": docs, "mb": mb, "cores": os.cpu_count(), "repeats": args.repeats,
                   "results": {k: {"wall_s": w, "cpu_s": c, "docs_per_cpu_s": docs / c,
                                   "mb_per_cpu_s": mb / c} for k, (w, c) in rows.items()}}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
