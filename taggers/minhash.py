"""MinHash signatures of batches of texts, vectorised with numpy; owns shingling and LSH banding.

- `shingles` cuts a text into word n-grams (default) or character n-grams, as UTF-8 bytes; the
  n-grams of a giant document are produced chunk by chunk so memory stays bounded.
- `MinHasher.signatures` hashes every shingle of a batch once, then applies all permutations to the
  whole batch at a time (one (shingles x permutations) matrix per chunk) and takes per-document
  minima with `np.minimum.reduceat`: no per-document Python object, no per-shingle numpy call.
- The values are bit-identical to `datasketch.MinHash` 2.0.0 given the same hash function, seed and
  number of permutations: its default scheme "affine32" (MurmurHash3 fmix32 pre-mix, then
  h -> a*h + b mod 2**32 with odd a) and its "legacy" scheme ((a*h + b) mod (2**61 - 1), low 32
  bits). Permutation parameters are drawn exactly as datasketch draws them (RandomState(seed)).
- `to_lean_minhash` exports a row as a `datasketch.LeanMinHash` (datasketch is imported there only).
- `optimal_bands` picks bands x rows for a Jaccard threshold with datasketch's optimal-parameter
  search; `band_keys` turns signatures into one hashable key per band (8-byte blake2b digests),
  `band_hashes` into one 64-bit key per band for the whole batch at once (what the pipeline uses).

Pure: numpy and the standard library (datasketch only inside the two functions that need it).
"""
from __future__ import annotations

import hashlib
import zlib
from typing import Iterator

import numpy as np

SCHEMES = ("affine32", "legacy")
HASHES = ("sha1", "crc32", "poly")
KINDS = ("word", "char")
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)
# Shingles hashed and permuted per step: bounds the (shingles x permutations) matrix.
CHUNK_SHINGLES = 2_048
# Words (or characters) of one document turned into shingles per step.
CHUNK_TOKENS = 200_000


def shingles(text: str, n: int = 5, kind: str = "word", lower: bool = True,
             chunk_tokens: int = CHUNK_TOKENS) -> Iterator[list[bytes]]:
    """Yields lists of shingles (UTF-8 bytes) of one text, at most `chunk_tokens` per list.

    word: n consecutive whitespace-separated words joined by one space (a text of fewer than n
    words is one shingle of all its words). char: n consecutive characters of the text with its
    whitespace runs collapsed to one space (a shorter non-empty text is one shingle). A text
    without words yields nothing."""
    if n < 1:
        raise ValueError(f"shingle size must be >= 1, got {n}")
    if kind not in KINDS:
        raise ValueError(f"shingle kind must be one of {KINDS}, got {kind!r}")
    if lower:
        text = text.lower()
    toks = text.split() if kind == "word" else " ".join(text.split())
    total = len(toks)
    if total == 0:
        return
    if total < n:
        yield [(" ".join(toks) if kind == "word" else toks).encode("utf-8")]
        return
    last = total - n + 1
    for start in range(0, last, chunk_tokens):
        stop = min(last, start + chunk_tokens)
        if kind == "word":
            yield [" ".join(toks[i:i + n]).encode("utf-8") for i in range(start, stop)]
        else:
            yield [toks[i:i + n].encode("utf-8") for i in range(start, stop)]


def _segment_starts(owner: np.ndarray) -> np.ndarray:
    change = np.empty(len(owner), dtype=bool)
    change[0] = True
    np.not_equal(owner[1:], owner[:-1], out=change[1:])
    return np.flatnonzero(change)


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


# "poly": h(b) = (sum_j b[j] * P**j mod 2**64) >> 32 over the bytes b of a shingle. Computed for
# every shingle of a text at once from prefix sums over the text's bytes (no shingle strings are
# built): with odd P, the hash of bytes [s, e) is (H[e] - H[s]) * P**-s mod 2**64. A polynomial
# hash mod 2**64 can be made to collide on purpose (Thue-Morse strings); for adversarial input use
# sha1. The affine32 scheme pre-mixes it with fmix32.
_P = 0x100000001B3
_PINV = pow(_P, -1, 1 << 64)
_MASK64 = (1 << 64) - 1
# Powers of P and of its inverse are tabled for one block of positions; longer arrays are hashed
# block by block (the same values): a table as long as the batch cost seconds and 16 bytes a byte.
POWER_BLOCK = 1 << 20
_POWERS: dict = {}


