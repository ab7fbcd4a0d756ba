"""The language-ID evaluation set: paragraphs of real translated documentation in 30 languages.

Owns: which registry packages hold the text (the Debian Administrator's Handbook, the Debian
installation guide, and the translated manual pages of `manpages-<ll>` with the English ones of
`manpages`), turning their pages into paragraphs, the rules that decide which paragraphs are
labelled, and the files `make lid-eval` writes (`paragraphs.jsonl.gz`: text, lang, source, page;
`stats.json`: counts per rule, source and language).

A paragraph's label is the language its folder was translated into (lid.176's codes: `nb` is
`no`, `pt_BR` is `pt`, `zh_CN`/`zh_TW` are `zh`). Translations keep untranslated English and
language-neutral text (commands, option lists, tables), so four rules, none of them a language-ID
model, drop what the folder does not vouch for:

- `repeated_in_other_language`: at least half of the paragraph's word 3-grams occur in the same
  source in another language (untranslated text is the same in every translation and in the
  original; commands and option lists are too);
- `english_words` (non-English folders only): at least `MAX_ENGLISH_WORD_SHARE` of its words are
  English function words that translated prose does not use (an untranslated paragraph of a page
  that only one language translated);
- `wrong_script`: fewer than half of its letters are in the language's writing system (an
  English paragraph in a Chinese page, a row of underscores);
- `symbols`: more than `MAX_SYMBOL_WORD_SHARE` of its words hold a digit or a character of code
  and option lists (synopses, tables, listings).

English is the original, so the first two rules cannot apply to it; an English paragraph is kept
when it is prose (`not_prose` otherwise: fewer than `MAX_ENGLISH_WORD_SHARE` of its words are
English function words, as in commands, option lists and code).

Only paragraphs of at least `MIN_PARAGRAPH_CHARS` characters (whitespace collapsed) are kept, the
length at which the issue sets its language-ID target. The manual pages are a source the tagger models never
train on; the handbook is also in the sample corpus (no model of ours learns languages from it, but
`stats.json` keeps the sources apart so a figure can leave it out).
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from corpus.fetch import FetchError, Fetcher
from corpus.htmltext import html_blocks
from corpus.sources import _lang_of_folder, _read_text, _trigrams

MIN_PARAGRAPH_CHARS = 200
MAX_ENGLISH_WORD_SHARE = 0.05
MAX_SYMBOL_WORD_SHARE = 0.2
# English words that translated prose of the 30 languages here does not use (words that are also
# common words elsewhere are left out: Dutch `is`/`of`, German `will`/`an`, Finnish `on`, Danish
# and Norwegian `at`/`have`/`for`)
ENGLISH_MARKERS = frozenset(
    "the that this with which are be by from when if not you your it can was has been used "
    "should must there these those such into than".split())

MANPAGE_LANGS = ["cs", "da", "de", "el", "es", "fi", "fr", "hu", "id", "it", "ja", "mk", "nb",
                 "nl", "pl", "pt-br", "ro", "ru", "sr", "sv", "tr", "uk", "vi", "zh"]
HANDBOOK_HTML = "usr/share/doc/debian-handbook/html"
GUIDE_HTML = "usr/share/doc/installation-guide-amd64"
MAN_ROOT = "usr/share/man"

_SYMBOLS = frozenset("[]{}|<>=_/\\();*#$@%&^~`")
_LATIN = ("LATIN",)
_CYRILLIC = ("CYRILLIC",)
SCRIPTS = {  # first word of the Unicode names of a language's letters
    **{l: _LATIN for l in ("ca", "cs", "da", "de", "en", "es", "fi", "fr", "hr", "hu", "id", "it",
                           "nl", "no", "pl", "pt", "ro", "sv", "tr", "vi")},
    **{l: _CYRILLIC for l in ("ru", "uk", "mk")},
    "el": ("GREEK",), "ar": ("ARABIC",), "fa": ("ARABIC",),
    "zh": ("CJK",), "ja": ("CJK", "HIRAGANA", "KATAKANA"), "ko": ("HANGUL", "CJK"),
}
_LETTERS = re.compile(r"[^\W\d_]+")


@dataclass
class Page:
    """One page of one source in one language: its paragraphs in reading order."""
    source: str
    lang: str
    page: str
    paragraphs: list[str]


def collapse(paragraph: str) -> str:
    """Whitespace runs (newlines included) to one space, ends stripped."""
    return " ".join(paragraph.split())


def english_word_share(paragraph: str) -> float:
    """Share of the paragraph's words (letter runs) that are in ENGLISH_MARKERS."""
    w = _LETTERS.findall(paragraph.lower())
    return sum(x in ENGLISH_MARKERS for x in w) / len(w) if w else 0.0


