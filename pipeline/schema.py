"""The Arrow schema of `docs/part-*.parquet` (DESIGN.md), the same in every shard."""
from __future__ import annotations

import pyarrow as pa


def docs_schema(signal_names) -> pa.Schema:
    return pa.schema([
        ("id", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("meta", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float64()),
        ("lang_share", pa.float64()),
        ("domain", pa.string()),
        ("topic", pa.string()),
        ("topic_score", pa.float64()),
        ("quality", pa.float64()),
        ("quality_flags", pa.list_(pa.string())),
        ("quality_signals", pa.struct([(name, pa.float64()) for name in signal_names])),
        ("dup_cluster", pa.string()),
        ("is_dup", pa.bool_()),
    ])
