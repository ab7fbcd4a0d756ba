"""Distributed dedup of tagged documents in Beam: near (MinHash LSH), exact and URL duplicates as one
graph, connected components, representatives, line-level dedup counts and decontamination.

`Dedup(config)` takes tagged rows and returns (rows with `dup_cluster`, `is_dup`, the
`dup_line_share_corpus` quality signal and `contaminated:<benchmark>` flags, stats events).

- Buckets. Each document emits one key per LSH band (taggers.minhash.band_hashes: 64 bits of the
  band's values and index), one for the hash of its whitespace-collapsed text and one for its
  `meta.url` if present. Entries are grouped by a GroupByKey on a shard of the bucket key (band
  keys mod `shards`, crc32 of the others; per-element overhead dominated when every
  (document, band) was an element), band keys travelling as one numpy array per shard and batch
  and grouped inside the shard by sorting; every member is linked to the bucket's smallest member
  (a star, never all pairs), so a bucket of k documents gives k - 1 edges.
- Optional exact Jaccard check of the near (band) edges: each shard of buckets sends its distinct
  near edges, batched, to the set shard (`shards`) of each end; one join (a Flatten and a
  GroupByKey, as for the labels) brings them to the ends' shingle sets, which travel concatenated,
  one record per set shard and batch; each end's set goes on, batched, to the set shard of the
  edge's first node, where the two halves meet and edges under the threshold are dropped
  (counted). No shuffle carries one element per edge.
- Connected components: the large-star / small-star algorithm (Kiveris et al., SoCC 2014),
  unrolled `cc_rounds` times inside the one pipeline (Beam has no loops; one pipeline per round
  would pay job start-up and a full materialisation per round, and the graph only holds the
  documents that have a duplicate, so extra rounds on a converged graph are cheap). Edges cross
  each round's shuffles batched by the shard of their source node. After the last round every
  component must be a star around its smallest node; `Labels` checks that for every node and
  fails the job loudly (ComponentsNotConverged) when it is not, naming the fix (`--cc-rounds`).
- Node keys order the representative: the id itself (smallest id, Python string order), or for
  `representative="quality"` a fixed-width (1 - quality) prefix then the id, so the smallest key
  is the highest quality, ties to the smallest id. The component's smallest key is its
  representative.
- Lines: each document's distinct normalised lines are hashed (64 bits); the hashes travel as
  numpy arrays in LINE_SHARDS shards (hash mod shards) and each shard counts documents per line
  with np.unique; the lines seen in more than `line_dedup_min_docs` documents reach the final
  step as a side input (a set of 64-bit ints).
- Signature lines. With `signature_lines="unrepeated"` the near-duplicate signatures AND the
  shingle sets of the exact Jaccard check are computed on the text without its repeated lines
  (`signature_text`: the non-blank lines whose doc_lines hash is not held by more than
  `line_dedup_min_docs` documents), so shared headers, footers and licence blocks no longer make
  different documents look alike. The line count runs first; a second DoFn (NearEntries) signs the
  batches with the repeated hashes as a side input, from the line split Buckets made of each batch
  (its normalised bytes and line hashes), so every line is split and hashed once. A document whose text is all repeated lines,
  or keeps fewer words (char shingles: characters) than one shingle, is signed on its full text.
  The exact-text and URL keys always use the full text and meta. With `line_dedup_min_docs=0`
  nothing is counted and the option has no effect. The side input holds only the repeated lines:
  each is held by more than `line_dedup_min_docs` documents, so there are at most
  (distinct lines summed over documents) / (line_dedup_min_docs + 1) of them, 8 bytes each, and in
  practice far fewer (templates, licences, navigation).
- Decontamination: benchmark items' word n-grams (13 by default) are hashed on the driver
  (`load_benchmarks`) and shipped to the workers with the DoFn; documents sharing one are flagged.

No step gathers all documents, signatures or edges on one worker: every GroupByKey is keyed by a
bucket, a node or a document id.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np

from pipeline.stats import dup_summary
from taggers.minhash import MinHasher, band_hashes, fmix64, jaccard, optimal_bands, poly_ranges64
from taggers.quality import QUALITY_SIGNAL_NAMES

LINE_SHARE_SIGNAL = "dup_line_share_corpus"
REPRESENTATIVES = ("smallest_id", "quality")
# Which lines the near-duplicate signatures (and the exact Jaccard check's shingle sets) see.
SIGNATURE_LINES = ("all", "unrepeated")
_BLANK = " \t\x0b\x0c\r"  # the characters doc_lines collapses (with "\n" as the line break)
_QKEY_WIDTH = 14  # len(f"{x:.12f}") for x in [0, 1]
# Line hashes are counted in this many shards (hash mod LINE_SHARDS), each a numpy np.unique.
LINE_SHARDS = 64
# Bucket entries and shingle sets travel in DedupConfig.shards shards, one list per shard and
# batch, so Beam moves a few thousand elements instead of one per (document, band) or document.
# Every numpy array crosses a shuffle as its raw bytes (`_u64`/`_u32` read them back): Beam's
# default coder pickles an array, about 30 us a round trip, and copies bytes in about 4.
_KINDS = {98: "near", 120: "exact", 117: "url"}


class ComponentsNotConverged(RuntimeError):
    """The unrolled connected-components rounds ended before every component was a star."""


@dataclass
class DedupConfig:
    """Dedup settings. bands=None with rows=None: bands x rows from the threshold.

    The defaults come from the labelled near-duplicate sets (pipeline.bench_dedup_quality):
    signatures on the lines not repeated across documents, word 2-grams, 28 bands x 2 rows (an LSH
    threshold near 0.2), then the exact Jaccard check of every candidate pair at 0.5. The dev sets
    score best with the check at 0.3-0.4, but on the real sample that also merged sibling reference
    entries (GAP's SymmetricGroup and AlternatingGroup pages, median 3-gram Jaccard 0.40 to their
    representative); 0.5 is the strictest check that still beats the best swept datasketch setting
    on every set. num_perm is bands x rows: permutations past the bands are never read. The earlier
    defaults (all lines, 5-grams, bands from threshold 0.8, no check) found almost none of those
    sets' near duplicates (test F1 0.16 web, 0.48 boilerplate, 0.38 code, 0.0 paraphrase)."""
    threshold: float = 0.5
    num_perm: int = 56
    shingle: int = 2
    shingle_kind: str = "word"
    bands: int | None = 28
    rows: int | None = 2
    seed: int = 1
    hash_name: str = "poly"  # sha1: datasketch's default hash (slower, same signatures as MinHash())
    exact_jaccard_check: bool = True
    representative: str = "smallest_id"
    cc_rounds: int = 10
    # Each shard's group holds 1/shards of the band entries (~250 B a document) and of the shingle
    # sets (~8 B a word): raise it with the corpus, e.g. 4,096 for a billion documents.
    shards: int = 64
    line_dedup_min_docs: int = 6
    signature_lines: str = "unrepeated"  # "all": sign the full text
    decontam_ngram: int = 13
    benchmarks: dict = field(default_factory=dict)  # from load_benchmarks

    def __post_init__(self):
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"dedup threshold must be in (0, 1), got {self.threshold}")
        if self.signature_lines not in SIGNATURE_LINES:
            raise ValueError(f"signature_lines must be one of {SIGNATURE_LINES}, got {self.signature_lines!r}")
        if self.representative not in REPRESENTATIVES:
            raise ValueError(f"representative must be one of {REPRESENTATIVES}, got {self.representative!r}")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both --bands and --rows, or neither (then they follow the threshold)")
        if self.bands is None:
            self.bands, self.rows = optimal_bands(self.threshold, self.num_perm)
        if self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows ({self.bands} x {self.rows}) must be positive and at most "
                             f"num_perm ({self.num_perm})")
        if self.cc_rounds < 1 or self.line_dedup_min_docs < 0 or self.decontam_ngram < 1 or self.shards < 1:
            raise ValueError("cc_rounds, shards and decontam_ngram must be >= 1, line_dedup_min_docs >= 0")
        MinHasher(self.num_perm, self.seed, self.shingle, self.shingle_kind, self.hash_name)  # validates

    def describe(self) -> dict:
        """The settings as recorded in stats.json / the run identity."""
        return {"threshold": self.threshold, "num_perm": self.num_perm, "shingle": self.shingle,
                "shingle_kind": self.shingle_kind, "bands": self.bands, "rows": self.rows,
                "seed": self.seed, "hash": self.hash_name, "scheme": "affine32",
                "exact_jaccard_check": self.exact_jaccard_check,
                "representative": self.representative, "cc_rounds": self.cc_rounds,
                "line_dedup_min_docs": self.line_dedup_min_docs, "shards": self.shards,
                "signature_lines": self.signature_lines,
                "decontam_ngram": self.decontam_ngram,
                "benchmarks": {name: b["sha256"] for name, b in sorted(self.benchmarks.items())}}


