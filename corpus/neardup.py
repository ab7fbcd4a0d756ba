"""Labelled near-duplicate sets built from real documents, for measuring dedup quality.

Owns: the seeded edit functions (inserted, deleted and substituted words, boilerplate headers and
footers, truncation, reordered paragraphs, whitespace and case changes), the boilerplate texts the
sets wrap documents in (web page chrome, site templates, a licence header for code, all written for
this project), the split of sources into two halves (tune on one, report on the other), the choice
of originals that are not already near-duplicates of each other, and `build_set`, which turns real
documents into a labelled set: clusters of one original plus seeded variants, and many singletons,
each document carrying its ground-truth cluster id.

Set kinds (KINDS):
- web: prose with light edits (a few words changed, page chrome added, a little truncation,
  whitespace and case changes);
- boilerplate: short documents, every one wrapped in one of four long site templates (hard
  negatives: different documents sharing ~175 words of header and footer), variants lightly edited
  and sometimes moved to another template;
- code: source files, every one under the same licence header (hard negatives: different files with
  one ~200-word header, identical but for its year), variants with changed identifiers, added and
  removed words, re-indentation, truncation;
- paraphrase: heavy edits (many substitutions, insertions and deletions, reordered paragraphs,
  truncation).

Pure and deterministic: standard library, numpy and scipy only, every random choice from a
`random.Random` seeded by the caller; no files are read here.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass

import numpy as np
from scipy import sparse

KINDS = ("web", "boilerplate", "code", "paraphrase")
_TOKEN = re.compile(r"\S+|\s+")
_PARA = re.compile(r"\n[ \t]*\n")


# ---------------------------------------------------------------- edits on words

def _split(text: str) -> tuple[str, list[list[str]]]:
    """(leading whitespace, [[word, whitespace after it], ...])."""
    tokens = _TOKEN.findall(text)
    lead = ""
    if tokens and tokens[0].isspace():
        lead = tokens.pop(0)
    pairs = []
    for tok in tokens:
        if tok.isspace():
            pairs[-1][1] += tok
        else:
            pairs.append([tok, ""])
    return lead, pairs


def _join(lead: str, pairs: list[list[str]]) -> str:
    return lead + "".join(w + s for w, s in pairs)


def _count(n_words: int, rate: float) -> int:
    return min(n_words, int(round(rate * n_words)))


def substitute_words(text: str, rng: random.Random, rate: float, vocab: list[str]) -> str:
    """Replaces round(rate * words) distinct words, each by a vocabulary word that differs from it
    case-insensitively; whitespace is kept."""
    lead, pairs = _split(text)
    for i in rng.sample(range(len(pairs)), _count(len(pairs), rate)):
        old = pairs[i][0].lower()
        for _ in range(20):
            new = rng.choice(vocab)
            if new.lower() != old:
                break
        else:
            new = pairs[i][0] + "x"
        pairs[i][0] = new
    return _join(lead, pairs)


def insert_words(text: str, rng: random.Random, rate: float, vocab: list[str]) -> str:
    """Inserts round(rate * words) vocabulary words at random places, each followed by a space."""
    lead, pairs = _split(text)
    for _ in range(_count(len(pairs), rate)):
        at = rng.randint(0, len(pairs))
        if at == len(pairs) and pairs:  # at the end: the old last word gets the space
            pairs[-1][1], tail = " ", pairs[-1][1]
            pairs.append([rng.choice(vocab), tail])
        else:
            pairs.insert(at, [rng.choice(vocab), " "])
    return _join(lead, pairs)


def delete_words(text: str, rng: random.Random, rate: float) -> str:
    """Deletes round(rate * words) distinct words; a deleted word's line break moves to the word
    before it, so lines are joined only when a whole line goes."""
    lead, pairs = _split(text)
    drop = set(rng.sample(range(len(pairs)), _count(len(pairs), rate)))
    kept: list[list[str]] = []
    for i, (word, sep) in enumerate(pairs):
        if i not in drop:
            kept.append([word, sep])
        elif kept and sep.count("\n") > kept[-1][1].count("\n"):
            kept[-1][1] = sep
    return _join(lead, kept)


def truncate(text: str, keep: float) -> str:
    """The text up to its ceil(keep * words)-th word (a prefix, at least one word)."""
    lead, pairs = _split(text)
    n = max(1, math.ceil(keep * len(pairs)))
    kept = [list(p) for p in pairs[:n]]
    if kept:
        kept[-1][1] = ""
    return _join(lead, kept)


def paragraphs(text: str) -> list[str]:
    return [p for p in _PARA.split(text.strip()) if p.strip()]


def reorder_paragraphs(text: str, rng: random.Random) -> str:
    """The same paragraphs (blank-line separated) in another order; a text of one paragraph is
    returned unchanged."""
    paras = paragraphs(text)
    if len(paras) < 2 or len(set(paras)) < 2:
        return text
    order = list(range(len(paras)))
    while order == sorted(order):
        rng.shuffle(order)
    return "\n\n".join(paras[i] for i in order)


def add_boilerplate(text: str, header: str = "", footer: str = "") -> str:
    """header, blank line, text, blank line, footer (either may be empty)."""
    parts = [p for p in (header.strip(), text, footer.strip()) if p]
    return "\n\n".join(parts)


def change_whitespace_and_case(text: str, rng: random.Random, share: float) -> str:
    """Changes about `share` of the whitespace runs (space <-> tab, doubled, a line break <-> a
    blank line) and the case of about `share` of the ASCII words (upper, lower or capitalised).
    The words, compared case-insensitively, stay the same."""
    lead, pairs = _split(text)
    for pair in pairs:
        word, sep = pair
        if word.isascii() and rng.random() < share:
            pair[0] = rng.choice((word.upper(), word.lower(), word.capitalize()))
        if sep and rng.random() < share:
            if "\n" in sep:
                pair[1] = "\n\n" if sep.count("\n") == 1 else "\n"
            else:
                pair[1] = rng.choice(("\t", "  ", " \t"))
    return _join(lead, pairs)


# ---------------------------------------------------------------- boilerplate texts (ours)

_SITE_NAMES = ("The Riverside Chronicle", "Northfield Daily Review", "Open Reference Library",
               "Harbour Town Gazette")
_SECTIONS = ("Home", "News", "World", "Business", "Technology", "Science", "Health", "Sport",
             "Culture", "Opinion", "Travel", "Weather", "Podcasts", "Archive", "About us", "Contact")


def site_templates(count: int = 4) -> list[tuple[str, str]]:
    """`count` (header, footer) pairs of a news or reference site: navigation, sign-in, cookie
    notice, newsletter, copyright; about 175 words per template, different sites sharing little."""
    out = []
    for i in range(count):
        name = _SITE_NAMES[i % len(_SITE_NAMES)] + ("" if i < len(_SITE_NAMES) else f" {i}")
        sections = _SECTIONS[i % 4:] + _SECTIONS[:i % 4]
        header = (f"{name}\nSkip to main content | Sign in | Register | Subscribe from 1 euro a week\n"
                  + " | ".join(sections) + "\n"
                  f"We use cookies on {name} to remember your settings, measure how our pages are "
                  f"used and show you content that matters. By continuing to browse {name} you "
                  f"accept this use. Manage your cookie preferences at any time.\n"
                  f"You are reading: {sections[1]} > {sections[2]} > Article")
        footer = (f"Share this page: Email | Print | Copy link\n"
                  f"Sign up for the {name} morning briefing: the stories you need, delivered to your "
                  f"inbox before breakfast every weekday. You can unsubscribe at any time.\n"
                  + " | ".join(("Privacy notice", "Terms of use", "Accessibility", "Advertise with us",
                                "Corrections", "Jobs at " + name.split()[-1], "Help centre")) + "\n"
                  f"Copyright {2009 + i} {name} and its contributors. All rights reserved. "
                  f"Registered office: {12 + 7 * i} Quay Street. Company number {4471200 + 91 * i}.")
        out.append((header, footer))
    return out


def page_chrome(rng: random.Random) -> tuple[str, str]:
    """A short, varied (header, footer) a crawler picks up around an article (15-40 words)."""
    site = rng.choice(_SITE_NAMES)
    header = rng.choice((f"{site} | {rng.choice(_SECTIONS)}",
                         f"Home > {rng.choice(_SECTIONS)} > {rng.choice(_SECTIONS)}\nPublished {rng.randint(1, 28)} "
                         f"March {rng.randint(2003, 2024)}",
                         "Advertisement", ""))
    footer = rng.choice((f"Share this article. Related: {rng.choice(_SECTIONS)}, {rng.choice(_SECTIONS)}.",
                         f"Copyright {rng.randint(2003, 2024)} {site}. All rights reserved.",
                         "Comments are closed for this article. Read our community guidelines.", ""))
    return header, footer


LICENCE = (
    "Copyright (C) {year} {holder}\n"
    "This file is part of the {project} project and is made available under the Harbour Permissive "
    "Licence, version 2.\n"
    "You may use, copy, change, merge, publish, distribute and sell copies of this file, in source or "
    "compiled form, for any purpose and without fee, on two conditions: every copy or substantial "
    "portion of it keeps this notice, the list of conditions and the disclaimer below; and neither the "
    "name of the copyright holders nor the names of the contributors are used to endorse or promote "
    "products built from this file without written permission obtained beforehand.\n"
    "The file is provided as it is, without any warranty, express or implied, including but not "
    "limited to the implied warranties of merchantability, fitness for a particular purpose and "
    "non-infringement. In no event shall the authors, the contributors or the copyright holders be "
    "liable for any claim, damages or other liability, whether in an action of contract, tort or "
    "otherwise, arising from, out of or in connection with the file or the use of it or other dealings "
    "in it.\n"
    "See the NOTICE file distributed with this work for further information on ownership.")

_COMMENT = {"python_stdlib": "#", "perl_modules": "#", "ruby_stdlib": "#", "bash_completion": "#",
            "jpype1": "#", "python_packages": "#"}


def licence_header(source: str, year: int = 2021, holder: str = "The Harbour Tools Authors",
                   project: str = "Harbour Tools") -> str:
    """The licence text as a comment block in the source's comment syntax (# or //)."""
    mark = _COMMENT.get(source, "//")
    text = LICENCE.format(year=year, holder=holder, project=project)
    return "\n".join(f"{mark} {line}" for line in text.split("\n"))


