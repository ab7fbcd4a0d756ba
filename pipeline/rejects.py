"""The reject record: one line of `rejects/part-*.jsonl` for every input record we could not tag.

Reasons are a closed list (DESIGN.md); `raw` keeps at most 1,000 characters of what was read.
"""
from __future__ import annotations

import json

RAW_MAX_CHARS = 1000

REASONS = (
    "invalid_json", "not_an_object", "missing_text", "text_not_string", "empty_text",
    "invalid_utf8", "too_large", "duplicate_id", "unreadable_file", "unsupported_format",
    "extraction_empty",
)


def make_reject(file: str, line: int | None, offset: int | None, reason: str, detail: str,
                raw: bytes | str | None) -> dict:
    """A reject record; `raw` is decoded with replacement and cut to RAW_MAX_CHARS."""
    if reason not in REASONS:
        raise ValueError(f"unknown reject reason {reason!r}")
    if isinstance(raw, bytes):
        raw = raw[: RAW_MAX_CHARS * 4].decode("utf-8", errors="replace")
    return {"file": file, "line": line, "offset": offset, "reason": reason,
            "detail": detail[:RAW_MAX_CHARS], "raw": (raw or "")[:RAW_MAX_CHARS]}


def to_json_line(reject: dict) -> str:
    return json.dumps(reject, ensure_ascii=False, sort_keys=True)
