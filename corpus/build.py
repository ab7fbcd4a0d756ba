"""Building the corpus: fetch, unpack, extract in a process pool, cap, write, report.

Owns: the build settings (and the no-op when a finished output has the same ones), the per-source
caps applied by a seeded hash of the id, the gzip JSONL writers, the atomic staging → rename →
`_SUCCESS` sequence, and `stats.json`.
"""
from __future__ import annotations

import concurrent.futures as cf
import gzip
import hashlib
import json
import os
import shutil
import sys
import time

from corpus import sources as S
from corpus.fetch import FetchError, Fetcher
from corpus.stats import format_table, source_stats, summarise

FORMAT_VERSION = 1


def builder_digest() -> str:
    """SHA-1 of the corpus builder's own code: a changed extraction or label rule rebuilds."""
    h = hashlib.sha1()
    folder = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
    return h.hexdigest()


def settings_of(args) -> dict:
    """The settings that determine the output; a finished output with equal settings is reused."""
    return {"format_version": FORMAT_VERSION, "seed": args.seed,
            "max_source_mb": args.max_source_mb, "max_source_docs": args.max_source_docs,
            "sources": sorted(f"{s.domain}/{s.name}" for s in S.SOURCES),
            "builder": builder_digest()}


def hash_key(seed: int, doc_id: str) -> str:
    """Seeded, stable order of documents: sha1 of '<seed>:<id>'."""
    return hashlib.sha1(f"{seed}:{doc_id}".encode("utf-8")).hexdigest()


def cap_records(records: list[dict], seed: int, max_docs: int | None, max_bytes: int | None):
    """Order records by seeded hash of their id and keep the longest prefix within the caps.
    Returns (kept, n_dropped_by_cap)."""
    ordered = sorted(records, key=lambda r: hash_key(seed, r["id"]))
    kept, size = [], 0
    for r in ordered:
        b = len(r["text"].encode("utf-8"))
        if max_docs is not None and len(kept) >= max_docs:
            break
        if max_bytes is not None and size + b > max_bytes and kept:
            break
        kept.append(r)
        size += b
    return kept, len(ordered) - len(kept)


