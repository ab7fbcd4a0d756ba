"""The tag job: read -> normalise -> tag -> write, as one Apache Beam pipeline.

    python -m pipeline.tag_job --input data/sample --output runs/tag [--runner R] [BEAM ARGS...]

Writes OUTPUT/docs/part-*.parquet, OUTPUT/rejects/part-*.jsonl and OUTPUT/stats.json through a
staging folder (DESIGN.md). Dedup (pipeline.dedup: near, exact and URL duplicates, line-level
dedup counts, decontamination) runs between tagging and writing.
"""
from __future__ import annotations

from pipeline import hugepages

if __name__ == "__main__":  # before Beam's import (1.6 CPU-s): the re-exec wastes nothing
    hugepages.reexec_with_huge_pages()

import json
import os
import platform
import resource
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquet

import taggers
from mixtures.shards import sha256_file
from pipeline import inputs, progress, read_hf, staging
from pipeline.dedup import (LINE_SHARE_SIGNAL, REPRESENTATIVES, SIGNATURE_LINES, Dedup, DedupConfig,
                            load_benchmarks)
from pipeline.options import StrictParser, UsageError, beam_options, dry_run, runner_name, worker_count
from pipeline.parse import ParseConfig, parse_record
from pipeline.read import SUMMARY, ReadFiles
from pipeline.rejects import to_json_line
from pipeline.schema import docs_schema
from pipeline.stats import StatsFn, doc_event, file_event, reject_event

STATS_SCHEMA = "mixcurate.tag.stats/1"
PIPELINE_STATS = "_pipeline_stats"
PROGRESS = ("read", "tagged", "rejected", "duplicates")  # counters logged while running, totals at the end


class _Counted(beam.DoFn):
    """A DoFn that adds to this worker's progress counts of the tag job."""

    progress_every = progress.DEFAULT_EVERY_S

    def setup(self):
        self.progress = progress.tracker("tag", PROGRESS, self.progress_every)


class Parse(_Counted):
    """Raw record -> document (main output) or reject (output `reject`)."""

    def __init__(self, config: ParseConfig, progress_every: float = progress.DEFAULT_EVERY_S):
        self.config, self.progress_every = config, progress_every

    def process(self, raw):
        self.progress.add("read")
        kind, value = parse_record(raw, self.config)
        if kind == "doc":
            yield value
        else:
            self.progress.add("rejected")
            yield beam.pvalue.TaggedOutput("reject", value)


class FirstOfId(_Counted):
    """Of the documents sharing an id, keeps the first in input order and rejects the others."""

    def __init__(self, progress_every: float = progress.DEFAULT_EVERY_S):
        self.progress_every = progress_every

    def process(self, keyed):
        _, docs = keyed
        docs = sorted(docs, key=lambda d: (d["_file"], d["_line"], d["_offset"] or 0))
        first = docs[0]
        yield first
        self.progress.add("rejected", len(docs) - 1)
        for dup in docs[1:]:
            yield beam.pvalue.TaggedOutput("reject", {
                "file": dup["_file"], "line": None if dup["_line"] < 0 else dup["_line"],
                "offset": dup["_offset"], "reason": "duplicate_id",
                "detail": f"id {dup['id'][:200]!r} already used at {first['_file']}:{first['_line']}",
                "raw": json.dumps({"id": dup["id"], "text": dup["text"][:900]}, ensure_ascii=False)[:1000]})


_MODELS: dict = {}


def _models(model_dir):
    """Models are loaded once per worker process and shared by its DoFn instances."""
    if model_dir not in _MODELS:
        _MODELS[model_dir] = taggers.load_models(model_dir)
    return _MODELS[model_dir]


