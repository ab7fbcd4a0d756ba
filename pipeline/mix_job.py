"""The mix job: tagged documents -> token shards to a planned mixture, as one Apache Beam pipeline.

    python -m pipeline.mix_job --input runs/tag --output runs/mix --tokens 2000000 \
        --weights general=0.5,math=0.25,code=0.17,multilingual=0.08 [--quality 0] [BEAM ARGS...]

Before the pipeline (the driver, pyarrow only): checks `_SUCCESS` and the columns, reads a sample of
the kept documents (lowest hash(seed, id) first, bytes per domain in proportion to the weights),
trains the tokenizer on it and checks the budget against the estimated eligible tokens: bad input
stops here, with numbers. The pipeline then: filter and tokenise every document (counted), cut the
ones longer than `--max-piece-tokens` into pieces (mixtures.pieces), combine per-(domain, source)
token histograms over the documents' hash buckets, take the source-cap and validation cuts from them,
combine the pool's token histograms over the stored sequences' own buckets (a piece has its own
hash, its document's bucket decides validation and caps), plan quotas (mixtures.select), sort only
each boundary bucket exactly, route every selected copy to its shard and write shards per (split,
domain, pass, bucket range). The driver numbers the shards in hash order, reads
them back for the realised shares and writes manifest.json, the summary and plots; staging, rename,
`_SUCCESS` as every stage.

Filters, each counted in manifest.json `filters` (documents; a document is counted under the first
that removes it, in this order): `domain_not_in_weights`, `is_dup`, `contaminated` (a
`contaminated:<benchmark>` entry in `quality_flags`, written by the tag job's `--decontaminate`;
`--keep-contaminated` keeps them; documents and bytes per benchmark in `counts.decontamination`),
`quality`, `lang`, `empty_after_line_strip`, then `source_cap` in the plan.

`--strip-repeated-lines`: the lines held by more than N documents of the whole tagged corpus (N =
the tag run's `line_dedup_min_docs`, or `--repeated-line-min-docs`) are counted in Beam exactly as
the tag job counts them for `dup_line_share_corpus` (pipeline.dedup's `doc_lines` hashes, distinct
per document, counted per hash shard) and reach Prepare as a side input; each kept document loses
them (pipeline.dedup.unrepeated_text) before it is tokenised, so the plan counts what is written.
Lines and bytes stripped per domain are in `counts.repeated_lines`.

`--topic-weights`: shares of named topics inside their domain's quota (mixtures.topics has the
rule); a second pass counts pool tokens per (domain, topic) over hash buckets, and selection takes
the hash-order prefix per (domain, topic). Shards then carry a `.topic.npy` sidecar (mixtures.shards)
from which the manifest's realised topic shares are read back.
"""
from __future__ import annotations

from pipeline import hugepages

if __name__ == "__main__":  # before Beam's import (1.6 CPU-s): the re-exec wastes nothing
    hugepages.reexec_with_huge_pages()

import argparse
import hashlib
import heapq
import json
import os
import platform
import sys
import time

import apache_beam as beam
import numpy as np
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquetBatched

from mixtures import config as mcfg
from mixtures import counts as mcounts
from mixtures import manifest as mmanifest
from mixtures import order, pieces, report, shards, tokenizer, transfer
from mixtures.config import parse_topic_weights
from mixtures.plan import allocate
from mixtures.select import (ANNEAL_DOCS, ANNEAL_TOKENS, DOCS, POOL_ANNEAL, POOL_TRAIN, TOKENS, copies,
                             doc_status, plan_selection, range_of, take_prefix)
from mixtures.select import pool_cuts, pools, track_of
from pipeline import inputs, progress, staging
from pipeline.dedup import _members, _merged, _repeated_lines, _u64, doc_lines, line_shards, unrepeated_text
from pipeline.options import StrictParser, UsageError, beam_options, dry_run, runner_name, worker_count
from taggers.normalise import char_chunks
from taggers.taxonomy import DOMAINS, TOPICS, home_of

COLUMNS = ["id", "text", "source", "lang", "domain", "topic", "quality", "is_dup"]
FLAGS = "quality_flags"  # read when every part has it (a `make tag` output does)
CONTAMINATED = "contaminated:"
FILTERS = ("domain_not_in_weights", "is_dup", "contaminated", "quality", "lang", "empty_after_line_strip",
           "source_cap")
TMP = "_tmp"
# Characters of text per call into the tokenizer. Its Encoding objects keep every token's string,
# offsets and masks: a whole Parquet record batch at once (the demo corpus's ~38k documents a file)
# peaked a mix worker at 2.8 GB; calls of 4M characters at 1.15 GB, of 1M at 1.04 GB, with
# byte-identical shards and the same wall time.
ENCODE_CHARS = 1_000_000
PROGRESS = ("read", "tokenised", "selected", "routed", "shards")  # counters logged while running, totals at the end


# ---------------------------------------------------------------- driver: checks and tokenizer

def _open(path):
    return FileSystems.open(path, mime_type="application/octet-stream",
                            compression_type="uncompressed")


def check_columns(files) -> bool:
    """Every Parquet part must have the columns the planner reads (a clear error otherwise).
    Returns whether the parts have `quality_flags` (all or none of them: a mix of both is an error);
    without it the decontamination filter cannot look and the manifest says so."""
    with_flags = []
    for f in files:
        if f.format != "parquet":
            raise mcfg.MixError(f"{f.path}: not a Parquet part of a tag output")
        with _open(f.path) as fh:
            names = set(pq.ParquetFile(fh).schema_arrow.names)
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise mcfg.MixError(f"{f.path} lacks column(s) {', '.join(missing)} "
                                f"(a `make tag` output has {', '.join(COLUMNS)}, ...)")
        with_flags.append(FLAGS in names)
    if any(with_flags) and not all(with_flags):
        raise mcfg.MixError(f"{sum(with_flags)} of {len(files)} Parquet parts have column {FLAGS}, the others "
                            "lack it: the parts come from different tag runs")
    return bool(with_flags) and all(with_flags)


def contaminated_by(flags) -> list[str]:
    """Benchmark names of a document's `contaminated:<benchmark>` quality flags."""
    return [f[len(CONTAMINATED):] for f in (flags or ()) if f.startswith(CONTAMINATED)]


def line_min_docs(input_path: str, override: int | None) -> tuple[int, str]:
    """N for --strip-repeated-lines (lines held by more than N documents go) and where it came
    from: the override, else the tag run's stats.json config.dedup.line_dedup_min_docs."""
    if override is not None:
        return override, "--repeated-line-min-docs"
    path = FileSystems.join(input_path.rstrip("/"), "stats.json")
    key = "config.dedup.line_dedup_min_docs"
    try:
        with _open(path) as f:
            n = json.loads(f.read().decode("utf-8"))["config"]["dedup"]["line_dedup_min_docs"]
    except (OSError, ValueError, KeyError, TypeError):
        raise mcfg.MixError(f"--strip-repeated-lines reads the tag run's {key} from {path}, which has none: "
                            "give --repeated-line-min-docs N") from None
    if not isinstance(n, int) or n < 0:
        raise mcfg.MixError(f"{path}: {key} is {n!r}, not a count")
    if n == 0:
        raise mcfg.MixError(f"--strip-repeated-lines: the tag run had line dedup off ({key} = 0 in {path}); "
                            "give --repeated-line-min-docs N to strip the lines held by more than N documents")
    return n, f"INPUT/stats.json {key}"


