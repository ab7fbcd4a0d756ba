"""Peak memory of `make tag` on the local runner at 1x and k x the sample corpus (`make bench`).

The job runs as a subprocess (the default local runner: FnApiRunner, multi-processing, one worker
per core) and its whole process tree is sampled with psutil every `--every` seconds: the peak RSS
of the largest single process (the driver, which holds the runner's shuffle buffers, or a worker)
and the peak of the tree's sum. k x corpus: every input file written k times with the ids made
unique (`<id>@copy<k>`; a clash with an existing id is an error), so the dedup graph grows too (each copy is an exact duplicate of the
first, the worst case for the components). The largest corpus a machine handles locally is then
extrapolated linearly from the two points (the local runner buffers every shuffle in memory).

    python -m pipeline.bench_memory --sample data/sample [--copies 4] [--out runs/bench/memory]
"""
from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import subprocess
import sys
import time

import psutil


def replicate(sample: str, dest: str, copies: int) -> int:
    """Writes every JSONL(.gz) file of `sample` into `dest` `copies` times with unique ids;
    returns the number of documents written."""
    n, seen = 0, set()
    for path in sorted(glob.glob(os.path.join(sample, "**", "*.jsonl*"), recursive=True)):
        rel = os.path.relpath(path, sample)
        with gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for k in range(copies):
            out = os.path.join(dest, f"copy{k}", rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with gzip.open(out, "wt", encoding="utf-8") as g:
                for line in lines:
                    doc = json.loads(line)
                    doc["id"] = f"{doc['id']}@copy{k}" if k else doc["id"]
                    if doc["id"] in seen:
                        raise SystemExit(f"bench: id {doc['id']!r} occurs twice in the {copies}x corpus")
                    seen.add(doc["id"])
                    g.write(json.dumps(doc) + "\n")
                    n += 1
    return n


def watch(cmd: list[str], every: float) -> dict:
    """Runs cmd; peak RSS (bytes) of its largest process and of its process tree, wall seconds."""
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    peak_one = peak_tree = 0
    most = 0
    while proc.poll() is None:
        try:
            tree = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            break
        rss = []
        for p in tree:
            try:
                rss.append(p.memory_info().rss)
            except psutil.NoSuchProcess:
                pass
        if rss:
            peak_one, peak_tree = max(peak_one, max(rss)), max(peak_tree, sum(rss))
            most = max(most, len(rss))
        time.sleep(every)
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{err[-3000:]}")
    return {"peak_rss_largest_process_gb": round(peak_one / 1e9, 3),
            "peak_rss_process_tree_gb": round(peak_tree / 1e9, 3),
            "processes_seen": most, "wall_s": round(time.time() - t0, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.bench_memory")
    ap.add_argument("--sample", default="data/sample")
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--out", default="runs/bench/memory")
    ap.add_argument("--every", type=float, default=0.2, help="sampling period, seconds")
    ap.add_argument("--machine-gb", type=float, default=psutil.virtual_memory().total / 1e9)
    args = ap.parse_args(argv)
    if args.copies < 2:  # the fit needs two corpus sizes; 1 would tag the same corpus twice
        ap.error(f"--copies must be at least 2 (the sample is always measured at 1x too), got {args.copies}")
    if not os.path.isdir(args.sample):
        raise SystemExit(f"bench: {args.sample} is missing; run `make sample`")
    shutil.rmtree(args.out, ignore_errors=True)
    points = []
    for copies in (1, args.copies):
        corpus = os.path.join(args.out, f"corpus-x{copies}")
        docs = replicate(args.sample, corpus, copies)
        nbytes = sum(os.path.getsize(p) for p in glob.glob(os.path.join(corpus, "**", "*"), recursive=True)
                     if os.path.isfile(p))
        res = watch([sys.executable, "-m", "pipeline.tag_job", "--input", corpus,
                     "--output", os.path.join(args.out, f"tag-x{copies}")], args.every)
        with open(os.path.join(args.out, f"tag-x{copies}", "stats.json")) as f:
            text_gb = json.load(f)["tagged_bytes"] / 1e9
        points.append({"copies": copies, "documents": docs, "text_gb": round(text_gb, 4),
                       "input_gz_mb": round(nbytes / 1e6, 1), **res})
        print(json.dumps(points[-1]), flush=True)
        shutil.rmtree(corpus, ignore_errors=True)
    a, b = points
    slope = (b["peak_rss_process_tree_gb"] - a["peak_rss_process_tree_gb"]) / (b["text_gb"] - a["text_gb"])
    base = a["peak_rss_process_tree_gb"] - slope * a["text_gb"]
    limit = (0.8 * args.machine_gb - base) / slope if slope > 0 else float("inf")
    summary = {"points": points, "tree_gb_per_text_gb": round(slope, 2), "tree_gb_fixed": round(base, 2),
               "machine_gb": round(args.machine_gb, 1),
               "largest_text_gb_at_80pct_of_machine": round(limit, 2),
               "note": "linear fit of the process tree's peak RSS over the two points"}
    with open(os.path.join(args.out, "memory.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "points"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
