"""Readers and record parsing: every JSONL line or Parquet row becomes one document or one reject,
with its file, line number and byte offset; ids, sources and unknown keys follow DESIGN.md."""
import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from pipeline import inputs
from pipeline.parse import ParseConfig, build_meta, parse_record
from pipeline.read import ReadFiles, iter_chunks, iter_jsonl


def _summary():
    return {"records": 0, "blank_lines": 0, "oversized_lines": 0, "bytes": 0}


def _read(data: bytes, max_line_bytes=1 << 20):
    s = _summary()
    return list(iter_jsonl(iter_chunks(io.BytesIO(data), "f.jsonl"), "f.jsonl", max_line_bytes, s)), s


def test_lines_carry_their_number_and_byte_offset():
    data = b'{"text": "a"}\n\n{"text": "b\xc3\xa9"}\n{"text": "c"}'
    records, summary = _read(data)
    assert [(r["line"], r["offset"]) for r in records] == [(1, 0), (3, 15), (4, 31)]
    assert data[15:].startswith(b'{"text": "b')
    assert summary == {"records": 3, "blank_lines": 1, "oversized_lines": 0, "bytes": len(data)}


def test_crlf_lines_and_a_missing_final_newline_are_read():
    records, _ = _read(b'{"text": "a"}\r\n{"text": "b"}')
    assert [json.loads(r["payload"])["text"] for r in records] == ["a", "b"]


def test_a_line_over_the_limit_is_skipped_unread_and_reported():
    data = b'{"text": "ok"}\n' + b'{"text": "' + b"x" * 5000 + b'"}\n{"text": "after"}\n'
    records, summary = _read(data, max_line_bytes=1000)
    assert [r["kind"] for r in records] == ["line", "error", "line"]
    assert records[1]["detail"] == "too_large" and records[1]["line"] == 2
    assert len(records[1]["payload"]) <= 4096
    assert summary["oversized_lines"] == 1


def test_lines_split_across_read_chunks(monkeypatch):
    monkeypatch.setattr("pipeline.read.CHUNK_BYTES", 7)
    data = b"".join(b'{"text": "%d"}\n' % i for i in range(50))
    records, _ = _read(data)
    assert [json.loads(r["payload"])["text"] for r in records] == [str(i) for i in range(50)]
    assert all(data[r["offset"]:].startswith(r["payload"]) for r in records)


def _parse(obj_or_bytes, line=1, **cfg):
    payload = obj_or_bytes if isinstance(obj_or_bytes, bytes) else json.dumps(obj_or_bytes).encode()
    raw = {"kind": "line", "file": "dir/f.jsonl", "line": line, "offset": 0, "payload": payload, "detail": ""}
    return parse_record(raw, ParseConfig(**cfg))


def test_id_source_and_meta_follow_the_contract():
    kind, doc = _parse({"id": 7, "text": "Hello", "url": "http://x", "meta": {"lic": "MIT"}})
    assert kind == "doc"
    assert doc["id"] == "7" and doc["source"] == "dir/f.jsonl"
    assert json.loads(doc["meta"]) == {"lic": "MIT", "url": "http://x"}
    kind, doc = _parse({"text": "Hello", "source": "web"}, line=12)
    assert doc["id"] == "dir/f.jsonl:12" and doc["source"] == "web"


def test_meta_is_json_with_sorted_keys():
    assert build_meta({"text": "t", "z": 1, "a": [1, 2]}) == '{"a": [1, 2], "z": 1}'


@pytest.mark.parametrize("payload,reason", [
    (b'{"text": "unterminated', "invalid_json"),
    (b'[1, 2, 3]', "not_an_object"),
    (b'{"title": "no text"}', "missing_text"),
    (b'{"text": null}', "missing_text"),
    (b'{"text": 42}', "text_not_string"),
    (b'{"text": ["a"]}', "text_not_string"),
    (b'{"text": "  \\n\\t "}', "empty_text"),
    (b'{"text": "\xff\xfe\xfd\xfc\xfb\xfa garbage \xff\xff\xff"}', "invalid_utf8"),
])
def test_bad_lines_become_rejects_with_their_reason(payload, reason):
    kind, rej = _parse(payload, line=5)
    assert kind == "reject"
    assert rej["reason"] == reason and rej["line"] == 5 and rej["file"] == "dir/f.jsonl"
    assert len(rej["raw"]) <= 1000 and rej["detail"]