def _keep_mask(table, cfg):
    weights, quality, langs = cfg["weights"], cfg["quality"], cfg["langs"]
    dom = table.column("domain").to_pylist()
    dup = table.column("is_dup").to_pylist()
    q = table.column("quality").to_pylist()
    lang = table.column("lang").to_pylist()
    drop_flagged = cfg["input_has_quality_flags"] and not cfg["keep_contaminated"]
    flags = table.column(FLAGS).to_pylist() if drop_flagged else [None] * len(dom)
    return [weights.get(d, 0) > 0 and not u and (qq or 0.0) >= quality and (langs is None or l in langs)
            and not contaminated_by(fl)
            for d, u, qq, l, fl in zip(dom, dup, q, lang, flags)]


def survey(files, cfg) -> dict:
    """One pyarrow pass in the driver: kept bytes per domain and per (domain, topic), and the
    tokenizer's sample (the kept documents of lowest hash(seed, id), per domain up to its weight's
    part of sample_bytes). Repeated lines are not stripped here (they are counted in the pipeline)."""
    weights, seed = cfg["weights"], cfg["seed"]
    want = {d: max(1, int(cfg["tokenizer_sample_bytes"] * w)) for d, w in weights.items() if w > 0}
    heaps = {d: [] for d in want}  # max-heaps by hash: (-hash, nbytes, text)
    held = {d: 0 for d in want}
    kept_bytes = {d: 0 for d in want}
    topic_bytes: dict = {}
    columns = ["id", "text", "domain", "is_dup", "quality", "lang", "topic"]
    columns += [FLAGS] if cfg["input_has_quality_flags"] else []
    for f in files:
        with _open(f.path) as fh:
            pf = pq.ParquetFile(fh)
            for batch in pf.iter_batches(batch_size=4096, columns=columns):
                mask = _keep_mask(batch, cfg)
                ids = batch.column("id").to_pylist()
                texts = batch.column("text").to_pylist()
                doms = batch.column("domain").to_pylist()
                topics = batch.column("topic").to_pylist()
                idx = [i for i, m in enumerate(mask) if m]
                hs = order.doc_hashes(seed, [ids[i] for i in idx])
                for i, h in zip(idx, hs):
                    d, t = doms[i], texts[i] or ""
                    n = len(t.encode("utf-8"))
                    kept_bytes[d] += n
                    key = (d, topics[i] or "")
                    topic_bytes[key] = topic_bytes.get(key, 0) + n
                    heap = heaps[d]
                    if held[d] < want[d] or -heap[0][0] > int(h):
                        heapq.heappush(heap, (-int(h), n, t))
                        held[d] += n
                        while held[d] - heap[0][1] >= want[d]:
                            held[d] -= heapq.heappop(heap)[1]
    sample = {d: [t for _, _, t in sorted(h, reverse=True)] for d, h in heaps.items()}
    return {"kept_bytes": kept_bytes, "topic_bytes": topic_bytes, "sample": sample}


def check_topics_kept(surveyed, cfg) -> None:
    """A topic named in --topic-weights must have kept documents in its domain (an error with the
    numbers now, before the pipeline)."""
    for d, named in cfg["topic_weights"].items():
        have = {t: n for (dd, t), n in surveyed["topic_bytes"].items() if dd == d}
        for t in sorted(named):
            if not have.get(t):
                kept = ", ".join(f"{k} {v:,}" for k, v in sorted(have.items())) or "none"
                raise mcfg.MixError(f"TOPIC_WEIGHTS: {t} has no eligible tokens: no kept {d} document has that "
                                    f"topic (kept {d} bytes per topic: {kept})")


def estimate_check(survey_out, tok, cfg) -> dict:
    """Estimated eligible tokens per domain (kept bytes / sample bytes per token); a budget that
    cannot fit even by this estimate is an error now, before the pipeline."""
    est = {}
    for d, texts in survey_out["sample"].items():
        nbytes = sum(len(t.encode("utf-8")) for t in texts)
        ntok = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)) if texts else 0
        bpt = nbytes / ntok if ntok else 4.0
        est[d] = int(survey_out["kept_bytes"].get(d, 0) / bpt) if bpt else 0
    val = cfg["val_tokens"]
    eligible = {d: max(0, est.get(d, 0) - val) for d in cfg["weights"]}
    try:
        allocate(cfg["weights"], cfg["tokens"], eligible, cfg["max_epochs"])
        if cfg["anneal_tokens"] > 0:
            allocate(cfg["anneal_weights"], cfg["anneal_tokens"], eligible, cfg["max_epochs"], what="ANNEAL_TOKENS")
    except mcfg.MixError as exc:
        raise mcfg.MixError(f"{exc} (estimated from the kept documents: "
                            + ", ".join(f"{d} ~{est.get(d, 0):,} tokens" for d in cfg["weights"])
                            + f", {val:,} per domain held out for validation)") from None
    return est


# ---------------------------------------------------------------- pipeline DoFns

_TOKENIZERS: dict = {}


def _tokenizer(path):
    if path not in _TOKENIZERS:
        from tokenizers import Tokenizer
        with _open(path) as f:
            _TOKENIZERS[path] = Tokenizer.from_str(f.read().decode("utf-8"))
    return _TOKENIZERS[path]


def filter_reason(cfg, domain, is_dup, hits, quality, lang) -> str | None:
    """The first filter that removes a document (FILTERS order), None when it is kept."""
    if cfg["weights"].get(domain, 0) <= 0:
        return "domain_not_in_weights"
    if is_dup:
        return "is_dup"
    if hits and not cfg["keep_contaminated"]:
        return "contaminated"
    if (quality or 0.0) < cfg["quality"]:
        return "quality"
    if cfg["langs"] is not None and lang not in cfg["langs"]:
        return "lang"
    return None


def strip_repeated(text: str, repeated: np.ndarray) -> tuple[str, int, int]:
    """(text without its repeated lines, lines removed, UTF-8 bytes the text lost). A text with no
    repeated line is returned unchanged; else pipeline.dedup.unrepeated_text (which also drops
    blank lines, counted in the bytes lost)."""
    hashes = doc_lines(text)[0]
    n = int(_members(hashes, repeated).sum())
    if not n:
        return text, 0, 0
    left = unrepeated_text(text, repeated, hashes)
    return left, n, len(text.encode("utf-8")) - len(left.encode("utf-8"))


def _count_removed(removed: dict, reason: str, domain) -> None:
    r = removed.setdefault(reason, {"documents": 0, "by_domain": {}})
    r["documents"] += 1
    r["by_domain"][str(domain)] = r["by_domain"].get(str(domain), 0) + 1