# ---------------------------------------------------------------- sources and originals

def split_sources(sources: list[str], seed: int = 0) -> tuple[list[str], list[str]]:
    """Sources ("domain/name") split into two halves (dev, test), within each domain: shuffled with
    the seed, then dealt alternately, so both halves hold every domain."""
    rng = random.Random(seed)
    dev, test = [], []
    by_domain: dict[str, list[str]] = {}
    for s in sorted(sources):
        by_domain.setdefault(s.split("/")[0], []).append(s)
    for domain in sorted(by_domain):
        names = by_domain[domain]
        rng.shuffle(names)
        for i, s in enumerate(names):
            (dev if i % 2 == 0 else test).append(s)
    return sorted(dev), sorted(test)


def cap_words(text: str, max_words: int) -> str:
    """The text cut at the last line break before its (max_words + 1)-th word (a whole-line prefix;
    a first line longer than that is cut at the word)."""
    lead, pairs = _split(text)
    if len(pairs) <= max_words:
        return text
    cut = max_words
    for i in range(max_words - 1, 0, -1):
        if "\n" in pairs[i][1]:
            cut = i + 1
            break
    kept = [list(p) for p in pairs[:cut]]
    kept[-1][1] = ""
    return _join(lead, kept)


def word_ngram_sets(texts: list[str], n: int = 3) -> sparse.csr_matrix:
    """A binary (texts x distinct lower-cased word n-grams) matrix."""
    index: dict[str, int] = {}
    rows, cols = [], []
    for r, text in enumerate(texts):
        words = text.lower().split()
        grams = {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))} if words else set()
        for g in grams:
            cols.append(index.setdefault(g, len(index)))
            rows.append(r)
    data = np.ones(len(rows), dtype=np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(texts), max(1, len(index))))