def symbol_word_share(paragraph: str) -> float:
    """Share of the paragraph's whitespace-separated words that hold a digit or one of `_SYMBOLS`,
    or start with `-` (an option)."""
    w = paragraph.split()
    return sum(x[0] == "-" or any(c.isdigit() or c in _SYMBOLS for c in x) for x in w) / len(w) \
        if w else 0.0


def script_share(paragraph: str, lang: str) -> float:
    """Share of the paragraph's letters written in `lang`'s script (1.0 for a language this module
    gives no script: Serbian is written in two). Unicode character names say the script."""
    scripts = SCRIPTS.get(lang)
    if scripts is None:
        return 1.0
    letters = [c for c in paragraph if c.isalpha()]
    if not letters:
        return 0.0
    return sum(unicodedata.name(c, "").split(" ", 1)[0] in scripts for c in letters) / len(letters)


def label(pages: list[Page]) -> tuple[list[dict], dict]:
    """Rows {text, lang, source, page} of the paragraphs the rules keep, and counts
    {source: {lang: {kept, short, repeated_in_other_language, english_words, not_prose, wrong_script,
    symbols}}}.
    3-grams are compared within a source: `pages` may hold several sources."""
    seen: dict[tuple[str, tuple], set[str]] = {}   # (source, 3-gram) -> languages using it
    for p in pages:
        for para in p.paragraphs:
            for g in _trigrams(para):
                seen.setdefault((p.source, g), set()).add(p.lang)
    rows: list[dict] = []
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for p in pages:
        c = counts.setdefault(p.source, {}).setdefault(p.lang, dict.fromkeys(
            ("kept", "short", "repeated_in_other_language", "english_words", "not_prose",
             "wrong_script", "symbols"), 0))
        for raw in p.paragraphs:
            para = collapse(raw)
            if len(para) < MIN_PARAGRAPH_CHARS:
                c["short"] += 1
                continue
            grams = _trigrams(raw)
            if p.lang == "en":
                if english_word_share(para) < MAX_ENGLISH_WORD_SHARE:
                    c["not_prose"] += 1
                    continue
            elif 2 * sum(1 for g in grams if len(seen[(p.source, g)]) > 1) >= len(grams):
                c["repeated_in_other_language"] += 1
                continue
            elif english_word_share(para) >= MAX_ENGLISH_WORD_SHARE:
                c["english_words"] += 1
                continue
            if script_share(para, p.lang) < 0.5:
                c["wrong_script"] += 1
            elif symbol_word_share(para) > MAX_SYMBOL_WORD_SHARE:
                c["symbols"] += 1
            else:
                c["kept"] += 1
                rows.append({"text": para, "lang": p.lang, "source": p.source, "page": p.page})
    return rows, counts


# ---------------------------------------------------------------------------- reading the packages
def html_paragraphs(path: str) -> list[str]:
    """The non-heading blocks of an HTML page."""
    return [t for level, t in html_blocks(_read_text(path, fallback="latin-1")) if level == 0]


def man_paragraphs(path: str) -> list[str]:
    """A manual page rendered by `man -l` (lines unwrapped: MANWIDTH=2000; overstrike removed),
    split on blank lines; a line at the left margin (a section heading, the page's header and
    footer) is a paragraph of its own, as body text is indented."""
    env = dict(os.environ, MANWIDTH="2000", MAN_KEEP_FORMATTING="0", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "-l", path], capture_output=True, env=env, timeout=60)
    text = re.sub(r".\x08", "", r.stdout.decode("utf-8", errors="replace"))
    paras: list[str] = []
    cur: list[str] = []
    for line in text.splitlines():
        if not line.strip() or not line[0].isspace():
            if cur:
                paras.append("\n".join(cur))
                cur = []
            if line.strip():
                paras.append(line)
        else:
            cur.append(line)
    if cur:
        paras.append("\n".join(cur))
    return paras


def _html_pages(source: str, base: str, folders: dict[str, str]) -> list[Page]:
    pages = []
    for folder, lang in folders.items():
        top = os.path.join(base, folder)
        for name in sorted(os.listdir(top)):
            if name.endswith(".html") and name != "index.html":
                pages.append(Page(source, lang, f"{folder}/{name}",
                                  html_paragraphs(os.path.join(top, name))))
    return pages


def handbook_pages(root: str) -> list[Page]:
    base = os.path.join(root, HANDBOOK_HTML)
    folders = {f: _lang_of_folder(f) for f in sorted(os.listdir(base))
               if re.match(r"[a-z]{2}-[A-Z]{2}\Z", f)}
    return _html_pages("debian_handbook", base, folders)