class LineHashes(beam.DoFn):
    """A Parquet record batch of texts -> (shard, line hashes as uint64 bytes): each document's
    distinct normalised line hashes (pipeline.dedup.line_shards, as the tag job counts them), one
    element per hash shard (hash mod LINE_SHARDS) and batch."""

    def process(self, table):
        yield from line_shards([t or "" for t in table.column("text").to_pylist()])


@beam.typehints.with_output_types(beam.typehints.Any)
class Prepare(beam.DoFn):
    """A Parquet record batch -> kept documents with tokens (bytes), hash and bucket (main output);
    counts of every document removed by a filter, of contaminated documents per benchmark, of
    repeated lines stripped per domain and of kept tokens (output `stats`); per-(domain, source) token
    histograms over hash buckets (output `hist`). With --strip-repeated-lines the repeated line
    hashes come as a side input and each kept text loses those lines before it is tokenised."""

    def __init__(self, cfg, tokenizer_path):
        self.cfg, self.tokenizer_path = cfg, tokenizer_path
        self.columns = COLUMNS + ([FLAGS] if cfg["input_has_quality_flags"] else [])
        self._repeated = None

    def setup(self):
        self.tok = _tokenizer(self.tokenizer_path)
        self.newline = pieces.newline_tokens(self.tok) if self.cfg["max_piece_tokens"] else None
        self.progress = progress.tracker("mix", PROGRESS, self.cfg.get("progress_every", progress.DEFAULT_EVERY_S))

    def select(self, cols, n, stats):
        """Indices of the documents that pass the filters; counts the others and every
        contaminated document reaching that filter (per benchmark) into `stats`."""
        flags = cols.get(FLAGS)
        keep = []
        for i in range(n):
            d = cols["domain"][i]
            hits = contaminated_by(flags[i]) if flags is not None and not cols["is_dup"][i] else []
            reason = filter_reason(self.cfg, d, cols["is_dup"][i], hits, cols["quality"][i], cols["lang"][i])
            if hits and reason in (None, "contaminated", "quality", "lang"):
                nbytes = len((cols["text"][i] or "").encode("utf-8"))
                for name in hits:
                    mcounts.add(stats, {"decontamination": {"by_benchmark": {name: {"documents": 1,
                                                                                    "bytes": nbytes}}}})
            if reason is None:
                keep.append(i)
            else:
                _count_removed(stats.setdefault("removed", {}), reason, d)
        return keep

    def strip(self, cols, keep, stats):
        """(kept indices, their texts) with repeated lines stripped; documents left empty are
        removed (counted), lines and bytes stripped counted per domain."""
        out_keep, texts = [], []
        for i in keep:
            d = cols["domain"][i]
            if d not in self.cfg["strip_domains"]:
                out_keep.append(i)
                texts.append(cols["text"][i] or "")
                continue
            text, lines, nbytes = strip_repeated(cols["text"][i] or "", self._repeated)
            if lines:
                mcounts.add(stats, {"repeated_lines": {"by_domain": {str(d): {
                    "documents": 1, "lines": lines, "bytes": nbytes}}}})
            if not text:
                _count_removed(stats.setdefault("removed", {}), "empty_after_line_strip", d)
                continue
            out_keep.append(i)
            texts.append(text)
        return out_keep, texts

    def process(self, table, repeated=None):
        cfg = self.cfg
        self.progress.add("read", table.num_rows)
        cols = {c: table.column(c).to_pylist() for c in self.columns}
        extra: dict = {}
        keep = self.select(cols, table.num_rows, extra)
        if repeated is not None:
            if self._repeated is None:
                self._repeated = _merged(repeated)
            keep, texts = self.strip(cols, keep, extra)
        else:
            texts = [cols["text"][i] or "" for i in keep]
        if not keep:
            if extra:
                yield beam.pvalue.TaggedOutput("stats", extra)
            return
        toks = [t for a, b in char_chunks(texts, ENCODE_CHARS)
                for t in tokenizer.encode_docs(self.tok, texts[a:b], cfg["dtype"])]
        self.progress.add("tokenised", len(texts))
        ids = [cols["id"][i] for i in keep]
        hs = order.doc_hashes(cfg["seed"], ids)
        bs = order.buckets(hs, cfg["bucket_bits"])
        stored = [pieces.split(t, cfg["max_piece_tokens"], self.newline) if self.newline is not None else [t]
                 for t in toks]
        keys = [pieces.piece_key(ids[j], k) for j, ps in enumerate(stored) if len(ps) > 1 for k in range(len(ps))]
        keyed = iter(zip(keys, order.doc_hashes(cfg["seed"], keys).tolist()))  # in the loop's order
        rows, hists, pooled = [], {}, []
        for j, i in enumerate(keep):
            d, s = cols["domain"][i], cols["source"][i] or ""
            q = float(cols["quality"][i] or 0.0)
            ps = stored[j]
            n = sum(len(x) for x in ps)
            topic = cols["topic"][i] or ""
            rows.append({"domain": d, "topic": topic, "source": s, "lang": cols["lang"][i] or "", "quality": q,
                         "tokens": n, "pieces": len(ps), "bytes": len(texts[j].encode("utf-8"))})
            h = hists.get((d, s))
            if h is None:
                h = hists[(d, s)] = np.zeros((4, cfg["n_buckets"]), dtype=np.int64)
            vb = int(bs[j])
            h[TOKENS, vb] += n
            h[DOCS, vb] += 1
            anneal_ok = q >= cfg["anneal_quality"]
            if anneal_ok:
                h[ANNEAL_TOKENS, vb] += n
                h[ANNEAL_DOCS, vb] += 1
            for piece in ps:
                if len(ps) == 1:
                    key, ph, b = ids[j], int(hs[j]), vb
                else:
                    key, ph = next(keyed)
                    b = ph >> (64 - cfg["bucket_bits"])
                pooled.append((d, s, topic, vb, b, len(piece), anneal_ok))
                yield {"id": key, "domain": d, "topic": topic, "source": s, "h": ph, "b": b, "vb": vb,
                       "n": len(piece), "anneal": anneal_ok, "tok": piece.tobytes()}
        stats = mcounts.batch_counts(rows)
        mcounts.add(stats, extra)
        yield beam.pvalue.TaggedOutput("stats", stats)
        yield beam.pvalue.TaggedOutput("pieces", pooled)
        for key, h in hists.items():
            yield beam.pvalue.TaggedOutput("hist", (key, h))


class SumCounts(beam.CombineFn):
    def create_accumulator(self):
        return {}

    def add_input(self, acc, item):
        return mcounts.add(acc, item)

    def merge_accumulators(self, accs):
        out = {}
        for a in accs:
            mcounts.add(out, a)
        return out

    def extract_output(self, acc):
        return acc


