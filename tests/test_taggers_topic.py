"""Topic tagger (taggers.topic), the batch API (taggers.tag_batch) and `python -m taggers`.

Runs against the committed model taggers/models/topic.ftz (rebuilt by `make train-taggers`)."""
import gzip
import json
import os
import subprocess
import sys

import pytest

import taggers
from taggers import topic
from taggers.taxonomy import TOPICS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PYTHON_SNIPPET = '''import os
import sys


def read_config(path):
    """Read a key=value config file into a dict."""
    config = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            config[key.strip()] = value.strip()
    return config


if __name__ == "__main__":
    print(read_config(sys.argv[1]))
'''

SPORTS = ("Arsenal beat Chelsea 2-1 at the Emirates Stadium on Saturday, with the striker scoring "
          "twice in the second half. The win lifts the team to second place in the Premier League, "
          "three points behind the leaders, and the manager praised his players' defending after "
          "the match. The midfielder was injured and will miss the cup tie next week.")


@pytest.fixture(scope="module")
def models():
    return taggers.load_models()


def test_preprocess_is_lowercase_one_line_and_splits_punctuation():
    out = topic.preprocess("Hello, World!\nprint(x+1)  # Done")
    assert out == "hello , world ! print ( x + 1 ) # done"
    assert "\n" not in topic.preprocess("a\n\nb\r\nc")
    assert topic.preprocess("a\n\nb") == "a nlnl b"
    assert topic.preprocess("id 1234567") == "id 0"


APACHE_HEADER = """/*
 * Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file
 * except in compliance with the License. You may obtain a copy of the License at
 * http://www.apache.org/licenses/LICENSE-2.0
 */
"""

C_BODY = """#include <stdio.h>
#include <stdlib.h>

static int count_lines(FILE *f) {
    int c, n = 0;
    while ((c = fgetc(f)) != EOF)
        if (c == '\\n') n++;
    return n;
}
"""


def test_leading_comment_block_is_dropped_before_the_topic_model():
    assert topic.without_leading_comments(APACHE_HEADER + C_BODY).strip() == C_BODY.strip()
    hashed = "# Copyright 2020 The Authors\n# SPDX-License-Identifier: MIT\n\n" + PYTHON_SNIPPET
    assert topic.without_leading_comments(hashed).strip() == PYTHON_SNIPPET.strip()
    docstring = '"""Licence: BSD.\n\nMore words."""\n' + PYTHON_SNIPPET
    assert topic.without_leading_comments(docstring).strip() == PYTHON_SNIPPET.strip()
    giant = C_BODY * 20_000                              # about 3 MB after the header
    assert topic.without_leading_comments(APACHE_HEADER + giant).strip() == giant.strip()


def test_a_shebang_stays_and_the_comments_after_it_go():
    script = "#!/bin/sh\n# Copyright 2019 someone\n# GPL-2.0\nset -e\n" + "echo line\n" * 30
    assert topic.without_leading_comments(script) == "#!/bin/sh\nset -e\n" + "echo line\n" * 30


def test_texts_without_a_header_or_with_nothing_after_it_are_unchanged():
    for text in (SPORTS, PYTHON_SNIPPET, '"Quoted," she said. ' * 5, APACHE_HEADER + "\n\n",
                 "-- a dash line\n", "# Title\n# Subtitle", "", "/* never closed " * 50):
        assert topic.without_leading_comments(text) is text


def test_a_short_body_is_read_without_its_long_header():
    # a licence header says nothing about the language of the few lines below it
    assert topic.without_leading_comments(APACHE_HEADER + "int x;\n").strip() == "int x;"
    assert topic.without_leading_comments("# Title\n\nA short note.") == "\nA short note."


def test_topic_inputs_reuse_shared_preprocessing_where_nothing_was_dropped():
    texts = [SPORTS, APACHE_HEADER + C_BODY]
    pre = topic.preprocess_batch(texts)
    inputs = topic.topic_inputs(texts, pre)
    assert inputs[0] is pre[0]
    assert inputs[1] == topic.preprocess(C_BODY.lstrip("\n")) == topic.topic_inputs(texts)[1]
    assert "apache" not in inputs[1] and "apache" in pre[1]


def test_a_shared_licence_header_does_not_decide_the_language(models):
    topics, _ = topic.predict_topics([APACHE_HEADER + C_BODY, APACHE_HEADER + PYTHON_SNIPPET],
                                     models.topic)
    assert topics == ["code.c_cpp", "code.python"]


def test_committed_model_is_small_and_knows_only_taxonomy_topics(models):
    assert os.path.getsize(models.paths["topic"]) <= 3 * 1024 * 1024
    labels = [l[len(topic.LABEL_PREFIX):] for l in models.topic.get_labels()]
    assert labels and set(labels) <= set(TOPICS)