def write_jsonl_gz(path: str, records: list[dict]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=4) as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False))
            f.write("\n")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build(args) -> int:
    out_dir = os.path.abspath(args.output)
    settings = settings_of(args)
    success = os.path.join(out_dir, "_SUCCESS")
    if os.path.exists(success) and not args.force:
        try:
            with open(success, encoding="utf-8") as f:
                done = json.load(f)
        except (OSError, ValueError):
            done = {}
        if done.get("settings") == settings:
            with open(os.path.join(out_dir, "stats.json"), encoding="utf-8") as f:
                stats = json.load(f)
            print(f"corpus: {out_dir} is already built with these settings (nothing to do)")
            print(format_table(stats))
            return 0
        _log(f"corpus: {out_dir} was built with other settings; rebuilding")

    t0 = time.time()
    fetcher = Fetcher(args.cache, log=_log)
    staging = f"{out_dir}.staging-{os.getpid()}"
    work = os.path.join(os.path.abspath(args.cache), f"unpacked-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    try:
        ctx, fetch_s = _fetch_all(fetcher, work)
        t_fetch = time.time()
        per_source = _extract_all(ctx, args.workers)
        t_extract = time.time()
        stats = _write_all(per_source, staging, args, settings)
        stats["timing_s"] = {"fetch_and_unpack": round(t_fetch - t0, 1),
                             "extract": round(t_extract - t_fetch, 1),
                             "write": round(time.time() - t_extract, 1),
                             "total": round(time.time() - t0, 1)}
        stats["downloaded_this_run"] = fetcher.downloaded
        stats["apt_update_run"] = fetcher.apt_updated
        with open(os.path.join(staging, "stats.json"), "w", encoding="utf-8") as f:
            json.dump(stats, f, indent=1, ensure_ascii=False)
        _publish(staging, out_dir, settings, stats)
    except FetchError as e:
        shutil.rmtree(staging, ignore_errors=True)
        print(str(e), file=sys.stderr)
        return 2
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(format_table(stats))
    return 0


def _fetch_all(fetcher: Fetcher, work: str):
    """Resolve and download every package (cached files are reused), then unpack the .debs."""
    apt_required, apt_optional = [], []
    for s in S.SOURCES:
        apt_required += s.apt
        apt_optional += s.apt_optional
    apt_required = list(dict.fromkeys(apt_required))
    apt_optional = [p for p in dict.fromkeys(apt_optional) if p not in apt_required]

    packages = {}
    with cf.ThreadPoolExecutor(4) as pool:
        # pip and npm in the background (building an sdist's metadata can take ~20 s)
        side = {}
        for s in S.SOURCES:
            for name, version, sdist in s.pip:
                side[f"pip:{name}"] = pool.submit(fetcher.pip, name, version, sdist)
            for name, version in s.npm:
                side[f"npm:{name}"] = pool.submit(fetcher.npm, name, version)
        resolved = {}
        if apt_required or apt_optional:
            for pat in apt_required + apt_optional:
                try:
                    resolved[pat] = fetcher.resolve_apt(pat)
                except FetchError:
                    if pat in apt_required:
                        raise
                    _log(f"corpus: optional apt pattern {pat!r} matched no package, left out")
            names = [resolved[p] for p in apt_required + apt_optional if p in resolved]
            optional_names = frozenset(resolved[p] for p in apt_optional if p in resolved)
            for name, pkg in fetcher.apt(names, optional=optional_names).items():
                packages[f"apt:{name}"] = pkg
        for key, fut in side.items():
            packages[key] = fut.result()
        # unpack (dpkg-deb is CPU-bound in xz; two at a time)
        roots = {}
        debs = [p for k, p in packages.items() if k.startswith("apt:")]
        futs = {pool.submit(fetcher.extract_deb, p, os.path.join(work, p.name)): p for p in debs}
        for fut, p in futs.items():
            roots[p.name] = fut.result()
    return S.PlanContext(resolved, packages, roots), None


def _extract_all(ctx: S.PlanContext, workers: int) -> dict:
    """Plan every source's units and run them in a process pool; gather per (domain, source)."""
    jobs = []
    for s in S.SOURCES:
        for fn, kw in s.plan(ctx):
            jobs.append(((s.domain, s.name), fn, kw))
    per: dict = {(s.domain, s.name): {"records": [], "skipped": [], "short": 0} for s in S.SOURCES}
    # biggest units first keeps both workers busy to the end
    jobs.sort(key=lambda j: -len(j[2].get("files", ())))
    if workers <= 1:
        results = ((key, S.run_unit(fn, kw)) for key, fn, kw in jobs)
        for key, (recs, skipped, short) in results:
            _gather(per[key], recs, skipped, short)
        return per
    with cf.ProcessPoolExecutor(workers) as pool:
        futs = {pool.submit(S.run_unit, fn, kw): key for key, fn, kw in jobs}
        for fut in cf.as_completed(futs):
            recs, skipped, short = fut.result()
            _gather(per[futs[fut]], recs, skipped, short)
    return per


def _gather(slot: dict, recs, skipped, short) -> None:
    slot["records"].extend(recs)
    slot["skipped"].extend(skipped)
    slot["short"] += short


def _write_all(per: dict, staging: str, args, settings: dict) -> dict:
    max_bytes = int(args.max_source_mb * 1_000_000) if args.max_source_mb else None
    max_docs = args.max_source_docs or None
    seen_ids: dict[str, str] = {}
    rows = []
    for (domain, source), slot in sorted(per.items()):
        recs = slot["records"]
        for r in recs:
            other = seen_ids.get(r["id"])
            if other is not None:
                raise RuntimeError(f"corpus: duplicate id {r['id']!r} (in {other} and "
                                   f"{domain}/{source}); ids must be unique")
            seen_ids[r["id"]] = f"{domain}/{source}"
        kept, dropped_cap = cap_records(recs, args.seed, max_docs, max_bytes)
        path = os.path.join(staging, domain, f"{source}.jsonl.gz")
        write_jsonl_gz(path, kept)
        st = source_stats(kept)
        st.update(domain=domain, source=source, file=os.path.relpath(path, staging),
                  candidates=len(recs), dropped_by_cap=dropped_cap, dropped_short=slot["short"],
                  skipped_files=len(slot["skipped"]))
        reasons: dict[str, int] = {}
        for _, reason in slot["skipped"]:
            reasons[reason] = reasons.get(reason, 0) + 1
        st["skipped_by_reason"] = dict(sorted(reasons.items(), key=lambda kv: -kv[1]))
        st["skipped_examples"] = [f"{p}: {r}" for p, r in slot["skipped"][:5]]
        st["packages"] = sorted({r["meta"]["package"] for r in kept})
        rows.append(st)
    return summarise(rows, settings)


def _publish(staging: str, out_dir: str, settings: dict, stats: dict) -> None:
    """Rename the staging folder into place (replacing an older build), then write _SUCCESS."""
    old = None
    if os.path.exists(out_dir):
        old = f"{out_dir}.old-{os.getpid()}"
        os.replace(out_dir, old)
    os.makedirs(os.path.dirname(out_dir) or ".", exist_ok=True)
    os.replace(staging, out_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)
    tmp = os.path.join(out_dir, "_SUCCESS.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"settings": settings, "documents": stats["total"]["documents"],
                   "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, "_SUCCESS"))
