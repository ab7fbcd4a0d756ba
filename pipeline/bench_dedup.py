"""`make bench` for dedup: signatures against datasketch, and the dedup stages' throughput.

1. Signatures alone, one process: `datasketch.MinHash.bulk` against `taggers.minhash.MinHasher` on
   the same documents, the same shingles (word 5-grams, built by `taggers.minhash.shingles` for
   both) and the same permutations (128, seed 1), CPU time of this process, median of REPEATS.
   Printed twice: datasketch's bulk alone (shingles prepared beforehand, not timed) and with its
   shingling; for the same hash function (sha1, bit-identical output, checked) and for our crc32
   option against datasketch's default sha1.
2. Dedup stages in Beam (signatures, LSH buckets, connected components, line counts, write), on a
   finished tag output (default runs/demo/tag): the same read -> write pipeline with and without
   `pipeline.dedup.Dedup`, each in its own process (CPU = user + sys of it and all its children),
   median of REPEATS; the dedup stages' cost is the difference, reported as GB of text per
   CPU-hour, beside the pass-through baseline.

    python -m pipeline.bench_dedup [--tagged runs/demo/tag] [--docs 4000] [--repeats 3]

BENCH_LINES=0 in the environment turns line-level dedup off in the dedup job (to see its share).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _texts(tagged: str, limit: int) -> list[str]:
    import pyarrow.parquet as pq
    out = []
    for path in sorted(glob.glob(os.path.join(tagged, "docs", "part-*.parquet"))):
        out += pq.read_table(path, columns=["text"]).column("text").to_pylist()
    # an even spread over the corpus (the parts are written in no particular domain order)
    step = max(1, len(out) // limit) if limit else 1
    return out[::step][:limit] if limit else out


def bench_signatures(texts: list[str], repeats: int) -> dict:
    import numpy as np
    from datasketch import MinHash
    from taggers.minhash import MinHasher, hashfunc_for, shingles

    def shingle_all():
        return [[s for part in shingles(t) for s in part] for t in texts]
    prepared = shingle_all()
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    res = {"documents": len(texts), "mb": round(mb, 3), "shingles": sum(map(len, prepared))}
    runs = {"datasketch_bulk": [], "datasketch_with_shingling": [], "ours_sha1": [], "ours_crc32": [],
            "ours_poly": []}
    for _ in range(repeats):
        c = _own_cpu()
        ref = MinHash.bulk(prepared, num_perm=128, seed=1, hashfunc=hashfunc_for("sha1"))
        runs["datasketch_bulk"].append(_own_cpu() - c)
        c = _own_cpu()
        MinHash.bulk(shingle_all(), num_perm=128, seed=1, hashfunc=hashfunc_for("sha1"))
        runs["datasketch_with_shingling"].append(_own_cpu() - c)
        c = _own_cpu()
        sig, _ = MinHasher(128, 1, hash_name="sha1").signatures(texts)
        runs["ours_sha1"].append(_own_cpu() - c)
        c = _own_cpu()
        MinHasher(128, 1, hash_name="crc32").signatures(texts)
        runs["ours_crc32"].append(_own_cpu() - c)
        c = _own_cpu()
        MinHasher(128, 1, hash_name="poly").signatures(texts)
        runs["ours_poly"].append(_own_cpu() - c)
        if not np.array_equal(np.vstack([m.hashvalues for m in ref]), sig):
            raise SystemExit("bench: signatures differ from datasketch's")
    med = {k: statistics.median(v) for k, v in runs.items()}
    res["cpu_s_median"] = {k: round(v, 3) for k, v in med.items()}
    res["speedup"] = {
        "sha1_vs_bulk": round(med["datasketch_bulk"] / med["ours_sha1"], 2),
        "sha1_vs_bulk_with_shingling": round(med["datasketch_with_shingling"] / med["ours_sha1"], 2),
        "crc32_vs_bulk": round(med["datasketch_bulk"] / med["ours_crc32"], 2),
        "crc32_vs_bulk_with_shingling": round(med["datasketch_with_shingling"] / med["ours_crc32"], 2),
        "poly_vs_bulk": round(med["datasketch_bulk"] / med["ours_poly"], 2),
        "poly_vs_bulk_with_shingling": round(med["datasketch_with_shingling"] / med["ours_poly"], 2)}
    return res


def stage_job(tagged: str, out: str, with_dedup: bool, workers: int, extra: list[str],
              settings: dict | None = None) -> None:
    """One Beam job: read the tagged docs, optionally dedup, write Parquet (run in a subprocess)."""
    import apache_beam as beam
    import pyarrow as pa
    import pyarrow.parquet as pq
    from apache_beam.io.parquetio import ReadAllFromParquet, WriteToParquet

    from pipeline.dedup import LINE_SHARE_SIGNAL, Dedup, DedupConfig
    from pipeline.options import beam_options

    parts = sorted(glob.glob(os.path.join(tagged, "docs", "part-*.parquet")))
    schema = pq.read_schema(parts[0])
    if with_dedup:
        sig = schema.field("quality_signals").type
        names = [f.name for f in sig] + ([LINE_SHARE_SIGNAL] if LINE_SHARE_SIGNAL not in [f.name for f in sig] else [])
        schema = schema.set(schema.get_field_index("quality_signals"),
                            pa.field("quality_signals", pa.struct([(n, pa.float64()) for n in names])))
    options = beam_options([f"--direct_num_workers={workers}", *extra], None)
    with beam.Pipeline(options=options) as p:
        # Files read in a DoFn, as the jobs read them, not through ReadFromParquet's splittable source:
        # with it, one run of 7 under heavy load failed with a row missing from the Finish join.
        rows = p | beam.Create(parts) | ReadAllFromParquet()
        if with_dedup:
            rows, events = rows | Dedup(DedupConfig(**{"line_dedup_min_docs": int(os.environ.get("BENCH_LINES", "6")),
                                                       **(settings or {})}))
            events | "CountEvents" >> beam.combiners.Count.Globally() | beam.Map(lambda n: None)
        rows | WriteToParquet(os.path.join(out, "part"), schema, file_name_suffix=".parquet")


def bench_stages(tagged: str, repeats: int, workers: int, settings: dict | None = None) -> dict:
    import pyarrow.parquet as pq
    nbytes = 0
    for path in sorted(glob.glob(os.path.join(tagged, "docs", "part-*.parquet"))):
        nbytes += sum(len(t.encode("utf-8")) for t in pq.read_table(path, columns=["text"]).column("text").to_pylist())
    runs = {"passthrough": [], "dedup": []}
    walls = {"passthrough": [], "dedup": []}
    for _ in range(repeats):
        for mode in ("passthrough", "dedup"):
            out = tempfile.mkdtemp(prefix="bench-dedup-")
            cmd = [sys.executable, "-m", "pipeline.bench_dedup", "--stage-job", mode, "--tagged", tagged,
                   "--out", out, "--workers", str(workers),
                   "--dedup-settings", json.dumps(settings or {})]
            c, t = _children_cpu(), time.time()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
            runs[mode].append(_children_cpu() - c)
            walls[mode].append(time.time() - t)
            shutil.rmtree(out, ignore_errors=True)
    cpu = {k: statistics.median(v) for k, v in runs.items()}
    dedup_cpu = max(cpu["dedup"] - cpu["passthrough"], 1e-9)
    gb = nbytes / 1e9
    return {"text_gb": round(gb, 4), "workers": workers,
            "cpu_s_median": {k: round(v, 2) for k, v in cpu.items()},
            "wall_s_median": {k: round(statistics.median(v), 2) for k, v in walls.items()},
            "dedup_stages_cpu_s": round(dedup_cpu, 2),
            "dedup_stages_gb_per_cpu_hour": round(gb / (dedup_cpu / 3600), 2),
            "job_with_dedup_gb_per_cpu_hour": round(gb / (cpu["dedup"] / 3600), 2),
            "passthrough_gb_per_cpu_hour": round(gb / (cpu["passthrough"] / 3600), 2),
            "ratio_dedup_job_over_passthrough_cpu": round(cpu["dedup"] / cpu["passthrough"], 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.bench_dedup")
    ap.add_argument("--tagged", default="runs/demo/tag", help="a finished `make tag` output")
    ap.add_argument("--docs", type=int, default=4000, help="documents for the signature benchmark")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-stages", action="store_true")
    ap.add_argument("--skip-signatures", action="store_true")
    ap.add_argument("--dedup-settings", default="{}", metavar="JSON",
                    help='DedupConfig fields for the stage job, e.g. \'{"shingle": 3, "bands": 28, "rows": 2}\'')
    ap.add_argument("--stage-job", choices=("passthrough", "dedup"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args, extra = ap.parse_known_args(argv)
    if args.stage_job:
        stage_job(args.tagged, args.out, args.stage_job == "dedup", args.workers, extra,
                  json.loads(args.dedup_settings))
        return 0
    if not os.path.exists(os.path.join(args.tagged, "_SUCCESS")):
        raise SystemExit(f"bench: {args.tagged} is not a finished tag output; run `make demo` or `make tag`")
    report = {}
    if not args.skip_signatures:
        report["signatures"] = bench_signatures(_texts(args.tagged, args.docs), args.repeats)
        print(json.dumps(report, indent=1), flush=True)
    if not args.skip_stages:
        report["stages"] = bench_stages(args.tagged, args.repeats, args.workers, json.loads(args.dedup_settings))
        print(json.dumps(report["stages"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