class TagBatch(_Counted):
    """A batch of documents -> rows of docs/ with every tag column (taggers.tag_batch)."""

    def __init__(self, model_dir, mask_pii: bool = False, progress_every: float = progress.DEFAULT_EVERY_S):
        self.model_dir = model_dir
        self.mask_pii = mask_pii
        self.progress_every = progress_every

    def setup(self):
        super().setup()
        self.models = _models(self.model_dir)

    def process(self, docs):
        cols = taggers.tag_batch([d["text"] for d in docs], self.models, mask_pii=self.mask_pii,
                                 normalised=True)  # parse_record normalised them
        for i, d in enumerate(docs):
            text = cols["masked_text"][i] if self.mask_pii else d["text"]
            row = {"id": d["id"], "text": text, "source": d["source"], "meta": d["meta"]}
            for name in taggers.TAG_COLUMNS:
                row[name] = cols[name][i]
            row["dup_cluster"] = d["id"]
            row["is_dup"] = False
            self.progress.add("tagged")
            yield row


class CountDuplicates(_Counted):
    """Passes every written row on, counting those dedup marked as duplicates."""

    def __init__(self, progress_every: float = progress.DEFAULT_EVERY_S):
        self.progress_every = progress_every

    def process(self, row):
        if row["is_dup"]:
            self.progress.add("duplicates")
        yield row


def build(p, files, config: dict, out: str, dedup: DedupConfig | None = None,
          progress_every: float = progress.DEFAULT_EVERY_S):
    """Adds the whole tag job to pipeline p, writing under the folder `out`; workers log progress
    every `progress_every` seconds."""
    parse_config = ParseConfig(max_chars=config["max_chars"],
                               max_invalid_utf8_frac=config["max_invalid_utf8_frac"])
    read = (p | "Files" >> beam.Create(files)
              | "SpreadFiles" >> beam.Reshuffle()
              | "Read" >> beam.ParDo(ReadFiles(config["max_line_bytes"])).with_outputs(SUMMARY, main="raw"))
    # Records are parsed where they are read: the id grouping below spreads them over the workers
    # anyway, and one more shuffle of every record's text cost more CPU than a big file's parsing
    # on one worker.
    parsed = (read.raw
              | "Parse" >> beam.ParDo(Parse(parse_config, progress_every)).with_outputs("reject", main="doc"))
    unique = (parsed.doc
              | "KeyById" >> beam.Map(lambda d: (d["id"], d))
              | "GroupById" >> beam.GroupByKey()
              | "FirstOfId" >> beam.ParDo(FirstOfId(progress_every)).with_outputs("reject", main="doc"))
    tagged = (unique.doc
              | "Batch" >> beam.BatchElements(min_batch_size=8, max_batch_size=config["batch_size"])
              | "Tag" >> beam.ParDo(TagBatch(config["model_dir"], config["mask_pii"], progress_every)))
    tagged, dup_events = tagged | "Dedup" >> Dedup(dedup or DedupConfig())
    tagged = tagged | "CountDuplicates" >> beam.ParDo(CountDuplicates(progress_every))
    signal_names = tuple(taggers.QUALITY_SIGNAL_NAMES) + (LINE_SHARE_SIGNAL,)
    tagged | "WriteDocs" >> WriteToParquet(
        FileSystems.join(out, "docs", "part"), docs_schema(signal_names),
        file_name_suffix=".parquet")
    rejects = (parsed.reject, unique.reject) | "AllRejects" >> beam.Flatten()
    (rejects | "RejectJson" >> beam.Map(to_json_line)
             | "WriteRejects" >> beam.io.WriteToText(FileSystems.join(out, "rejects", "part"),
                                                     file_name_suffix=".jsonl"))
    events = ((read[SUMMARY] | "FileEvents" >> beam.Map(file_event)),
              (rejects | "RejectEvents" >> beam.Map(reject_event)),
              (tagged | "DocEvents" >> beam.Map(doc_event)),
              dup_events)
    (events | "AllEvents" >> beam.Flatten()
            | "Count" >> beam.CombineGlobally(StatsFn())
            | "StatsJson" >> beam.Map(lambda s: json.dumps(s, sort_keys=True))
            | "WriteStats" >> beam.io.WriteToText(FileSystems.join(out, PIPELINE_STATS),
                                                  file_name_suffix=".json", num_shards=1,
                                                  shard_name_template=""))