# ---------------------------------------------------------------- keys, lines, n-grams (pure)

def node_key(row: dict, representative: str) -> str:
    if representative == "quality":
        q = row.get("quality")
        q = 0.0 if q is None or q != q else min(1.0, max(0.0, float(q)))
        return f"{1.0 - q:.12f}" + row["id"]
    return row["id"]


def id_of(node: str, representative: str) -> str:
    return node[_QKEY_WIDTH:] if representative == "quality" else node


def exact_key(text: str) -> bytes:
    return b"x" + hashlib.blake2b(" ".join(text.split()).encode("utf-8"), digest_size=16).digest()


def url_of(meta: str) -> str | None:
    try:
        url = json.loads(meta).get("url") if meta else None
    except (ValueError, AttributeError):
        return None
    if not isinstance(url, str):
        return None
    return url.strip() or None


_WS = np.zeros(256, dtype=bool)
_WS[[9, 11, 12, 13, 32]] = True
_DOC_SEP = 0xFF  # never a byte of UTF-8: ends a document (and its last line) in a joined batch


def doc_lines(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hashes, UTF-8 byte lengths) of every non-blank line of a text (`batch_lines`)."""
    hashes, sizes, _ = batch_lines([text])
    return hashes, sizes


def batch_lines(texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(64-bit hashes, UTF-8 byte lengths, index of the text) of every non-blank line of every
    text, in order: lines lower-cased, each run of ASCII spaces/tabs collapsed to one space and
    trimmed. One numpy pass over the batch's joined bytes (poly ranges, fmix64), no Python work
    per line or per text but the encoding."""
    lines = _BatchLines(texts)
    return lines.hashes, lines.ends - lines.starts, lines.owner


