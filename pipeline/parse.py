"""From a raw record (a JSONL line or a Parquet row) to a document, or to a reject record.

Implements DESIGN.md's rules for `id`, `source` and `meta`: the input's `id` as a string, else
`<relpath>:<line>`; `source` from the input, else the relative path; every other top-level key
kept in `meta` (a JSON object as a string, keys sorted), merged with the input's own `meta` object.
WARC and WET records are turned into documents by pipeline.read_warc (charset, main-text extraction;
id = WARC-Record-ID) and then checked and normalised here like every other document.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from pipeline.read_warc import warc_document
from pipeline.rejects import make_reject
from taggers.normalise import decode_utf8, normalise_text, utf8_verdict

RESERVED_KEYS = ("id", "text", "source", "meta")


@dataclass(frozen=True)
class ParseConfig:
    max_chars: int = 1_000_000
    max_invalid_utf8_frac: float = 0.001


def _json_default(value):
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", errors="replace")
    return str(value)


def build_meta(obj: dict) -> str:
    """The input's `meta` object (if any) plus every other non-reserved key, as sorted JSON."""
    meta = {}
    given = obj.get("meta")
    if isinstance(given, dict):
        meta.update(given)
    elif given is not None:
        meta["meta"] = given
    for key, value in obj.items():
        if key not in RESERVED_KEYS:
            meta[key] = value
    return json.dumps(meta, sort_keys=True, ensure_ascii=False, default=_json_default)


def _id_of(obj: dict, file: str, line: int) -> str:
    value = obj.get("id")
    if value is None or value == "":
        return f"{file}:{line}"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def parse_record(raw: dict, config: ParseConfig):
    """Returns ("doc", document) or ("reject", reject record) for one raw record."""
    file, line, offset, payload = raw["file"], raw["line"], raw["offset"], raw["payload"]

    def reject(reason, detail, raw_text=payload):
        return "reject", make_reject(file, line, offset, reason, detail,
                                     raw_text if isinstance(raw_text, (bytes, str)) else
                                     json.dumps(raw_text, default=_json_default)[:2000])

    if raw["kind"] == "error":
        detail = raw["detail"]
        if detail == "too_large":
            return reject("too_large", "line or WARC record longer than the reader's limit; skipped unread")
        if detail == "unsupported_format":
            return reject("unsupported_format", "not a JSONL, Parquet or WARC file")
        return reject("unreadable_file", detail)

    n_invalid = 0
    if raw["kind"] == "line":
        text_line, n_invalid = decode_utf8(payload)
        if n_invalid and utf8_verdict(n_invalid, len(text_line), config.max_invalid_utf8_frac) == "reject":
            return reject("invalid_utf8", f"{n_invalid} invalid UTF-8 sequences in {len(payload)} bytes")
        try:
            obj = json.loads(text_line)
        except json.JSONDecodeError as exc:
            return reject("invalid_json", str(exc))
        if not isinstance(obj, dict):
            return reject("not_an_object", f"JSON {type(obj).__name__}, expected an object")
    elif raw["kind"] == "warc":
        kind, obj, n_invalid = warc_document(raw, config.max_invalid_utf8_frac)
        if kind == "reject":
            return kind, obj
    else:
        obj = payload
    if "text" not in obj or obj["text"] is None:
        return reject("missing_text", "no `text` field")
    text = obj["text"]
    if not isinstance(text, str):
        return reject("text_not_string", f"`text` is {type(text).__name__}")
    if len(text) > config.max_chars:
        return reject("too_large", f"{len(text)} characters > max_chars {config.max_chars}")
    text = normalise_text(text)
    if not text.strip():
        return reject("empty_text", "text is empty or whitespace after normalisation")
    source = obj.get("source")
    doc = {
        "id": _id_of(obj, file, line),
        "text": text,
        "source": source if isinstance(source, str) and source else file,
        "meta": build_meta(obj),
        "_file": file,
        "_line": line if line is not None else -1,
        "_offset": offset,
        "_invalid_utf8": n_invalid,
    }
    return "doc", doc
