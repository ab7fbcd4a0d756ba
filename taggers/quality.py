"""Quality signals, rule flags and the quality score (Gopher / C4 / FineWeb heuristics combined with
the DCLM-style model of `taggers.quality_model`).

Owns: the signal definitions (`QUALITY_SIGNAL_NAMES`, every one a float64, the same fields for every
document: the heuristics below, the PII counts of `taggers.pii`, and `model_hq_prob`), the rules over
them (`QualityConfig`, `RULES`), and the score. Signals are computed for a whole batch at once
(`signal_columns`; numpy over the batch's code points, see taggers.charclass).

Definitions (a "word" is a whitespace-separated token; a "line" is a `\\n`-separated line, stripped,
and only non-empty lines count; a "paragraph" is a blank-line-separated block; "lowercased" is
character by character, `taggers.charclass.lower`):

- n_chars: characters of the text; n_words: words.
- mean_word_length: mean characters per word (punctuation attached to a word counts).
- symbol_to_word_ratio: (number of `#` + number of `...` + number of `…`) / words.
- digit_frac: ASCII digits / characters. uppercase_frac: uppercase letters / letters.
- alpha_word_frac: words with at least one letter / words. alnum_frac: letters and digits / characters.
- stop_word_count: occurrences of `STOP_WORDS` (a small English list) as whole lowercase words.
- lines_ending_punct_frac, bullet_lines_frac, ellipsis_lines_frac, short_line_frac (at most
  `short_line_chars` characters): shares of lines. mean_line_length, max_line_length: in characters.
- dup_line_frac, dup_paragraph_frac: characters in repeated copies of a line (paragraph), every copy
  after the first one, / characters in all lines (paragraphs).
- top_{2,3,4}gram_frac: characters covered by the most frequent word n-gram (lowercased), counted
  once per occurrence, / characters in words; 0 when no n-gram occurs twice.
- dup_{5..10}gram_frac: characters of words covered by an n-gram that already occurred earlier in
  the document (each word counted once), / characters in words (Gopher's duplicate n-gram fraction).
- replacement_char_frac: U+FFFD / characters. curly_bracket_frac: `{` and `}` / characters.
- lorem_ipsum: 1.0 if the text contains "lorem ipsum" (any case), else 0.0.

Rules and where they apply (skipped rules are not recorded): every rule has a scope:
`all` (any text), `spaced` (not code, and a language written with spaces between words: not zh, ja,
th, ...), `prose` (not code), `english` (not code and lang == "en"), `code` (code only).
- uppercase_frac counts letters with `str.isupper()`.
- pii_email_count, pii_ip_count, pii_phone_count: matches of taggers.pii.
- model_hq_prob: the quality model's probability of high quality (NaN when no model was given).

Score: heuristic = 1 - F / (A + smoothing), where A is the summed weight of the applicable rules,
F that of the failed ones and smoothing = `QualityConfig.smoothing` (default 2.0, so that a document
that failed the only rule that applied to it is not scored 0); 1.0 when nothing failed. For text that
is not code, with a model probability p: quality = (1 - model_weight) * heuristic + model_weight * p
(default model_weight 0.5), and the flag `model_low_quality` when p < min_model_hq_prob (default
0.5). Code keeps the heuristic score. All thresholds are fields of `QualityConfig`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from taggers import charclass, pii
from taggers.minhash import fmix64, poly_prefix, poly_spans
from taggers.normalise import char_chunks
from taggers.pii import PII_SIGNAL_NAMES

# Gopher-style small list of very common English function words.
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with", "is", "are", "was", "it",
              "for", "on", "as", "this", "by", "not", "from", "or")
NO_SPACE_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "wuu", "yue", "dz"})
TERMINAL_PUNCT = (".", "!", "?", '"', "'", "\u201d", "\u2019", "\u3002", "\uff01", "\uff1f", "\u2026",
                  ":", ";", ")")
BULLETS = ("-", "*", "\u2022", "\u2023", "\u25cf", "\u25e6", "\u25aa", "\u2013", "\u2014", "\u00b7",
           "+")

DUP_NGRAM_NS = (5, 6, 7, 8, 9, 10)
TOP_NGRAM_NS = (2, 3, 4)

HEURISTIC_SIGNAL_NAMES: tuple[str, ...] = (
    "n_chars", "n_words", "mean_word_length", "symbol_to_word_ratio", "digit_frac",
    "uppercase_frac", "alpha_word_frac", "alnum_frac", "stop_word_count",
    "lines_ending_punct_frac", "bullet_lines_frac", "ellipsis_lines_frac", "short_line_frac",
    "mean_line_length", "max_line_length", "dup_line_frac", "dup_paragraph_frac",
    *(f"top_{n}gram_frac" for n in TOP_NGRAM_NS),
    *(f"dup_{n}gram_frac" for n in DUP_NGRAM_NS),
    "replacement_char_frac", "lorem_ipsum", "curly_bracket_frac",
)
MODEL_SIGNAL_NAME = "model_hq_prob"
# Every signal of `quality_signals`: the heuristics, the PII counts (taggers.pii) and the quality
# model's probability of high quality (NaN when no model was given).
QUALITY_SIGNAL_NAMES: tuple[str, ...] = HEURISTIC_SIGNAL_NAMES + PII_SIGNAL_NAMES + (MODEL_SIGNAL_NAME,)


@dataclass(frozen=True)
class QualityConfig:
    """Rule thresholds. Defaults follow Gopher (Rae et al. 2021, appendix A), C4 (Raffel et al.
    2020) as FineWeb's document-level form, FineWeb's own filters, and StarCoder's code filters."""
    min_words: int = 50                      # gopher_word_count: 50 <= words <= 100,000
    max_words: int = 100_000
    min_mean_word_length: float = 3.0        # gopher_mean_word_length: 3 <= mean <= 10
    max_mean_word_length: float = 10.0
    max_symbol_to_word_ratio: float = 0.1    # gopher_symbol_ratio
    min_alpha_word_frac: float = 0.8         # gopher_alpha_words
    min_stop_words: int = 2                  # gopher_stop_words (English only)
    max_bullet_lines_frac: float = 0.9       # gopher_bullet_lines
    max_ellipsis_lines_frac: float = 0.3     # gopher_ellipsis_lines
    max_dup_line_frac: float = 0.2           # gopher_dup_line_frac (by characters)
    max_dup_paragraph_frac: float = 0.2      # gopher_dup_paragraph_frac (by characters)
    max_top_ngram_frac: dict = field(default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})
    max_dup_ngram_frac: dict = field(default_factory=lambda: {
        5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10})
    min_lines_ending_punct_frac: float = 0.12  # c4_lines_end_punct (English only)
    max_curly_bracket_frac: float = 0.05       # c4_curly_bracket (C4 drops any "{"; TeX needs slack)
    max_short_line_frac: float = 0.67          # fineweb_short_lines
    short_line_chars: int = 30
    max_replacement_char_frac: float = 0.0     # replacement_chars: any U+FFFD is flagged
    max_code_line_length: float = 1000.0       # code_long_lines: max line > 1000 or mean > 100
    max_code_mean_line_length: float = 100.0
    min_code_alnum_frac: float = 0.25          # code_alnum_frac
    weights: dict = field(default_factory=dict)  # rule -> weight (default 1.0 each)
    smoothing: float = 2.0
    # Model-based score (taggers.quality_model), for documents that are not code:
    # quality = (1 - model_weight) * heuristic score + model_weight * P(hq), and the flag
    # `model_low_quality` when P(hq) < min_model_hq_prob. Code keeps the heuristic score, unless
    # its mean line is longer than code_exempt_max_mean_line: lines of code are short (in the
    # sample, the 99th percentile of a file's mean line is under 100 characters in every
    # language), and a topic model can call a one-line keyword list code.
    model_weight: float = 0.5
    min_model_hq_prob: float = 0.5
    code_exempt_max_mean_line: float = 200.0


