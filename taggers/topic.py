"""The topic tagger's prediction side: a supervised fastText classifier over `taxonomy.TOPICS`.

Owns the text preprocessing shared by training and prediction (`preprocess`, `preprocess_batch`;
`topic_inputs`: the same after a file's leading comment block), prediction (`predict_topics`),
the language-aware assignment `tag_batch` uses (`topics_given_language`: confidently non-English
prose never gets a code topic) and model loading.
Training, evaluation and the model card live in `taggers.topic_training`.
"""
from __future__ import annotations

import re

import numpy as np

from taggers import charclass

LABEL_PREFIX = "__label__"
MAX_PREPROCESS_CHARS = 6000
FALLBACK_TOPIC = "general.reference"

_TOKEN = re.compile(r"[^\W\d_]+|\d+|[^\w\s]|_+", re.UNICODE)
_LONG_DIGITS = re.compile(r"\d{5,}")


def preprocess(text: str, max_chars: int = MAX_PREPROCESS_CHARS) -> str:
    """The single text -> fastText input function of training and prediction: the first `max_chars`
    characters, lowercased, tokenised into runs of letters, runs of digits, and single punctuation
    marks, joined by spaces on one line. Newlines become a `<nl>` token once per blank-line paragraph
    break (code and prose differ there); long numbers are collapsed to `0`. This is the reference
    definition; `preprocess_batch` computes the same strings for a whole batch with numpy."""
    text = text[:max_chars].lower()
    text = _LONG_DIGITS.sub("0", text)
    text = text.replace("\n\n", " nlnl ")
    return " ".join(_TOKEN.findall(text))


_SPACE_CP = np.uint32(32)
_ZERO_CP = np.uint32(ord("0"))
# Token kinds of `_TOKEN`: 0 space, 1 letter, 2 digit (\d), 3 underscore, 4 any other character.
_KIND_OF_CLASS = np.array([0 if b & charclass.SPACE else 1 if b & charclass.LETTER else
                           2 if b & charclass.DECIMAL else 4 for b in range(256)], dtype=np.int8)
_KIND_TABLE: np.ndarray | None = None


def _kinds(cp: np.ndarray) -> np.ndarray:
    """Token kind (int8) of every code point: one lookup in a table of the BMP (built once)."""
    global _KIND_TABLE
    if _KIND_TABLE is None:
        _KIND_TABLE = _KIND_OF_CLASS[charclass.table()]
        _KIND_TABLE[ord("_")] = 3
    if cp.size and int(cp.max()) > 0xFFFF:
        kind = _KIND_TABLE.take(np.minimum(cp, 0xFFFF))
        astral = np.flatnonzero(cp > 0xFFFF)
        kind[astral] = _KIND_OF_CLASS[charclass.classes(cp[astral])]
        return kind
    return _KIND_TABLE.take(cp)     # take: see charclass.classes


CHUNK_CHARS = 200_000   # documents are processed in chunks of about this many characters


def preprocess_batch(texts: list[str], max_chars: int = MAX_PREPROCESS_CHARS) -> list[str]:
    """`preprocess` of every text, vectorised over the batch: one character-class lookup over the
    concatenated code points (taggers.charclass) instead of a regular expression per document."""
    out: list[str] = []
    i = 0
    while i < len(texts):
        j, size = i, 0
        while j < len(texts) and (j == i or size + min(len(texts[j]), max_chars) <= CHUNK_CHARS):
            size += min(len(texts[j]), max_chars)
            j += 1
        out += _preprocess_chunk(texts[i:j], max_chars)
        i = j
    return out


def _preprocess_chunk(texts: list[str], max_chars: int) -> list[str]:
    parts = [t[:max_chars].lower().replace("\n\n", " nlnl ") for t in texts]
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    cp = charclass.codepoints(" ".join(parts))         # a space between documents: no token crosses
    n = len(cp)
    kind = _kinds(cp)
    solid = kind != 0
    start = solid.copy()
    start[1:] &= (kind[1:] != kind[:-1]) | (kind[1:] == 4)
    tok_starts = np.flatnonzero(start)
    # a token ends before the next token's start or the next space
    breaks_after = np.ones(n, dtype=bool)
    breaks_after[:-1] = start[1:] | ~solid[1:]
    tok_ends = np.flatnonzero(solid & breaks_after) + 1
    keep = solid
    long_num = (kind[tok_starts] == 2) & (tok_ends - tok_starts >= 5)
    if long_num.any():                                   # \d{5,} -> "0"
        num_start, num_end = tok_starts[long_num], tok_ends[long_num]
        cp = cp.copy()
        cp[num_start] = _ZERO_CP
        inside = np.zeros(n + 1, dtype=np.int8)          # +1 from a number's 2nd digit to its end
        inside[num_start + 1] = 1
        inside[num_end] -= 1
        keep = solid & (np.cumsum(inside[:-1], dtype=np.int8) == 0)
    kept = np.flatnonzero(keep)
    out_pos = np.cumsum(start[kept] + 1, dtype=np.int64) - 2  # a space before each token but the 1st
    out = np.full(int(out_pos[-1]) + 1 if len(kept) else 0, _SPACE_CP, dtype=np.uint32)
    out[out_pos] = cp[kept]
    s = out.tobytes().decode("utf-32-le", "surrogatepass")
    # each document's slice: from its first kept character to its last
    doc_begin = np.zeros(len(parts), dtype=np.int64)
    doc_begin[1:] = np.cumsum(lengths + 1)[:-1]
    first = np.searchsorted(kept, doc_begin)
    last = np.searchsorted(kept, doc_begin + lengths) - 1
    res = []
    for f, l in zip(first.tolist(), last.tolist()):
        res.append(s[out_pos[f]:out_pos[l] + 1] if l >= f else "")
    return res