class _BatchLines:
    """The non-blank lines of a batch of texts as `batch_lines` normalises them: `data` holds the
    batch's normalised bytes (a line ends in "\n", a text in _DOC_SEP), and each line its
    [start, end) in it, its text's index and its hash."""

    def __init__(self, texts: list[str]):
        self.count = len(texts)
        arr = np.frombuffer(b"\xff".join([t.lower().encode("utf-8") for t in texts]), dtype=np.uint8)
        if len(arr) == 0:
            self.data = arr
            self.starts = self.ends = self.owner = np.zeros(0, dtype=np.int64)
            self.hashes = np.zeros(0, dtype=np.uint64)
            return
        ws = _WS[arr]
        brk = (arr == 10) | (arr == _DOC_SEP)
        prev = np.empty(len(arr), dtype=bool)
        prev[0] = True
        prev[1:] = ws[:-1] | brk[:-1]
        arr = np.where(ws, np.uint8(32), arr)[~(ws & prev)]  # no space after a space, break or start
        brk = (arr == 10) | (arr == _DOC_SEP)
        nxt = np.empty(len(arr), dtype=bool)
        nxt[-1:] = True
        nxt[:-1] = brk[1:]
        keep = ~((arr == 32) & nxt)                          # no space before a break or the end
        self._index(arr[keep])
        self.hashes = fmix64(poly_ranges64(self.data.tobytes(), self.starts, self.ends))

    def _index(self, arr: np.ndarray):
        """Sets data, and the spans and owners of its non-blank lines, from normalised bytes."""
        cut = np.flatnonzero((arr == 10) | (arr == _DOC_SEP))
        starts = np.concatenate([[0], cut + 1])
        ends = np.concatenate([cut, [len(arr)]])
        owner = np.concatenate([[0], np.cumsum(arr[cut] == _DOC_SEP)])
        full = ends > starts
        self.data = arr
        self.starts, self.ends, self.owner = starts[full], ends[full], owner[full]

    @classmethod
    def normalised(cls, data: bytes, hashes: bytes, count: int) -> "_BatchLines":
        """The split of a batch of `count` texts again from its `data` and `hashes` (as bytes, how
        they cross a shuffle): the line spans are found again (one pass), the lines not hashed."""
        lines = cls.__new__(cls)
        lines.count = count
        lines._index(np.frombuffer(data, dtype=np.uint8))
        lines.hashes = _u64(hashes)
        return lines

    def texts(self) -> list[bytes]:
        """Each text's normalised bytes (blank lines as bare breaks)."""
        return self.data.tobytes().split(b"\xff") if self.count else []

    def without(self, drop: np.ndarray) -> list[bytes]:
        """Each text's normalised bytes without the lines where `drop` is True (a line goes with
        its line break; blank lines stay as bare breaks)."""
        marks = np.zeros(len(self.data) + 2, dtype=np.int32)
        marks[self.starts[drop]] += 1
        marks[self.ends[drop] + 1] -= 1
        gone = (np.cumsum(marks[:len(self.data)]) > 0) & (self.data != _DOC_SEP)
        return self.data[~gone].tobytes().split(b"\xff")


