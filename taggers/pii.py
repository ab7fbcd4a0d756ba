"""Personal data in text: e-mail addresses, IP addresses (v4 and v6) and phone numbers. Owns the
patterns, their counts per document (`count_batch`, reported in `quality_signals` as
`pii_email_count`, `pii_ip_count`, `pii_phone_count`) and masking (`mask_batch`, off by default in
`tag_batch`; the placeholders are `MASKS`).

The patterns aim at precision (a false positive rewrites real text when masking):
- e-mail: `local@domain.tld`, the domain made of DNS labels and a 2-24 letter TLD; `icon@2x.png`
  style asset names (TLD that is an image/file extension) are not addresses.
- IPv4: four dotted decimal octets 0-255 without leading zeros, not part of a longer dotted run
  (`1.2.3.4.5` is an OID or version), not after `v`/`version`/`release` (version numbers), not
  glued to letters or digits.
- IPv6: a candidate of hex groups and colons validated by `ipaddress.IPv6Address`, with at least
  three non-empty groups (so `a::b`, `std::vector`, clock times `12:30:45` and MAC addresses are not
  addresses); an IPv4-mapped tail (`::ffff:10.0.0.1`) counts as one IPv6 address.
- phone numbers: international `+CC ...` (8-15 digits, E.164), North American `(555) 123-4567` /
  `555-123-4567` / `555.123.4567` (one separator used consistently), and national numbers with a
  trunk `0` written in groups (`020 7946 0958`, 10-11 digits). Dates (`2024-01-15`), years in a
  row, versions and bare digit strings are not phone numbers.
"""
from __future__ import annotations

import functools
import ipaddress
import re
import string

import numpy as np

from taggers import charclass

MASKS = {"email": "<EMAIL>", "ip": "<IP_ADDRESS>", "phone": "<PHONE_NUMBER>"}
PII_SIGNAL_NAMES = ("pii_email_count", "pii_ip_count", "pii_phone_count")

_FILE_EXT = r"(?:png|jpe?g|gif|svg|webp|bmp|ico|pdf|js|css|html?|py|txt)"
EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?!" + _FILE_EXT + r"\b)[A-Za-z]{2,24}(?![\w-]|\.[A-Za-z0-9])")
# the characters an address can have right before its "@" (end of the local part) and right after
_LOCAL_END = frozenset(string.ascii_letters + string.digits + "_%+-")
_DOMAIN_START = frozenset(string.ascii_letters + string.digits)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(r"(?<![\w.])(?<!\.)" + rf"{_OCTET}(?:\.{_OCTET}){{3}}" + r"(?![\w-]|\.\d)")
_VERSION_BEFORE = re.compile(r"(?:\bv|\bver\.?|version|release|rev\.?)\s*$", re.IGNORECASE)
IPV6_CANDIDATE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:" + rf"{_OCTET}(?:\.{_OCTET}){{3}}"
    + r"|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)")
PHONE = re.compile(
    r"(?<![\w+.-])(?:"
    r"\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,4}){2,5}"            # international
    r"|\(\d{3}\)[ ]?\d{3}[-. ]\d{4}"                                    # (555) 123-4567
    r"|\d{3}(?P<sep>[-.])\d{3}(?P=sep)\d{4}"                            # 555-123-4567
    r"|0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}"                                 # 020 7946 0958
    r")(?![\w-]|[.:]\d)")
_DIGIT = re.compile(r"\d")
# Cheap pre-scans (a character class or literal first, so the regex engine skips ahead fast); the
# strict patterns above only run in a window around each candidate.
_NUMERIC_PRE = re.compile(r"[\d(+][\d ().+-]{5,}\d")    # IPv4 addresses and phone numbers
_IPV6_PRE = re.compile(r":[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{1,4}(?![g-zG-Z_])")
# Faster forms of _NUMERIC_PRE with the same matches: `\d` is a Unicode category test per
# character, an explicit character set one table lookup (2x faster scans). On ASCII-only text `\d`
# is exactly 0-9; otherwise `_numeric_wide()` spells `\d` as the BMP decimal digits plus every
# astral code point (the 25 exact astral ranges would be tested one by one, at every character).
_NUMERIC_ASCII = re.compile(r"[0-9(+][0-9 ().+-]{5,}[0-9]")


@functools.cache
def _numeric_wide() -> re.Pattern:
    digits = np.flatnonzero(charclass.table() & charclass.DECIMAL)     # BMP code points of `\d`
    runs = np.split(digits, np.flatnonzero(np.diff(digits) != 1) + 1)
    d = "".join(f"\\u{r[0]:04x}-\\u{r[-1]:04x}" for r in runs) + "\\U00010000-\\U0010ffff"
    return re.compile(f"[{d}(+][{d} ().+-]{{5,}}[{d}]")


