"""Per-code-point character classes as numpy bit masks: owns what "letter", "space", "upper" and
"word character" mean for every tagger, so that batches of texts are classified with one table
lookup instead of per-character Python or per-document regular expressions.

Definitions (the same as Python's `re` on `str`):
- LETTER: `[^\\W\\d_]`, i.e. `ch.isalnum() and not ch.isdecimal()` (letters, plus numeric signs
  such as `²` or `½` that are not decimal digits, as `re` counts them);
- DIGIT: the ASCII digits 0-9 only; UPPER: `ch.isupper()`; SPACE: `ch.isspace()` (what `str.split()`
  splits on); WORD_APOS: `[\\w']` (word characters and the apostrophe, the boundary of stop words);
  DECIMAL: `\\d` (`ch.isdecimal()`).

The table covers the Basic Multilingual Plane (built once on first use, ~10 ms); the rare code
points above U+FFFF are classified one by one and cached.
"""
from __future__ import annotations

import numpy as np

LETTER, DIGIT, UPPER, SPACE, WORD_APOS, DECIMAL = 1, 2, 4, 8, 16, 32
_BMP = 0x10000
_table: np.ndarray | None = None
_astral: dict[int, int] = {}


def _classify(ch: str) -> int:
    c = 0
    if ch.isalnum() and not ch.isdecimal():
        c |= LETTER
    if "0" <= ch <= "9":
        c |= DIGIT
    if ch.isupper():
        c |= UPPER
    if ch.isspace():
        c |= SPACE
    if ch.isalnum() or ch in "_'":
        c |= WORD_APOS
    if ch.isdecimal():
        c |= DECIMAL
    return c


def table() -> np.ndarray:
    """uint8 class bits of every BMP code point (surrogates: 0)."""
    global _table
    if _table is None:
        s = "".join(map(chr, range(_BMP)))
        s = s[:0xD800] + "\0" * 0x800 + s[0xE000:]     # surrogates: no class

        def bits(method):
            return np.fromiter(map(method, s), dtype=bool, count=_BMP)
        alnum, decimal = bits(str.isalnum), bits(str.isdecimal)
        t = np.zeros(_BMP, dtype=np.uint8)
        t[alnum & ~decimal] |= LETTER
        t[ord("0"):ord("9") + 1] |= DIGIT
        t[bits(str.isupper)] |= UPPER
        t[bits(str.isspace)] |= SPACE
        t[alnum] |= WORD_APOS
        t[decimal] |= DECIMAL
        t[[ord("_"), ord("'")]] |= WORD_APOS
        _table = t
    return _table


def classes(cp: np.ndarray) -> np.ndarray:
    """Class bits (uint8) of an array of code points (uint32)."""
    t = table()
    if cp.size and int(cp.max()) >= _BMP:
        out = t[np.minimum(cp, _BMP - 1)]
        idx = np.nonzero(cp >= _BMP)[0]
        for i in idx.tolist():
            c = int(cp[i])
            if c not in _astral:
                _astral[c] = _classify(chr(c)) if c <= 0x10FFFF else 0
            out[i] = _astral[c]
        return out
    return t[cp]


def codepoints(text: str) -> np.ndarray:
    """The code points of a text as uint32 (lone surrogates kept as their values)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