def _fail(name, s, c):
    """The predicate of each rule: True when the document fails it."""
    if name == "gopher_word_count":
        return s["n_words"] < c.min_words or s["n_words"] > c.max_words
    if name == "gopher_mean_word_length":
        return not c.min_mean_word_length <= s["mean_word_length"] <= c.max_mean_word_length
    if name == "gopher_symbol_ratio":
        return s["symbol_to_word_ratio"] > c.max_symbol_to_word_ratio
    if name == "gopher_alpha_words":
        return s["alpha_word_frac"] < c.min_alpha_word_frac
    if name == "gopher_stop_words":
        return s["stop_word_count"] < c.min_stop_words
    if name == "gopher_bullet_lines":
        return s["bullet_lines_frac"] > c.max_bullet_lines_frac
    if name == "gopher_ellipsis_lines":
        return s["ellipsis_lines_frac"] > c.max_ellipsis_lines_frac
    if name == "gopher_dup_line_frac":
        return s["dup_line_frac"] > c.max_dup_line_frac
    if name == "gopher_dup_paragraph_frac":
        return s["dup_paragraph_frac"] > c.max_dup_paragraph_frac
    if name == "gopher_top_ngram":
        return any(s[f"top_{n}gram_frac"] > t for n, t in c.max_top_ngram_frac.items())
    if name == "gopher_dup_ngram":
        return any(s[f"dup_{n}gram_frac"] > t for n, t in c.max_dup_ngram_frac.items())
    if name == "c4_lines_end_punct":
        return s["lines_ending_punct_frac"] < c.min_lines_ending_punct_frac
    if name == "c4_curly_bracket":
        return s["curly_bracket_frac"] > c.max_curly_bracket_frac
    if name == "c4_lorem_ipsum":
        return s["lorem_ipsum"] > 0
    if name == "fineweb_short_lines":
        return s["short_line_frac"] > c.max_short_line_frac
    if name == "replacement_chars":
        return s["replacement_char_frac"] > c.max_replacement_char_frac
    if name == "code_long_lines":
        return (s["max_line_length"] > c.max_code_line_length
                or s["mean_line_length"] > c.max_code_mean_line_length)
    if name == "code_alnum_frac":
        return s["alnum_frac"] < c.min_code_alnum_frac
    raise KeyError(name)


