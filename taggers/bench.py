"""Throughput and accuracy of the taggers (`make bench`): documents per CPU-second of the whole
`python -m taggers predict` process (user + system, start-up included), beside lid.176 alone (one
fastText call per document batch, nothing else: the usual "language ID only" baseline), measured in
the same run on the same sample documents, with the ratio. Medians of `--repeats` runs.

    python -m taggers.bench --sample data/sample [--repeats 3] [--docs 5000]

Workloads (documents drawn from the sample in a fixed hash order, never from tests):
- `3kb`: documents of 2,000-4,000 UTF-8 bytes (about 3 KB, the issue's speed target);
- `mix`: every sample document (`--docs` caps both).
Then accuracy per class: language ID per language on the held-out paragraphs of `make lid-eval`
(`lid_accuracy`), coarse domain macro-F1, topic macro-F1, programming language of code
(`accuracy`; see its docstring for what is held out).
"""
from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_DOCS_PER_CPU_S = 1500


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str]) -> tuple[float, float]:
    """Runs cmd; (wall seconds, CPU seconds of it and its children). Fails loudly."""
    cpu0, t0 = _children_cpu(), time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return time.time() - t0, _children_cpu() - cpu0


def sample_records(sample_dir: str) -> list[dict]:
    """Every record of `<sample>/**/*.jsonl.gz`, in a fixed order (sha1 of the id)."""
    recs = []
    for path in sorted(glob.glob(os.path.join(sample_dir, "**", "*.jsonl*"), recursive=True)):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    recs.append(json.loads(line))
    recs.sort(key=lambda r: hashlib.sha1(str(r.get("id")).encode()).hexdigest())
    return recs


