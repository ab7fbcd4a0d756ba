"""Long documents as pieces: a tokenised document with more than `max_tokens` tokens is cut into
near-equal pieces of at most `max_tokens` tokens, each at a line end where one lies close to the
even cut, and each piece is stored as its own `<|bos|> ... <|eos|>` sequence with its own place in
the selection order (its key: the document id and the piece number). The document's own hash still
decides held-out validation and source caps (pipeline.mix_job), so no document is ever split
between train and validation.

Why: a model trained at context C never attends across more than C tokens of a document, so pieces
no shorter than the longest context lose nothing, while whole giant files turn a small quota into a
handful of files (on the demo corpus, 90 % of the first 104k code tokens a proxy read were one
92,606-token file). Hand-written: no tokenizer library cuts token arrays at line ends to a limit."""
from __future__ import annotations

import numpy as np

from .tokenizer import BOS_ID, EOS_ID

KEY_SEP = "\x1f"  # unit separator: cannot clash with a readable document id


def newline_tokens(tok) -> np.ndarray:
    """bool[vocab]: whether token id decodes to text containing a line feed (specials: False)."""
    vocab = tok.get_vocab_size(with_added_tokens=True)
    mask = np.zeros(vocab, dtype=bool)
    for i in range(vocab):
        if "\n" in tok.decode([i], skip_special_tokens=True):
            mask[i] = True
    return mask


def cut_points(ids: np.ndarray, max_tokens: int, newline: np.ndarray) -> np.ndarray:
    """Start offsets (int64, first 0) of the pieces of a token sequence of len(ids) (no BOS/EOS).

    One piece when len(ids) <= max_tokens. Otherwise n = ceil(1.25 len / max_tokens) pieces: cut k
    is placed after the last line-feed token in the `slack` tokens before the even cut k*len//n,
    or at the even cut when there is none; `slack` is what keeps every piece within max_tokens."""
    n_ids = len(ids)
    if max_tokens <= 0 or n_ids <= max_tokens:
        return np.zeros(1, dtype=np.int64)
    n = -(-5 * n_ids // (4 * max_tokens))
    even = np.arange(1, n, dtype=np.int64) * n_ids // n
    step = n_ids // n
    slack = max(0, min(max_tokens - (-(-n_ids // n)), step // 2))
    lines = np.flatnonzero(newline[np.asarray(ids, dtype=np.int64)]) + 1  # a cut after each line feed
    if len(lines):
        j = np.searchsorted(lines, even, side="right") - 1
        near = np.where(j >= 0, lines[np.maximum(j, 0)], -1)
        cuts = np.where(near >= even - slack, near, even)
    else:
        cuts = even
    return np.concatenate([[0], cuts]).astype(np.int64)


def split(doc: np.ndarray, max_tokens: int, newline: np.ndarray) -> list[np.ndarray]:
    """A `<|bos|> ids <|eos|>` array as a list of such arrays (itself when it fits)."""
    ids = doc[1:-1]
    starts = cut_points(ids, max_tokens, newline)
    if len(starts) == 1:
        return [doc]
    ends = np.append(starts[1:], len(ids))
    out = []
    for a, b in zip(starts.tolist(), ends.tolist()):
        piece = np.empty(b - a + 2, dtype=doc.dtype)
        piece[0], piece[-1] = BOS_ID, EOS_ID
        piece[1:-1] = ids[a:b]
        out.append(piece)
    return out


def piece_key(doc_id: str, k: int) -> str:
    """Selection key of piece k of a split document (a whole document keeps its id)."""
    return f"{doc_id}{KEY_SEP}{k}"
