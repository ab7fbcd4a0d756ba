"""Heuristic quality signals, rule flags and a provisional quality score (Gopher / C4 / FineWeb style).

Owns: the signal definitions (`QUALITY_SIGNAL_NAMES`, every one a float64, the same fields for every
document), the rules over them (`QualityConfig`, `RULES`), and the provisional score.

Definitions (a "word" is a whitespace-separated token; a "line" is a `\\n`-separated line, stripped,
and only non-empty lines count; a "paragraph" is a blank-line-separated block):

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
Score: quality = 1 - F / (A + smoothing), where A is the summed weight of the applicable rules,
F that of the failed ones and smoothing = `QualityConfig.smoothing` (default 2.0, so that a document
that failed the only rule that applied to it is not scored 0). 1.0 when nothing failed.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

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

QUALITY_SIGNAL_NAMES: tuple[str, ...] = (
    "n_chars", "n_words", "mean_word_length", "symbol_to_word_ratio", "digit_frac",
    "uppercase_frac", "alpha_word_frac", "alnum_frac", "stop_word_count",
    "lines_ending_punct_frac", "bullet_lines_frac", "ellipsis_lines_frac", "short_line_frac",
    "mean_line_length", "max_line_length", "dup_line_frac", "dup_paragraph_frac",
    *(f"top_{n}gram_frac" for n in TOP_NGRAM_NS),
    *(f"dup_{n}gram_frac" for n in DUP_NGRAM_NS),
    "replacement_char_frac", "lorem_ipsum", "curly_bracket_frac",
)


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


def applicable_rules(lang: str, is_code: bool) -> list[str]:
    """Rules that make sense for a document of language `lang` (code or not)."""
    spaced = lang not in NO_SPACE_LANGS
    ok = {"all": True, "code": is_code, "prose": not is_code, "english": not is_code and lang == "en",
          "spaced": not is_code and spaced, "spaced_or_code": is_code or spaced}
    return [r for r, scope in RULES.items() if ok[scope]]


# ---------------------------------------------------------------------------------------------
# Signals

_STOP_RE = re.compile(r"(?<![\w'])(?:" + "|".join(STOP_WORDS) + r")(?![\w'])")
_NON_ALPHA_WORD = re.compile(r"(?<!\S)(?:[^\w\s]|[\d_])+(?!\S)")
_NON_LETTERS = re.compile(r"[\W\d_]+")
_NON_ALNUM = re.compile(r"[\W_]+")
_PARA_SPLIT = re.compile(r"\n[ \t]*\n\s*")
_MIX = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)


def _dup_frac_by_chars(items: list[str]) -> tuple[float, int]:
    """Characters in repeated copies (after the first) / characters in all items."""
    total = sum(map(len, items))
    if total == 0:
        return 0.0, 0
    seen: set[str] = set()
    dup = 0
    for it in items:
        if it in seen:
            dup += len(it)
        else:
            seen.add(it)
    return dup / total, total


def _ngram_signals(words: list[str], out: dict) -> None:
    n = len(words)
    lens = np.fromiter(map(len, words), dtype=np.int64, count=n)
    total = float(lens.sum())
    for k in TOP_NGRAM_NS:
        out[f"top_{k}gram_frac"] = 0.0
    for k in DUP_NGRAM_NS:
        out[f"dup_{k}gram_frac"] = 0.0
    if n < 2 or total == 0:
        return
    ids = np.fromiter(map(hash, words), dtype=np.int64, count=n).view(np.uint64)
    csum = np.concatenate(([0], np.cumsum(lens)))
    h = ids.copy()
    for k in range(2, max(DUP_NGRAM_NS) + 1):
        if n < k:
            break
        # hash of the k-gram starting at i, from the (k-1)-gram hash: h[i] = mix(h[i]) ^ ids[i+k-1]
        h = (h[: n - k + 1] * _MIX) ^ (ids[k - 1:] * _MIX2 + np.uint64(k))
        uniq, first, inv, counts = np.unique(h, return_index=True, return_inverse=True,
                                             return_counts=True)
        if len(uniq) == len(h):      # no repeated k-gram; none for larger k either
            break
        if k in TOP_NGRAM_NS:
            c = counts[inv]
            best = int(np.argmax(c))  # first start of a most frequent k-gram
            if c[best] > 1:
                gram_chars = csum[best + k] - csum[best]
                out[f"top_{k}gram_frac"] = float(min(1.0, c[best] * gram_chars / total))
        if k in DUP_NGRAM_NS:
            starts = np.nonzero(first[inv] != np.arange(len(h)))[0]
            cover = np.zeros(n + 1, dtype=np.int64)
            np.add.at(cover, starts, 1)
            np.add.at(cover, starts + k, -1)
            covered = np.cumsum(cover[:n]) > 0
            out[f"dup_{k}gram_frac"] = float(lens[covered].sum() / total)


def signals_of(text: str, short_line_chars: int = 30) -> dict[str, float]:
    """All quality signals of one (normalised) text, as floats."""
    s: dict[str, float] = {}
    n_chars = len(text)
    s["n_chars"] = float(n_chars)
    words = text.split()
    n_words = len(words)
    s["n_words"] = float(n_words)
    word_chars = sum(map(len, words))
    s["mean_word_length"] = word_chars / n_words if n_words else 0.0
    symbols = text.count("#") + text.count("...") + text.count("\u2026")
    s["symbol_to_word_ratio"] = symbols / n_words if n_words else 0.0

    if n_chars:
        if text.isascii():
            cp = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
            digits = int(np.count_nonzero((cp >= 48) & (cp <= 57)))
            upper = int(np.count_nonzero((cp >= 65) & (cp <= 90)))
            letters = upper + int(np.count_nonzero((cp >= 97) & (cp <= 122)))
        else:
            cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            digits = int(np.count_nonzero((cp >= 48) & (cp <= 57)))
            letters = len(_NON_LETTERS.sub("", text))
            low = text.lower()
            if len(low) == n_chars:
                lcp = np.frombuffer(low.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
                upper = int(np.count_nonzero(cp != lcp))
            else:
                upper = sum(1 for ch in text if ch.isupper())
        s["digit_frac"] = digits / n_chars
        s["uppercase_frac"] = upper / letters if letters else 0.0
        s["alnum_frac"] = (letters + digits) / n_chars
        s["curly_bracket_frac"] = (text.count("{") + text.count("}")) / n_chars
        s["replacement_char_frac"] = text.count("\ufffd") / n_chars
    else:
        for k in ("digit_frac", "uppercase_frac", "alnum_frac", "curly_bracket_frac",
                  "replacement_char_frac"):
            s[k] = 0.0
    s["alpha_word_frac"] = (n_words - len(_NON_ALPHA_WORD.findall(text))) / n_words if n_words else 0.0
    lower = text.lower()
    s["stop_word_count"] = float(len(_STOP_RE.findall(lower)))
    s["lorem_ipsum"] = 1.0 if "lorem ipsum" in lower else 0.0

    lines = [ln for ln in (x.strip() for x in text.split("\n")) if ln]
    n_lines = len(lines)
    if n_lines:
        s["lines_ending_punct_frac"] = sum(1 for ln in lines if ln.endswith(TERMINAL_PUNCT)) / n_lines
        s["bullet_lines_frac"] = sum(1 for ln in lines if ln.startswith(BULLETS)) / n_lines
        s["ellipsis_lines_frac"] = sum(1 for ln in lines if ln.endswith(("...", "\u2026"))) / n_lines
        line_lens = list(map(len, lines))
        s["short_line_frac"] = sum(1 for x in line_lens if x <= short_line_chars) / n_lines
        s["mean_line_length"] = sum(line_lens) / n_lines
        s["max_line_length"] = float(max(line_lens))
        s["dup_line_frac"] = _dup_frac_by_chars(lines)[0]
    else:
        for k in ("lines_ending_punct_frac", "bullet_lines_frac", "ellipsis_lines_frac",
                  "short_line_frac", "mean_line_length", "max_line_length", "dup_line_frac"):
            s[k] = 0.0
    paras = [p for p in (x.strip() for x in _PARA_SPLIT.split(text)) if p]
    s["dup_paragraph_frac"] = _dup_frac_by_chars(paras)[0]
    _ngram_signals(lower.split(), s)
    return {k: float(s[k]) for k in QUALITY_SIGNAL_NAMES}


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
          config: QualityConfig | None = None):
    """Batch: (quality list, flags list of lists, signals list of dicts)."""
    c = config or QualityConfig()
    if not len(texts) == len(langs) == len(is_code):
        raise ValueError("texts, langs and is_code must have the same length")
    qualities, flags, signals = [], [], []
    for text, lang, code in zip(texts, langs, is_code):
        sig = signals_of(text, c.short_line_chars)
        q, f = flags_of(sig, lang, bool(code), c)
        qualities.append(q)
        flags.append(f)
        signals.append(sig)
    return qualities, flags, signals