class SumArrays(beam.CombineFn):
    def create_accumulator(self):
        return None

    def add_input(self, acc, arr):
        return arr.copy() if acc is None else acc + arr

    def merge_accumulators(self, accs):
        out = None
        for a in accs:
            if a is not None:
                out = a.copy() if out is None else out + a
        return out

    def extract_output(self, acc):
        return acc


class ToDict(beam.CombineFn):
    def create_accumulator(self):
        return {}

    def add_input(self, acc, kv):
        acc[kv[0]] = kv[1]
        return acc

    def merge_accumulators(self, accs):
        out = {}
        for a in accs:
            out.update(a)
        return out

    def extract_output(self, acc):
        return acc


def make_plan(_, hists, pool_hists, cfg):
    """The selection plan from the combined histograms; a budget that does not fit becomes
    {"error": message} for the driver to report."""
    try:
        return plan_selection(hists, pool_hists, cfg["weights"], cfg["tokens"], cfg["max_epochs"],
                              cfg["source_cap"], cfg["val_tokens"], cfg["anneal_weights"], cfg["anneal_tokens"],
                              cfg["shard_tokens"], cfg["n_buckets"], topic_weights=cfg["topic_weights"])
    except mcfg.MixError as exc:
        return {"error": str(exc)}


def make_pool_cuts(_, hists, cfg):
    """Source and validation cuts per domain (what doc_status needs) from the combined histograms."""
    return pool_cuts(pools(hists, cfg["weights"], cfg["source_cap"], cfg["val_tokens"], cfg["n_buckets"]))


class PoolHist(beam.DoFn):
    """A batch's stored sequences (domain, source, topic, document bucket, own bucket, tokens,
    anneal-eligible) -> ((domain, topic key), int64[2, n_buckets]) train and anneal tokens of the
    pool's sequences by their own bucket; topic key "" unless the domain has topic weights."""

    def __init__(self, n_buckets, weighted):
        self.n_buckets, self.weighted = n_buckets, frozenset(weighted)

    def process(self, batch, cuts):
        out = {}
        for d, s, topic, vb, b, n, anneal in batch:
            if doc_status(cuts, d, s, vb) != "pool":
                continue
            key = (d, topic if d in self.weighted else "")
            h = out.get(key)
            if h is None:
                h = out[key] = np.zeros((2, self.n_buckets), dtype=np.int64)
            h[POOL_TRAIN, b] += n
            if anneal:
                h[POOL_ANNEAL, b] += n
        yield from out.items()


def boundary_docs(doc, plan):
    """(("train"|"anneal", domain, topic key), (hash, id, tokens)) for pool documents in a
    boundary bucket (topic key "" unless the domain has topic weights)."""
    if "error" in plan or doc_status(plan, doc["domain"], doc["source"], doc["vb"]) != "pool":
        return
    for split, ok in (("train", True), ("anneal", doc["anneal"])):
        track, tkey = track_of(plan, split, doc["domain"], doc["topic"])
        if ok and track["cut"] == doc["b"]:
            yield (split, doc["domain"], tkey), (doc["h"], doc["id"], doc["n"])


def boundary_take(kv, plan):
    (split, domain, tkey), docs = kv
    need = track_of(plan, split, domain, tkey)[0]["need"]
    return (split, domain, tkey), frozenset(take_prefix(list(docs), need))


@beam.typehints.with_output_types(beam.typehints.Any)
class Route(beam.DoFn):
    """Each kept document -> one (shard key, (hash, tokens, topic)) per copy it contributes to train,
    anneal or val; documents over their source's cap are counted (output `stats`). Tokens travel as
    their little-endian bytes (Beam pickles a numpy array, about 30 us a round trip)."""

    def __init__(self, progress_every: float = progress.DEFAULT_EVERY_S):
        self.progress_every = progress_every

    def setup(self):
        self.progress = progress.tracker("mix", PROGRESS, self.progress_every)

    def process(self, doc, plan, boundary):
        if "error" in plan:
            return
        d, b = doc["domain"], doc["b"]
        status = doc_status(plan, d, doc["source"], doc["vb"])
        nb = plan["n_buckets"]
        info = plan["domains"][d]
        if status == "capped":
            yield beam.pvalue.TaggedOutput("stats", {"removed": {"source_cap": {
                "documents": 1, "by_domain": {d: 1}}}})
            return
        if status == "val":
            self.progress.add("routed")
            yield ("val", d, 0, range_of(b, info["val_ranges"], nb)), (doc["h"], doc["tok"], doc["topic"])
            return
        selected = False
        tracks = [("train", True)] + [("anneal", doc["anneal"])]
        for split, ok in tracks:
            if not ok:
                continue
            t, tkey = track_of(plan, split, d, doc["topic"])
            k = copies(t, b, doc["id"] in boundary.get((split, d, tkey), ()))
            for p in range(k):
                selected = True
                yield (split, d, p, range_of(b, info[split]["ranges"], nb)), (doc["h"], doc["tok"], doc["topic"])
            self.progress.add("routed", k)
        if selected:
            self.progress.add("selected")


class WriteShard(beam.DoFn):
    """One (split, domain, pass, range) group -> a shard in hash order under _tmp/ (renamed later),
    with its `.topic.npy` sidecar when `topics` (topic weights given)."""

    def __init__(self, out, dtype, progress_every: float = progress.DEFAULT_EVERY_S, topics: bool = False):
        self.out, self.dtype, self.progress_every, self.topics = out, dtype, progress_every, topics

    def setup(self):
        self.progress = progress.tracker("mix", PROGRESS, self.progress_every)

    def process(self, kv):
        (split, domain, p, r), docs = kv
        docs = sorted(docs, key=lambda x: x[0])
        np_dtype = np.dtype(self.dtype).newbyteorder("<")
        data, idx, info = shards.pack([np.frombuffer(x[1], dtype=np_dtype) for x in docs], self.dtype)
        base = FileSystems.join(self.out, TMP, split, domain, f"{p:05d}-{r:05d}")
        files = [(".bin", data), (".idx.npy", idx)]
        if self.topics:
            files.append((shards.TOPIC_SUFFIX, shards.pack_topics([x[2] for x in docs])))
        for suffix, payload in files:
            with FileSystems.create(base + suffix) as f:
                f.write(payload)
        self.progress.add("shards")
        yield {"split": split, "domain": domain, "pass": p, "range": r, "tmp": base, **info}


