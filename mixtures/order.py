"""The selection order: hash(seed, id) as an unsigned 64-bit integer, and its top bits as a bucket.

Selecting "the shortest prefix in hash order" needs no global sort: token sums per bucket are
combined into a small histogram, a cut-off bucket is read off it, and only the documents of the one
boundary bucket are sorted exactly."""
from __future__ import annotations

import hashlib

import numpy as np

BUCKET_BITS = 12
N_BUCKETS = 1 << BUCKET_BITS


def doc_hashes(seed: int, ids) -> np.ndarray:
    """uint64 hash of (seed, id) for each id; stable across processes and platforms."""
    key = int(seed).to_bytes(8, "little", signed=True)
    out = np.empty(len(ids), dtype=np.uint64)
    for i, doc_id in enumerate(ids):
        out[i] = int.from_bytes(hashlib.blake2b(str(doc_id).encode("utf-8"), digest_size=8,
                                                key=key).digest(), "little")
    return out


def buckets(hashes: np.ndarray, bits: int = BUCKET_BITS) -> np.ndarray:
    """The top `bits` bits of each hash: bucket order is hash order."""
    return (np.asarray(hashes, dtype=np.uint64) >> np.uint64(64 - bits)).astype(np.int64)
