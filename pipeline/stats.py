"""Counting in the pipeline for `stats.json`: a CombineFn over small per-record events.

Each branch of the job emits events where its data is (files as read, rejects, tagged documents);
the combine adds them up with combiner lifting, so no worker ever sees more than counts.
Dedup events (`dup_*`, from pipeline.dedup) fill the `duplicates` section.
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


def _new_duplicates() -> dict:
    return {"exact": 0, "url": 0, "near": 0, "near_pairs_checked": 0, "near_pairs_rejected": 0,
            "removed": 0, "clusters": 0, "duplicate_clusters": 0, "cluster_size_histogram": {},
            "largest_cluster": 0, "largest_bucket": 0, "buckets_by_kind": {},
            "removed_by_domain": {}, "removed_by_source": {}, "line_dup_documents": 0,
            "decontamination": {}}


def _add(table: dict, key, n: int = 1):
    table[key] = table.get(key, 0) + n


def _add_dup_event(d: dict, event: tuple):
    """Dedup events (pipeline.dedup): buckets, checked pairs, near edges, clusters, final rows."""
    kind = event[0]
    if kind == "dup_bucket":
        _, bucket_kind, size = event
        if bucket_kind in ("exact", "url"):
            d[bucket_kind] += size - 1
        _add(d["buckets_by_kind"], bucket_kind)
        d["largest_bucket"] = max(d["largest_bucket"], size)
    elif kind == "dup_pairs":
        d["near_pairs_checked"] += event[1]
        d["near_pairs_rejected"] += event[2]
    elif kind == "dup_near_edges":
        d["near"] += event[1]
    elif kind == "dup_summary":
        _merge_duplicates(d, event[1])
    elif kind == "dup_cluster":
        d["duplicate_clusters"] += 1
        _add(d["cluster_size_histogram"], str(event[1]))
        d["largest_cluster"] = max(d["largest_cluster"], event[1])
    elif kind == "dup_doc":
        _, is_dup, in_cluster, domain, source, line_dup, benches = event
        if is_dup:
            d["removed"] += 1
            _add(d["removed_by_domain"], domain)
            _add(d["removed_by_source"], source)
        else:
            d["clusters"] += 1
        if not in_cluster:
            _add(d["cluster_size_histogram"], "1")
        d["line_dup_documents"] += 1 if line_dup else 0
        for bench in benches:
            entry = d["decontamination"].setdefault(bench, {"documents": 0, "by_source": {}})
            entry["documents"] += 1
            _add(entry["by_source"], source)
    else:
        raise ValueError(f"unknown stats event {kind!r}")


def dup_summary(events) -> tuple:
    """Dedup events as one event, ("dup_summary", the `duplicates` counts they add up to): a step
    that emits many sends one per batch, so the counts cross no shuffle one element at a time."""
    d = _new_duplicates()
    for event in events:
        _add_dup_event(d, event)
    return ("dup_summary", d)


def _merge_duplicates(into: dict, other: dict):
    for key in ("exact", "url", "near", "near_pairs_checked", "near_pairs_rejected", "removed",
                "clusters", "duplicate_clusters", "line_dup_documents"):
        into[key] += other[key]
    for key in ("largest_cluster", "largest_bucket"):
        into[key] = max(into[key], other[key])
    for key in ("cluster_size_histogram", "buckets_by_kind", "removed_by_domain", "removed_by_source"):
        for k, n in other[key].items():
            _add(into[key], k, n)
    for bench, entry in other["decontamination"].items():
        mine = into["decontamination"].setdefault(bench, {"documents": 0, "by_source": {}})
        mine["documents"] += entry["documents"]
        for k, n in entry["by_source"].items():
            _add(mine["by_source"], k, n)


class StatsFn(beam.CombineFn):
    def create_accumulator(self):
        return {"inputs": {"files": 0, "records": 0, "blank_lines": 0, "oversized_lines": 0,
                           "bytes": 0, "unreadable_files": 0, "skipped_records": {}},
                "tagged": 0, "tagged_chars": 0, "tagged_bytes": 0, "flagged": 0,
                "rejected": 0, "rejected_by_reason": {},
                "by_domain": {}, "by_topic": {}, "by_lang": {}, "by_source": {},
                "duplicates": _new_duplicates()}

    def add_input(self, acc, event):
        kind = event[0]
        if kind == "file":
            s = event[1]
            inp = acc["inputs"]
            inp["files"] += 1
            for key in ("records", "blank_lines", "oversized_lines", "bytes"):
                inp[key] += s[key]
            inp["unreadable_files"] += 1 if s["error"] else 0
            for cause, n in (s.get("skipped_records") or {}).items():   # WARC: requests, non-HTML, ...
                inp["skipped_records"][cause] = inp["skipped_records"].get(cause, 0) + n
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
        elif kind.startswith("dup_"):
            _add_dup_event(acc["duplicates"], event)
        else:
            raise ValueError(f"unknown stats event {kind!r}")
        return acc

    def merge_accumulators(self, accs):
        accs = iter(accs)
        out = next(accs)
        for acc in accs:
            for key, value in acc["inputs"].items():
                if key == "skipped_records":
                    for cause, n in value.items():
                        out["inputs"][key][cause] = out["inputs"][key].get(cause, 0) + n
                else:
                    out["inputs"][key] += value
            for key in ("tagged", "tagged_chars", "tagged_bytes", "flagged", "rejected"):
                out[key] += acc[key]
            for reason, n in acc["rejected_by_reason"].items():
                out["rejected_by_reason"][reason] = out["rejected_by_reason"].get(reason, 0) + n
            for table in ("by_domain", "by_topic", "by_lang", "by_source"):
                _merge_tables(out[table], acc[table])
            _merge_duplicates(out["duplicates"], acc["duplicates"])
        return out

    def extract_output(self, acc):
        for table in ("by_domain", "by_topic", "by_lang", "by_source"):
            acc[table] = dict(sorted(acc[table].items()))
        acc["rejected_by_reason"] = dict(sorted(acc["rejected_by_reason"].items()))
        acc["inputs"]["skipped_records"] = dict(sorted(acc["inputs"]["skipped_records"].items()))
        d = acc["duplicates"]
        d["cluster_size_histogram"] = dict(sorted(d["cluster_size_histogram"].items(), key=lambda kv: int(kv[0])))
        for key in ("buckets_by_kind", "removed_by_domain", "removed_by_source", "decontamination"):
            d[key] = dict(sorted(d[key].items()))
        return acc
