"""Counting in the pipeline for `stats.json`: a CombineFn over small per-record events.

Each branch of the job emits events where its data is (files as read, rejects, tagged documents);
the combine adds them up with combiner lifting, so no worker ever sees more than counts.
"""
from __future__ import annotations

import apache_beam as beam


def file_event(summary: dict) -> tuple:
    return ("file", summary)


def reject_event(reject: dict) -> tuple:
    return ("reject", reject["reason"])


def doc_event(row: dict) -> tuple:
    return ("doc", row["domain"], row["topic"], row["lang"], row["source"], len(row["text"]),
            len(row["text"].encode("utf-8")), len(row["quality_flags"]))


def _bump(table: dict, key: str, docs: int = 1, chars: int = 0, nbytes: int = 0):
    entry = table.setdefault(key, {"documents": 0, "chars": 0, "bytes": 0})
    entry["documents"] += docs
    entry["chars"] += chars
    entry["bytes"] += nbytes


def _merge_tables(into: dict, other: dict):
    for key, entry in other.items():
        _bump(into, key, entry["documents"], entry["chars"], entry["bytes"])


class StatsFn(beam.CombineFn):
    def create_accumulator(self):
        return {"inputs": {"files": 0, "records": 0, "blank_lines": 0, "oversized_lines": 0,
                           "bytes": 0, "unreadable_files": 0},
                "tagged": 0, "tagged_chars": 0, "tagged_bytes": 0, "flagged": 0,
                "rejected": 0, "rejected_by_reason": {},
                "by_domain": {}, "by_topic": {}, "by_lang": {}, "by_source": {}}

    def add_input(self, acc, event):
        kind = event[0]
        if kind == "file":
            s = event[1]
            inp = acc["inputs"]
            inp["files"] += 1
            for key in ("records", "blank_lines", "oversized_lines", "bytes"):
                inp[key] += s[key]
            inp["unreadable_files"] += 1 if s["error"] else 0
        elif kind == "reject":
            acc["rejected"] += 1
            acc["rejected_by_reason"][event[1]] = acc["rejected_by_reason"].get(event[1], 0) + 1
        elif kind == "doc":
            _, domain, topic, lang, source, chars, nbytes, n_flags = event
            acc["tagged"] += 1
            acc["tagged_chars"] += chars
            acc["tagged_bytes"] += nbytes
            acc["flagged"] += 1 if n_flags else 0
            for table, key in (("by_domain", domain), ("by_topic", topic), ("by_lang", lang),
                               ("by_source", source)):
                _bump(acc[table], key, 1, chars, nbytes)
        else:
            raise ValueError(f"unknown stats event {kind!r}")
        return acc

    def merge_accumulators(self, accs):
        accs = iter(accs)
        out = next(accs)
        for acc in accs:
            for key, value in acc["inputs"].items():
                out["inputs"][key] += value
            for key in ("tagged", "tagged_chars", "tagged_bytes", "flagged", "rejected"):
                out[key] += acc[key]
            for reason, n in acc["rejected_by_reason"].items():
                out["rejected_by_reason"][reason] = out["rejected_by_reason"].get(reason, 0) + n
            for table in ("by_domain", "by_topic", "by_lang", "by_source"):
                _merge_tables(out[table], acc[table])
        return out

    def extract_output(self, acc):
        for table in ("by_domain", "by_topic", "by_lang", "by_source"):
            acc[table] = dict(sorted(acc[table].items()))
        acc["rejected_by_reason"] = dict(sorted(acc["rejected_by_reason"].items()))
        return acc