def write_jsonl(recs: list[dict], path: str) -> int:
    with open(path, "w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return sum(len(r["text"].encode("utf-8")) for r in recs)


def lid_only(path: str, batch_size: int = 256) -> None:
    """The baseline: read the JSONL (orjson, as `taggers predict` does), lid.176 on each whole
    document (newlines to spaces), top-1."""
    import fasttext
    import orjson

    from taggers.langid import lid_model_path
    model = fasttext.load_model(lid_model_path())
    n = 0
    batch: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            batch.append(orjson.loads(line)["text"].replace("\n", " "))   # the reader of ours
            if len(batch) >= batch_size:
                model.predict(batch, k=1)
                n += len(batch)
                batch = []
    if batch:
        model.predict(batch, k=1)
        n += len(batch)
    print(f"lid-only: {n} documents", file=sys.stderr)


def speed(sample_dir: str, repeats: int, max_docs: int, workdir: str) -> list[dict]:
    recs = sample_records(sample_dir)
    loads = {
        "3kb": [r for r in recs if 2000 <= len(r["text"].encode("utf-8")) <= 4000][:max_docs],
        "mix": recs[:max_docs],
    }
    rows = []
    for name, docs in loads.items():
        src = os.path.join(workdir, f"{name}.jsonl")
        nbytes = write_jsonl(docs, src)
        ours_cmd = [sys.executable, "-m", "taggers", "predict", "--input", src,
                    "--output", os.path.join(workdir, f"{name}.tagged.jsonl")]
        lid_cmd = [sys.executable, "-m", "taggers.bench", "--lid-only", src]
        ours, lid = [], []
        for _ in range(repeats):       # interleaved, so that both see the same machine load
            ours.append(timed(ours_cmd))
            lid.append(timed(lid_cmd))
        for who, runs in (("taggers predict (all taggers)", ours), ("lid.176 alone", lid)):
            cpu = statistics.median(c for _, c in runs)
            wall = statistics.median(w for w, _ in runs)
            rows.append({"workload": name, "what": who, "docs": len(docs), "mb": nbytes / 1e6,
                         "wall_s": wall, "cpu_s": cpu, "docs_per_cpu_s": len(docs) / cpu,
                         "mb_per_cpu_s": nbytes / 1e6 / cpu})
    return rows


def lid_accuracy(lid_eval: str) -> None:
    """Language ID per language on the held-out set of `make lid-eval` (taggers.langid_eval)."""
    from taggers import langid, langid_eval
    try:
        rows = langid_eval.read_rows(lid_eval)
    except FileNotFoundError as e:
        print(f"\nLanguage ID: {e}")
        return
    print()
    langid_eval.print_summary(langid_eval.evaluate(rows, langid.load_lid()))


def accuracy(sample_dir: str, max_docs: int) -> None:
    """Accuracy of the shipped taggers on the sample, per class: coarse domain, topic and
    programming language against the sample's own labels. The shipped topic model was trained on
    these sources, so these figures are IN-SAMPLE; the held-out ones (sources never seen in
    training) are in taggers/models/topic.md and taggers/models/quality.md, written when the models
    are trained. Language ID is measured apart (`lid_accuracy`)."""
    import taggers
    from taggers import topic_training
    models = taggers.load_models()
    recs = sample_records(sample_dir)
    docs = [r for r in recs if (r.get("meta") or {}).get("label")][:max_docs * 4]
    cols = {"topic": [], "domain": []}
    for i in range(0, len(docs), 256):
        out = taggers.tag_batch([d["text"] for d in docs[i:i + 256]], models)
        cols["topic"] += out["topic"]
        cols["domain"] += out["domain"]
    from taggers.taxonomy import domain_of
    true_topic = [d["meta"]["label"] for d in docs]
    true_dom = [domain_of(d["meta"]["label"], d["meta"].get("lang") or "en", 1.0) for d in docs]
    f1, per_t = topic_training.macro_f1(true_topic, cols["topic"])
    df1, per_d = topic_training.macro_f1(true_dom, cols["domain"])
    code = [(t, p) for t, p in zip(true_topic, cols["topic"])
            if t.startswith("code.") and t != "code.docs_about_code"]
    print(f"\nIN-SAMPLE (trained on these sources; held-out figures: taggers/models/*.md), "
          f"{len(docs)} documents:")
    print(f"  coarse domain macro-F1 {df1:.3f}: " + ", ".join(
        f"{k} {v['f1']:.3f} ({v['n']})" for k, v in per_d.items()))
    print(f"  topic macro-F1 {f1:.3f}: " + ", ".join(
        f"{k} {v['f1']:.3f}" for k, v in per_t.items()))
    if code:
        print(f"  programming language of code: {sum(t == p for t, p in code) / len(code):.3f} "
              f"on {len(code)} documents")


def heldout_report(model_dir: str | None = None) -> None:
    """The held-out figures written when the models were trained (`taggers/models/*.eval.json`:
    sources and folders the evaluated models never saw), per class, with the issue's targets."""
    from taggers import MODEL_DIR
    base = model_dir or MODEL_DIR
    try:
        with open(os.path.join(base, "topic.eval.json"), encoding="utf-8") as f:
            topic_eval = json.load(f)
        with open(os.path.join(base, "quality.eval.json"), encoding="utf-8") as f:
            quality_eval = json.load(f)
    except OSError as exc:
        print(f"\nHELD-OUT: no evaluation beside the models ({exc}); run `make train-taggers`")
        return
    print("\nHELD-OUT (written by `make train-taggers`; taggers/models/*.md has the details)")
    for name, what in (("by_source", "a whole source per topic held out"),
                       ("by_folder", "whole folders (projects, modules, topic files) held out")):
        e = topic_eval[name]
        print(f"  {what}: topic macro-F1 {e['topic_macro_f1']:.3f} (target 0.80), coarse domain "
              f"macro-F1 {e.get('domain_macro_f1', float('nan')):.3f} (target 0.95), programming "
              f"language {e.get('code_language_accuracy', float('nan')):.3f} (target 0.97)")
        print("    " + ", ".join(f"{k} {v:.3f} ({e['topic_n'][k]})" for k, v in e["topic_f1"].items()))
    tv = topic_eval.get("teacher_vs_student")
    if tv:
        print(f"  teacher (MiniLM + logistic regression) macro-F1 {tv['teacher_macro_f1']:.3f} vs "
              f"distilled fastText {tv['student_macro_f1']:.3f} on the same {tv['n']} documents")
    print(f"  quality: ROC-AUC {quality_eval['auc']:.3f} (target 0.95) on sources "
          f"{', '.join(quality_eval['heldout_sources'])}: " + ", ".join(
              f"{k} {v:.3f}" for k, v in quality_eval["auc_per_kind"].items()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m taggers.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--sample", default="data/sample")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--docs", type=int, default=6000, help="at most this many documents per workload")
    ap.add_argument("--lid-only", metavar="JSONL", help=argparse.SUPPRESS)
    ap.add_argument("--no-accuracy", action="store_true", help="speed only")
    ap.add_argument("--lid-eval", default="data/lid_eval",
                    help="language-ID evaluation set (`make lid-eval`)")
    args = ap.parse_args(argv)
    if args.lid_only:
        lid_only(args.lid_only)
        return 0
    if not os.path.exists(os.path.join(args.sample, "_SUCCESS")):
        raise SystemExit(f"bench: {args.sample} is not a finished sample; run `make sample` first")
    with tempfile.TemporaryDirectory(prefix="taggers-bench-") as work:
        rows = speed(args.sample, args.repeats, args.docs, work)
    print(f"\nTagger throughput (medians of {args.repeats}; CPU = user + system of the whole process, "
          "start-up included)\n")
    print(f"{'workload':8} {'what':32} {'docs':>6} {'MB':>6} {'wall s':>7} {'CPU s':>7} "
          f"{'docs/CPU-s':>10} {'MB/CPU-s':>8}")
    for r in rows:
        print(f"{r['workload']:8} {r['what']:32} {r['docs']:6d} {r['mb']:6.2f} {r['wall_s']:7.2f} "
              f"{r['cpu_s']:7.2f} {r['docs_per_cpu_s']:10.0f} {r['mb_per_cpu_s']:8.2f}")
    for wl in ("3kb", "mix"):
        ours = next(r for r in rows if r["workload"] == wl and r["what"].startswith("taggers"))
        lid = next(r for r in rows if r["workload"] == wl and r["what"].startswith("lid"))
        print(f"{wl}: all taggers run at {ours['docs_per_cpu_s'] / lid['docs_per_cpu_s']:.2f}x the "
              f"speed of lid.176 alone"
              + (f"; target {TARGET_DOCS_PER_CPU_S} docs/CPU-s: "
                 f"{'met' if ours['docs_per_cpu_s'] >= TARGET_DOCS_PER_CPU_S else 'NOT met'}"
                 if wl == "3kb" else ""))
    if not args.no_accuracy:
        lid_accuracy(args.lid_eval)
        accuracy(args.sample, args.docs)
        heldout_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