def distinct_per_text(hashes: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """The line hashes of `batch_lines` with each text's repeats dropped (each text's distinct
    lines once, in no particular order)."""
    if len(hashes) == 0:
        return hashes
    order = np.lexsort((hashes, owner))
    h, o = hashes[order], owner[order]
    first = np.ones(len(h), dtype=bool)
    first[1:] = (h[1:] != h[:-1]) | (o[1:] != o[:-1])
    return h[first]


def line_shards(texts: list[str]):
    """(shard, line hashes as uint64 bytes) for a batch of texts: each text's distinct lines once,
    one element per hash shard (hash mod LINE_SHARDS), for counting the documents that hold each
    line."""
    return _line_shards(_BatchLines(texts))


def _line_shards(lines: _BatchLines):
    """`line_shards` of a split batch."""
    hs = distinct_per_text(lines.hashes, lines.owner)
    shard = hs % np.uint64(LINE_SHARDS)
    for s in np.unique(shard):
        yield int(s), hs[shard == s].tobytes()


def unrepeated_text(text: str, repeated: np.ndarray, hashes: np.ndarray | None = None) -> str:
    """The text's non-blank lines whose doc_lines hash is not in `repeated` (a sorted uint64
    array), joined by newlines (blank lines dropped). `hashes`: the text's doc_lines hashes, when
    already computed."""
    lines = [line for line in text.split("\n") if line.strip(_BLANK)]
    hashes = doc_lines(text)[0] if hashes is None else hashes
    if len(hashes) != len(lines):  # doc_lines and this split must see the same lines
        raise RuntimeError(f"line split mismatch: {len(lines)} lines, {len(hashes)} line hashes")
    keep = ~_members(hashes, repeated)
    return "\n".join(line for line, k in zip(lines, keep) if k)


def signature_text(text: str, repeated: np.ndarray, config: DedupConfig,
                   hashes: np.ndarray | None = None) -> str:
    """What a document's near-duplicate signature and shingle set are computed on: the full text
    (signature_lines "all"), or the text without its repeated lines ("unrepeated"), unless what is
    left has fewer words (char shingles: characters) than one shingle; then the full text.
    `hashes`: the text's doc_lines hashes, when already computed."""
    if config.signature_lines == "all" or len(repeated) == 0:
        return text
    left = unrepeated_text(text, repeated, hashes)
    size = len(left.split()) if config.shingle_kind == "word" else len(" ".join(left.split()))
    return left if size >= config.shingle else text


def signature_texts(texts: list[str], repeated: np.ndarray, config: DedupConfig) -> list[str]:
    """`signature_text` of every text of a batch, up to case and whitespace (the same shingles,
    so the same signature): a text with a repeated line is given as its other lines in
    `batch_lines`' normalised form, from one numpy pass over the batch."""
    if config.signature_lines == "all" or len(repeated) == 0:
        return list(texts)
    return signature_texts_and_shares(texts, repeated, config)[0]


def signature_texts_and_shares(texts: list[str], repeated: np.ndarray,
                               config: DedupConfig) -> tuple[list[str], np.ndarray]:
    """(`signature_texts`, `line_shares`) of a batch from one line split and hash."""
    return _signature_texts_and_shares(_BatchLines(texts), list(texts), repeated, config)


def _signature_texts_and_shares(lines: _BatchLines, out: list[str], repeated: np.ndarray,
                                config: DedupConfig) -> tuple[list[str], np.ndarray]:
    """`signature_texts_and_shares` of a split batch; `out`: the texts (or their normalised
    forms: the same shingles) a text without a repeated line is signed on, replaced in place."""
    hit = _members(lines.hashes, repeated)
    shares = _shares(lines, hit)
    if config.signature_lines == "all" or not hit.any():
        return out, shares
    left = lines.without(hit)
    for i in np.unique(lines.owner[hit]).tolist():
        text = left[i].decode("utf-8")
        size = len(text.split()) if config.shingle_kind == "word" else len(" ".join(text.split()))
        if size >= config.shingle:
            out[i] = text
    return out, shares


def line_shares(texts: list[str], repeated: np.ndarray) -> np.ndarray:
    """LINE_SHARE_SIGNAL of each text: the share of its line characters (batch_lines hashes and
    sizes) on lines in `repeated` (0 for a text without lines)."""
    lines = _BatchLines(texts)
    return _shares(lines, _members(lines.hashes, repeated))


def _shares(lines: _BatchLines, hit: np.ndarray) -> np.ndarray:
    """`line_shares` of a split batch, given which of its lines are repeated."""
    sizes, owner = lines.ends - lines.starts, lines.owner
    total = np.bincount(owner, weights=sizes, minlength=lines.count)
    rep_chars = np.bincount(owner[hit], weights=sizes[hit], minlength=lines.count)
    return np.where(total > 0, rep_chars / np.maximum(total, 1), 0.0)


def repeated_line_table(texts: list[str], min_docs: int) -> np.ndarray:
    """Sorted hashes of the lines held by more than `min_docs` of the texts (0: none): the Beam
    stages' line count (Repeated), in one process."""
    if not min_docs or not texts:
        return np.zeros(0, dtype=np.uint64)
    per_batch = []
    for lo in range(0, len(texts), 256):
        hashes, _, owner = batch_lines(texts[lo:lo + 256])
        per_batch.append(distinct_per_text(hashes, owner))
    return _u64(_repeated_lines((0, per_batch), min_docs))


_WORD = re.compile(r"\w+")
_NGRAM_MULT = np.random.RandomState(1303).randint(1, 1 << 62, 64, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def ngram_hashes(text: str, n: int) -> np.ndarray:
    """64-bit hashes of the lower-cased word n-grams of a text (words = \\w+ runs)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return np.zeros(0, dtype=np.uint64)
    wh = np.fromiter(map(zlib.crc32, map(str.encode, words)), dtype=np.uint64, count=len(words))
    m = len(words) - n + 1
    out = np.zeros(m, dtype=np.uint64)
    for k in range(n):
        out += (wh[k:k + m] + np.uint64(k + 1)) * _NGRAM_MULT[k % 64]
    out ^= out >> np.uint64(29)
    return out


def load_benchmarks(paths: list[str], n: int) -> dict:
    """{name: {"path", "sha256", "items", "short_items", "hashes": sorted uint64 array}} from JSONL
    files (every string in an item, recursively, is its text). Raises ValueError on bad files."""
    out = {}
    for path in paths:
        name = os.path.basename(path).split(".")[0]
        if name in out:
            raise ValueError(f"two benchmark files are named {name!r}: rename one")
        try:
            raw = open(path, "rb").read()
        except OSError as exc:
            raise ValueError(f"cannot read benchmark file {path}: {exc}") from exc
        hashes, items, short = [], 0, 0
        for lineno, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"benchmark {path}:{lineno} is not JSON: {exc}") from exc
            strings = []
            _strings(item, strings)
            h = ngram_hashes("\n".join(strings), n)
            items += 1
            short += 1 if len(h) == 0 else 0
            hashes.append(h)
        arr = np.unique(np.concatenate(hashes)) if hashes else np.zeros(0, dtype=np.uint64)
        out[name] = {"path": path, "sha256": hashlib.sha256(raw).hexdigest(), "items": items,
                     "short_items": short, "hashes": arr}
    return out


def _strings(value, out: list):
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)


# ---------------------------------------------------------------- Beam steps

def _add_entry(entries: dict, key: bytes, node: str, shards: int):
    """An exact-text or URL bucket entry (bucket key bytes, node) into its shard's record."""
    _record(entries, zlib.crc32(key) % shards)[2].append((key, node))


def _record(entries: dict, shard: int) -> tuple:
    """The shard's record: ([band key arrays], [their nodes], [(exact/url key, node)])."""
    if shard not in entries:
        entries[shard] = ([], [], [])
    return entries[shard]


def _add_band_entries(entries: dict, keys: np.ndarray, nodes: list[str], shards: int):
    """Every (band key, node) of a batch, keys (documents, bands) uint64 from band_hashes, into
    the shard records (key mod shards), with numpy: no Python work per entry but the node."""
    flat = keys.ravel()
    owner = np.repeat(np.arange(len(nodes)), keys.shape[1])
    shard = flat % np.uint64(shards)
    order = np.argsort(shard, kind="stable")
    bounds = np.flatnonzero(np.diff(shard[order])) + 1
    for part in np.split(order, bounds):
        if len(part):
            rec = _record(entries, int(shard[part[0]]))
            rec[0].append(flat[part])
            rec[1].extend([nodes[i] for i in owner[part].tolist()])


def _emit_records(entries: dict):
    for shard, (arrays, nodes, pairs) in entries.items():
        keys = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint64)
        yield (shard, (keys.tobytes(), nodes, pairs))


def _u64(data) -> np.ndarray:
    """The uint64 array whose raw bytes crossed a shuffle (an array passes through unchanged)."""
    return np.frombuffer(data, dtype=np.uint64)


def _u32(data) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint32)


