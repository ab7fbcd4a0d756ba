"""The batch (numpy) implementations on hot paths agree with their reference definitions:
character classes, topic preprocessing, quality flags; and the held-out measures' macro-F1."""
import re

import numpy as np
import pytest

from taggers import charclass, quality, topic, topic_training

TRICKY = [
    "", " ", "a", "\n\n", "x\u00c4 \U0001F600 the The THE's the' don't", "\u0130stanbul the \u0130 of",
    "123456 x1234567y __init__ a_b \u00bd\u00b2 \u0663\u0664\u0665\u0666\u0667\u0668 \u00e9\n\n\n\nb",
    "def f(x):\n    return x[0] + 99999 # done\n\n\n", "\u4eca\u5929\u5929\u6c14\u5f88\u597d\u3002 ok",
    "caf\u00e9 na\u00efve \u2014 \u201cquoted\u201d \u2026 \ufffd end.", "tab\tsep\u00a0nbsp\u3000ideo",
    "- one\n- two\n- two\n* three...\n\nthe and of the and of the and of\n\nthe and of the and of",
]


def test_character_classes_match_pythons_re():
    letter = re.compile(r"[^\W\d_]")
    text = "".join(TRICKY) + "".join(chr(c) for c in range(0, 0x3000, 7)) + "\U0001D400\U00020000"
    cls = charclass.classes(charclass.codepoints(text))
    for ch, c in zip(text, cls.tolist()):
        assert bool(c & charclass.LETTER) == bool(letter.match(ch)), repr(ch)
        assert bool(c & charclass.SPACE) == ch.isspace(), repr(ch)
        assert bool(c & charclass.DECIMAL) == ch.isdecimal(), repr(ch)
        assert bool(c & charclass.UPPER) == ch.isupper(), repr(ch)


def test_lower_is_str_lower_character_by_character():
    text = "".join(chr(c) for c in range(0x30000) if not 0xD800 <= c < 0xE000)
    cp = charclass.codepoints(text)
    low = charclass.lower(cp)
    assert len(low) == len(cp)
    differ = [ch for ch, lc in zip(text, low.tolist()) if ch.lower() != chr(lc)]
    assert differ == ["\u0130"]       # its lower case is two characters ("i" + combining dot)
    assert charclass.lower(cp, charclass.classes(cp)).tolist() == low.tolist()
    bits = 0xFF & ~(charclass.UPPER | charclass.HAS_LOWER)   # lowering keeps words and spaces
    assert ((charclass.classes(low) & bits) == (charclass.classes(cp) & bits)).all()
    assert bool(charclass.classes(charclass.codepoints("\u01c5"))[0] & charclass.HAS_LOWER)


def test_preprocess_batch_equals_preprocess():
    assert topic.preprocess_batch(TRICKY) == [topic.preprocess(t) for t in TRICKY]
    assert topic.preprocess_batch([]) == []
    long = ["word " * 3000, "12345678 " * 10, "12345",
            "a12345b 123456_7 __99999 \U0001D7CE\U0001D7CF\U0001D7D0\U0001D7D1\U0001D7D2 x\U0001F600_"]
    assert topic.preprocess_batch(long) == [topic.preprocess(t) for t in long]
    # chunking: many documents spread over several chunks give the same result
    many = TRICKY * 40
    old, topic.CHUNK_CHARS = topic.CHUNK_CHARS, 50
    try:
        assert topic.preprocess_batch(many) == [topic.preprocess(t) for t in many]
    finally:
        topic.CHUNK_CHARS = old


