"""Dense copies of quantised fastText models, for faster prediction.

The shipped models are quantised `.ftz` files (small on disk, as the issue asks), and so is lid.176.
fastText predicts from a quantised input matrix by decoding every word and n-gram row from its
product-quantiser codes, which on this machine made the topic model's `predict` 1.6 times slower
than the same model with a dense matrix. `densify` decodes the whole input matrix once, in numpy,
from the `.ftz` file, and hands it to the loaded model (`set_matrices`): predictions are those of the
quantised model (the same decoded rows, summed in the same order; `tests/test_taggers_dense.py`
checks labels and probabilities on real documents), at a few MB of memory per model.

Written by hand because fastText's API has no way to dequantise (`get_input_matrix` refuses
quantised models and `get_input_vector` decodes one row per Python call, 0.1 s per model at start-up).
The `.ftz` layout read here is fastText's model file (format version 12): header and arguments, the
dictionary (skipped), the quantised input matrix (codes, product quantiser, optional norm quantiser),
then the dense output matrix. Anything unexpected (another version, a quantised output matrix, sizes
that disagree with the loaded model) leaves the model quantised and says why.
"""
from __future__ import annotations

import struct

import numpy as np

FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12
KSUB = 256                      # centroids per sub-quantiser (8-bit codes)
_ARGS = struct.Struct("<12id")  # dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket,
                                # minn, maxn, lrUpdateRate; t


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def unpack(self, fmt: str):
        vals = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def array(self, dtype, count: int) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr


def _product_quantiser(r: _Reader) -> tuple[int, int, int, int, np.ndarray]:
    dim, nsubq, dsub, lastdsub = r.unpack("4i")
    return dim, nsubq, dsub, lastdsub, r.array("<f4", dim * KSUB)


def _decode(codes: np.ndarray, pq) -> np.ndarray:
    """Rows of a product-quantised matrix: sub-quantiser m's centroid for each row's code m."""
    dim, nsubq, dsub, lastdsub, centroids = pq
    out = np.empty((codes.shape[0], dim), dtype=np.float32)
    full = nsubq - 1 if lastdsub != dsub else nsubq
    if full:                    # one gather of whole centroids (each viewed as one item)
        c = np.ascontiguousarray(centroids[:full * KSUB * dsub]).view(np.dtype((np.void, 4 * dsub)))
        idx = codes[:, :full].astype(np.intp) + np.arange(full, dtype=np.intp) * KSUB
        out[:, :full * dsub] = c.take(idx).view(np.float32).reshape(len(codes), full * dsub)
    if full < nsubq:            # the last sub-quantiser holds `lastdsub` dimensions
        c = centroids[full * KSUB * dsub:full * KSUB * dsub + KSUB * lastdsub].reshape(KSUB, lastdsub)
        out[:, full * dsub:] = c[codes[:, full]]
    return out


def dense_matrices(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(input, output) matrices of the quantised fastText model at `path`, as float32 arrays.
    Raises ValueError when the file is not a quantised model this reader knows (or is cut short)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _read_matrices(_Reader(data), path)
    except struct.error as exc:
        raise ValueError(f"{path}: cut short ({exc})") from exc


def _read_matrices(r: _Reader, path: str) -> tuple[np.ndarray, np.ndarray]:
    magic, version = r.unpack("2i")
    if magic != FASTTEXT_MAGIC or version != FASTTEXT_VERSION:
        raise ValueError(f"{path}: not a fastText model of format version {FASTTEXT_VERSION}")
    r.unpack(_ARGS.format[1:])
    size, _nwords, _nlabels, _ntokens, prune_size = r.unpack("3iqq")
    for _ in range(size):                               # entries: word\0, count int64, type int8
        end = r.data.index(b"\0", r.pos)
        r.pos = end + 1 + 9
    r.pos += 8 * max(prune_size, 0)                     # pruned n-gram index: int32 pairs
    if not r.unpack("?"):
        raise ValueError(f"{path}: the input matrix is not quantised")
    qnorm, rows, dim, codesize = r.unpack("?qqi")
    codes = r.array(np.uint8, codesize)
    pq = _product_quantiser(r)
    if pq[0] != dim or codesize != rows * pq[1]:
        raise ValueError(f"{path}: quantiser sizes disagree ({rows} x {dim}, {codesize} codes)")
    codes = codes.reshape(rows, pq[1])
    matrix = _decode(codes, pq)
    if qnorm:
        norm_codes = r.array(np.uint8, rows)
        npq = _product_quantiser(r)
        matrix *= npq[4][norm_codes][:, None]
    if r.unpack("?"):
        raise ValueError(f"{path}: the output matrix is quantised")
    out_rows, out_dim = r.unpack("qq")
    output = r.array("<f4", out_rows * out_dim).reshape(out_rows, out_dim)
    if r.pos != len(r.data):
        raise ValueError(f"{path}: {len(r.data) - r.pos} bytes left after the output matrix")
    return matrix, output


def densify(model, path: str, log=None):
    """`model` (fastText, loaded from `path`) with a dense input matrix decoded from the file; the
    model unchanged when it is not quantised or the file cannot be read (`log` says why)."""
    if not model.f.isQuant():
        return model
    try:
        matrix, output = dense_matrices(path)
        if matrix.shape[1] != model.get_dimension() or output.shape[0] != len(model.get_labels()):
            raise ValueError(f"{path}: matrices {matrix.shape}, {output.shape} do not fit the model")
    except ValueError as exc:
        if log:
            log(f"fastText model {path} stays quantised: {exc}")
        return model
    model.set_matrices(matrix, output)
    return model