def _write_json(path, obj):
    with FileSystems.create(path) as f:
        f.write(json.dumps(obj, sort_keys=True, default=_json_default).encode("utf-8"))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def build(p, files, cfg, out, tokenizer_path, progress_every: float = progress.DEFAULT_EVERY_S):
    """Adds the mix pipeline to p; writes shards under out/_tmp and _plan/_stats/_shards json;
    workers log progress every `progress_every` seconds."""
    cfg_b = dict(cfg, progress_every=progress_every)
    paths = p | "Files" >> beam.Create([f.path for f in files])
    prepare = Prepare(cfg_b, tokenizer_path)
    side, extra_stats = {}, []
    if cfg["strip_repeated_lines"]:
        repeated = (paths | "ReadText" >> ReadAllFromParquetBatched(columns=["text"])
                          | "LineHashes" >> beam.ParDo(LineHashes())
                          | "LineShards" >> beam.GroupByKey()
                          | "Repeated" >> beam.Map(_repeated_lines, cfg["strip_repeated_lines"]))
        side["repeated"] = beam.pvalue.AsList(repeated)
        extra_stats.append(repeated | "RepeatedCount" >> beam.Map(
            lambda a: {"repeated_lines": {"distinct_lines": len(_u64(a))}}))
    docs = (paths | "Read" >> ReadAllFromParquetBatched(columns=prepare.columns)
                  | "Prepare" >> beam.ParDo(prepare, **side).with_outputs("stats", "hist", "pieces", main="doc"))
    hists = (docs.hist | "SumHist" >> beam.CombinePerKey(SumArrays())
                       | "HistDict" >> beam.CombineGlobally(ToDict()))
    one = p | "One" >> beam.Create([None])
    cuts = one | "PoolCuts" >> beam.Map(make_pool_cuts, hists=beam.pvalue.AsSingleton(hists), cfg=cfg_b)
    pool_hists = (docs.pieces
                  | "PoolHist" >> beam.ParDo(PoolHist(cfg["n_buckets"], cfg["topic_weights"]),
                                             cuts=beam.pvalue.AsSingleton(cuts))
                  | "SumPoolHist" >> beam.CombinePerKey(SumArrays())
                  | "PoolHistDict" >> beam.CombineGlobally(ToDict()))
    plan = one | "Plan" >> beam.Map(make_plan, hists=beam.pvalue.AsSingleton(hists),
                                    pool_hists=beam.pvalue.AsSingleton(pool_hists), cfg=cfg_b)
    plan_si = beam.pvalue.AsSingleton(plan)
    boundary = (docs.doc
                | "Boundary" >> beam.FlatMap(boundary_docs, plan=plan_si)
                | "GroupBoundary" >> beam.GroupByKey()
                | "TakePrefix" >> beam.Map(boundary_take, plan=plan_si))
    routed = docs.doc | "Route" >> beam.ParDo(Route(progress_every), plan=plan_si,
                                              boundary=beam.pvalue.AsDict(boundary)).with_outputs(
        "stats", main="copy")
    written = (routed.copy
               | "GroupShards" >> beam.GroupByKey()
               | "WriteShards" >> beam.ParDo(WriteShard(out, cfg["dtype"], progress_every,
                                                        topics=bool(cfg["topic_weights"]))))
    (written | "ShardList" >> beam.combiners.ToList()
             | "ShardJson" >> beam.Map(lambda s: _write_json(FileSystems.join(out, "_shards.json"), s)))
    ((docs.stats, routed.stats, *extra_stats) | "AllStats" >> beam.Flatten()
                                | "SumStats" >> beam.CombineGlobally(SumCounts())
                                | "StatsJson" >> beam.Map(lambda s: _write_json(FileSystems.join(out, "_stats.json"),
                                                                                s)))
    plan | "PlanJson" >> beam.Map(lambda pl: _write_json(FileSystems.join(out, "_plan.json"), pl))


# ---------------------------------------------------------------- driver: options and finishing

def parse_args(argv):
    parser = StrictParser(prog="python -m pipeline.mix_job",
                          description="Plan a pretraining mix from tagged documents and write token shards.")
    parser.add_argument("--input", required=True, help="a finished `make tag` output folder")
    parser.add_argument("--output", required=True)
    parser.add_argument("--tokens", type=int, default=2_000_000, help="train token budget")
    parser.add_argument("--weights", default=mcfg.DEFAULT_WEIGHTS)
    parser.add_argument("--quality", type=float, default=0.0, help="keep documents with quality >= this")
    parser.add_argument("--langs", default="", help="comma-separated languages to keep (default: all)")
    parser.add_argument("--keep-contaminated", action="store_true",
                        help="keep documents the tag job flagged contaminated:<benchmark> (default: drop them)")
    parser.add_argument("--strip-repeated-lines", action="store_true",
                        help="remove the lines held by more than N documents of the tagged corpus before "
                             "tokenising (N: the tag run's line_dedup_min_docs)")
    parser.add_argument("--strip-domains", default="general,multilingual", metavar="DOMAINS",
                        help="with --strip-repeated-lines: the domains stripped (code is left alone by "
                             "default: its most repeated lines are syntax such as `}` and `#endif`)")
    parser.add_argument("--repeated-line-min-docs", type=int, default=None, metavar="N",
                        help="with --strip-repeated-lines: strip lines held by more than N documents")
    parser.add_argument("--topic-weights", default="", metavar="SPEC",
                        help="shares of topics inside their domain's quota, e.g. math.word_problems=0.4,"
                             "math.algebra=0.3 (the domain's other topics share the rest in proportion "
                             "to their eligible tokens)")
    parser.add_argument("--max-epochs", type=float, default=4.0, help="repetition cap per domain")
    parser.add_argument("--source-cap", type=float, default=1.0,
                        help="largest share of a domain's kept tokens one source may give (1 = no cap)")
    parser.add_argument("--val-tokens", type=int, default=50_000, help="held-out tokens per domain")
    parser.add_argument("--anneal-tokens", type=int, default=None, help="anneal budget (default TOKENS/10)")
    parser.add_argument("--anneal-boost", default="math=2,code=2",
                        help="factors on the target weights for the anneal mix (then renormalised)")
    parser.add_argument("--anneal-quality", type=float, default=0.95, help="anneal documents need quality >= this")
    parser.add_argument("--vocab-size", type=int, default=tokenizer.DEFAULT_VOCAB)
    parser.add_argument("--tokenizer-sample-mb", type=float, default=8.0)
    parser.add_argument("--tokenizer", default=None, metavar="TOKENIZER_JSON",
                        help="reuse this tokenizer.json (e.g. another mix's, to value a candidate source "
                             "against it) instead of training one; --vocab-size then comes from the file")
    parser.add_argument("--shard-tokens", type=int, default=50_000_000, help="about this many tokens per shard")
    parser.add_argument("--max-piece-tokens", type=int, default=2048, metavar="N",
                        help="documents longer than N tokens are stored and selected as pieces of at most N "
                             "tokens, cut at line ends (validation and source caps still go by document; "
                             "0 = whole documents). Lossless for models trained at a context <= N: the "
                             "default is the longest context of the bundled configs; set your own")
    parser.add_argument("--ablations", type=int, default=0, help="proxy runs in the sweep (0 = none)")
    parser.add_argument("--ablation-config", default="cpu-demo", help="trainer config of each proxy")
    parser.add_argument("--ablation-steps", type=int, default=None, help="steps per proxy (config's)")
    parser.add_argument("--ablation-vocab-size", type=int, default=4096, metavar="V",
                        help="the proxies train on the same mix built at a V-token vocabulary "
                             "(OUTPUT/ablations/proxy_mix; a proxy step is cheaper and learns more per "
                             "minute), and the proposal is carried back to this mix's tokens through bytes "
                             "per token; 0, or V not below this mix's vocabulary: the proxies train on "
                             "this mix")
    parser.add_argument("--ablation-workers", type=int, default=2, help="single-thread proxies side by side")
    parser.add_argument("--ablation-concentration", type=float, default=2.0,  # ablate.DEFAULT_CONCENTRATION
                        help="Dirichlet concentration of the candidates around the target (%(default)s)")
    parser.add_argument("--ablation-design", choices=["random", "maximin"], default="random",
                        help="how candidates are drawn from the Dirichlet: independent draws (random), or "
                             "a space-filling set kept far apart (maximin; README: it ranked more evenly "
                             "but its proposals verified worse)")
    parser.add_argument("--verify-seeds", type=int, default=3,
                        help="fresh seeds training the proposal and the default (more extend a finished sweep)")
    parser.add_argument("--ablation-replicates", type=int, default=0,
                        help="sweep candidates trained again with another seed, to measure how well one "
                             "run ranks a mixture (fit.json reproducibility)")
    parser.add_argument("--ablation-seeds", type=int, default=1, metavar="K",
                        help="common seeds per candidate; the regression fits each candidate's mean "
                             "over its K runs (--ablations N trains N x K proxies)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runner", default=None)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--progress-every", type=float, default=progress.DEFAULT_EVERY_S, metavar="SECONDS",
                        help="each worker logs its counts this often (0: only the totals at the end)")
    args, rest = parser.parse_known_args(argv)
    if args.ablations < 0 or (args.ablations and args.ablations < 4):
        raise UsageError(f"--ablations must be 0 or at least 4 (a regression needs runs), got {args.ablations}")
    if args.verify_seeds < 1 or args.ablation_workers < 1 or args.ablation_concentration <= 0:
        raise UsageError("--verify-seeds and --ablation-workers >= 1, --ablation-concentration > 0")
    if args.ablation_replicates < 0 or args.ablation_replicates == 1 or args.ablation_replicates > args.ablations:
        raise UsageError(f"--ablation-replicates must be 0 or between 2 and --ablations ({args.ablations}), "
                         f"got {args.ablation_replicates}")
    if args.ablation_seeds < 1 or (args.ablation_seeds > 1 and args.ablation_replicates):
        raise UsageError(f"--ablation-seeds must be >= 1, and above 1 it replaces --ablation-replicates "
                         f"(its seeds are the replicates); got {args.ablation_seeds} and "
                         f"{args.ablation_replicates}")
    if not 0 < args.source_cap <= 1 or args.max_epochs <= 0 or args.val_tokens < 0:
        raise UsageError("--source-cap must be in (0, 1], --max-epochs > 0, --val-tokens >= 0")
    if args.ablation_vocab_size and args.ablation_vocab_size < 259:
        raise UsageError(f"--ablation-vocab-size must be 0 or >= 259, got {args.ablation_vocab_size}")
    if args.vocab_size < 259 or args.tokenizer_sample_mb <= 0 or args.shard_tokens <= 0:
        raise UsageError("--vocab-size >= 259, --tokenizer-sample-mb and --shard-tokens > 0")
    if args.max_piece_tokens < 0 or 0 < args.max_piece_tokens < 64:
        raise UsageError(f"--max-piece-tokens must be 0 (whole documents) or at least 64, got {args.max_piece_tokens}")
    if args.tokens <= 0:
        raise UsageError(f"--tokens must be positive, got {args.tokens}")
    if args.repeated_line_min_docs is not None and not args.strip_repeated_lines:
        raise UsageError("--repeated-line-min-docs needs --strip-repeated-lines")
    if args.repeated_line_min_docs is not None and args.repeated_line_min_docs < 1:
        raise UsageError(f"--repeated-line-min-docs must be >= 1, got {args.repeated_line_min_docs}")
    return args, rest