class BucketEntries(beam.DoFn):
    """A batch of rows -> (shard, (band keys as uint64 bytes, their nodes, [(exact/url key, node)]))
    holding every band entry (unless `bands` is False: then NearEntries emits them), the exact
    text's and the URL's; on output `lines`, (shard, line hashes as uint64 bytes) holding each
    document's distinct lines once, one element per shard and batch; with `bands` False, on output
    `near` the batch's line split for NearEntries: (node keys, normalised bytes, line hashes as
    uint64 bytes), one element per batch; when checking, the shingle
    sets on output `sets`: (set_shard(node), (nodes, set sizes as int64 bytes, the sets
    concatenated as uint32 bytes)) per shard and batch."""

    def __init__(self, config: DedupConfig, bands: bool = True):
        self.c = config
        self.bands = bands  # False: NearEntries signs the batch later

    def setup(self):
        c = self.c
        self.hasher = MinHasher(c.num_perm, c.seed, c.shingle, c.shingle_kind, c.hash_name)

    def band_entries(self, nodes: list[str], texts, entries: dict):
        """Adds every band key of each document (node key nodes[i], signed on texts[i]) to
        `entries`; yields the shingle sets (output `sets`) when checking."""
        c = self.c
        if c.exact_jaccard_check:
            sig, counts, sets = self.hasher.signatures_and_sets(texts)
        else:
            sig, counts = self.hasher.signatures(texts)
        signed = np.flatnonzero(counts)
        nodes = [nodes[i] for i in signed.tolist()]
        if len(signed):
            _add_band_entries(entries, band_hashes(sig[signed], c.bands, c.rows), nodes, c.shards)
        if c.exact_jaccard_check:
            by_shard: dict[int, tuple[list, list]] = {}
            for i, node in zip(signed.tolist(), nodes):
                held = by_shard.setdefault(set_shard(node, c.shards), ([], []))
                held[0].append(node)
                held[1].append(sets[i])
            for shard, (held_nodes, held_sets) in by_shard.items():
                sizes = np.fromiter(map(len, held_sets), dtype=np.int64, count=len(held_sets))
                yield beam.pvalue.TaggedOutput("sets", (shard, (held_nodes, sizes.tobytes(),
                                                                np.concatenate(held_sets).tobytes())))

    def process(self, rows):
        c = self.c
        entries: dict[int, tuple] = {}
        nodes = [node_key(r, c.representative) for r in rows]
        texts = [r["text"] for r in rows]
        if self.bands:
            yield from self.band_entries(nodes, texts, entries)
        for r, node in zip(rows, nodes):
            _add_entry(entries, exact_key(r["text"]), node, c.shards)
            url = url_of(r.get("meta"))
            if url:
                _add_entry(entries, b"u" + url.encode("utf-8"), node, c.shards)
        yield from _emit_records(entries)
        if c.line_dedup_min_docs:
            lines = _BatchLines(texts)
            for keyed in _line_shards(lines):
                yield beam.pvalue.TaggedOutput("lines", keyed)
            if not self.bands:  # NearEntries signs the batch from this split once the counts are in
                yield beam.pvalue.TaggedOutput("near", (nodes, lines.data.tobytes(), lines.hashes.tobytes()))


class NearEntries(BucketEntries):
    """signature_lines "unrepeated": BucketEntries' line split of a batch (its output `near`: node
    keys, normalised bytes, line hashes) -> (shard, (band keys, nodes, [])) with every signature
    (and shingle set, output `sets`) computed on signature_text, given the repeated lines as a side
    input (the Repeated stage's arrays, merged and sorted once per worker); on output `shares`,
    (id, (2, LINE_SHARE_SIGNAL)) for each document with a repeated line, for the Finish join (which
    then splits no line). The lines are split and hashed once per batch, in BucketEntries: this
    step only finds their spans again, and signs each text's normalised form (the same words up to
    case, so the same shingles) or, with repeated lines, the normalised form without them."""

    def __init__(self, config: DedupConfig):
        super().__init__(config)
        self._repeated = None

    def process(self, split, repeated_lines):
        if self._repeated is None:
            self._repeated = _merged(repeated_lines)
        nodes, data, hashes = split
        lines = _BatchLines.normalised(data, hashes, len(nodes))
        full = [t.decode("utf-8") for t in lines.texts()]
        texts, shares = _signature_texts_and_shares(lines, full, self._repeated, self.c)
        entries: dict[int, tuple] = {}
        yield from self.band_entries(nodes, texts, entries)
        yield from _emit_records(entries)
        rep = self.c.representative
        for i in np.flatnonzero(shares > 0).tolist():
            yield beam.pvalue.TaggedOutput("shares", (id_of(nodes[i], rep), (2, float(shares[i]))))


# quality_signals as the tag job writes them (before and after this step adds the line share)
_SIGNAL_LAYOUTS = (QUALITY_SIGNAL_NAMES, QUALITY_SIGNAL_NAMES + (LINE_SHARE_SIGNAL,))


def _packed(row: dict) -> dict:
    """The row as it crosses the label join: quality_signals with one of the tag job's layouts of
    names become (layout, values) (the names are the same for every row; encoding them with each
    row doubled the bytes the join moves). `_unpacked` restores the dict."""
    signals = row.get("quality_signals")
    if isinstance(signals, dict):
        names = tuple(signals)
        if names in _SIGNAL_LAYOUTS:
            row = dict(row)
            row["quality_signals"] = (_SIGNAL_LAYOUTS.index(names), tuple(signals.values()))
    return row


def _unpacked(row: dict) -> dict:
    signals = row["quality_signals"]
    row = dict(row)
    if isinstance(signals, tuple):
        layout, values = signals
        row["quality_signals"] = dict(zip(_SIGNAL_LAYOUTS[layout], values))
    else:
        row["quality_signals"] = dict(signals)
    return row


