"""Cutting long texts into documents of realistic size.

Owns: grouping HTML blocks into sections at headings, splitting TeX at sectioning commands and reST
at underlined titles, cutting over-long texts at paragraph (prose) or top-level-definition (code)
boundaries, and splitting fortune files on `%` lines. Tiny sections are merged into their neighbour
instead of being emitted as fragments. All functions are pure: text in, list of texts out.
"""
from __future__ import annotations

import re

MIN_SECTION_CHARS = 300        # a section shorter than this is merged into the next one
MAX_PROSE_CHARS = 40_000       # prose documents are cut at paragraph breaks above this
MAX_CODE_CHARS = 200_000       # source files are cut between top-level definitions above this


def cap_paragraphs(text: str, max_chars: int = MAX_PROSE_CHARS) -> list[str]:
    """Cut `text` at blank lines into pieces of at most `max_chars` (a single paragraph longer than
    that is cut at line breaks, then hard)."""
    if len(text) <= max_chars:
        return [text]
    paras = re.split(r"\n\s*\n", text)
    units: list[str] = []
    for p in paras:
        if len(p) <= max_chars:
            units.append(p)
            continue
        units.extend(_cap_lines(p, max_chars))
    return _pack(units, max_chars, "\n\n")


def _cap_lines(text: str, max_chars: int) -> list[str]:
    out = []
    for line in text.split("\n"):
        while len(line) > max_chars:
            out.append(line[:max_chars])
            line = line[max_chars:]
        out.append(line)
    return _pack(out, max_chars, "\n")


def _pack(units: list[str], max_chars: int, sep: str) -> list[str]:
    """Greedily join consecutive units with `sep` while the result stays within max_chars."""
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for u in units:
        add = len(u) + (len(sep) if cur else 0)
        if cur and size + add > max_chars:
            out.append(sep.join(cur))
            cur, size = [], 0
            add = len(u)
        cur.append(u)
        size += add
    if cur:
        out.append(sep.join(cur))
    return [o for o in out if o.strip()]


def _merge_small(sections: list[str], min_chars: int, sep: str = "\n\n") -> list[str]:
    """Merge each section shorter than min_chars into the following one (the last into the one
    before), so headings with little text under them do not become fragments."""
    out: list[str] = []
    carry = ""
    for s in sections:
        s = (carry + sep + s) if carry else s
        if len(s.strip()) < min_chars:
            carry = s
            continue
        out.append(s)
        carry = ""
    if carry.strip():
        if out:
            out[-1] = out[-1] + sep + carry
        else:
            out.append(carry)
    return out


def sections_from_blocks(blocks: list[tuple[int, str]], max_level: int = 3,
                         min_chars: int = MIN_SECTION_CHARS,
                         max_chars: int = MAX_PROSE_CHARS) -> list[str]:
    """Group HTML blocks into sections: a new section starts at each heading of level <= max_level;
    small sections are merged forward; long ones are cut at paragraph boundaries."""
    sections: list[list[str]] = []
    cur: list[str] = []
    for level, text in blocks:
        if level and level <= max_level and cur:
            sections.append(cur)
            cur = []
        cur.append(text)
    if cur:
        sections.append(cur)
    merged = _merge_small(["\n\n".join(s) for s in sections], min_chars)
    out: list[str] = []
    for s in merged:
        out.extend(cap_paragraphs(s, max_chars))
    return out


TEX_SECTION = re.compile(r"^\\(chapter|section|subsection|subsubsection|subsec|subsubsec)\b",
                         re.MULTILINE)


def split_tex(text: str, min_chars: int = MIN_SECTION_CHARS,
              max_chars: int = MAX_PROSE_CHARS) -> list[str]:
    """Split TeX source at lines starting with a sectioning command (\\chapter, \\section,
    \\subsection, and PARI's \\subsec / \\subsubsec); the preamble before the first one is a
    section too. Small sections are merged forward, long ones cut at blank lines."""
    starts = [m.start() for m in TEX_SECTION.finditer(text)]
    if not starts or starts[0] != 0:
        starts = [0] + starts
    pieces = [text[a:b].strip("\n") for a, b in zip(starts, starts[1:] + [len(text)])]
    pieces = [p for p in pieces if p.strip()]
    out: list[str] = []
    for s in _merge_small(pieces, min_chars):
        out.extend(cap_paragraphs(s, max_chars))
    return out


_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+<>:._])\1{2,}\s*$")


def split_rst(text: str, min_chars: int = MIN_SECTION_CHARS,
              max_chars: int = MAX_PROSE_CHARS) -> list[str]:
    """Split reStructuredText at section titles (a text line underlined, optionally also overlined,
    with a repeated punctuation character at least as long as the title)."""
    lines = text.split("\n")
    cuts = [0]
    i = 1
    while i < len(lines):
        title = lines[i - 1]
        if (_RST_UNDERLINE.match(lines[i]) and title.strip() and not _RST_UNDERLINE.match(title)
                and len(lines[i].rstrip()) >= len(title.rstrip()) and not title.startswith(" ")):
            start = i - 1
            if start >= 1 and _RST_UNDERLINE.match(lines[start - 1]):
                start -= 1
            if start > cuts[-1]:
                cuts.append(start)
        i += 1
    pieces = ["\n".join(lines[a:b]).strip("\n") for a, b in zip(cuts, cuts[1:] + [len(lines)])]
    pieces = [p for p in pieces if p.strip()]
    out: list[str] = []
    for s in _merge_small(pieces, min_chars):
        out.extend(cap_paragraphs(s, max_chars))
    return out


def split_code(text: str, max_chars: int = MAX_CODE_CHARS) -> list[str]:
    """A source file as one document, or, above max_chars, several: cut at blank lines that are
    followed by a line starting in column 0 (a top-level definition), packed up to max_chars."""
    if len(text) <= max_chars:
        return [text]
    units: list[str] = []
    cur: list[str] = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if (cur and i > 0 and not lines[i - 1].strip() and line[:1] not in ("", " ", "\t", "}", ")")):
            units.append("\n".join(cur))
            cur = []
        cur.append(line)
    if cur:
        units.append("\n".join(cur))
    expanded: list[str] = []
    for u in units:
        expanded.extend(_cap_lines(u, max_chars) if len(u) > max_chars else [u])
    return _pack(expanded, max_chars, "\n")


def split_fortunes(text: str) -> list[str]:
    """The entries of a fortune(6) data file: text between lines consisting of `%` alone."""
    entries = re.split(r"^%[ \t]*$", text, flags=re.MULTILINE)
    return [e.strip("\n") for e in entries if e.strip()]