def _power_table(base: int, n: int) -> np.ndarray:
    """base**i mod 2**64 for i < n, by doubling: a few vectorised multiplies, not a cumprod."""
    out = np.empty(n, np.uint64)
    out[0] = 1
    filled, step = 1, base
    while filled < n:
        m = min(filled, n - filled)
        np.multiply(out[:m], np.uint64(step), out=out[filled:filled + m])
        filled += m
        step = (step * step) & _MASK64
    return out


def _powers() -> tuple[np.ndarray, np.ndarray]:
    """(P**i, P**-i) mod 2**64 for i < POWER_BLOCK, built once per process."""
    if _POWERS.get("block") != POWER_BLOCK:
        _POWERS.update(block=POWER_BLOCK, pw=_power_table(_P, POWER_BLOCK),
                       ipw=_power_table(_PINV, POWER_BLOCK))
    return _POWERS["pw"], _POWERS["ipw"]


def poly_hash32(data: bytes) -> int:
    """The scalar "poly" hash of one shingle (what datasketch needs as hashfunc)."""
    h, p, mask = 0, 1, (1 << 64) - 1
    for byte in data:
        h = (h + byte * p) & mask
        p = (p * _P) & mask
    return h >> 32


def _poly_segments(buf: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """"poly" hashes of the byte ranges [starts[i], ends[i]) of buf."""
    return (poly_ranges64(buf, starts, ends) >> np.uint64(32)).astype(np.uint32)


def poly_ranges64(buf: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """sum_j buf[s + j] * P**j mod 2**64 for every byte range [s, e) of buf, as uint64."""
    return poly_spans(poly_prefix(np.frombuffer(buf, dtype=np.uint8)), starts, ends)


def poly_prefix(values: np.ndarray) -> np.ndarray:
    """Prefix sums of values[i] * P**i mod 2**64 (len(values) + 1 of them), for `poly_spans`;
    values are bytes (uint8) or code points (uint32)."""
    pw, _ = _powers()
    block = len(pw)
    prefix = np.zeros(len(values) + 1, dtype=np.uint64)
    for lo in range(0, len(values), block):
        hi = min(lo + block, len(values))
        terms = np.multiply(values[lo:hi], pw[:hi - lo], dtype=np.uint64)
        if lo:
            terms *= np.uint64(pow(_P, lo, 1 << 64))
            terms[:1] += prefix[lo:lo + 1]  # arrays: wrapping mod 2**64 is not an error
        np.cumsum(terms, out=prefix[lo + 1:hi + 1])
    return prefix


def poly_spans(prefix: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """sum_j values[s + j] * P**j mod 2**64 for every range [s, e) of the values whose
    `poly_prefix` is given (equal ranges, equal hashes), as uint64."""
    _, ipw = _powers()
    block = len(ipw)
    diff = prefix[ends] - prefix[starts]
    if len(prefix) <= block:
        return diff * ipw[starts]
    blocks = np.asarray(starts) // block
    block_ipw = _power_table(pow(_PINV, block, 1 << 64), int(blocks.max(initial=0)) + 1)
    return diff * ipw[starts % block] * block_ipw[blocks]


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection that spreads every input bit). In place on one
    new array: large numpy temporaries cost page faults, several times the arithmetic."""
    shift = np.uint64(33)
    out = h >> shift
    out ^= h
    tmp = np.empty_like(out)
    out *= np.uint64(0xFF51AFD7ED558CCD)
    np.right_shift(out, shift, out=tmp)
    out ^= tmp
    out *= np.uint64(0xC4CEB9FE1A85EC53)
    np.right_shift(out, shift, out=tmp)
    out ^= tmp
    return out


def poly_word_shingles(text: str, n: int = 5, lower: bool = True,
                       chunk_tokens: int | None = None) -> Iterator[np.ndarray]:
    """The "poly" hashes of `shingles(text, n, "word", lower)`, chunk by chunk, without building
    the shingle strings (same values as hash_shingles(shingles(...), "poly"))."""
    if lower:
        text = text.lower()
    words = text.split()
    total = len(words)
    if total == 0:
        return
    chunk_tokens = chunk_tokens or CHUNK_TOKENS
    last = max(1, total - n + 1)
    for start in range(0, last, chunk_tokens):
        stop = min(last, start + chunk_tokens)
        buf = " ".join(words[start:stop + n - 1]).encode("utf-8")
        sp = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 32)
        if total < n:
            yield _poly_segments(buf, np.zeros(1, np.int64), np.array([len(buf)]))
            return
        word_starts = np.empty(len(sp) + 1, dtype=np.int64)
        word_starts[0] = 0
        word_starts[1:] = sp + 1
        word_ends = np.empty(len(sp) + 1, dtype=np.int64)
        word_ends[:-1] = sp
        word_ends[-1] = len(buf)
        k = stop - start
        yield _poly_segments(buf, word_starts[:k], word_ends[n - 1:n - 1 + k])


def hash_shingles(items: list[bytes], hash_name: str = "sha1") -> np.ndarray:
    """32-bit hashes of shingles as uint32. sha1 = datasketch.hashfunc.sha1_hash32 (first 4 bytes
    of SHA-1, little endian); crc32 = zlib.crc32 (faster; weak alone, but the affine32 scheme
    pre-mixes it with fmix32); poly = poly_hash32, vectorised."""
    if hash_name == "poly":
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
        ends = np.cumsum(lengths)
        return _poly_segments(b"".join(items), ends - lengths, ends)
    if hash_name == "sha1":
        sha1 = hashlib.sha1
        return np.frombuffer(b"".join([sha1(s).digest()[:4] for s in items]), dtype="<u4")
    if hash_name == "crc32":
        crc = zlib.crc32
        return np.fromiter((crc(s) for s in items), dtype=np.uint32, count=len(items))
    raise ValueError(f"hash must be one of {HASHES}, got {hash_name!r}")


def hashfunc_for(hash_name: str):
    """The scalar hash function datasketch needs to reproduce `hash_name` (for MinHash(hashfunc=))."""
    if hash_name == "sha1":
        from datasketch.hashfunc import sha1_hash32
        return sha1_hash32
    if hash_name == "crc32":
        return zlib.crc32
    if hash_name == "poly":
        return poly_hash32
    raise ValueError(f"hash must be one of {HASHES}, got {hash_name!r}")


def _distinct_per_doc(hv: np.ndarray, k: np.ndarray, docs: list[int], sets: list):
    """sets[docs[j]] = the sorted distinct values of the j-th run of k[j] hashes in hv (uint32):
    one sort of (run, hash) keys for the whole batch instead of an np.unique per document."""
    run = np.repeat(np.arange(len(k), dtype=np.uint64), k)
    keys = np.sort((run << np.uint64(32)) | hv.astype(np.uint64))
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keys = keys[first]
    values = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    bounds = np.searchsorted(keys >> np.uint64(32), np.arange(len(k) + 1, dtype=np.uint64))
    for j, doc in enumerate(docs):
        sets[doc] = values[bounds[j]:bounds[j + 1]]


class MinHasher:
    """Signatures of batches of texts: an (n_docs, num_perm) uint32 array.

    A document without shingles (empty or blank) gets the all-max row datasketch gives an
    un-updated MinHash; `signatures` also returns how many shingles each document had, so callers
    can leave such documents out of LSH."""

    def __init__(self, num_perm: int = 128, seed: int = 1, n: int = 5, kind: str = "word",
                 hash_name: str = "sha1", scheme: str = "affine32", lower: bool = True):
        if num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {num_perm}")
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        if hash_name not in HASHES:
            raise ValueError(f"hash must be one of {HASHES}, got {hash_name!r}")
        if kind not in KINDS:
            raise ValueError(f"shingle kind must be one of {KINDS}, got {kind!r}")
        if n < 1:
            raise ValueError(f"shingle size must be >= 1, got {n}")
        self.num_perm, self.seed, self.n, self.kind = num_perm, seed, n, kind
        self.hash_name, self.scheme, self.lower = hash_name, scheme, lower
        gen = np.random.RandomState(seed)
        if scheme == "legacy":
            # datasketch draws (a, b) pairs interleaved, one pair per permutation.
            pairs = np.array([(gen.randint(1, _MERSENNE, dtype=np.uint64),
                               gen.randint(0, _MERSENNE, dtype=np.uint64)) for _ in range(num_perm)],
                             dtype=np.uint64)
            self.a, self.b = pairs[:, 0].copy(), pairs[:, 1].copy()
        else:
            self.a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
            self.b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)

    def _permute_min(self, hv: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Minimum over each segment [starts[i], starts[i+1]) of the permuted hashes, as a
        (segments, num_perm) array. Laid out (num_perm, shingles) so the reduction runs along
        contiguous memory (about 3x faster than reducing along axis 0)."""
        if self.scheme == "legacy":
            phv = (self.a[:, None] * hv.astype(np.uint64)[None, :] + self.b[:, None]) % _MERSENNE
            phv &= _MAX32
            return np.minimum.reduceat(phv, starts, axis=1).T.astype(np.uint32)
        phv = self.a[:, None] * _fmix32(hv)[None, :]
        phv += self.b[:, None]
        return np.minimum.reduceat(phv, starts, axis=1).T

    def signatures_and_sets(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """signatures(texts) plus each text's shingle_hashes, from one shingling pass where the
        hash is "poly" on word shingles (the default), else from a second one."""
        if self.hash_name == "poly" and self.kind == "word":
            sets: list = [None] * len(texts)
            sig = np.full((len(texts), self.num_perm), np.uint32(0xFFFFFFFF), dtype=np.uint32)
            counts = np.zeros(len(texts), dtype=np.int64)
            self._poly_signatures(texts, sig, counts, sets)
            empty = np.zeros(0, dtype=np.uint32)
            return sig, counts, [empty if x is None else x for x in sets]
        sig, counts = self.signatures(texts)
        return sig, counts, [self.shingle_hashes(t) for t in texts]

    def signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(signatures uint32 (len(texts), num_perm), shingle counts int64 (len(texts),))."""
        sig = np.full((len(texts), self.num_perm), np.uint32(0xFFFFFFFF), dtype=np.uint32)
        counts = np.zeros(len(texts), dtype=np.int64)
        pending: list[bytes] = []
        owners: list[int] = []

        def flush():
            if not pending:
                return
            hv = hash_shingles(pending, self.hash_name)
            own = np.asarray(owners, dtype=np.int64)
            starts = _segment_starts(own)
            docs = own[starts]
            sig[docs] = np.minimum(sig[docs], self._permute_min(hv, starts))
            pending.clear()
            owners.clear()

        if self.hash_name == "poly" and self.kind == "word":
            return self._poly_signatures(texts, sig, counts)
        for i, text in enumerate(texts):
            for part in shingles(text, self.n, self.kind, self.lower):
                counts[i] += len(part)
                for lo in range(0, len(part), CHUNK_SHINGLES):
                    piece = part[lo:lo + CHUNK_SHINGLES]
                    pending.extend(piece)
                    owners.extend([i] * len(piece))
                    if len(pending) >= CHUNK_SHINGLES:
                        flush()
        flush()
        return sig, counts

    def _poly_signatures(self, texts, sig, counts, sets: list | None = None):
        """Word shingles + "poly": the whole batch's words are joined into one buffer and every
        shingle hash comes from one prefix-sum pass; giant documents go chunk by chunk. With
        `sets`, sets[i] becomes text i's sorted distinct shingle hashes."""
        n = self.n
        group: list[int] = []
        words_of: list[list[str]] = []
        for i, text in enumerate(texts):
            words = (text.lower() if self.lower else text).split()
            if len(words) > CHUNK_TOKENS:
                parts = []
                for part in poly_word_shingles(text, n, self.lower):
                    counts[i] += len(part)
                    self._fold(sig, part, np.full(len(part), i, dtype=np.int64))
                    if sets is not None:
                        parts.append(np.unique(part))
                if sets is not None and parts:
                    sets[i] = np.unique(np.concatenate(parts))
            elif words:
                group.append(i)
                words_of.append(words)
        for lo in range(0, len(group), 256):
            idx = np.asarray(group[lo:lo + 256], dtype=np.int64)
            ws = words_of[lo:lo + 256]
            buf = "\n".join([" ".join(w) for w in ws]).encode("utf-8")
            arr = np.frombuffer(buf, dtype=np.uint8)
            sep = np.flatnonzero((arr == 32) | (arr == 10))
            w_start = np.empty(len(sep) + 1, dtype=np.int64)
            w_start[0] = 0
            w_start[1:] = sep + 1
            w_end = np.empty(len(sep) + 1, dtype=np.int64)
            w_end[:-1] = sep
            w_end[-1] = len(buf)
            c = np.fromiter(map(len, ws), dtype=np.int64, count=len(ws))
            first_word = np.cumsum(c) - c
            k = np.maximum(1, c - n + 1)
            total = int(k.sum())
            shingle_first = np.repeat(first_word, k) + (np.arange(total) - np.repeat(np.cumsum(k) - k, k))
            shingle_last = np.minimum(shingle_first + (n - 1), np.repeat(first_word + c - 1, k))
            hv = _poly_segments(buf, w_start[shingle_first], w_end[shingle_last])
            counts[idx] += k
            self._fold(sig, hv, np.repeat(idx, k))
            if sets is not None:
                _distinct_per_doc(hv, k, idx.tolist(), sets)
        return sig, counts

    def _fold(self, sig, hv, owner):
        """sig[doc] = min(sig[doc], permuted hashes of its shingles), CHUNK_SHINGLES at a time."""
        for lo in range(0, len(hv), CHUNK_SHINGLES):
            h, o = hv[lo:lo + CHUNK_SHINGLES], owner[lo:lo + CHUNK_SHINGLES]
            starts = _segment_starts(o)
            docs = o[starts]
            sig[docs] = np.minimum(sig[docs], self._permute_min(h, starts))

    def shingle_hashes(self, text: str) -> np.ndarray:
        """The sorted distinct 32-bit shingle hashes of one text (for exact Jaccard checks)."""
        if self.hash_name == "poly" and self.kind == "word":
            parts = list(poly_word_shingles(text, self.n, self.lower))
        else:
            parts = [hash_shingles(p, self.hash_name) for p in shingles(text, self.n, self.kind, self.lower)]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint32)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted distinct hash arrays (two empty sets: 0)."""
    if len(a) == 0 and len(b) == 0:
        return 0.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def to_lean_minhash(row: np.ndarray, seed: int = 1, scheme: str = "affine32"):
    """One signature row as a datasketch LeanMinHash (usable in datasketch.MinHashLSH)."""
    from datasketch import LeanMinHash
    values = row.astype(np.uint64) if scheme == "legacy" else row.astype(np.uint32)
    return LeanMinHash(seed=seed, hashvalues=values, scheme=scheme)


def optimal_bands(threshold: float, num_perm: int, false_positive_weight: float = 0.5,
                  false_negative_weight: float = 0.5) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive/negative probability at `threshold`
    (datasketch's own search, as MinHashLSH uses it)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    from datasketch.lsh import _optimal_param
    return _optimal_param(threshold, num_perm, false_positive_weight, false_negative_weight)


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(len(sig), bands) uint64 keys: band j of a row hashes its `rows` values and j (fmix64 of a
    polynomial over them), so equal bands collide and different ones do with probability ~2**-64."""
    if bands < 1 or rows < 1 or bands * rows > sig.shape[1]:
        raise ValueError(f"bands x rows = {bands} x {rows} must be positive and fit num_perm = {sig.shape[1]}")
    vals = sig[:, :bands * rows].astype(np.uint64).reshape(len(sig), bands, rows)
    h = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15),
                        (len(sig), bands)).copy()
    for r in range(rows):
        h = fmix64(h * np.uint64(0x100000001B3) + vals[:, :, r])
    return h


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[list[bytes]]:
    """For each signature row, `bands` keys: the 8-byte blake2b digest of the band's values."""
    if bands < 1 or rows < 1 or bands * rows > sig.shape[1]:
        raise ValueError(f"bands x rows = {bands} x {rows} must be positive and fit num_perm = {sig.shape[1]}")
    raw = np.ascontiguousarray(sig[:, :bands * rows], dtype="<u4").view(np.uint8)
    raw = raw.reshape(len(sig), bands, rows * 4)
    blake = hashlib.blake2b
    return [[blake(raw[i, j].tobytes(), digest_size=8).digest() for j in range(bands)]
            for i in range(len(sig))]