def parse_args(argv):
    parser = StrictParser(prog="python -m pipeline.tag_job",
                          description="Tag documents (language, topic, domain, quality) with Beam.")
    parser.add_argument("--input", required=True, help="file, folder (recursive) or quoted glob")
    parser.add_argument("--output", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runner", default=None, help="Beam runner (default: FnApiRunner, all cores)")
    parser.add_argument("--force", action="store_true", help="replace a different finished run")
    parser.add_argument("--progress-every", type=float, default=progress.DEFAULT_EVERY_S, metavar="SECONDS",
                        help="each worker logs its counts this often (0: only the totals at the end)")
    parser.add_argument("--max-chars", type=int, default=1_000_000)
    parser.add_argument("--max-invalid-utf8-frac", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--mask-pii", action="store_true",
                        help="replace e-mails, IP addresses and phone numbers in `text` (counted either way)")
    parser.add_argument("--model-dir", default=None, help="folder of tagger models (default: bundled)")
    parser.add_argument("--hf-split", default="train", help="split of an INPUT hf:NAME_OR_PATH dataset")
    parser.add_argument("--hf-config", default=None, help="configuration (subset) of an INPUT hf: dataset")
    parser.add_argument("--hf-text-field", default="text", help="field holding the text in an INPUT hf: dataset")
    d = DedupConfig.__dataclass_fields__
    parser.add_argument("--dedup-threshold", type=float, default=d["threshold"].default,
                        help="Jaccard similarity of near duplicates: the exact check's cut, and without "
                             "the check (or with it and no DedupConfig bands) it sets bands x rows")
    parser.add_argument("--num-perm", type=int, default=None,
                        help=f"MinHash permutations (default: {d['num_perm'].default}, or bands x rows if more)")
    parser.add_argument("--shingle", type=int, default=d["shingle"].default, help="shingle size (n)")
    parser.add_argument("--shingle-kind", choices=("word", "char"), default="word")
    parser.add_argument("--minhash-hash", choices=("poly", "sha1", "crc32"), default=d["hash_name"].default,
                        help="shingle hash (sha1 = datasketch's default; poly is about 3x faster)")
    parser.add_argument("--bands", type=int, default=None,
                        help="LSH bands (with --rows; default: DedupConfig's when the check is on, "
                             "else from the threshold)")
    parser.add_argument("--rows", type=int, default=None, help="LSH rows per band (with --bands)")
    parser.add_argument("--exact-jaccard-check", action="store_true", default=d["exact_jaccard_check"].default,
                        help="drop near-duplicate candidate pairs whose exact shingle Jaccard is under the "
                             f"threshold (default: {'on' if d['exact_jaccard_check'].default else 'off'})")
    parser.add_argument("--no-exact-jaccard-check", dest="exact_jaccard_check", action="store_false",
                        help="keep every LSH candidate pair")
    parser.add_argument("--representative", choices=REPRESENTATIVES, default="smallest_id",
                        help="cluster representative: smallest id, or highest quality then smallest id")
    parser.add_argument("--cc-rounds", type=int, default=d["cc_rounds"].default,
                        help="unrolled large-star/small-star rounds of connected components")
    parser.add_argument("--dedup-shards", type=int, default=d["shards"].default,
                        help="groups the band entries and shingle sets travel in; each holds 1/N of "
                             "them, so raise it with the corpus (e.g. 4096 for a billion documents)")
    parser.add_argument("--line-dedup-min-docs", type=int, default=d["line_dedup_min_docs"].default,
                        help="a line is repeated when more than this many documents hold it (0: off)")
    parser.add_argument("--signature-lines", choices=SIGNATURE_LINES, default=d["signature_lines"].default,
                        help="near-duplicate signatures on all lines, or on the lines not repeated "
                             "(see --line-dedup-min-docs; a document left without a shingle keeps all)")
    parser.add_argument("--decontaminate", nargs="+", default=[], metavar="FILE",
                        help="benchmark JSONL files; documents sharing a word n-gram with an item are flagged")
    parser.add_argument("--decontam-ngram", type=int, default=d["decontam_ngram"].default)
    args, rest = parser.parse_known_args(argv)
    hf_flags = [f for f, v, default in (("--hf-split", args.hf_split, "train"), ("--hf-config", args.hf_config, None),
                                         ("--hf-text-field", args.hf_text_field, "text")) if v != default]
    if hf_flags and not read_hf.is_hf(args.input):
        raise UsageError(f"{', '.join(hf_flags)} apply to an INPUT hf:NAME_OR_PATH only, not {args.input!r}")
    if args.max_chars <= 0 or args.batch_size <= 0 or not 0 <= args.max_invalid_utf8_frac <= 1:
        raise UsageError("--max-chars and --batch-size must be positive, --max-invalid-utf8-frac in [0, 1]")
    try:
        args.dedup = DedupConfig(
            threshold=args.dedup_threshold, shingle=args.shingle,
            num_perm=args.num_perm or max(d["num_perm"].default, (args.bands or 0) * (args.rows or 0)),
            shingle_kind=args.shingle_kind, hash_name=args.minhash_hash, seed=args.seed + 1,
            # --bands/--rows when given; else DedupConfig's, or from the threshold without the check
            **({"bands": args.bands, "rows": args.rows} if args.bands is not None or args.rows is not None
               else {} if args.exact_jaccard_check else {"bands": None, "rows": None}),
            exact_jaccard_check=args.exact_jaccard_check, representative=args.representative,
            cc_rounds=args.cc_rounds, line_dedup_min_docs=args.line_dedup_min_docs, shards=args.dedup_shards,
            signature_lines=args.signature_lines,
            decontam_ngram=args.decontam_ngram,
            benchmarks=load_benchmarks(args.decontaminate, args.decontam_ngram))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return args, rest


def _versions() -> dict:
    import fasttext  # noqa: F401  (version from its distribution)
    from importlib.metadata import version
    out = {"python": platform.python_version()}
    for dist in ("mixcurate", "apache-beam", "pyarrow", "numpy", "fasttext-community", "datasketch"):
        try:
            out[dist] = version(dist)
        except Exception:
            out[dist] = None
    return out


def _cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(argv=None) -> dict | None:
    """Runs the job; returns stats (None when OUTPUT already holds this run). Raises on bad usage."""
    t0, cpu0 = time.time(), _cpu_seconds()
    args, beam_args = parse_args(argv)
    options = beam_options(beam_args, args.runner)
    is_dry_run = dry_run(options)
    if read_hf.is_hf(args.input):
        files = read_hf.planned_shards(args.input, args.hf_split, args.hf_config, args.hf_text_field)
    else:
        files = inputs.expand_for_dry_run(args.input) if is_dry_run else inputs.expand(args.input)
    models = {name: {"path": path, "sha256": sha256_file(path)}
              for name, path in taggers.model_files(args.model_dir).items()}
    config = {"input": args.input, "seed": args.seed, "max_chars": args.max_chars,
              "max_line_bytes": max(8 * args.max_chars, 1 << 20),
              "max_invalid_utf8_frac": args.max_invalid_utf8_frac, "batch_size": args.batch_size,
              "mask_pii": args.mask_pii,
              "model_dir": args.model_dir, "models": {k: v["sha256"] for k, v in models.items()},
              "dedup": args.dedup.describe()}
    if read_hf.is_hf(args.input):
        config["hf"] = {"split": args.hf_split, "config": args.hf_config, "text_field": args.hf_text_field}
    fingerprint = read_hf.fingerprint(files) if read_hf.is_hf(args.input) else inputs.fingerprint(files)
    identity = {"stage": "tag", "input_fingerprint": fingerprint, "config": config}
    if is_dry_run:
        return validate_graph(options, files, config, args)
    if staging.check_previous(args.output, identity, args.force):
        print(f"tag: {args.output} already holds this run (same input and settings); nothing to do")
        return None
    out = staging.new_staging(args.output)
    try:
        with beam.Pipeline(options=options) as p:
            build(p, files, config, out, args.dedup, args.progress_every)
        print(progress.final_line(p.result, "tag", PROGRESS), file=sys.stderr, flush=True)
        stats_path = FileSystems.join(out, PIPELINE_STATS + ".json")
        with FileSystems.open(stats_path) as f:
            counted = json.loads(f.read().decode("utf-8"))
        FileSystems.delete([stats_path])
        check_nothing_lost(progress.totals(p.result, "tag"), counted)
        wall, cpu = time.time() - t0, _cpu_seconds() - cpu0
        mb = counted["tagged_bytes"] / 1e6
        stats = {"schema": STATS_SCHEMA, **counted,
                 "throughput": {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                                "docs_per_cpu_s": round(counted["tagged"] / cpu, 2) if cpu else None,
                                "mb_per_cpu_s": round(mb / cpu, 4) if cpu else None,
                                "runner": runner_name(options), "workers": worker_count(options)},
                 "config": config, "models": models, "versions": _versions(),
                 "input_fingerprint": identity["input_fingerprint"]}
        with FileSystems.create(FileSystems.join(out, "stats.json")) as f:
            f.write(json.dumps(stats, indent=1, sort_keys=True).encode("utf-8"))
        staging.publish(out, args.output, identity)
    except BaseException as exc:
        staging.discard(out)
        message = staging.io_error_message(exc, args.output)  # a full disk, also in a Beam worker
        if message is not None:
            raise staging.OutputError(message) from None
        raise
    return stats


class LostDocuments(RuntimeError):
    """The runner delivered fewer rows to the writer than the tagger produced."""


def check_nothing_lost(counters: dict, counted: dict) -> None:
    """Every document the tagger produced (its `tagged` counter, summed over workers) must be
    written (stats `tagged`, counted from the written rows): a row lost by the runner between the
    two fails the job before anything is published, instead of vanishing silently."""
    made = counters.get("tagged")
    if made is not None and made != counted["tagged"]:
        raise LostDocuments(f"{made:,} documents were tagged but {counted['tagged']:,} reached the writer: "
                            "the runner lost rows; nothing was published, run the same command again")


def validate_graph(options, files, config, args) -> dict:
    """`--dry_run` on DataflowRunner: the whole job graph is built, translated and validated by the
    runner, which returns without submitting; OUTPUT is neither checked nor written."""
    p = beam.Pipeline(options=options)
    build(p, files, config, args.output.rstrip("/") + ".staging-dry-run", args.dedup, args.progress_every)
    result = p.run()
    result.wait_until_finish()
    return {"dry_run": True, "runner": runner_name(options), "state": str(result.state),
            "job": getattr(result, "job", None)}


def main(argv=None) -> int:
    try:
        stats = run(sys.argv[1:] if argv is None else argv)
    except (UsageError, inputs.InputError, staging.OutputError) as exc:
        print(f"tag: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tag: interrupted; nothing was published (run the same command again)", file=sys.stderr)
        return staging.INTERRUPTED
    if stats is not None and stats.get("dry_run"):
        print(f"tag: dry run: the job graph was built and validated by {stats['runner']}; "
              "nothing was submitted or written")
    elif stats is not None:
        t = stats["throughput"]
        print(f"tag: {stats['inputs']['records']} records read, {stats['tagged']} tagged, "
              f"{stats['rejected']} rejected in {t['wall_s']:.1f} s "
              f"({t['docs_per_cpu_s']} docs and {t['mb_per_cpu_s']} MB per CPU-second)")
    return 0


if __name__ == "__main__":
    staging.exit_process(main())