def test_python_code_and_sports_news(models):
    topics, scores = topic.predict_topics([PYTHON_SNIPPET, SPORTS], models.topic)
    assert topics == ["code.python", "general.sports"]
    assert all(0.0 < s <= 1.0 for s in scores)


def test_predict_topics_empty_batch(models):
    assert topic.predict_topics([], models.topic) == ([], [])


def test_missing_model_names_the_file_and_how_to_rebuild(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        taggers.load_models(str(tmp_path))
    assert "topic.ftz" in str(exc.value) and "make train-taggers" in str(exc.value)


def test_tag_batch_returns_every_column_for_every_text(models):
    texts = [PYTHON_SNIPPET, SPORTS, "12345 67890", "Der Hund läuft über die Straße und bellt laut."]
    cols = taggers.tag_batch(texts, models)
    assert tuple(cols) == taggers.TAG_COLUMNS
    assert all(len(v) == len(texts) for v in cols.values())
    assert cols["domain"][:2] == ["code", "general"]
    assert cols["lang"][1] == "en" and cols["lang"][2] == "und" and cols["lang"][3] == "de"
    assert cols["domain"][3] == "multilingual" or cols["topic"][3].startswith("code.")
    for q, flags, sig in zip(cols["quality"], cols["quality_flags"], cols["quality_signals"]):
        assert 0.0 <= q <= 1.0 and isinstance(flags, list)
        assert tuple(sig) == taggers.QUALITY_SIGNAL_NAMES


def _run(*args):
    return subprocess.run([sys.executable, "-m", "taggers", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_cli_predict_keeps_every_input_key_and_reports_bad_lines(tmp_path):
    good = [{"id": 1, "text": PYTHON_SNIPPET, "url": "http://x", "meta": {"k": [1, 2]}},
            {"text": SPORTS, "nested": {"a": None}, "score": 0.5},
            {"id": "crlf", "text": "Line one.\r\nLine two \ud800 with a lone surrogate."}]
    lines = [json.dumps(good[0]), "{not json", json.dumps(good[1]), json.dumps({"id": "no text"}),
             "", json.dumps({"text": 7}), json.dumps(good[2]), "[1, 2]",
             # what the stdlib reads and orjson does not: a 70-bit integer, a NaN literal
             '{"id": 1180591620717411303424, "text": "Big ids are kept."}',
             '{"id": "nan", "text": "A NaN field.", "ratio": NaN}']
    src = tmp_path / "in.jsonl.gz"
    with gzip.open(src, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    r = _run("predict", "--input", str(src), "--output", str(out), "--batch-size", "2")
    assert r.returncode == 0, r.stderr
    for lineno, reason in ((2, "invalid_json"), (4, "missing_text"), (6, "text_not_string"),
                           (8, "not_an_object")):
        assert f"in.jsonl.gz:{lineno}: {reason}" in r.stderr
    assert "4 bad lines" in r.stderr
    rows = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 5
    assert rows[3]["id"] == 2 ** 70 and rows[3]["text"] == "Big ids are kept."
    assert rows[4]["id"] == "nan" and rows[4]["ratio"] is None      # NaN is written as null
    for row, rec in zip(rows, good):
        for key, value in rec.items():
            assert row[key] == value          # text included: written back as given
        for col in taggers.TAG_COLUMNS:
            assert col in row
    assert rows[0]["topic"] == "code.python" and rows[0]["domain"] == "code"


def test_cli_predict_unreadable_input_exits_non_zero(tmp_path):
    r = _run("predict", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o.jsonl"))
    assert r.returncode != 0 and "missing.jsonl" in r.stderr


def test_predict_path_imports_no_beam_pyarrow_or_pandas():
    code = ("import sys, taggers, taggers.__main__, taggers.langid, taggers.quality, taggers.topic;"
            "m = taggers.load_models(); taggers.tag_batch(['hello world'], m);"
            "bad = [n for n in ('apache_beam', 'pyarrow', 'pandas', 'torch', 'sklearn') if n in sys.modules];"
            "print(bad)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_confident_non_english_prose_is_never_tagged_as_code(models):
    from test_taggers_langid import SAMPLES
    texts = [SAMPLES[l] for l in ("de", "fr", "ru", "es")]
    cols = taggers.tag_batch(texts, models)
    assert not any(t.startswith("code.") for t in cols["topic"])
    assert cols["domain"] == ["multilingual"] * 4
    # while code stays code
    assert taggers.tag_batch([PYTHON_SNIPPET], models)["topic"] == ["code.python"]
