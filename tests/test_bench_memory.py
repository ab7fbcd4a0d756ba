"""The memory benchmark's parts: the k x corpus and the process-tree RSS watcher."""
import gzip
import json
import sys

import pytest

from pipeline.bench_memory import main, replicate, watch


def test_replicate_writes_k_copies_with_unique_ids(tmp_path):
    src = tmp_path / "s" / "general"
    src.mkdir(parents=True)
    with gzip.open(src / "a.jsonl.gz", "wt") as f:
        for i in range(3):
            f.write(json.dumps({"id": f"a{i}", "text": f"text {i}", "source": "a"}) + "\n")
    assert replicate(str(tmp_path / "s"), str(tmp_path / "x"), 3) == 9
    ids, texts = [], []
    for k in range(3):
        with gzip.open(tmp_path / "x" / f"copy{k}" / "general" / "a.jsonl.gz", "rt") as f:
            docs = [json.loads(line) for line in f]
        ids += [d["id"] for d in docs]
        texts += [d["text"] for d in docs]
    assert len(set(ids)) == 9 and "a0" in ids and "a0@copy2" in ids
    assert texts == [f"text {i}" for i in range(3)] * 3


def test_watch_sees_the_peak_of_a_child_process():
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import time; b = bytearray(300_000_000); b[::4096] = b\"x\" * len(b[::4096]); time.sleep(1.5)'])")
    res = watch([sys.executable, "-c", code], 0.1)
    assert res["peak_rss_largest_process_gb"] >= 0.3
    assert res["peak_rss_process_tree_gb"] >= res["peak_rss_largest_process_gb"]
    assert res["processes_seen"] >= 2


def test_one_copy_is_refused_before_any_work(tmp_path, capsys):
    """The slope needs a second corpus size: --copies 1 is a usage error, nothing is written."""
    with pytest.raises(SystemExit) as stop:
        main(["--sample", str(tmp_path), "--copies", "1", "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    assert "--copies must be at least 2" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