def _merged(repeated_lines) -> np.ndarray:
    """One sorted uint64 array of the Repeated stage's outputs (uint64 bytes or arrays)."""
    arrays = [_u64(a) for a in repeated_lines]
    return np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, np.uint64)


def star_edges(keyed, check_shards: int = 0):
    """(shard, records of (band keys as uint64 bytes, nodes, [(exact/url key, node)])) -> for every
    bucket of the shard with k > 1 distinct members, k - 1 edges (smallest node, other node) tagged
    by kind, and a size event (output `events`). Band keys are sorted with numpy; only the entries
    of keys seen more than once reach Python. The size events go out as one `dup_summary` per
    shard. With `check_shards` the near edges go instead, each once, to the set shard of each of
    their two ends on output `near_ends`, as (set shard, (0, (first nodes, second nodes))), one
    element per set shard."""
    _, records = keyed
    arrays, nodes, buckets = [], [], {}
    for keys, key_nodes, pairs in records:
        arrays.append(_u64(keys))
        nodes.extend(key_nodes)
        for key, node in pairs:
            buckets.setdefault(key, []).append(node)
    groups = [(_KINDS[key[0]], members) for key, members in buckets.items() if len(members) > 1]
    keys = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint64)
    if len(keys) > 1:
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        same = ordered[1:] == ordered[:-1]
        first = np.flatnonzero(same & ~np.concatenate([[False], same[:-1]]))  # run starts
        ends = np.flatnonzero(same & ~np.concatenate([same[1:], [False]])) + 2  # one past each run
        for a, b in zip(first.tolist(), ends.tolist()):
            groups.append(("near", [nodes[i] for i in order[a:b].tolist()]))
    near, events = set(), []
    for kind, group in groups:
        members = sorted(set(group))
        if len(members) < 2:
            continue
        events.append(("dup_bucket", kind, len(members)))
        root = members[0]
        if check_shards and kind == "near":
            near.update((root, v) for v in members[1:])
            continue
        for v in members[1:]:
            yield (kind, (root, v))
    by_shard: dict[int, tuple[list, list]] = {}
    for edge in near:
        for shard in {set_shard(edge[0], check_shards), set_shard(edge[1], check_shards)}:
            held = by_shard.setdefault(shard, ([], []))
            held[0].append(edge[0])
            held[1].append(edge[1])
    for shard, held in by_shard.items():
        yield beam.pvalue.TaggedOutput("near_ends", (shard, (0, held)))
    if events:
        yield beam.pvalue.TaggedOutput("events", dup_summary(events))


def _members(values: np.ndarray, sorted_table: np.ndarray) -> np.ndarray:
    """Boolean mask: which values are in sorted_table (binary search; np.isin re-sorts the table)."""
    if len(values) == 0 or len(sorted_table) == 0:
        return np.zeros(len(values), dtype=bool)
    idx = np.minimum(np.searchsorted(sorted_table, values), len(sorted_table) - 1)
    return sorted_table[idx] == values


def _repeated_lines(keyed, n: int) -> bytes:
    """(shard, line hashes as uint64 bytes or arrays, each document's distinct lines once) -> the
    hashes held by more than n documents, as uint64 bytes."""
    _, arrays = keyed
    hashes, docs = np.unique(np.concatenate([_u64(a) for a in arrays]), return_counts=True)
    return hashes[docs > n].tobytes()


def set_shard(node: str, shards: int) -> int:
    """The shard a node's shingle set and its candidate edges meet in."""
    return zlib.crc32(node.encode("utf-8")) % shards


def _tagged(tag: int):
    """(key, value) -> (key, (tag, value)): one side of a join done as a Flatten and one
    GroupByKey (`_sides`), which costs about half of CoGroupByKey's tagging and regrouping."""
    return lambda kv: (kv[0], (tag, kv[1]))


def _sides(values, count: int) -> list[list]:
    """The grouped (tag, value) pairs of a `_tagged` join, as one list per tag 0 .. count - 1."""
    out = [[] for _ in range(count)]
    for tag, value in values:
        out[tag].append(value)
    return out


def edge_halves(keyed, shards: int):
    """(set shard, [(0, (first nodes, second nodes)) of near edges with an end in it, and
    (1, (nodes, sizes, sets)) as BucketEntries emits the sets]) -> for each distinct edge, the
    shingle set of each end held here, sent to the edge's check shard (the set shard of its first
    node): (check shard, (first nodes, second nodes, end index (0/1) as uint8 bytes, set sizes as
    int64 bytes, the sets concatenated as uint32 bytes)), one element per check shard. An end
    without a set sends nothing: its edge then fails the check."""
    shard, joined = keyed
    batches, set_batches = _sides(joined, 2)
    edges = {edge for firsts, seconds in batches for edge in zip(firsts, seconds)}
    if not edges:
        return
    wanted = {node for edge in edges for node in edge}
    sets = {}
    for nodes, sizes, values in set_batches:
        size = np.frombuffer(sizes, dtype=np.int64)
        ends = np.cumsum(size)
        for node, a, b in zip(nodes, (ends - size).tolist(), ends.tolist()):
            if node in wanted:
                sets[node] = values[4 * a:4 * b]  # uint32: 4 bytes a hash
    out: dict[int, tuple] = {}
    for edge in sorted(edges):
        for end, node in enumerate(edge):
            if node in sets and set_shard(node, shards) == shard:
                held = out.setdefault(set_shard(edge[0], shards), ([], [], [], []))
                held[0].append(edge[0])
                held[1].append(edge[1])
                held[2].append(end)
                held[3].append(sets[node])
    for dest, (firsts, seconds, which, held_sets) in out.items():
        sizes = np.fromiter(map(len, held_sets), dtype=np.int64, count=len(held_sets)) // 4
        yield (dest, (firsts, seconds, np.array(which, dtype=np.uint8).tobytes(), sizes.tobytes(),
                      b"".join(held_sets)))