def make_config(args) -> dict:
    weights = mcfg.parse_weights(args.weights, DOMAINS)
    boost = mcfg.parse_boost(args.anneal_boost, DOMAINS)
    anneal_tokens = args.tokens // 10 if args.anneal_tokens is None else args.anneal_tokens
    if anneal_tokens < 0:
        raise mcfg.MixError(f"--anneal-tokens must be >= 0, got {anneal_tokens}")
    topic_weights = parse_topic_weights(args.topic_weights, TOPICS, home_of, weights)
    strip_domains = sorted({d.strip() for d in args.strip_domains.split(",") if d.strip()})
    unknown = [d for d in strip_domains if d not in DOMAINS]
    if unknown:
        raise mcfg.MixError(f"--strip-domains: unknown domain(s) {', '.join(unknown)}; known: {', '.join(DOMAINS)}")
    return {"strip_domains": strip_domains if args.strip_repeated_lines else [],
            "input": args.input, "seed": args.seed, "tokens": args.tokens, "weights": weights,
            "topic_weights": topic_weights, "keep_contaminated": args.keep_contaminated,
            "quality": args.quality, "langs": mcfg.parse_langs(args.langs), "max_epochs": args.max_epochs,
            "source_cap": args.source_cap, "val_tokens": args.val_tokens, "anneal_tokens": anneal_tokens,
            "anneal_weights": mcfg.anneal_weights(weights, boost), "anneal_boost": boost,
            "anneal_quality": args.anneal_quality, **_tokenizer_settings(args),
            "tokenizer_sample_bytes": int(args.tokenizer_sample_mb * 1e6), "shard_tokens": args.shard_tokens,
            "max_piece_tokens": args.max_piece_tokens, "bucket_bits": order.BUCKET_BITS, "n_buckets": order.N_BUCKETS}


def _tokenizer_settings(args) -> dict:
    """vocab_size and dtype, and with --tokenizer the reused file's path and sha256 (so a run with
    another tokenizer is another run)."""
    if not args.tokenizer:
        return {"vocab_size": args.vocab_size, "dtype": tokenizer.dtype_for(args.vocab_size)}
    try:
        tok, raw = tokenizer.load_tokenizer(args.tokenizer)
    except ValueError as exc:
        raise mcfg.MixError(str(exc)) from None
    vocab = tok.get_vocab_size()
    return {"vocab_size": vocab, "dtype": tokenizer.dtype_for(vocab),
            "tokenizer_file": os.path.abspath(args.tokenizer), "tokenizer_sha256": hashlib.sha256(raw).hexdigest()}


def _versions() -> dict:
    from importlib.metadata import version
    out = {"python": platform.python_version()}
    for dist in ("mixcurate", "apache-beam", "pyarrow", "numpy", "tokenizers"):
        try:
            out[dist] = version(dist)
        except Exception:
            out[dist] = None
    return out


def _read_json(path):
    with _open(path) as f:
        return json.loads(f.read().decode("utf-8"))


