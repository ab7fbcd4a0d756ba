"""Text normalisation and UTF-8 repair: owns how raw bytes become the text every tagger sees.

- `decode_utf8` decodes bytes, replacing each invalid sequence with U+FFFD and counting them.
- `normalise_text` makes text canonical (NFC, `\\n` line ends, no lone surrogates, no control chars).
- `utf8_verdict` decides whether a document with invalid bytes is kept as repaired or rejected.
- `char_chunks` slices a batch of texts into runs of bounded total length.
"""
from __future__ import annotations

import codecs
import re
import threading
import unicodedata

REPLACEMENT = "\ufffd"

# Default thresholds of `utf8_verdict`:
#   MAX_INVALID_FRAC = 0.001: at most one invalid sequence per 1,000 decoded characters is "rare"
#     (a stray Latin-1 byte in a long page); more than that means the text is not really UTF-8
#     (binary, another encoding) and tagging it would only produce garbage.
#   TOLERATED_INVALID = 1: a single invalid sequence is always repaired, however short the text,
#     so a short document is not rejected for one bad byte (quality flags it as `replacement_chars`).
MAX_INVALID_FRAC = 0.001
TOLERATED_INVALID = 1

_local = threading.local()


def _count_and_replace(exc: UnicodeDecodeError):
    # CPython's UTF-8 decoder reports one maximal invalid subpart per call, as the "replace"
    # handler does, so one call = one replaced sequence = one U+FFFD.
    _local.count = getattr(_local, "count", 0) + 1
    return REPLACEMENT, exc.end


codecs.register_error("mixcurate.count_replace", _count_and_replace)


def decode_utf8(raw: bytes) -> tuple[str, int]:
    """Decodes UTF-8, every invalid sequence replaced by U+FFFD; returns (text, number replaced)."""
    try:
        return raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        pass
    _local.count = 0
    text = raw.decode("utf-8", errors="mixcurate.count_replace")
    n, _local.count = _local.count, 0
    return text, n


_SURROGATES = re.compile("[\ud800-\udfff]")
# C0 controls except TAB (0x09) and LF (0x0A), as bytes (CR is turned into LF before they are
# dropped): in UTF-8 a byte below 0x20 is always that character, never part of a multi-byte
# sequence, so deleting them from the encoded text drops exactly those characters, 4-6x faster than
# a regular-expression search of the string.
_CONTROL_BYTES = bytes(c for c in range(0x20) if c not in (0x09, 0x0A))


def normalise_text(text: str) -> str:
    """NFC; CRLF and lone CR -> LF; lone surrogates -> U+FFFD; C0 controls other than TAB/LF removed."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        # Surrogates first: NFC and later UTF-8 encoding cannot deal with them.
        text = _SURROGATES.sub(REPLACEMENT, text)
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
    encoded = text.encode("utf-8")
    kept = encoded.translate(None, _CONTROL_BYTES)
    if len(kept) == len(encoded):     # the common case: nothing to drop, no copy
        return text
    return kept.decode("utf-8")


def utf8_verdict(n_invalid: int, n_chars: int, max_invalid_frac: float = MAX_INVALID_FRAC,
                 tolerated: int = TOLERATED_INVALID) -> str:
    """"ok" (no invalid bytes), "repaired" (rare: at most `tolerated` sequences, or at most
    `max_invalid_frac` of the decoded characters) or "reject" (frequent)."""
    if n_invalid <= 0:
        return "ok"
    if n_invalid <= tolerated or n_invalid <= max_invalid_frac * max(n_chars, 0):
        return "repaired"
    return "reject"


def char_chunks(texts: list[str], max_chars: int):
    """(start, end) of consecutive slices of `texts` holding at most `max_chars` characters each
    (a text longer than that is a slice of its own): batch work whose memory grows with the text."""
    start = 0
    while start < len(texts):
        end, size = start, 0
        while end < len(texts) and (end == start or size + len(texts[end]) <= max_chars):
            size += len(texts[end])
            end += 1
        yield start, end
        start = end