def test_rare_invalid_bytes_are_repaired_not_rejected():
    text = "word " * 2000
    payload = json.dumps({"text": text}).encode().replace(b"word", b"w\xffrd", 1)
    kind, doc = _parse(payload)
    assert kind == "doc" and "\ufffd" in doc["text"] and doc["_invalid_utf8"] == 1


def test_text_over_max_chars_is_too_large():
    kind, rej = _parse({"text": "x" * 101}, max_chars=100)
    assert kind == "reject" and rej["reason"] == "too_large"


def test_text_is_normalised_nfc_with_unix_line_endings():
    kind, doc = _parse({"text": "Cafe\u0301\r\nline2\rline3"})
    assert doc["text"] == "Caf\u00e9\nline2\nline3"


def test_read_files_handles_gzip_zstd_and_parquet(tmp_path):
    lines = b'{"text": "one"}\n{"text": "two"}\n'
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(lines))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines))
    pq.write_table(pa.table({"text": ["p0", "p1", None], "lang": ["en", "de", "fr"]}), tmp_path / "c.parquet")
    files = inputs.expand(str(tmp_path))
    got = {}
    for f in files:
        out = list(ReadFiles(1 << 20).process(f))
        got[f.relpath] = [o for o in out if isinstance(o, dict)]
    assert [json.loads(r["payload"])["text"] for r in got["a.jsonl.gz"]] == ["one", "two"]
    assert [json.loads(r["payload"])["text"] for r in got["b.jsonl.zst"]] == ["one", "two"]
    assert [(r["line"], r["payload"]["text"]) for r in got["c.parquet"]] == [(0, "p0"), (1, "p1"), (2, None)]


@pytest.mark.parametrize("name,compress", [("bad.jsonl.gz", gzip.compress),
                                           ("bad.jsonl.zst", zstandard.ZstdCompressor().compress)])
def test_a_truncated_compressed_file_is_rejected_whole(tmp_path, name, compress):
    good = compress(b"".join(b'{"text": "%d"}\n' % i for i in range(20000)))
    (tmp_path / name).write_bytes(good[: len(good) // 2])
    (f,) = inputs.expand(str(tmp_path))
    out = list(ReadFiles(1 << 20).process(f))
    records = [o for o in out if isinstance(o, dict)]
    summary = [o.value for o in out if not isinstance(o, dict)][0]
    assert len(records) == 1, "no document of a corrupt file is emitted"
    assert records[0]["kind"] == "error" and records[0]["detail"].startswith("unreadable_file")
    assert summary["error"] and summary["records"] == 1


def test_multi_frame_zstd_is_read_whole(tmp_path):
    c = zstandard.ZstdCompressor()
    (tmp_path / "m.jsonl.zst").write_bytes(c.compress(b'{"text": "a"}\n') + c.compress(b'{"text": "b"}\n'))
    (f,) = inputs.expand(str(tmp_path))
    records = [o for o in ReadFiles(1 << 20).process(f) if isinstance(o, dict)]
    assert [json.loads(r["payload"])["text"] for r in records] == ["a", "b"]


def test_a_corrupt_parquet_file_is_one_unreadable_file(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"PAR1 this is not parquet")
    (f,) = inputs.expand(str(tmp_path))
    records = [o for o in ReadFiles(1 << 20).process(f) if isinstance(o, dict)]
    assert len(records) == 1 and records[0]["detail"].startswith("unreadable_file")
    kind, rej = parse_record(records[0], ParseConfig())
    assert kind == "reject" and rej["reason"] == "unreadable_file"


def test_inputs_expand_files_folders_and_globs(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.jsonl").write_text("{}")
    (tmp_path / "a" / "y.parquet").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [f.relpath for f in inputs.expand(str(tmp_path))] == ["a/b/x.jsonl", "a/y.parquet"]
    assert [f.relpath for f in inputs.expand(str(tmp_path / "**" / "*.jsonl"))] == ["a/b/x.jsonl"]
    with pytest.raises(inputs.InputError, match="does not exist"):
        inputs.expand(str(tmp_path / "missing"))
    with pytest.raises(inputs.InputError, match="no input files"):
        inputs.expand(str(tmp_path / "*.nothing"))