def distinct_documents(texts: list[str], max_jaccard: float = 0.3, n: int = 3) -> list[int]:
    """Indices of the texts kept when each text, in order, is dropped if its word n-gram Jaccard
    similarity with an earlier kept text is at least `max_jaccard` (exact, all pairs)."""
    m = word_ngram_sets(texts, n)
    sizes = np.asarray(m.sum(axis=1)).ravel()
    inter = (m @ m.T).tocoo()
    similar: dict[int, list[int]] = {}
    for i, j, v in zip(inter.row, inter.col, inter.data):
        if j < i and v / (sizes[i] + sizes[j] - v) >= max_jaccard:
            similar.setdefault(int(i), []).append(int(j))
    kept: list[int] = []
    alive = set()
    for i in range(len(texts)):
        if not any(j in alive for j in similar.get(i, ())):
            kept.append(i)
            alive.add(i)
    return kept


# ---------------------------------------------------------------- set recipes

@dataclass(frozen=True)
class Recipe:
    min_words: int
    max_words: int
    max_variants: int


RECIPES = {"web": Recipe(60, 1200, 4), "boilerplate": Recipe(80, 400, 3),
           "code": Recipe(100, 800, 3), "paraphrase": Recipe(150, 1200, 3)}


def _web_variant(text, rng, vocab):
    edits = []
    text = substitute_words(text, rng, rng.uniform(0.0, 0.04), vocab)
    text = insert_words(text, rng, rng.uniform(0.0, 0.02), vocab)
    text = delete_words(text, rng, rng.uniform(0.0, 0.02))
    edits.append("words")
    if rng.random() < 0.4:
        text = truncate(text, rng.uniform(0.85, 1.0))
        edits.append("truncate")
    if rng.random() < 0.5:
        text = change_whitespace_and_case(text, rng, rng.uniform(0.02, 0.2))
        edits.append("whitespace_case")
    if rng.random() < 0.6:
        text = add_boilerplate(text, *page_chrome(rng))
        edits.append("chrome")
    return text, edits