class CheckJaccard(beam.DoFn):
    """(check shard, the edge halves `edge_halves` sent there) -> each edge whose two ends' exact
    shingle-set Jaccard reaches the threshold; on output `events`, one ("dup_pairs", checked,
    rejected) per shard and one ("dup_near_edges", kept)."""

    def __init__(self, threshold):
        self.threshold = threshold

    def process(self, keyed):
        ends: dict[tuple, list] = {}
        for firsts, seconds, which, sizes, values in keyed[1]:
            size = np.frombuffer(sizes, dtype=np.int64)
            stops = np.cumsum(size)
            for edge, end, a, b in zip(zip(firsts, seconds), which, (stops - size).tolist(), stops.tolist()):
                ends.setdefault(edge, [None, None])[end] = values[4 * a:4 * b]
        kept = 0
        for edge in sorted(ends):
            first, second = ends[edge]
            if first is not None and second is not None and jaccard(_u32(first), _u32(second)) >= self.threshold:
                kept += 1
                yield edge
        yield beam.pvalue.TaggedOutput("events", ("dup_pairs", len(ends), len(ends) - kept))
        yield beam.pvalue.TaggedOutput("events", ("dup_near_edges", kept))


def _directed(edges, shards: int):
    """Undirected edges (u, v) -> each way once, (u, v) and (v, u), batched by the shard of the
    source: (shard, (sources, targets)), one element per shard."""
    out: dict[int, tuple[list, list]] = {}
    for u, v in edges:
        for a, b in ((u, v), (v, u)):
            held = out.setdefault(set_shard(a, shards), ([], []))
            held[0].append(a)
            held[1].append(b)
    yield from out.items()


def _neighbours(keyed) -> dict:
    """(shard, [(sources, targets)] of `_directed`) -> {node: set of its neighbours}."""
    adj: dict[str, set] = {}
    for sources, targets in keyed[1]:
        for u, v in zip(sources, targets):
            adj.setdefault(u, set()).add(v)
    return adj


def _large_star(keyed, shards: int):
    """Large star on a shard's nodes: each neighbour larger than its node is linked to the
    smallest of the node's neighbourhood (node included)."""
    out = []
    for u, nbrs in _neighbours(keyed).items():
        m = min(min(nbrs), u)
        out.extend((m, v) for v in nbrs if v > u)
    yield from _directed(out, shards)


def _small_star(keyed, shards: int):
    """Small star on a shard's nodes: a node and its neighbours not larger than it are linked to
    the smallest of them."""
    out = []
    for u, nbrs in _neighbours(keyed).items():
        low = {v for v in nbrs if v <= u}
        if low:
            m = min(low)
            out.extend((m, v) for v in low | {u} if v != m)
    yield from _directed(out, shards)


class ConnectedComponents(beam.PTransform):
    """Undirected edges (u, v) of node keys -> (node, component's smallest node) for every node
    on an edge, by `rounds` unrolled large-star + small-star rounds and a star check. The edges
    cross each shuffle batched by the shard of their source node (`shards` groups, one element
    per shard and producing bundle), never one element per edge."""

    def __init__(self, rounds: int, shards: int = 64):
        super().__init__()
        self.rounds = rounds
        self.shards = shards

    def expand(self, edges):
        shards = self.shards
        adjacent = (edges
                    | "EdgeBatch" >> beam.BatchElements(min_batch_size=64, max_batch_size=4096)
                    | "Directed" >> beam.FlatMap(_directed, shards))
        for i in range(self.rounds):
            adjacent = (adjacent
                        | f"LargeGroup{i}" >> beam.GroupByKey()
                        | f"LargeStar{i}" >> beam.FlatMap(_large_star, shards)
                        | f"SmallGroup{i}" >> beam.GroupByKey()
                        | f"SmallStar{i}" >> beam.FlatMap(_small_star, shards))
        return (adjacent
                | "CheckGroup" >> beam.GroupByKey()
                | "Labels" >> beam.FlatMap(_labels, self.rounds))


def _labels(keyed, rounds):
    """A shard's nodes after the last round -> (node, its star's centre); each must be a centre
    (all neighbours larger) or a leaf (exactly one neighbour, smaller), else the job fails."""
    for node, nbrs in _neighbours(keyed).items():
        low = [v for v in nbrs if v < node]
        if low and len(nbrs) > 1:
            raise ComponentsNotConverged(
                f"connected components did not converge in {rounds} large-star/small-star rounds "
                f"(node {node[:80]!r} is not yet in a star); rerun with a larger --cc-rounds")
        yield (node, low[0] if low else node)