# rule -> scope (see the module docstring). Order is the order of `quality_flags`.
RULES: dict[str, str] = {
    "gopher_word_count": "spaced_or_code",
    "gopher_mean_word_length": "spaced",
    "gopher_symbol_ratio": "spaced",
    "gopher_alpha_words": "spaced",
    "gopher_stop_words": "english",
    "gopher_bullet_lines": "prose",
    "gopher_ellipsis_lines": "prose",
    "gopher_dup_line_frac": "prose",
    "gopher_dup_paragraph_frac": "all",
    "gopher_top_ngram": "spaced",
    "gopher_dup_ngram": "spaced",
    "c4_lines_end_punct": "english",
    "c4_curly_bracket": "prose",
    "c4_lorem_ipsum": "all",
    "fineweb_short_lines": "prose",
    "replacement_chars": "all",
    "code_long_lines": "code",
    "code_alnum_frac": "code",
}


def _fail_columns(name: str, s: dict, c: QualityConfig) -> np.ndarray:
    """`_fail` over columns of a batch (the same predicates, elementwise)."""
    if name == "gopher_word_count":
        return (s["n_words"] < c.min_words) | (s["n_words"] > c.max_words)
    if name == "gopher_mean_word_length":
        return ~((c.min_mean_word_length <= s["mean_word_length"])
                 & (s["mean_word_length"] <= c.max_mean_word_length))
    if name == "gopher_top_ngram":
        return np.logical_or.reduce([s[f"top_{n}gram_frac"] > t for n, t in c.max_top_ngram_frac.items()]
                                    + [np.zeros(len(s["n_words"]), dtype=bool)])
    if name == "gopher_dup_ngram":
        return np.logical_or.reduce([s[f"dup_{n}gram_frac"] > t for n, t in c.max_dup_ngram_frac.items()]
                                    + [np.zeros(len(s["n_words"]), dtype=bool)])
    if name == "code_long_lines":
        return ((s["max_line_length"] > c.max_code_line_length)
                | (s["mean_line_length"] > c.max_code_mean_line_length))
    simple = {
        "gopher_symbol_ratio": lambda: s["symbol_to_word_ratio"] > c.max_symbol_to_word_ratio,
        "gopher_alpha_words": lambda: s["alpha_word_frac"] < c.min_alpha_word_frac,
        "gopher_stop_words": lambda: s["stop_word_count"] < c.min_stop_words,
        "gopher_bullet_lines": lambda: s["bullet_lines_frac"] > c.max_bullet_lines_frac,
        "gopher_ellipsis_lines": lambda: s["ellipsis_lines_frac"] > c.max_ellipsis_lines_frac,
        "gopher_dup_line_frac": lambda: s["dup_line_frac"] > c.max_dup_line_frac,
        "gopher_dup_paragraph_frac": lambda: s["dup_paragraph_frac"] > c.max_dup_paragraph_frac,
        "c4_lines_end_punct": lambda: s["lines_ending_punct_frac"] < c.min_lines_ending_punct_frac,
        "c4_curly_bracket": lambda: s["curly_bracket_frac"] > c.max_curly_bracket_frac,
        "c4_lorem_ipsum": lambda: s["lorem_ipsum"] > 0,
        "fineweb_short_lines": lambda: s["short_line_frac"] > c.max_short_line_frac,
        "replacement_chars": lambda: s["replacement_char_frac"] > c.max_replacement_char_frac,
        "code_alnum_frac": lambda: s["alnum_frac"] < c.min_code_alnum_frac,
    }
    return simple[name]()