def _numeric_candidates(text: str) -> list[re.Match]:
    """The matches of `_NUMERIC_PRE.finditer(text)`, found with the faster patterns."""
    if text.isascii():
        return list(_NUMERIC_ASCII.finditer(text))
    found = []
    for c in _numeric_wide().finditer(text):
        # Either pattern matches at most once per maximal run of its `[\d ().+-]` characters (from
        # the run's first `[\d(+]` to its last digit), so a wide match without astral code points
        # is the exact match; one with some (the wide set over-accepts them) spans every exact
        # match of its run: re-scan that window with the exact pattern.
        if max(c.group()) > "\uffff":
            found += _NUMERIC_PRE.finditer(text, c.start(), c.end())
        else:
            found.append(c)
    return found


def _windowed(strict: re.Pattern, pre, text: str, back: int, fwd: int):
    """Matches of `strict` that start within `back` characters before a pre-scan match or inside it
    (each once); `fwd` extra characters let the strict pattern's look-ahead see past the window.
    `pre`: a pattern, or an iterator of its matches."""
    last_end = -1
    for c in (pre.finditer(text) if isinstance(pre, re.Pattern) else pre):
        lo = max(c.start() - back, last_end, 0)
        for m in strict.finditer(text, lo, min(len(text), c.end() + fwd)):
            if m.start() >= c.end():
                break
            last_end = max(last_end, m.end())
            yield m


def _ascii_digits(s: str) -> int:
    return sum(map(s.count, "0123456789"))


def _ipv4_ok(text: str, m: re.Match) -> bool:
    return _VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start()) is None


def _ipv6_ok(m: re.Match) -> bool:
    s = m.group(0)
    if s.endswith(":") and not s.endswith("::"):
        return False
    if sum(1 for g in re.split(r"[:.]", s) if g) < 3:
        return False
    try:
        ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return True


def _phone_ok(m: re.Match) -> bool:
    n = len(_DIGIT.findall(m.group(0)))
    s = m.group(0)
    if s.startswith("+"):
        return 8 <= n <= 15
    if s.startswith("0"):
        return 10 <= n <= 11
    return n == 10


def spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every PII match in a text, kind in MASKS, non-overlapping, in order
    (e-mails first, then IPv6, IPv4 and phone numbers outside spans already found)."""
    found: list[tuple[int, int, str]] = []

    def free(a, b):
        return all(b <= s or a >= e for s, e, _ in found)

    at = text.find("@")
    while at >= 0:       # e-mails: a window around each "@"
        # most "@" (handles, decorators) have no address character on both sides: skip the scan
        if 0 < at < len(text) - 1 and text[at - 1] in _LOCAL_END and text[at + 1] in _DOMAIN_START:
            lo = max(0, at - 64)
            for m in EMAIL.finditer(text, lo, min(len(text), at + 256)):
                if m.start() <= at < m.end():
                    if free(m.start(), m.end()):
                        found.append((m.start(), m.end(), "email"))
                    break    # later matches start after this "@" (so do the rest, once one does)
                if m.start() > at:
                    break
        at = text.find("@", at + 1)
    # (the IPv6 pre-scan needs two ":" and costs less than counting them first)
    found += [(m.start(), m.end(), "ip") for m in _windowed(IPV6_CANDIDATE, _IPV6_PRE, text, 40, 48)
              if _ipv6_ok(m) and free(m.start(), m.end())]
    # IPv4 addresses and phone numbers hold at least 4 digits: texts with fewer ASCII digits have no
    # numeric candidates (counted in the candidates first, as counting over the text costs more)
    numeric = _numeric_candidates(text)
    if numeric and not (_ascii_digits("".join([c.group() for c in numeric])) >= 4
                        or _ascii_digits(text) >= 4):
        numeric = []
    if numeric:
        # an IPv4 address has three dots; a phone number at least 8 digits (10+ characters)
        v4 = [c for c in numeric if c.group().count(".") >= 3]
        tel = [c for c in numeric if c.end() - c.start() >= 10]
        if v4:
            found += [(m.start(), m.end(), "ip") for m in _windowed(IPV4, iter(v4), text, 0, 3)
                      if _ipv4_ok(text, m) and free(m.start(), m.end())]
        if tel:
            found += [(m.start(), m.end(), "phone") for m in _windowed(PHONE, iter(tel), text, 0, 3)
                      if _phone_ok(m) and free(m.start(), m.end())]
    found.sort()
    return found


def count_batch(texts: list[str]) -> list[dict[str, float]]:
    """{pii_email_count, pii_ip_count, pii_phone_count} (floats) for each text."""
    out = []
    for t in texts:
        c = {"email": 0, "ip": 0, "phone": 0}
        for _, _, kind in spans(t):
            c[kind] += 1
        out.append({"pii_email_count": float(c["email"]), "pii_ip_count": float(c["ip"]),
                    "pii_phone_count": float(c["phone"])})
    return out


def mask(text: str, masks: dict[str, str] | None = None) -> str:
    """The text with every PII span replaced by its placeholder (MASKS by default)."""
    masks = masks or MASKS
    parts, pos = [], 0
    for s, e, kind in spans(text):
        parts.append(text[pos:s])
        parts.append(masks[kind])
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


def mask_batch(texts: list[str], masks: dict[str, str] | None = None) -> list[str]:
    """`mask` of every text."""
    return [mask(t, masks) for t in texts]