def finish(out, cfg, fingerprint, tokenizer_info, est, counters: dict) -> dict:
    """Check that no piece was lost (the job's `counters`), number the shards in hash order, read
    them back, write manifest.json (local output)."""
    plan = _read_json(os.path.join(out, "_plan.json"))
    if "error" in plan:
        raise mcfg.MixError(plan["error"])
    stats = _read_json(os.path.join(out, "_stats.json"))
    written = _read_json(os.path.join(out, "_shards.json"))
    check_nothing_lost(counters, written)
    listed = []
    by_group: dict = {}
    for s in written:
        by_group.setdefault((s["split"], s["domain"]), []).append(s)
    for (split, domain) in sorted(by_group, key=lambda k: (("train", "val", "anneal").index(k[0]), k[1])):
        group = sorted(by_group[(split, domain)], key=lambda s: (s["pass"], s["range"]))
        folder = os.path.join(out, "shards", split, domain)
        os.makedirs(folder, exist_ok=True)
        for i, s in enumerate(group):
            rel = os.path.join("shards", split, domain, shards.shard_name(i) + ".bin")
            os.replace(s["tmp"] + ".bin", os.path.join(out, rel))
            os.replace(s["tmp"] + ".idx.npy", os.path.join(out, rel[:-4] + ".idx.npy"))
            if cfg["topic_weights"]:
                os.replace(s["tmp"] + shards.TOPIC_SUFFIX, os.path.join(out, rel[:-4] + shards.TOPIC_SUFFIX))
            listed.append({"path": rel, "split": split, "domain": domain, "tokens": s["tokens"],
                           "documents": s["documents"], "bytes": s["bytes"], "sha256": s["sha256"]})
    import shutil
    shutil.rmtree(os.path.join(out, TMP), ignore_errors=True)
    read_back = mmanifest.realised(out, listed, cfg["dtype"])
    topic_read_back = mmanifest.realised_topics(out, listed, cfg["dtype"]) if cfg["topic_weights"] else None
    removed = stats.get("removed", {})
    filters = {name: removed.get(name, {}).get("documents", 0) for name in FILTERS}
    counts = {"tokens": stats.get("tokens", {}), "documents": stats.get("documents", {}),
              "fertility": {"domain": mcounts.fertility(stats, "domain") if stats.get("fertility") else {},
                            "lang": mcounts.fertility(stats, "lang") if stats.get("fertility") else {}},
              "filters_by_domain": {k: v.get("by_domain", {}) for k, v in removed.items()},
              "split_documents": {"max_piece_tokens": cfg["max_piece_tokens"], "by_domain": stats.get("split", {})},
              "estimated_eligible_tokens": est,
              "decontamination": decontamination_counts(cfg, stats, removed),
              "repeated_lines": repeated_line_counts(cfg, stats, removed),
              "selection": {d: {k: v for k, v in info.items() if k != "source_cuts"}
                            for d, info in plan["domains"].items()}}
    config = {k: v for k, v in cfg.items() if k not in ("input",)}
    return mmanifest.build(
        seed=cfg["seed"], input_path=cfg["input"], fingerprint=fingerprint, tokenizer=tokenizer_info,
        budget=cfg["tokens"], weights=cfg["weights"], plan=plan["train"],
        anneal={"weights": cfg["anneal_weights"], "quality_min": cfg["anneal_quality"],
                "budget": cfg["anneal_tokens"], "plan": plan["anneal"]},
        val_tokens=cfg["val_tokens"], shards=listed, filters=filters, config=config,
        versions=_versions(), read_back=read_back, counts=counts, topic_read_back=topic_read_back)


def decontamination_counts(cfg, stats, removed) -> dict:
    """manifest counts.decontamination: what the filter did and, per benchmark, the flagged
    documents (and their UTF-8 bytes) that reached it (not duplicates, domain in WEIGHTS)."""
    if not cfg["input_has_quality_flags"]:
        action = "not checked: the input has no quality_flags column"
    else:
        action = "kept (--keep-contaminated)" if cfg["keep_contaminated"] else "dropped"
    return {"action": action, "documents_dropped": removed.get("contaminated", {}).get("documents", 0),
            "by_benchmark": stats.get("decontamination", {}).get("by_benchmark", {})}


def repeated_line_counts(cfg, stats, removed) -> dict | None:
    """manifest counts.repeated_lines (None without --strip-repeated-lines): N, where N came from,
    how many distinct lines are repeated, and per domain the documents touched, lines and UTF-8
    bytes stripped; documents left empty are the `empty_after_line_strip` filter."""
    if not cfg["strip_repeated_lines"]:
        return None
    got = stats.get("repeated_lines", {})
    return {"min_docs": cfg["strip_repeated_lines"], "min_docs_from": cfg["repeated_line_min_docs_from"],
            "rule": f"lines held by more than {cfg['strip_repeated_lines']} documents of the tagged corpus",
            "domains": cfg["strip_domains"],
            "distinct_lines": got.get("distinct_lines", 0), "by_domain": got.get("by_domain", {}),
            "documents_emptied": removed.get("empty_after_line_strip", {}).get("documents", 0)}


def run(argv=None) -> dict | None:
    """Runs the job, then the proxy sweep if asked; returns the manifest (None when OUTPUT already
    holds this run)."""
    args, beam_args = parse_args(argv)
    manifest = mix(args, beam_args)
    if not (isinstance(manifest, dict) and manifest.get("dry_run")):
        ablations(args, beam_args)
    return manifest