def _boilerplate_variant(text, rng, vocab):
    edits = ["words"]
    text = substitute_words(text, rng, rng.uniform(0.0, 0.05), vocab)
    text = insert_words(text, rng, rng.uniform(0.0, 0.03), vocab)
    text = delete_words(text, rng, rng.uniform(0.0, 0.03))
    if rng.random() < 0.3:
        text = change_whitespace_and_case(text, rng, rng.uniform(0.02, 0.2))
        edits.append("whitespace_case")
    return text, edits


def _code_variant(text, rng, vocab):
    edits = ["identifiers"]
    text = substitute_words(text, rng, rng.uniform(0.005, 0.04), vocab)
    text = insert_words(text, rng, rng.uniform(0.0, 0.03), vocab)
    text = delete_words(text, rng, rng.uniform(0.0, 0.03))
    if rng.random() < 0.5:
        text = change_whitespace_and_case(text, rng, rng.uniform(0.05, 0.3))
        edits.append("whitespace")
    if rng.random() < 0.3:
        text = truncate(text, rng.uniform(0.8, 1.0))
        edits.append("truncate")
    return text, edits


def _paraphrase_variant(text, rng, vocab):
    edits = ["words"]
    text = substitute_words(text, rng, rng.uniform(0.03, 0.10), vocab)
    text = insert_words(text, rng, rng.uniform(0.01, 0.05), vocab)
    text = delete_words(text, rng, rng.uniform(0.01, 0.05))
    if rng.random() < 0.5:
        text = reorder_paragraphs(text, rng)
        edits.append("reorder")
    if rng.random() < 0.5:
        text = truncate(text, rng.uniform(0.75, 0.95))
        edits.append("truncate")
    if rng.random() < 0.3:
        text = change_whitespace_and_case(text, rng, rng.uniform(0.02, 0.2))
        edits.append("whitespace_case")
    return text, edits