def test_vectorised_flags_equal_the_per_document_rules():
    texts = TRICKY * 3
    langs = ["en", "de", "zh", "und"] * (len(texts) // 4) + ["en"] * (len(texts) % 4)
    code = [i % 3 == 0 for i in range(len(texts))]
    q, flags, signals = quality.score(texts, langs, code)
    for t, lang, c, qi, fi in zip(texts, langs, code, q, flags):
        q1, f1 = quality.flags_of(quality.signals_of(t), lang, c)
        assert fi == f1 and qi == pytest.approx(q1)


def test_batch_signals_do_not_depend_on_batching():
    one = [quality.signals_of(t) for t in TRICKY]
    old, quality.CHUNK_CHARS = quality.CHUNK_CHARS, 30
    try:
        assert quality.signals_batch(TRICKY) == one
    finally:
        quality.CHUNK_CHARS = old


def _reference_line_signals(text: str, short: int = 30) -> dict[str, float]:
    """The per-document definitions of the line and paragraph signals, with Python's str methods."""
    def dup_frac(items):
        seen, dup = set(), 0
        for it in items:
            dup += len(it) if it in seen else 0
            seen.add(it)
        return dup / sum(map(len, items)) if items else 0.0
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    paras = [p.strip() for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    n = max(len(lines), 1)
    return {
        "lines_ending_punct_frac": sum(ln.endswith(quality.TERMINAL_PUNCT) for ln in lines) / n,
        "bullet_lines_frac": sum(ln.startswith(quality.BULLETS) for ln in lines) / n,
        "ellipsis_lines_frac": sum(ln.endswith(("...", "\u2026")) for ln in lines) / n,
        "short_line_frac": sum(len(ln) <= short for ln in lines) / n,
        "mean_line_length": sum(map(len, lines)) / n,
        "max_line_length": float(max(map(len, lines), default=0)),
        "dup_line_frac": dup_frac(lines), "dup_paragraph_frac": dup_frac(paras)}


EDGES = ["a\n \nb\n\t\nb", "x\n\n", "\n\nx", "...", "..", ". ..", "a...\n\u2026\n- b\n+ c\n\u2022 d",
         "p\n \u00a0\n\nq\n\np", "\n", " \n \n ", "dup line\nother\ndup line\n  dup line  ",
         "para one\n\npara two\n \t \npara one\n\n\n\npara one", "x" * 50 + "\n" + "y" * 10,
         "\u0130\u0130\n\u0130\u0130", "e\U0001F600\n\U0001F600e\n\U0001F600e",
         "", "line\n", "\t \t", "", "\nline", "a\n\t \t\n\n \nb\n \t", "\n \n"]


def test_line_and_paragraph_signals_equal_the_per_document_definitions():
    texts = TRICKY + EDGES
    batch = quality.signals_batch(texts)            # one batch: documents never share a line
    for text, got in zip(texts, batch):
        want = _reference_line_signals(text)
        assert {k: got[k] for k in want} == pytest.approx(want), repr(text)


def test_ngram_signals_by_hand():
    s = quality.signals_of("a b c d e a b c d e")
    # the 5-gram "a b c d e" occurs twice: its second copy (5 of 10 words) is duplicated
    assert s["dup_5gram_frac"] == pytest.approx(0.5) and s["dup_6gram_frac"] == 0.0
    assert s["top_2gram_frac"] == pytest.approx(2 * 2 / 10)


def test_macro_f1():
    f1, per = topic_training.macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert per["a"]["precision"] == 1.0 and per["a"]["recall"] == 0.5
    assert per["b"]["precision"] == pytest.approx(2 / 3) and per["b"]["recall"] == 1.0
    assert f1 == pytest.approx((2 / 3 + 0.8) / 2)
    assert np.isnan(topic_training.macro_f1([], [])[0])


def test_lorem_ipsum_in_any_case_never_across_documents():
    texts = ["Lorem Ipsum dolor", "xx LOREM IPSUM", "lorem", " ipsum", "lorem ipsu", "", "a lorem ipsumx",
             "LOREM \u0130PSUM", "m"]
    got = [s["lorem_ipsum"] for s in quality.signals_batch(texts)]
    assert got == [float("lorem ipsum" in t.lower()) for t in texts] == [1, 1, 0, 0, 0, 0, 1, 0, 0]
