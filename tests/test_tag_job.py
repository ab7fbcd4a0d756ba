"""`make tag` end to end: the Beam job on a corpus this test writes, with every kind of bad input.

The job must finish, tag every good document, put every bad line in rejects/ with its reason and
line, count its inputs while reading (inputs = tagged + rejected), publish atomically, and treat a
rerun as a no-op.
"""
import glob
import gzip
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GOOD = {
    "en": "The city council approved the new budget on Tuesday after a long debate about schools, "
          "roads and the public library. Members said the plan would be reviewed again next year.",
    "de": "Der Stadtrat hat am Dienstag nach einer langen Debatte den neuen Haushalt beschlossen. "
          "Die Mitglieder sagten, dass der Plan im nächsten Jahr erneut geprüft werde.",
    "fr": "Le conseil municipal a approuvé mardi le nouveau budget après un long débat sur les écoles "
          "et les routes. Les membres ont déclaré que le plan serait réexaminé l'année prochaine.",
    "code": "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
            "    return a\n\n\nif __name__ == '__main__':\n    print(fibonacci(10))\n",
}


def run_tag(*args, check=True):
    cmd = [sys.executable, "-m", "pipeline.tag_job", *args, "--direct_num_workers=2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"tag job failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Writes the fixture and returns (input folder, expectations counted by the test itself)."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "sub").mkdir()
    expect = {"good": 0, "bad": {}}   # bad: (file, line) -> reason

    lines = []
    for i in range(12):
        lang = list(GOOD)[i % 4]
        lines.append(json.dumps({"id": f"doc-{i}", "text": GOOD[lang] + f" ({i})", "source": "fixture",
                                 "extra": {"n": i}}).encode())
    lines.append(b'{"id": "broken", "text": "no closing quote}')                       # 13 invalid_json
    lines.append(b'{"id": "notext", "body": "no text field"}')                         # 14 missing_text
    lines.append(b'{"id": "num", "text": 12345}')                                      # 15 text_not_string
    lines.append(b'{"id": "empty", "text": "   "}')                                     # 16 empty_text
    lines.append(b'{"id": "bytes", "text": "\xff\xfe\xfa\xfb\xfc\xfd\xfe\xff\xf0\xf1"}')  # 17 invalid_utf8
    lines.append(b"")                                                                   # blank, not a record
    lines.append(json.dumps({"id": "doc-3", "text": "same id as an earlier document"}).encode())  # 19 duplicate_id
    lines.append(b'"just a string"')                                                    # 20 not_an_object
    (root / "main.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    expect["good"] += 12
    for line, reason in [(13, "invalid_json"), (14, "missing_text"), (15, "text_not_string"),
                         (16, "empty_text"), (17, "invalid_utf8"), (19, "duplicate_id"),
                         (20, "not_an_object")]:
        expect["bad"][("main.jsonl", line)] = reason

    # one 50 MB document: too large, rejected without stopping the job
    with open(root / "sub" / "giant.jsonl", "wb") as f:
        f.write(json.dumps({"id": "giant-ok", "text": GOOD["en"]}).encode() + b"\n")
        f.write(b'{"id": "giant", "text": "' + b"lorem ipsum " * (50_000_000 // 12) + b'"}\n')
    expect["good"] += 1
    expect["bad"][("sub/giant.jsonl", 2)] = "too_large"

    # a file that is not JSON at all: every line is a reject
    not_json = "This is a plain text file.\nIt has three lines.\nNone of them is JSON.\n"
    (root / "sub" / "notes.jsonl").write_text(not_json)
    for i in range(1, 4):
        expect["bad"][("sub/notes.jsonl", i)] = "invalid_json"

    # compressed input, no ids: ids default to <relpath>:<line>
    with gzip.open(root / "sub" / "more.jsonl.gz", "wt") as f:
        for lang in ("en", "de"):
            f.write(json.dumps({"text": GOOD[lang]}) + "\n")
    expect["good"] += 2
    return root, expect


@pytest.fixture(scope="module")
def tagged(corpus, tmp_path_factory):
    root, expect = corpus
    out = tmp_path_factory.mktemp("runs") / "tag"
    proc = run_tag("--input", str(root), "--output", str(out))
    return out, expect, proc


def _docs(out):
    return pq.read_table(sorted(glob.glob(str(out / "docs" / "part-*.parquet")))).to_pylist()


def _rejects(out):
    rows = []
    for path in glob.glob(str(out / "rejects" / "part-*.jsonl")):
        rows += [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    return rows


def test_every_good_document_is_tagged_once(tagged):
    out, expect, _ = tagged
    docs = _docs(out)
    assert len(docs) == expect["good"]
    assert len({d["id"] for d in docs}) == len(docs)
    assert {"main.jsonl:1", "doc-3"} & {d["id"] for d in docs} == {"doc-3"}
    assert {"sub/more.jsonl.gz:1", "sub/more.jsonl.gz:2"} <= {d["id"] for d in docs}


def test_docs_have_the_contract_columns(tagged):
    out, _, _ = tagged
    schema = pq.read_schema(sorted(glob.glob(str(out / "docs" / "part-*.parquet")))[0])
    assert schema.names == ["id", "text", "source", "meta", "lang", "lang_score", "lang_share",
                            "domain", "topic", "topic_score", "quality", "quality_flags",
                            "quality_signals", "dup_cluster", "is_dup"]
    for d in _docs(out):
        assert d["domain"] in ("general", "math", "code", "multilingual")
        assert d["topic"].split(".")[0] in ("general", "math", "code")
        assert 0.0 <= d["quality"] <= 1.0 and 0.0 <= d["lang_share"] <= 1.0
        assert d["is_dup"] == (d["dup_cluster"] != d["id"])
        assert 0.0 <= d["quality_signals"]["dup_line_share_corpus"] <= 1.0
        json.loads(d["meta"])


def test_duplicates_are_clustered_with_the_smallest_id_and_counted(tagged):
    """The fixture's documents repeat: doc-i is GOOD[lang] plus " (i)" (near duplicates of each
    other), giant-ok and sub/more.jsonl.gz:1 are exactly GOOD["en"], sub/more.jsonl.gz:2 is GOOD["de"]."""
    out, expect, _ = tagged
    docs = {d["id"]: d for d in _docs(out)}
    clusters = {"doc-0": ["doc-0", "doc-4", "doc-8", "giant-ok", "sub/more.jsonl.gz:1"],
                "doc-1": ["doc-1", "doc-5", "doc-9", "sub/more.jsonl.gz:2"],
                "doc-10": ["doc-10", "doc-2", "doc-6"],  # Python string order: "doc-10" < "doc-2"
                "doc-11": ["doc-11", "doc-3", "doc-7"]}
    for rep, members in clusters.items():
        assert {m: docs[m]["dup_cluster"] for m in members} == {m: rep for m in members}
        assert [docs[m]["is_dup"] for m in members] == [m != rep for m in members]
    dup = json.loads((out / "stats.json").read_text())["duplicates"]
    assert dup["removed"] == sum(d["is_dup"] for d in docs.values()) == expect["good"] - 4
    assert dup["clusters"] == 4 and dup["duplicate_clusters"] == 4
    assert dup["exact"] == 1 and dup["url"] == 0 and dup["near"] >= 9
    assert dup["cluster_size_histogram"] == {"3": 2, "4": 1, "5": 1}
    assert dup["largest_cluster"] == 5
    assert sum(dup["removed_by_source"].values()) == dup["removed"]
    assert sum(dup["removed_by_domain"].values()) == dup["removed"]


def test_languages_and_domains_are_plausible(tagged):
    out, _, _ = tagged
    docs = {d["id"]: d for d in _docs(out)}
    assert docs["doc-0"]["lang"] == "en" and docs["doc-0"]["domain"] == "general"
    assert docs["doc-1"]["lang"] == "de" and docs["doc-1"]["domain"] == "multilingual"
    assert docs["doc-2"]["lang"] == "fr" and docs["doc-2"]["domain"] == "multilingual"
    assert docs["doc-7"]["domain"] == "code"
    assert json.loads(docs["doc-5"]["meta"]) == {"extra": {"n": 5}}


def test_every_bad_line_is_rejected_with_reason_and_line(tagged):
    out, expect, _ = tagged
    got = {(r["file"], r["line"]): r["reason"] for r in _rejects(out)}
    assert got == expect["bad"]
    for r in _rejects(out):
        assert len(r["raw"]) <= 1000 and r["detail"]


def test_inputs_are_counted_while_reading_and_add_up(tagged):
    out, expect, _ = tagged
    stats = json.loads((out / "stats.json").read_text())
    n_records = expect["good"] + len(expect["bad"])
    assert stats["inputs"]["records"] == n_records
    assert stats["inputs"]["files"] == 4 and stats["inputs"]["blank_lines"] == 1
    assert stats["tagged"] == expect["good"] and stats["rejected"] == len(expect["bad"])
    assert stats["inputs"]["records"] == stats["tagged"] + stats["rejected"]
    assert sum(stats["rejected_by_reason"].values()) == stats["rejected"]
    assert sum(v["documents"] for v in stats["by_domain"].values()) == stats["tagged"]
    for key in ("schema", "duplicates", "by_topic", "by_lang", "throughput", "config", "models", "versions"):
        assert key in stats
    assert stats["throughput"]["runner"] == "FnApiRunner" and stats["throughput"]["cpu_s"] > 0


def test_output_is_published_atomically(tagged):
    out, _, _ = tagged
    assert (out / "_SUCCESS").exists()
    assert not glob.glob(str(out) + ".staging-*")


def test_a_rerun_with_the_same_input_is_a_no_op(tagged, corpus):
    out, _, _ = tagged
    root, _ = corpus
    before = (out / "stats.json").stat().st_mtime_ns
    proc = run_tag("--input", str(root), "--output", str(out))
    assert "nothing to do" in proc.stdout
    assert (out / "stats.json").stat().st_mtime_ns == before


def test_a_different_run_into_a_finished_output_needs_force(tagged, corpus):
    out, _, _ = tagged
    root, _ = corpus
    proc = run_tag("--input", str(root / "sub"), "--output", str(out), check=False)
    assert proc.returncode == 2 and "FORCE=1" in proc.stderr
    run_tag("--input", str(root / "sub" / "more.jsonl.gz"), "--output", str(out), "--force")
    assert len(_docs(out)) == 2


@pytest.mark.parametrize("args,message", [
    (["--input", "/definitely/not/here", "--output", "OUT"], "does not exist"),
    (["--input", "/tmp/*.no-such-extension-xyz", "--output", "OUT"], "no input files"),
    (["--input", ".", "--output", "OUT", "--no-such-flag=1"], "unknown option"),
    (["--input", ".", "--output", "OUT", "--direct_running_mode=multi_threading", "--direct_num_workers=2"],
     "multi_threading with more than one worker corrupts shuffled data"),
    (["--input", ".", "--output", "OUT", "--max-chars", "0"], "must be positive"),
    (["--input", ".", "--output", "OUT", "--dedup-threshold", "1.5"], "threshold must be in (0, 1)"),
    (["--input", ".", "--output", "OUT", "--bands", "9"], "give both --bands and --rows"),
    (["--input", ".", "--output", "OUT", "--decontaminate", "/no/such/bench.jsonl"], "cannot read benchmark"),
])
def test_bad_invocations_fail_clearly_before_the_pipeline(tmp_path, args, message):
    args = [a.replace("OUT", str(tmp_path / "o")) for a in args]
    proc = run_tag(*args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_pii_is_counted_always_and_masked_in_text_only_when_asked(tmp_path):
    doc = {"id": "pii", "text": GOOD["en"] + " Write to jane.doe@example.org or call +1 415 555 0134."}
    (tmp_path / "in.jsonl").write_text(json.dumps(doc) + "\n")
    plain, masked = tmp_path / "plain", tmp_path / "masked"
    run_tag("--input", str(tmp_path / "in.jsonl"), "--output", str(plain))
    run_tag("--input", str(tmp_path / "in.jsonl"), "--output", str(masked), "--mask-pii")
    (p,), (m,) = _docs(plain), _docs(masked)
    assert "jane.doe@example.org" in p["text"] and "jane.doe@example.org" not in m["text"]
    assert p["quality_signals"]["pii_email_count"] == m["quality_signals"]["pii_email_count"] == 1
    assert json.loads((masked / "stats.json").read_text())["config"]["mask_pii"] is True


def test_a_row_lost_between_tagger_and_writer_fails_the_job():
    from pipeline.tag_job import LostDocuments, check_nothing_lost
    check_nothing_lost({"tagged": 120, "read": 130}, {"tagged": 120})
    check_nothing_lost({}, {"tagged": 120})  # a runner without metrics: nothing to compare
    with pytest.raises(LostDocuments, match="120 documents were tagged but 119 reached the writer"):
        check_nothing_lost({"tagged": 120}, {"tagged": 119})
