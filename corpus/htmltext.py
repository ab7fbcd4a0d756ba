"""HTML to plain text with the standard library's `html.parser`.

Owns: turning one HTML page into a list of blocks `(level, text)`, where `level` is 1..6 for a
heading and 0 for a paragraph-like block. Navigation, headers, footers, scripts, styles and tables of
contents are skipped (by tag, or by a class/id token such as `docnav`, `navheader`, `toc`);
paragraph-level elements end a block; `<br>` and table rows end a line; `<pre>` keeps its layout.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

SKIP_TAGS = {"script", "style", "head", "nav", "header", "footer", "noscript", "template", "svg",
             "button", "form", "select", "iframe", "object"}
SKIP_TOKENS = {"nav", "navbar", "navheader", "navfooter", "docnav", "banner", "header", "footer",
               "breadcrumb", "breadcrumbs", "sphinxsidebar", "sidebar", "related", "toc", "menu",
               "navigation", "headerlink", "skip", "contsect", "contss", "contssblock", "contchap",
               "chlinktop", "chlinkbot", "chlinkprevnexttop", "chlinkprevnextbot", "chlink1",
               "searchbox", "copyright-footer", "contents", "footnote-nav", "mini-toc",
               "copiable-link", "copiable-anchor"}
BLOCK_TAGS = {"p", "div", "section", "article", "main", "aside", "ul", "ol", "li", "dl", "dt", "dd",
              "table", "thead", "tbody", "tfoot", "caption", "blockquote", "pre", "hr", "figure",
              "figcaption", "address", "center", "body", "html", "details", "summary", "fieldset"}
LINE_TAGS = {"br", "tr"}
CELL_TAGS = {"td", "th"}
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
             "source", "track", "wbr"}
_WS = re.compile(r"[ \t\r\f\v\n\u00a0]+")
_TOKEN_SPLIT = re.compile(r"[\s_\-]+")


def _is_skipped(tag: str, attrs) -> bool:
    if tag in SKIP_TAGS:
        return True
    for k, v in attrs:
        if k in ("class", "id", "role") and v:
            low = v.lower()
            if any(t in SKIP_TOKENS for t in low.split()):
                return True
            if any(t in ("navheader", "navfooter", "docnav", "toc", "sphinxsidebar")
                   for t in _TOKEN_SPLIT.split(low)):
                return True
    return False


class _BlockParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[int, str]] = []
        self._lines: list[str] = []     # finished lines of the current block
        self._line: list[str] = []      # pieces of the current line
        self._skip_tag: str | None = None
        self._skip_depth = 0
        self._pre = 0
        self._heading = 0
        self._bullet = False            # a list item began: prefix its first block with "- "
        self.title = ""
        self._in_title = False

    # -- block assembly
    def _end_line(self):
        if self._pre:
            text = "".join(self._line)
        else:
            text = _WS.sub(" ", "".join(self._line)).strip()
        self._line = []
        if text or (self._pre and self._lines):
            self._lines.append(text)

    def _end_block(self):
        self._end_line()
        lines = self._lines
        self._lines = []
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if lines:
            text = "\n".join(l.rstrip() for l in lines)
            if self._bullet:
                text = "- " + text
                self._bullet = False
            self.blocks.append((self._heading, text))

    # -- parser callbacks
    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        if self._skip_tag is not None:
            if tag == self._skip_tag and tag not in VOID_TAGS:
                self._skip_depth += 1
            return
        if _is_skipped(tag, attrs):
            if tag not in VOID_TAGS:
                self._skip_tag, self._skip_depth = tag, 1
            return
        if tag in HEADINGS:
            self._end_block()
            self._heading = HEADINGS[tag]
        elif tag in BLOCK_TAGS:
            self._end_block()
            if tag == "pre":
                self._pre += 1
            elif tag == "li":
                self._bullet = True
        elif tag in LINE_TAGS:
            self._end_line()
        elif tag in CELL_TAGS:
            self._line.append(" ")
        elif tag == "img":
            pass

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in HEADINGS:
            self._end_block()
            self._heading = 0
        elif tag in BLOCK_TAGS:
            self._end_block()
            if tag == "pre" and self._pre:
                self._pre -= 1
        elif tag == "tr":
            self._end_line()

    def handle_data(self, data):
        if self._in_title:
            self.title += data
            return
        if self._skip_tag is not None:
            return
        self._line.append(data)
        if self._pre and "\n" in data:
            # keep pre-formatted lines as lines
            parts = "".join(self._line).split("\n")
            for p in parts[:-1]:
                self._lines.append(p)
            self._line = [parts[-1]]

    def close(self):
        super().close()
        self._end_block()


def html_blocks(html: str) -> list[tuple[int, str]]:
    """Blocks `(level, text)` of one HTML page: level 1..6 for headings, 0 for other blocks."""
    p = _BlockParser()
    p.feed(html)
    p.close()
    return p.blocks


def html_title(html: str) -> str:
    """The page's <title>, whitespace collapsed ('' when absent)."""
    p = _BlockParser()
    p.feed(html)
    p.close()
    return _WS.sub(" ", p.title).strip()


def html_to_text(html: str) -> str:
    """The page as plain text, blocks separated by blank lines."""
    return "\n\n".join(t for _, t in html_blocks(html))