def _scope_masks(langs: list[str], is_code: np.ndarray) -> dict[str, np.ndarray]:
    spaced = np.array([lang not in NO_SPACE_LANGS for lang in langs], dtype=bool)
    en = np.array([lang == "en" for lang in langs], dtype=bool)
    return {"all": np.ones(len(langs), dtype=bool), "code": is_code, "prose": ~is_code,
            "english": ~is_code & en, "spaced": ~is_code & spaced, "spaced_or_code": is_code | spaced}


def applicable_rules(lang: str, is_code: bool) -> list[str]:
    """Rules that make sense for a document of language `lang` (code or not)."""
    spaced = lang not in NO_SPACE_LANGS
    ok = {"all": True, "code": is_code, "prose": not is_code, "english": not is_code and lang == "en",
          "spaced": not is_code and spaced, "spaced_or_code": is_code or spaced}
    return [r for r, scope in RULES.items() if ok[scope]]


# ---------------------------------------------------------------------------------------------
# Signals, computed for a whole batch at once: character classes by one table lookup over the
# concatenated code points of the batch (taggers.charclass), counts per document by cumulative sums
# at document boundaries, n-grams per document on word hashes with candidates pruned as n grows.

_MIX = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)


def _stop_keys() -> np.ndarray:
    keys = []
    for w in STOP_WORDS:
        k = 0
        for j, ch in enumerate(w):
            k |= ord(ch) << (16 * j)
        keys.append(k)
    return np.array(sorted(keys), dtype=np.uint64)


_STOP_KEYS = _stop_keys()
_STOP_MAX_LEN = max(map(len, STOP_WORDS))