def mix(args, beam_args) -> dict | None:
    """The mix job alone: OUTPUT's shards, tokenizer and manifest (None when it already holds this
    run)."""
    t0 = time.time()
    options = beam_options(beam_args, args.runner)
    is_dry_run = dry_run(options)
    cfg = make_config(args)
    staging.require_success(args.input, "tag")
    files = inputs.expand(FileSystems.join(args.input.rstrip("/"), "docs"))
    cfg["input_has_quality_flags"] = check_columns(files)
    cfg["strip_repeated_lines"], cfg["repeated_line_min_docs_from"] = (
        line_min_docs(args.input, args.repeated_line_min_docs) if args.strip_repeated_lines else (0, None))
    fingerprint = inputs.fingerprint(files)
    identity = {"stage": "mix", "input_fingerprint": fingerprint, "config": cfg}
    if not is_dry_run and staging.check_previous(args.output, identity, args.force):
        print(f"mix: {args.output} already holds this run (same input and settings); nothing to do")
        return None
    if "://" in args.output:
        raise UsageError("mix: a remote OUTPUT is not supported yet (shards are numbered and read back "
                         "locally); write locally and copy")
    surveyed = survey(files, cfg)
    if sum(surveyed["kept_bytes"].values()) == 0:
        raise mcfg.MixError(f"no document of {args.input} passes the filters (QUALITY={cfg['quality']}, "
                            f"LANGS={cfg['langs']}, domains {sorted(cfg['weights'])})")
    check_topics_kept(surveyed, cfg)
    if cfg.get("tokenizer_file"):
        tok, tok_raw = tokenizer.load_tokenizer(cfg["tokenizer_file"])
        if hashlib.sha256(tok_raw).hexdigest() != cfg["tokenizer_sha256"]:
            raise mcfg.MixError(f"{cfg['tokenizer_file']} changed while the mix started; run it again")
    else:
        tok, tok_raw = tokenizer.train_tokenizer((t for texts in surveyed["sample"].values() for t in texts),
                                                 cfg["vocab_size"]), None
    est = estimate_check(surveyed, tok, cfg)
    if is_dry_run:
        return validate_graph(options, files, cfg, args, tok)
    t_plan = time.time()
    out = staging.new_staging(args.output)
    try:
        tok_path = os.path.join(out, "tokenizer.json")
        tok_info = {"path": "tokenizer.json", "vocab_size": tok.get_vocab_size(), "bos_id": tokenizer.BOS_ID,
                    "eos_id": tokenizer.EOS_ID, "pad_id": tokenizer.PAD_ID, "dtype": cfg["dtype"]}
        if tok_raw is not None:  # reused: the same bytes, so both mixes' tokenizer.json share a sha256
            with open(tok_path, "wb") as f:
                f.write(tok_raw)
            tok_info["reused_from"] = {"path": cfg["tokenizer_file"], "sha256": cfg["tokenizer_sha256"]}
        else:
            tok.save(tok_path)
            tok_info["trained_on_bytes"] = {d: sum(len(t.encode("utf-8")) for t in ts)
                                            for d, ts in surveyed["sample"].items()}
        with beam.Pipeline(options=options) as p:
            build(p, files, cfg, out, tok_path, args.progress_every)
        print(progress.final_line(p.result, "mix", PROGRESS), file=sys.stderr, flush=True)
        manifest = finish(out, cfg, fingerprint, tok_info, est, progress.totals(p.result, "mix"))
        for name in ("_plan.json", "_stats.json", "_shards.json"):
            os.remove(os.path.join(out, name))
        manifest["throughput"] = {"wall_s": round(time.time() - t0, 3),
                                  "driver_survey_and_tokenizer_s": round(t_plan - t0, 3),
                                  "runner": runner_name(options), "workers": worker_count(options)}
        with open(os.path.join(out, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
        if not args.no_plots:
            report.plots(manifest, os.path.join(out, "plots"))
        staging.publish(out, args.output, identity)
    except BaseException as exc:
        staging.discard(out)
        message = staging.io_error_message(exc, args.output)  # a full disk, also in a Beam worker
        if message is not None:
            raise staging.OutputError(message) from None
        raise
    print(report.summary(manifest))
    return manifest


class LostPieces(RuntimeError):
    """The runner delivered fewer document pieces to the shard writers than the router sent."""


def check_nothing_lost(counters: dict, written: list[dict]) -> None:
    """Every piece Route sent towards a shard (its `routed` counter: one per document copy in
    train or anneal, one per validation document) must be in a written shard: a piece lost by the
    runner in between fails the job before anything is published, instead of shifting the shares."""
    routed = counters.get("routed")
    landed = sum(s["documents"] for s in written)
    if routed is not None and routed != landed:
        raise LostPieces(f"{routed:,} document pieces were routed to shards but {landed:,} were written: "
                         "the runner lost data; nothing was published, run the same command again")


def validate_graph(options, files, cfg, args, tok) -> dict:
    """`--dry_run` on DataflowRunner: the driver's checks and tokenizer ran as usual; the pipeline
    graph is built, translated and validated by the runner, which returns without submitting.
    OUTPUT is neither checked nor written (the tokenizer goes to a temporary folder)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        tok_path = os.path.join(tmp, "tokenizer.json")
        tok.save(tok_path)
        p = beam.Pipeline(options=options)
        build(p, files, cfg, args.output.rstrip("/") + ".staging-dry-run", tok_path, args.progress_every)
        result = p.run()
        result.wait_until_finish()
    print(f"mix: dry run: the job graph was built and validated by {runner_name(options)}; "
          "nothing was submitted or written")
    return {"dry_run": True, "runner": runner_name(options), "state": str(result.state),
            "job": getattr(result, "job", None)}


def proxy_mix(args, beam_args) -> tuple[str, dict | None, dict | None]:
    """The mix the sweep's proxies train on: (folder, default weights as its token shares, the
    mix's manifest to carry the proposal to). With --ablation-vocab-size V below the mix's
    vocabulary: the same job (input, filters, weights, budget, seed) at a V-token vocabulary in
    OUTPUT/ablations/proxy_mix, whose proxies learn more per minute (README); the default mix is
    carried to its tokens through bytes per token, and the proposal back to the mix's."""
    with open(os.path.join(args.output, "manifest.json")) as f:
        manifest = json.load(f)
    vocab = args.ablation_vocab_size
    if not 0 < vocab < manifest["tokenizer"]["vocab_size"]:
        return args.output, None, None
    proxy = argparse.Namespace(**vars(args))
    proxy.output = os.path.join(args.output, "ablations", "proxy_mix")
    proxy.vocab_size, proxy.tokenizer, proxy.ablations, proxy.no_plots = vocab, None, 0, True
    print(f"mix: the proxy mix at a {vocab:,}-token vocabulary -> {proxy.output}", flush=True)
    mix(proxy, beam_args)
    with open(os.path.join(proxy.output, "manifest.json")) as f:
        proxy_bpt = transfer.bytes_per_token(json.load(f))
    bytes_of_default = transfer.byte_shares(manifest["target_weights"], transfer.bytes_per_token(manifest))
    return proxy.output, transfer.token_shares(bytes_of_default, proxy_bpt, "the proxy mix"), manifest


def ablations(args, beam_args=()) -> dict | None:
    """The proxy sweep over the finished mix, or its proxy mix (after `_SUCCESS`: it resumes from
    its finished runs)."""
    if not args.ablations:
        return None
    from mixtures import ablate
    folder = os.path.join(args.output, "ablations")
    if args.force and os.path.exists(os.path.join(folder, "sweep.json")):
        import shutil
        shutil.rmtree(folder)
    try:
        sweep_mix, default, carry_to = proxy_mix(args, list(beam_args))
        return ablate.sweep(sweep_mix, args.ablations, config=args.ablation_config, steps=args.ablation_steps,
                            seed=args.seed, concentration=args.ablation_concentration,
                            max_epochs=args.max_epochs, verify_seeds=args.verify_seeds,
                            workers=args.ablation_workers, replicates=args.ablation_replicates,
                            seeds_per_candidate=args.ablation_seeds, design=args.ablation_design,
                            log=lambda m: print(m, flush=True), out=folder, target_weights=default,
                            carry_to=carry_to)
    except (ablate.AblationError, transfer.TransferError) as exc:
        raise mcfg.MixError(str(exc)) from None


def main(argv=None) -> int:
    try:
        manifest = run(sys.argv[1:] if argv is None else argv)
    except (UsageError, inputs.InputError, staging.OutputError, mcfg.MixError) as exc:
        print(f"mix: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mix: interrupted; nothing was published (run the same command again)", file=sys.stderr)
        return staging.INTERRUPTED
    return 0


if __name__ == "__main__":
    staging.exit_process(main())
