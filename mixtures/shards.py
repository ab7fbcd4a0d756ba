"""The token shard format (DESIGN.md): `<NNNNN>.bin` raw little-endian uint16/uint32 tokens, every
document `<|bos|> ... <|eos|>`, and `<NNNNN>.idx.npy` with the int64 start offset of each document.
With topic weights, also `<NNNNN>.topic.npy`: each document's topic as UTF-8 bytes (numpy `S`
dtype, no pickle), in index order, so realised topic shares are read back from the files.
Packing to bytes (for any file system) and reading back (local files)."""
from __future__ import annotations

import hashlib
import io
import os

import numpy as np

from .tokenizer import BOS_ID, EOS_ID


def shard_name(index: int) -> str:
    return f"{index:05d}"


def pack(docs: list[np.ndarray], dtype: str) -> tuple[bytes, bytes, dict]:
    """(bin bytes, idx.npy bytes, {tokens, documents, bytes, sha256}) for documents in order."""
    np_dtype = np.dtype(dtype).newbyteorder("<")
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    offsets = np.zeros(len(docs), dtype=np.int64)
    if len(docs) > 1:
        offsets[1:] = np.cumsum(lengths)[:-1]
    tokens = np.concatenate([np.asarray(d, dtype=np_dtype) for d in docs]) if docs else np.zeros(0, np_dtype)
    data = tokens.astype(np_dtype, copy=False).tobytes()
    buf = io.BytesIO()
    np.save(buf, offsets, allow_pickle=False)
    info = {"tokens": int(len(tokens)), "documents": len(docs), "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}
    return data, buf.getvalue(), info


TOPIC_SUFFIX = ".topic.npy"


def pack_topics(topics: list[str]) -> bytes:
    """The `.topic.npy` sidecar: one topic per document, in the shard's order."""
    arr = np.array([t.encode("utf-8") for t in topics], dtype=bytes) if topics else np.zeros(0, dtype="S1")
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def read_topics(bin_path: str) -> list[str]:
    """The topic of each document of a local shard, from its `.topic.npy` sidecar."""
    arr = np.load(bin_path[:-len(".bin")] + TOPIC_SUFFIX, allow_pickle=False)
    return [b.decode("utf-8") for b in arr.tolist()]


def read_shard(bin_path: str, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, offsets) of a local shard; checks the index against the BOS/EOS framing."""
    np_dtype = np.dtype(dtype).newbyteorder("<")
    tokens = np.fromfile(bin_path, dtype=np_dtype)
    idx_path = bin_path[:-len(".bin")] + ".idx.npy"
    offsets = np.load(idx_path, allow_pickle=False) if os.path.exists(idx_path) else None
    if offsets is None:
        raise ValueError(f"{bin_path}: no index {idx_path}")
    if len(offsets) and (offsets[0] != 0 or np.any(tokens[offsets] != BOS_ID)
                         or np.any(tokens[np.append(offsets[1:], len(tokens)) - 1] != EOS_ID)):
        raise ValueError(f"{bin_path}: documents are not <|bos|> ... <|eos|> at the indexed offsets")
    return tokens, offsets


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