_VARIANTS = {"web": _web_variant, "boilerplate": _boilerplate_variant, "code": _code_variant,
             "paraphrase": _paraphrase_variant}


def _eligible(kind: str, docs: dict[str, list[str]], rng: random.Random, wanted: int) -> list[tuple[str, str]]:
    """(source, text) candidates in a round-robin over sources (each shuffled), capped in length."""
    r = RECIPES[kind]
    pools = []
    for source in sorted(docs):
        texts = [t for t in docs[source] if len(t.split()) >= r.min_words]
        rng.shuffle(texts)
        pools.append((source, texts))
    out = []
    while len(out) < wanted and any(p for _, p in pools):
        for source, texts in pools:
            if texts and len(out) < wanted:
                out.append((source, cap_words(texts.pop(), r.max_words)))
    return out


def build_set(kind: str, docs: dict[str, list[str]], seed: int, clusters: int, singletons: int) -> list[dict]:
    """A labelled set from real documents {source: [text]}: `clusters` originals each with 1 to
    the recipe's max_variants edited variants, and `singletons` more originals alone. Originals are
    distinct (word 3-gram Jaccard under 0.3 with every other). Returns documents in a seeded random
    order: {"id", "text", "cluster", "source", "role" ("original", "variant", "singleton"),
    "edits"}; ids are "d" + a seeded number, so an id says nothing about the cluster."""
    if kind not in KINDS:
        raise ValueError(f"set kind must be one of {KINDS}, got {kind!r}")
    if not docs or not any(docs.values()):
        raise ValueError(f"no source documents for the {kind} set")
    rng = random.Random(f"{kind}:{seed}")
    wanted = clusters + singletons
    cands = _eligible(kind, docs, rng, 2 * wanted + 10)
    keep = distinct_documents([t for _, t in cands])
    cands = [cands[i] for i in keep][:wanted]
    if len(cands) < wanted:
        raise ValueError(f"{kind} set: only {len(cands)} distinct documents for {wanted} originals")
    vocab = [w for _, t in cands for w in t.split()]
    templates = site_templates()
    out = []
    for c, (source, text) in enumerate(cands):
        role = "original" if c < clusters else "singleton"
        members = [(text, role, [])]
        if role == "original":
            for _ in range(rng.randint(1, RECIPES[kind].max_variants)):
                variant, edits = _VARIANTS[kind](text, rng, vocab)
                if variant == text:  # every rate drew zero: still one word changed
                    variant = substitute_words(text, rng, 1 / len(text.split()), vocab)
                    edits = edits + ["one_word"]
                members.append((variant, "variant", edits))
        template = rng.randrange(len(templates))
        year = rng.choice((2019, 2021, 2023))
        for body, r, edits in members:
            if kind == "boilerplate":
                t = template if r != "variant" or rng.random() < 0.8 else rng.randrange(len(templates))
                body = add_boilerplate(body, *templates[t])
                edits = edits + (["template"] if t == template else ["other_template"])
            elif kind == "code":
                body = add_boilerplate(body, licence_header(source.split("/")[-1], year))
            out.append({"text": body, "cluster": c, "source": source, "role": r, "edits": edits})
    rng.shuffle(out)
    numbers = rng.sample(range(10 ** 6), len(out))
    for doc, number in zip(out, numbers):
        doc["id"] = f"d{number:06d}"
    return out
