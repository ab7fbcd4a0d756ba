"""Per-code-point character classes as numpy bit masks: owns what "letter", "space", "upper" and
"word character" mean for every tagger, so that batches of texts are classified with one table
lookup instead of per-character Python or per-document regular expressions.

Definitions (the same as Python's `re` on `str`):
- LETTER: `[^\\W\\d_]`, i.e. `ch.isalnum() and not ch.isdecimal()` (letters, plus numeric signs
  such as `²` or `½` that are not decimal digits, as `re` counts them);
- DIGIT: the ASCII digits 0-9 only; UPPER: `ch.isupper()`; SPACE: `ch.isspace()` (what `str.split()`
  splits on); WORD_APOS: `[\\w']` (word characters and the apostrophe, the boundary of stop words);
  DECIMAL: `\\d` (`ch.isdecimal()`); HAS_LOWER: `ch.lower() != ch` (capitals, title-case letters).

`lower` maps code points to lower case one for one: `ch.lower()` where that is a single character
with the same class bits as `ch` (every case pair of Unicode but a handful: `İ`, whose lower case is
two characters, stays itself, and a final capital sigma becomes `σ`, not `ς`), so the lowered array
keeps its length and its word and space boundaries.

The tables cover the Basic Multilingual Plane (built once on first use, ~10 ms each); the rare code
points above U+FFFF are classified (lowered) one by one and cached.
"""
from __future__ import annotations

import numpy as np

LETTER, DIGIT, UPPER, SPACE, WORD_APOS, DECIMAL, HAS_LOWER = 1, 2, 4, 8, 16, 32, 64
_BMP = 0x10000
_table: np.ndarray | None = None
_astral: dict[int, int] = {}
_lower_table: np.ndarray | None = None
_astral_lower: dict[int, int] = {}


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
    if ch.lower() != ch:
        c |= HAS_LOWER
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
        t[np.fromiter((ch.lower() != ch for ch in s), dtype=bool, count=_BMP)] |= HAS_LOWER
        t[[ord("_"), ord("'")]] |= WORD_APOS
        _table = t
    return _table


def classes(cp: np.ndarray) -> np.ndarray:
    """Class bits (uint8) of an array of code points (uint32)."""
    t = table()
    if cp.size and int(cp.max()) >= _BMP:
        out = t.take(np.minimum(cp, _BMP - 1))
        idx = np.nonzero(cp >= _BMP)[0]
        for i in idx.tolist():
            c = int(cp[i])
            if c not in _astral:
                _astral[c] = _classify(chr(c)) if c <= 0x10FFFF else 0
            out[i] = _astral[c]
        return out
    return t.take(cp)    # take, not t[cp]: numpy indexes with uint32 2.3 times slower


def _lower_of(c: int) -> int:
    if 0xD800 <= c < 0xE000 or c > 0x10FFFF:
        return c
    ch = chr(c)
    low = ch.lower()
    keep = ~(UPPER | HAS_LOWER)
    if len(low) != 1 or _classify(low) & keep != _classify(ch) & keep:
        return c
    return ord(low)


def lower(cp: np.ndarray, cls: np.ndarray | None = None) -> np.ndarray:
    """The lower case of each code point (uint32), one for one (see the module docstring); `cls`:
    their `classes`, when already known (only the HAS_LOWER ones are looked up)."""
    global _lower_table
    if _lower_table is None:
        t = np.arange(_BMP, dtype=np.uint32)
        changed = np.flatnonzero(table() & HAS_LOWER).tolist()
        t[changed] = [_lower_of(c) for c in changed]
        _lower_table = t
    out = cp.copy()
    at = np.flatnonzero((classes(cp) if cls is None else cls) & HAS_LOWER)
    if not len(at):
        return out
    got = cp[at]
    astral = got >= _BMP
    out[at] = _lower_table.take(np.minimum(got, _BMP - 1))
    for i in at[astral].tolist():
        c = int(cp[i])
        if c not in _astral_lower:
            _astral_lower[c] = _lower_of(c)
        out[i] = _astral_lower[c]
    return out


def codepoints(text: str) -> np.ndarray:
    """The code points of a text as uint32 (lone surrogates kept as their values)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