# A source file's leading comment block (licence, copyright, authors) says nothing about the
# language below it, and a project repeats it verbatim in every file whatever the language: a model
# that reads it learns the project. Held out by source, jpype1's Java files were called Python
# (0.29 right), whose jpype1 files in training carried the same Apache header; without the header
# 0.94 (experiment over the code labels of the sample). The topic model reads what follows the
# block: C-style /* */, runs of lines opening with //, # (not #include, #define, #!), --, ; or %,
# a leading """ docstring, <!-- -->. Prose rarely opens so; a markdown title (# ...) is lost, the
# text after it is kept. A file that is nothing but comments keeps them; any code after the block,
# however short, is read alone: held out by source, jpype1's five-line Java classes kept their
# 15-line Apache header under an earlier 100-character minimum and were called JavaScript (22 of
# 126 files); without it both stages' programming language went from 0.961 to 0.975.
_LEADING_COMMENTS = re.compile(r'(?:\s*(?:/\*.*?\*/'
                               r'|(?:(?://|#(?![A-Za-z!])|--|;|%)[^\n]*(?:\n|\Z))+'
                               r'|""".*?"""|<!--.*?-->))+', re.S)
HEADER_SCAN_CHARS = 20_000      # a comment block longer than this is not looked past


def without_leading_comments(text: str) -> str:
    """`text` after its leading comment block (see above), or `text` itself when it has none or
    when only blank space follows it."""
    if not text or text[:200].lstrip()[:1] not in ("/", "#", "-", ";", "%", '"', "<"):
        return text
    start = 0
    if text.startswith("#!"):                       # a shebang names the language: it stays
        start = text.find("\n") + 1
        if start == 0:
            return text
    m = _LEADING_COMMENTS.match(text, start, HEADER_SCAN_CHARS)
    if m is None or m.end() == start:
        return text
    if not text[m.end():m.end() + HEADER_SCAN_CHARS].strip():
        return text
    return text[:start] + text[m.end():] if start else text[m.end():]


def topic_inputs(texts: list[str], pre: list[str] | None = None) -> list[str]:
    """The topic model's fastText input for each text: `preprocess` of `without_leading_comments`.
    `pre` (`preprocess_batch(texts)`, shared with the quality model) is reused for every text
    without a leading comment block; only the others are preprocessed again."""
    bodies = [without_leading_comments(t) for t in texts]
    changed = [i for i, (b, t) in enumerate(zip(bodies, texts)) if b is not t]
    if pre is None:
        return preprocess_batch(bodies)
    if not changed:
        return pre
    out = list(pre)
    for i, s in zip(changed, preprocess_batch([bodies[i] for i in changed])):
        out[i] = s
    return out


def predict_topics(texts: list[str], model, pre: list[str] | None = None
                   ) -> tuple[list[str], list[float]]:
    """Batch: most probable topic and its probability for each text (one fastText call over
    `topic_inputs`); `pre`: the texts already through `preprocess_batch` (shared with the quality
    model)."""
    if not texts:
        return [], []
    labels, probs = model.predict(topic_inputs(texts, pre), k=1, threshold=0.0)
    topics, scores = [], []
    for ls, ps in zip(labels, probs):
        if ls:
            topics.append(ls[0][len(LABEL_PREFIX):])
            scores.append(float(min(1.0, max(0.0, ps[0]))))
        else:
            topics.append(FALLBACK_TOPIC)
            scores.append(0.0)
    return topics, scores


# A document whose letters are confidently a natural language other than English (lid score and
# share at least this) is prose, never code: the topic model, trained mostly on English, tends to
# send unknown-vocabulary prose to a code class; such documents get their best non-code topic.
PROSE_LANG_MIN_SCORE = 0.8
PROSE_LANG_MIN_SHARE = 0.8


def topics_given_language(texts: list[str], model, langs: list[str], lang_scores: list[float],
                          lang_shares: list[float], pre: list[str] | None = None
                          ) -> tuple[list[str], list[float]]:
    """Batch: the topic of each text as `tag_batch` assigns it: the model's most probable topic,
    except that confidently non-English prose never gets a code topic (see above)."""
    pre = pre if pre is not None else preprocess_batch(texts)
    topics, scores = predict_topics(texts, model, pre)
    prose = [i for i, (t, l, sc, sh) in enumerate(zip(topics, langs, lang_scores, lang_shares))
             if t.startswith("code.") and l not in ("en", "und")
             and sc >= PROSE_LANG_MIN_SCORE and sh >= PROSE_LANG_MIN_SHARE]
    if prose:
        alt, alt_scores = best_non_code_topics([texts[i] for i in prose], model,
                                               [pre[i] for i in prose])
        for i, t, sc in zip(prose, alt, alt_scores):
            topics[i], scores[i] = t, sc
    return topics, scores


def best_non_code_topics(texts: list[str], model, pre: list[str] | None = None
                         ) -> tuple[list[str], list[float]]:
    """Batch: the most probable topic outside `code.*` and its probability, for each text."""
    if not texts:
        return [], []
    labels, probs = model.predict(topic_inputs(texts, pre), k=-1, threshold=0.0)
    topics, scores = [], []
    for ls, ps in zip(labels, probs):
        best = next(((l[len(LABEL_PREFIX):], float(p)) for l, p in zip(ls, ps)
                     if not l[len(LABEL_PREFIX):].startswith("code.")), (FALLBACK_TOPIC, 0.0))
        topics.append(best[0])
        scores.append(min(1.0, max(0.0, best[1])))
    return topics, scores


def load_topic_model(path: str):
    import fasttext
    return fasttext.load_model(path)