class Finish(beam.DoFn):
    """A batch of (id, [(0, row), (1, rep node), (2, line share)]) -> each row with dup columns,
    line share and contamination flags; the rows' stats events as one `dup_summary` per batch on
    output `events`. With `shares_joined` a row without (2, share) has none; else the shares are
    computed here."""

    def __init__(self, config: DedupConfig, shares_joined: bool = False):
        self.c = config
        self.shares_joined = shares_joined
        self.names = sorted(config.benchmarks)
        self.tables = [config.benchmarks[n]["hashes"] for n in self.names]
        self._repeated = None

    def process(self, batch, repeated_lines):
        c = self.c
        joined = []
        for doc_id, values in batch:
            rows, reps, shares = _sides(values, 3)
            if len(rows) != 1 or len(reps) > 1 or len(shares) > 1:
                raise RuntimeError(
                    f"dedup join of id {doc_id!r} found {len(rows)} rows, {len(reps)} labels and "
                    f"{len(shares)} line shares: a "
                    "row was lost before the join (as Beam's local runner did before "
                    "pipeline.runner_fix); nothing is published, run the same command again")
            joined.append((doc_id, rows[0], reps, shares[0] if shares else 0.0))
        if self.shares_joined:
            shares = [share for *_, share in joined]
        else:
            if self._repeated is None:
                self._repeated = _merged(repeated_lines)
            shares = line_shares([r["text"] for _, r, *_ in joined], self._repeated).tolist()
        events = []
        for (doc_id, row, reps, _), share in zip(joined, shares):
            row = _unpacked(row)
            row["quality_signals"][LINE_SHARE_SIGNAL] = share
            rep_id = id_of(reps[0], c.representative) if reps else doc_id
            row["dup_cluster"] = rep_id
            row["is_dup"] = rep_id != doc_id
            hit = []
            if self.names:
                grams = ngram_hashes(row["text"], c.decontam_ngram)
                hit = [n for n, t in zip(self.names, self.tables) if _members(grams, t).any()]
                if hit:
                    row["quality_flags"] = list(row["quality_flags"]) + [f"contaminated:{n}" for n in hit]
            events.append(("dup_doc", row["is_dup"], bool(reps), row["domain"], row["source"], share > 0,
                           tuple(hit)))
            yield row
        if events:
            yield beam.pvalue.TaggedOutput("events", dup_summary(events))


class Dedup(beam.PTransform):
    """Tagged rows -> (deduplicated rows, stats events). Rows are signed in batches of
    `batch_size`: each batch sends one record per shard to each of three shuffles (bucket entries,
    shingle sets, line hashes), so small batches multiply the elements Beam moves."""

    def __init__(self, config: DedupConfig, batch_size: int = 1024):
        super().__init__()
        self.c = config
        self.batch_size = batch_size

    def expand(self, rows):
        c = self.c
        strip = c.signature_lines == "unrepeated" and c.line_dedup_min_docs > 0
        batches = rows | "DedupBatch" >> beam.BatchElements(min_batch_size=self.batch_size,
                                                            max_batch_size=self.batch_size)
        entries = batches | "Buckets" >> beam.ParDo(BucketEntries(c, bands=not strip)).with_outputs(
            "lines", "sets", "near", main="entries")
        if c.line_dedup_min_docs:
            n = c.line_dedup_min_docs
            repeated = (entries.lines
                        | "LineShards" >> beam.GroupByKey()
                        | "Repeated" >> beam.Map(_repeated_lines, n))
        else:
            repeated = rows.pipeline | "NoLines" >> beam.Create([])
        bucket_entries, sets = entries.entries, entries.sets
        if strip:  # signatures wait for the line counts: a second pass over the batches' line splits
            near_entries = entries.near | "NearBuckets" >> beam.ParDo(
                NearEntries(c), beam.pvalue.AsList(repeated)).with_outputs("sets", "shares", main="entries")
            bucket_entries = ((entries.entries, near_entries.entries)
                              | "AllBucketEntries" >> beam.Flatten())
            sets = near_entries.sets
        check = c.shards if c.exact_jaccard_check else 0
        stars = (bucket_entries
                 | "GroupBuckets" >> beam.GroupByKey()
                 | "StarEdges" >> beam.FlatMap(star_edges, check).with_outputs("events", "near_ends", main="edges"))
        events = [stars.events]
        if check:
            # each end's shingle set joins its edges in the end's set shard (one Flatten and one
            # GroupByKey), and the two halves of an edge meet in its first node's set shard
            checked = ((stars.near_ends, sets | "TagSets" >> beam.Map(_tagged(1)))
                       | "EdgesAndSets" >> beam.Flatten()
                       | "JoinSets" >> beam.GroupByKey()
                       | "EdgeHalves" >> beam.FlatMap(edge_halves, c.shards)
                       | "GroupHalves" >> beam.GroupByKey()
                       | "Jaccard" >> beam.ParDo(CheckJaccard(c.threshold)).with_outputs("events", main="edges"))
            near = checked.edges
            events.append(checked.events)
        else:
            near = (stars.edges | "NearOnly" >> beam.Filter(lambda e: e[0] == "near")
                                | "NearPair" >> beam.Map(lambda e: e[1])
                                | "DistinctNear" >> beam.Distinct())
            events.append(near | "NearEvents" >> beam.Map(lambda e: ("dup_near_edges", 1)))
        other = (stars.edges | "ExactUrl" >> beam.Filter(lambda e: e[0] != "near")
                             | "ExactUrlPair" >> beam.Map(lambda e: e[1]))
        edges = (near, other) | "AllEdges" >> beam.Flatten()  # components drop repeated edges
        labels = edges | "Components" >> ConnectedComponents(c.cc_rounds, c.shards)
        events.append(labels
                      | "ByRep" >> beam.Map(lambda kv: (kv[1], 1))
                      | "ClusterSize" >> beam.CombinePerKey(sum)
                      | "ClusterEvents" >> beam.Map(lambda kv: ("dup_cluster", kv[1])))
        rep = c.representative
        joined = [rows | "RowById" >> beam.Map(lambda r: (r["id"], (0, _packed(r)))),
                  labels | "LabelById" >> beam.Map(lambda kv: (id_of(kv[0], rep), (1, kv[1])))]
        if strip:
            joined.append(near_entries.shares)
        finished = (joined
                    | "RowsAndLabels" >> beam.Flatten()
                    | "JoinLabels" >> beam.GroupByKey()
                    | "FinishBatch" >> beam.BatchElements(min_batch_size=8, max_batch_size=self.batch_size)
                    | "Finish" >> beam.ParDo(Finish(c, shares_joined=strip), beam.pvalue.AsList(repeated))
                    .with_outputs("events", main="rows"))
        events.append(finished.events)
        return finished.rows, tuple(events) | "DedupEvents" >> beam.Flatten()