def guide_pages(root: str) -> list[Page]:
    base = os.path.join(root, GUIDE_HTML)
    folders = {f: _lang_of_folder(f) for f in sorted(os.listdir(base))
               if os.path.isdir(os.path.join(base, f))}
    return _html_pages("installation_guide", base, folders)


def man_pages(root: str, workers: int = 4) -> list[Page]:
    """Every page under usr/share/man: `man<N>/` folders are English, `<ll>[_CC]/man<N>/` the
    translations."""
    if shutil.which("man") is None:
        raise FetchError("corpus: the language-ID evaluation renders manual pages with `man`, "
                         "which this machine does not have (apt package man-db)")
    base = os.path.join(root, MAN_ROOT)
    jobs = []
    for dirpath, _, files in os.walk(base):
        rel = os.path.relpath(dirpath, base)
        first = rel.split(os.sep)[0]
        lang = "en" if first.startswith("man") else _lang_of_folder(first)
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            if os.path.isfile(path) and not os.path.islink(path):
                page = os.path.relpath(path, base)
                jobs.append((lang, page, path))
    jobs.sort()
    with ThreadPoolExecutor(workers) as ex:
        texts = list(ex.map(lambda j: man_paragraphs(j[2]), jobs))
    return [Page("manpages", lang, page, paras) for (lang, page, _), paras in zip(jobs, texts)]


def code_digest() -> str:
    """sha256 of this module: a changed rule makes an earlier set out of date."""
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def build(out_dir: str, cache: str, workers: int = 4, force: bool = False, log=print) -> dict:
    """Download the packages (cached), label their paragraphs and write `out_dir` (staged, then
    renamed into place). A set written by the same code from the same packages is kept as it is
    unless `force`. Returns its stats."""
    fetcher = Fetcher(cache, log=log)
    man_pkgs = ["manpages"] + [f"manpages-{ll}" for ll in MANPAGE_LANGS]
    pkgs = fetcher.apt(["debian-handbook", "installation-guide-amd64"] + man_pkgs)
    specs = sorted(p.spec for p in pkgs.values())
    stats_path = os.path.join(out_dir, "stats.json")
    if not force and os.path.isfile(stats_path):
        with open(stats_path, encoding="utf-8") as f:
            old = json.load(f)
        if old.get("code_sha256") == code_digest() and old.get("packages") == specs:
            log(f"lid-eval: {out_dir} is up to date (same code and packages)")
            return old
    with tempfile.TemporaryDirectory(prefix="lid-eval-") as tmp:
        roots = {}
        for name, pkg in pkgs.items():
            dest = os.path.join(tmp, "man" if name.startswith("manpages") else name)
            roots[name] = fetcher.extract_deb(pkg, dest)
        pages = (handbook_pages(roots["debian-handbook"])
                 + guide_pages(roots["installation-guide-amd64"])
                 + man_pages(roots["manpages"], workers))
    rows, counts = label(pages)
    stats = {"packages": specs, "code_sha256": code_digest(),
             "rules": {"min_paragraph_chars": MIN_PARAGRAPH_CHARS,
                       "max_english_word_share": MAX_ENGLISH_WORD_SHARE,
                       "max_symbol_word_share": MAX_SYMBOL_WORD_SHARE},
             "paragraphs": len(rows),
             "languages": sorted({r["lang"] for r in rows}),
             "counts": counts}
    tmp_dir = out_dir.rstrip("/") + ".partial"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    os.makedirs(tmp_dir)
    with gzip.open(os.path.join(tmp_dir, "paragraphs.jsonl.gz"), "wt", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(tmp_dir, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=1, sort_keys=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp_dir, out_dir)
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", default="data/lid_eval")
    ap.add_argument("--cache", default="data/cache")
    ap.add_argument("--workers", type=int, default=4, help="manual pages rendered at once")
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = ap.parse_args(argv)
    try:
        stats = build(args.output, args.cache, args.workers, args.force)
    except FetchError as e:
        print(e, file=sys.stderr)
        return 2
    per_lang: dict[str, int] = {}
    for by_lang in stats["counts"].values():
        for lang, c in by_lang.items():
            per_lang[lang] = per_lang.get(lang, 0) + c["kept"]
    print(f"lid-eval: {stats['paragraphs']} paragraphs in {len(stats['languages'])} languages -> "
          f"{args.output}")
    print("  " + ", ".join(f"{k} {v}" for k, v in sorted(per_lang.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