def _span_hashes(prefix: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each span [starts[i], ends[i]) of the code points whose
    `minhash.poly_prefix` is given, mixed with its length: equal spans get equal hashes (numpy has
    no vectorised substring hash; Python's hash() would need a str object per span)."""
    return fmix64(poly_spans(prefix, starts, ends) ^ ((ends - starts).astype(np.uint64) * _MIX2))


def _dup_char_frac(key: np.ndarray, length: np.ndarray, doc: np.ndarray, n_docs: int) -> np.ndarray:
    """Per document: characters of the items (lines, paragraphs) that repeat an earlier item of the
    same document (every copy after the first) / characters of all its items. `key`: a hash of
    each item's content, `length` its characters, `doc` its document (items in document order)."""
    total = np.bincount(doc, weights=length, minlength=n_docs)
    if not len(key):
        return np.zeros(n_docs)
    _, first = np.unique(key ^ (doc.astype(np.uint64) * _MIX), return_index=True)
    repeat = np.ones(len(key), dtype=bool)
    repeat[first] = False
    dup = np.bincount(doc[repeat], weights=length[repeat], minlength=n_docs)
    return np.where(total > 0, dup / np.maximum(total, 1), 0.0)


def _seg_sums(mask: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Number of True per segment [bounds[i], bounds[i+1]) of a concatenated bool array (no
    temporary as long as the array: large temporaries cost page faults)."""
    n = len(bounds) - 1
    out = np.zeros(n, dtype=np.int64)
    nonempty = bounds[1:] > bounds[:-1]
    if nonempty.any():
        out[nonempty] = np.add.reduceat(mask.view(np.uint8), bounds[:-1][nonempty], dtype=np.int64)
    return out


def _ngram_batch(ids: np.ndarray, lens: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
    """top_{2,3,4}gram_frac and dup_{5..10}gram_frac of every document, from its lowercased words:
    `ids` a hash of each word (uint64), `lens` its characters, `counts` the words of each document
    (the words of all documents concatenated in order).

    All documents' word hashes are concatenated; a k-gram's hash mixes in its document, so equal
    k-grams of different documents never match. Candidates (start positions of k-grams that may
    occur twice in their document) shrink as k grows: a k-gram repeats only where its (k-1)-gram
    prefix repeats; a document without a repeated k-gram has none for larger k either."""
    n_docs = len(counts)
    out = {f"top_{k}gram_frac": np.zeros(n_docs) for k in TOP_NGRAM_NS}
    out.update({f"dup_{k}gram_frac": np.zeros(n_docs) for k in DUP_NGRAM_NS})
    wb = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=wb[1:])
    n = int(wb[-1])
    if n < 2:
        return out
    csum = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lens, out=csum[1:])
    total = (csum[wb[1:]] - csum[wb[:-1]]).astype(np.float64)
    doc = np.repeat(np.arange(n_docs), counts)
    wend = wb[1:][doc]                      # end (exclusive) of each word's document
    base = ids ^ (doc.astype(np.uint64) * _MIX2 + np.uint64(1))
    pos = np.nonzero(np.arange(n) + 2 <= wend)[0]
    h = (base[pos] * _MIX) ^ (ids[pos + 1] * _MIX2 + np.uint64(2))
    last = max(DUP_NGRAM_NS)
    for k in range(2, last + 1):
        if len(h) < 2:
            break
        order = np.argsort(h)
        hs = h[order]
        new = np.empty(len(hs), dtype=bool)
        new[0] = True
        np.not_equal(hs[1:], hs[:-1], out=new[1:])
        gstart = np.nonzero(new)[0]
        sizes = np.diff(np.append(gstart, len(hs)))
        occ = pos[order]                              # positions, grouped by k-gram
        firsts = np.minimum.reduceat(occ, gstart)     # first start of each k-gram
        rep = sizes > 1
        if not rep.any():
            break
        if k in TOP_NGRAM_NS:
            g = np.nonzero(rep)[0]
            gdoc = doc[firsts[g]]
            best = g[np.lexsort((firsts[g], -sizes[g], gdoc))]
            one = np.ones(len(best), dtype=bool)
            bdoc = doc[firsts[best]]
            one[1:] = bdoc[1:] != bdoc[:-1]
            best, bdoc = best[one], bdoc[one]
            p = firsts[best]
            out[f"top_{k}gram_frac"][bdoc] = np.minimum(
                1.0, sizes[best] * (csum[p + k] - csum[p]) / total[bdoc])
        gid = np.repeat(np.arange(len(gstart)), sizes)
        if k in DUP_NGRAM_NS:
            starts = np.sort(occ[occ != firsts[gid]])   # every occurrence after the first
            # the words they cover, [s, s + k) for each, as runs of overlapping spans (spans of one
            # length: a run goes on while the next start is inside the last span; spans that only
            # touch stay apart, so no run crosses into the next document): no pass over every word
            new_run = np.ones(len(starts), dtype=bool)
            new_run[1:] = starts[1:] >= starts[:-1] + k
            run_first = np.flatnonzero(new_run)
            run_start = starts[run_first]
            run_end = np.append(starts[run_first[1:] - 1], starts[-1:]) + k
            dup = np.bincount(doc[run_start], weights=csum[run_end] - csum[run_start],
                              minlength=n_docs)
            out[f"dup_{k}gram_frac"] = np.where(total > 0, dup / np.maximum(total, 1.0), 0.0)
        if k == last:
            break
        keep = order[rep[gid]]
        keep = keep[pos[keep] + k + 1 <= wend[pos[keep]]]
        pos = pos[keep]
        h = (h[keep] * _MIX) ^ (ids[pos + k] * _MIX2 + np.uint64(k + 1))
    return out


_TERMINAL_CPS = np.array(sorted(ord(p) for p in TERMINAL_PUNCT), dtype=np.uint32)
_BULLET_CPS = np.array(sorted(ord(b) for b in BULLETS), dtype=np.uint32)
_NL, _DOT, _TAB, _SP = ord("\n"), ord("."), ord("\t"), ord(" ")


def _stripped_pieces(starts: np.ndarray, solid_at: np.ndarray):
    """Pieces of a concatenated text (`starts`: the sorted positions where pieces start, the
    first at 0) stripped of whitespace: (first, last) index of the non-space characters
    (`solid_at`: their sorted positions) of every piece that has any, in text order. A binary
    search per piece, not a pass over every character."""
    lo = np.searchsorted(solid_at, starts)
    hi = np.append(lo[1:], len(solid_at))      # the next piece's first solid, or the end
    full = hi > lo
    return solid_at[lo[full]], solid_at[hi[full] - 1]


def _piece_starts(bounds: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Sorted distinct positions where pieces start: every document's start and every cut (the
    position after a break), those before the end of the concatenation only."""
    mark = np.zeros(int(bounds[-1]) + 1, dtype=bool)     # a mask, not union1d: no sort
    mark[bounds[:-1]] = True
    mark[cuts] = True
    return np.flatnonzero(mark[:-1])


def _line_signals(cp: np.ndarray, space: np.ndarray, bounds: np.ndarray,
                  short_line_chars: int) -> dict[str, np.ndarray]:
    """Line and paragraph signals of every document of a concatenation (`bounds`: document
    starts and the end): lines are `\\n`-separated and stripped; paragraphs are separated by a line
    holding only spaces and tabs between two newlines (`re.split(r"\\n[ \\t]*\\n", text)`), and
    stripped; both count only when non-empty."""
    n_docs = len(bounds) - 1
    solid_at = np.flatnonzero(~space)
    first, last = _stripped_pieces(_piece_starts(bounds, np.flatnonzero(cp == _NL) + 1), solid_at)
    prefix = poly_prefix(cp)
    doc = np.searchsorted(bounds, first, side="right") - 1
    length = last - first + 1
    n_lines = np.maximum(np.bincount(doc, minlength=n_docs), 1).astype(np.float64)

    def share(mask):
        return np.bincount(doc[mask], minlength=n_docs) / n_lines

    end_cp = cp[last]
    ellipsis = (end_cp == 0x2026) | ((length >= 3) & (end_cp == _DOT) & (cp[last - 1] == _DOT)
                                     & (cp[np.maximum(last - 2, 0)] == _DOT))
    max_len = np.zeros(n_docs)
    np.maximum.at(max_len, doc, length)
    cols = {
        "lines_ending_punct_frac": share(np.isin(end_cp, _TERMINAL_CPS)),
        "bullet_lines_frac": share(np.isin(cp[first], _BULLET_CPS)),
        "ellipsis_lines_frac": share(ellipsis),
        "short_line_frac": share(length <= short_line_chars),
        "mean_line_length": np.bincount(doc, weights=length, minlength=n_docs) / n_lines,
        "max_line_length": max_len,
        "dup_line_frac": _dup_char_frac(_span_hashes(prefix, first, last + 1), length, doc,
                                       n_docs),
    }
    # paragraph breaks: two consecutive newlines of one document with only spaces and tabs between
    # (of the characters that are not a space or tab, two neighbours that are both newlines)
    other = np.flatnonzero((cp != _SP) & (cp != _TAB))
    nl = cp[other] == _NL
    pair = nl[:-1] & nl[1:]
    p, q = other[:-1][pair], other[1:][pair]
    brk = q[np.searchsorted(bounds, p, side="right") == np.searchsorted(bounds, q, side="right")]
    first, last = _stripped_pieces(_piece_starts(bounds, brk + 1), solid_at)
    pdoc = np.searchsorted(bounds, first, side="right") - 1
    cols["dup_paragraph_frac"] = _dup_char_frac(_span_hashes(prefix, first, last + 1),
                                                last - first + 1, pdoc, n_docs)
    return cols


CHUNK_CHARS = 200_000   # documents are processed in chunks of about this many characters


def signals_batch(texts: list[str], short_line_chars: int = 30) -> list[dict[str, float]]:
    """All heuristic signals of each (normalised) text of a batch, as dicts of floats."""
    return _rows(signal_columns(texts, short_line_chars))


def signal_columns(texts: list[str], short_line_chars: int = 30) -> dict[str, np.ndarray]:
    """All heuristic signals of a batch as columns: {name: float64 array, one value per text}."""
    chunks = [_signals_chunk(texts[i:j], short_line_chars) for i, j in char_chunks(texts, CHUNK_CHARS)]
    if not chunks:
        return {k: np.zeros(0) for k in HEURISTIC_SIGNAL_NAMES}
    return {k: np.concatenate([c[k] for c in chunks]) for k in HEURISTIC_SIGNAL_NAMES}


def _signals_chunk(texts: list[str], short_line_chars: int) -> dict[str, np.ndarray]:
    n = len(texts)
    if n == 0:
        return []
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    bounds = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    cp = charclass.codepoints("".join(texts))
    cls = charclass.classes(cp)
    letter = (cls & charclass.LETTER).astype(bool)
    space = (cls & charclass.SPACE).astype(bool)
    letters = _seg_sums(letter, bounds)
    digits = _seg_sums((cls & charclass.DIGIT).astype(bool), bounds)
    upper = _seg_sums((cls & charclass.UPPER).astype(bool) & letter, bounds)
    spaces = _seg_sums(space, bounds)
    # words: maximal runs of non-space characters, never across documents
    starts = ~space
    starts[1:] &= space[:-1]
    starts[bounds[:-1][lengths > 0]] = ~space[bounds[:-1][lengths > 0]]
    n_words = _seg_sums(starts, bounds)
    word_starts = np.flatnonzero(starts)
    has_letter = (np.logical_or.reduceat(letter, word_starts) if len(word_starts)
                  else np.zeros(0, dtype=bool))
    wb = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_words, out=wb[1:])
    alpha_words = _seg_sums(has_letter, wb)
    # stop words: maximal runs of [\w'] in the lowercased text equal to one of STOP_WORDS
    # (charclass.lower keeps every character's class bits, so the runs are those of the text)
    lcp = charclass.lower(cp, cls)
    wa = (cls & charclass.WORD_APOS).astype(bool)
    edge = np.zeros(len(wa) + 1, dtype=bool)
    edge[bounds] = True
    tok_start = wa & (edge[:-1] | ~np.concatenate(([False], wa[:-1])))
    tok_end = wa & (edge[1:] | ~np.concatenate((wa[1:], [False])))
    ts, te = np.nonzero(tok_start)[0], np.nonzero(tok_end)[0] + 1
    tl = te - ts
    short = (tl >= 2) & (tl <= _STOP_MAX_LEN)
    ts_s, tl_s = ts[short], tl[short]
    key = np.zeros(len(ts_s), dtype=np.uint64)
    for j in range(_STOP_MAX_LEN):
        has = tl_s > j
        key[has] |= np.minimum(lcp[ts_s[has] + j], 0xFFFF).astype(np.uint64) << np.uint64(16 * j)
    is_stop = np.isin(key, _STOP_KEYS)
    stop_counts = np.bincount(np.searchsorted(bounds, ts_s[is_stop], side="right") - 1, minlength=n)

    nz = np.maximum(lengths, 1).astype(np.float64)
    nw = n_words.astype(np.float64)
    nwz = np.maximum(nw, 1.0)
    cols: dict[str, np.ndarray] = {
        "n_chars": lengths.astype(np.float64),
        "n_words": nw,
        "mean_word_length": np.where(nw > 0, (lengths - spaces) / nwz, 0.0),
        "digit_frac": np.where(lengths > 0, digits / nz, 0.0),
        "uppercase_frac": np.where(letters > 0, upper / np.maximum(letters, 1), 0.0),
        "alnum_frac": np.where(lengths > 0, (letters + digits) / nz, 0.0),
        "alpha_word_frac": np.where(nw > 0, alpha_words / nwz, 0.0),
        "stop_word_count": stop_counts.astype(np.float64),
    }
    symbols = np.array([t.count("#") + t.count("...") + t.count("\u2026") for t in texts],
                       dtype=np.float64)
    cols["symbol_to_word_ratio"] = np.where(nw > 0, symbols / nwz, 0.0)
    curly = np.array([t.count("{") + t.count("}") for t in texts], dtype=np.float64)
    cols["curly_bracket_frac"] = np.where(lengths > 0, curly / nz, 0.0)
    repl = np.array([t.count("\ufffd") for t in texts], dtype=np.float64)
    cols["replacement_char_frac"] = np.where(lengths > 0, repl / nz, 0.0)
    cols["lorem_ipsum"] = _phrase_in(lcp, bounds, _LOREM)
    cols.update(_line_signals(cp, space, bounds, short_line_chars))
    # n-grams: over the words (maximal runs of non-space characters) of the lowercased texts
    w_end = ~space
    w_end[:-1] &= space[1:] | edge[1:-1]
    we = np.flatnonzero(w_end) + 1
    cols.update(_ngram_batch(_span_hashes(poly_prefix(lcp), word_starts, we), we - word_starts,
                             n_words))
    return cols


_LOREM = np.array([ord(c) for c in "lorem ipsum"], dtype=np.uint32)


def _phrase_in(cp: np.ndarray, bounds: np.ndarray, phrase: np.ndarray) -> np.ndarray:
    """1.0 for each document (`bounds`) of the code points `cp` that holds `phrase`, else 0.0:
    candidates where its first code point is, narrowed one code point at a time."""
    at = np.flatnonzero(cp[:len(cp) - len(phrase) + 1] == phrase[0]) if len(cp) >= len(phrase) \
        else np.zeros(0, dtype=np.int64)
    for j in range(1, len(phrase)):
        at = at[cp[at + j] == phrase[j]]
    doc = np.searchsorted(bounds, at, side="right") - 1
    ok = at + len(phrase) <= bounds[doc + 1]          # inside one document
    out = np.zeros(len(bounds) - 1)
    out[doc[ok]] = 1.0
    return out


def _rows(cols: dict[str, np.ndarray], names=HEURISTIC_SIGNAL_NAMES) -> list[dict[str, float]]:
    """Columns -> one dict of floats per document, keys in `names` order."""
    if not cols or not len(cols[names[0]]):
        return []
    table = np.column_stack([cols[k] for k in names]).tolist()
    return [dict(zip(names, row)) for row in table]


def signals_of(text: str, short_line_chars: int = 30) -> dict[str, float]:
    """All quality signals of one (normalised) text, as floats (see `signals_batch`)."""
    return signals_batch([text], short_line_chars)[0]


def flags_of(signals: dict[str, float], lang: str, is_code: bool,
             config: QualityConfig | None = None) -> tuple[float, list[str]]:
    """(quality, failed rules) of one document from its signals."""
    c = config or QualityConfig()
    applicable = applicable_rules(lang, is_code)
    failed = [r for r in applicable if _fail(r, signals, c)]
    w_app = sum(c.weights.get(r, 1.0) for r in applicable)
    w_fail = sum(c.weights.get(r, 1.0) for r in failed)
    quality = 1.0 - w_fail / (w_app + c.smoothing) if w_app + c.smoothing > 0 else 1.0
    return float(min(1.0, max(0.0, quality))), failed


def score(texts: list[str], langs: list[str], is_code: list[bool],
          config: QualityConfig | None = None, model_probs: list[float] | None = None):
    """Batch: (quality list, flags list of lists, signals list of dicts with every name of
    QUALITY_SIGNAL_NAMES). `model_probs`: the quality model's P(hq) of each text, or None."""
    c = config or QualityConfig()
    if not len(texts) == len(langs) == len(is_code):
        raise ValueError("texts, langs and is_code must have the same length")
    if model_probs is not None and len(model_probs) != len(texts):
        raise ValueError("model_probs must have one value per text")
    n = len(texts)
    cols = signal_columns(texts, c.short_line_chars)
    code = np.array([bool(x) for x in is_code], dtype=bool)
    scopes = _scope_masks(list(langs), code)
    rule_names = list(RULES)
    app = np.column_stack([scopes[RULES[r]] for r in rule_names]) if n else np.zeros((0, len(RULES)), bool)
    fail = (np.column_stack([_fail_columns(r, cols, c) for r in rule_names]) & app
            if n else np.zeros((0, len(RULES)), bool))
    w = np.array([c.weights.get(r, 1.0) for r in rule_names], dtype=np.float64)
    w_app, w_fail = app @ w, fail @ w
    denom = w_app + c.smoothing
    q = np.where(denom > 0, 1.0 - w_fail / np.where(denom > 0, denom, 1.0), 1.0)
    q = np.clip(q, 0.0, 1.0)
    p = (np.full(n, np.nan) if model_probs is None
         else np.asarray(model_probs, dtype=np.float64))
    use = ~np.isnan(p) & (~code | (cols["mean_line_length"] > c.code_exempt_max_mean_line))
    q = np.where(use, (1.0 - c.model_weight) * q + c.model_weight * np.where(use, p, 0.0), q)
    low = use & (np.where(use, p, 1.0) < c.min_model_hq_prob)
    flags: list[list[str]] = [[] for _ in range(n)]
    for i, j in zip(*np.nonzero(fail)):
        flags[i].append(rule_names[j])
    for i in np.flatnonzero(low).tolist():
        flags[i].append("model_low_quality")
    counts = pii.count_batch(texts)
    for k in PII_SIGNAL_NAMES:
        cols[k] = np.array([cnt[k] for cnt in counts], dtype=np.float64)
    cols[MODEL_SIGNAL_NAME] = p
    signals = _rows(cols, QUALITY_SIGNAL_NAMES)
    return np.clip(q, 0.0, 1.0).tolist(), flags, signals
