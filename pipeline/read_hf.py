"""Hugging Face `datasets` input for the tag job: INPUT `hf:NAME_OR_PATH`.

    python -m pipeline.tag_job --input hf:allenai/c4 --hf-config en --hf-split train --output runs/c4
    python -m pipeline.tag_job --input hf:/data/my_saved_dataset --hf-text-field content --output ...

A folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk` is opened with
`load_from_disk` (memory-mapped Arrow) and read in contiguous row ranges of ROWS_PER_SHARD rows.
Anything else, a hub name or a local folder of JSON/Parquet/CSV/text files, is opened with
`load_dataset(..., streaming=True)`, so nothing is downloaded up front, and read one data-file
shard per Beam element (`IterableDataset.shard`), so several workers read in parallel. Streaming
from the hub needs the internet (a user's machine, not this project's test machines).

`planned_shards` runs before the pipeline: it opens the dataset and checks the split and the text
field (from the features, or from the first example when a streamed dataset has none), so a
missing dataset, split or field is a clear error and no job starts. Each row becomes a raw `row`
record like a Parquet row: the text field is renamed `text`, every other field goes to `meta`;
`id` is the row's `id` field, else `<label>:<row>` where the label is `hf:<name>[:<config>]/<split>`
(plus `/<shard>-of-<n>` when streamed, rows counted within the shard). `datasets` is imported only
here and only when such an input is used.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass

from pipeline.inputs import InputError

PREFIX = "hf:"
ROWS_PER_SHARD = 20_000
BATCH_ROWS = 512


@dataclass(frozen=True)
class HfShard:
    """One Beam element of a `datasets` input; `relpath` and `format` as for pipeline.inputs.InputFile."""
    path: str              # the hub name or local path given after `hf:`
    relpath: str           # the label used as `file` in rejects and as the default `source`
    format: str            # always "hf"
    config: str | None
    split: str
    text_field: str
    from_disk: bool
    index: int
    num_shards: int
    start: int = 0         # row range [start, end) of a from-disk shard
    end: int = 0


def is_hf(input_spec: str) -> bool:
    return input_spec.strip().startswith(PREFIX)


def dataset_path(input_spec: str) -> str:
    """`hf:allenai/c4` and `hf://allenai/c4` -> `allenai/c4`."""
    rest = input_spec.strip()[len(PREFIX):]
    return rest[2:] if rest.startswith("//") else rest


def _is_saved(path: str) -> bool:
    return os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, name)) for name in ("state.json", "dataset_dict.json"))


_OPEN: dict = {}


def open_dataset(path: str, config: str | None, split: str, from_disk: bool):
    """The split as a `datasets.Dataset` (from disk) or a streaming `IterableDataset`; cached per
    process, so a worker opens each dataset once."""
    key = (path, config, split, from_disk)
    if key not in _OPEN:
        import datasets

        if from_disk:
            ds = datasets.load_from_disk(path)
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise InputError(f"Hugging Face dataset {path} has no split {split!r} "
                                     f"(it has {', '.join(sorted(ds))})")
                ds = ds[split]
        else:
            ds = datasets.load_dataset(path, config, split=split, streaming=True)
        _OPEN[key] = ds
    return _OPEN[key]


def _label(path: str, config: str | None, split: str) -> str:
    return f"{PREFIX}{path}{':' + config if config else ''}/{split}"


def _check_text_field(ds, text_field: str, name: str):
    columns = list(ds.features) if ds.features is not None else None
    if columns is None:  # a streamed dataset without declared features: look at its first row
        first = next(iter(ds), None)
        if first is None:
            raise InputError(f"Hugging Face dataset {name} is empty")
        columns = list(first)
    if text_field not in columns:
        raise InputError(f"Hugging Face dataset {name} has no text field {text_field!r} "
                         f"(its fields: {', '.join(columns)}); choose one with --hf-text-field")


def planned_shards(input_spec: str, split: str = "train", config: str | None = None,
                   text_field: str = "text") -> list[HfShard]:
    """The shards to read, after checking that the dataset, split and text field exist."""
    path = dataset_path(input_spec)
    if not path:
        raise InputError("INPUT hf: needs a dataset name or path, e.g. hf:allenai/c4")
    local = os.path.expanduser(path)
    from_disk = _is_saved(local)
    if from_disk:
        path = os.path.abspath(local)
        if config:
            raise InputError(f"--hf-config does not apply to a dataset saved with save_to_disk ({path})")
    name = _label(path, config, split)
    try:
        ds = open_dataset(path, config, split, from_disk)
        _check_text_field(ds, text_field, name)
    except InputError:
        raise
    except Exception as exc:  # not found, offline, no such split or config, unreadable files
        raise InputError(f"cannot open Hugging Face dataset {name}: {type(exc).__name__}: "
                         f"{str(exc).strip()[:500]}") from exc
    common = dict(path=path, config=config, split=split, text_field=text_field,
                  from_disk=from_disk, format="hf")
    if from_disk:
        n = max(1, math.ceil(ds.num_rows / ROWS_PER_SHARD))
        return [HfShard(relpath=name, index=i, num_shards=n, start=i * ROWS_PER_SHARD,
                        end=min(ds.num_rows, (i + 1) * ROWS_PER_SHARD), **common) for i in range(n)]
    n = max(1, ds.num_shards)
    return [HfShard(relpath=f"{name}/{i:05d}-of-{n:05d}" if n > 1 else name, index=i, num_shards=n,
                    **common) for i in range(n)]


def fingerprint(shards: list[HfShard]) -> str:
    """The identity of a `datasets` input for reruns: for a saved dataset its own fingerprint; for a
    streamed one its resolved data files (hub files carry the commit) with local sizes and times."""
    first = shards[0]
    h = hashlib.sha256(json.dumps([first.path, first.config, first.split, first.text_field,
                                   len(shards)]).encode())
    ds = open_dataset(first.path, first.config, first.split, first.from_disk)
    if first.from_disk:
        h.update(str(getattr(ds, "_fingerprint", "")).encode())
        h.update(str(ds.num_rows).encode())
        return h.hexdigest()
    try:
        import datasets

        builder = datasets.load_dataset_builder(first.path, first.config)
        files = [str(f) for files in (builder.config.data_files or {}).values() for f in files]
    except Exception:
        files = []
    for f in sorted(files):
        stat = os.stat(f) if os.path.exists(f) else None
        h.update(json.dumps([f, stat.st_size if stat else None, stat.st_mtime if stat else None]).encode())
    return h.hexdigest()


def _rows(shard: HfShard):
    ds = open_dataset(shard.path, shard.config, shard.split, shard.from_disk)
    if shard.from_disk:
        for batch in ds.select(range(shard.start, shard.end)).iter(batch_size=BATCH_ROWS):
            columns = list(batch)
            for values in zip(*(batch[c] for c in columns)):
                yield dict(zip(columns, values))
        return
    part = ds.shard(num_shards=shard.num_shards, index=shard.index) if shard.num_shards > 1 else ds
    yield from part


def iter_hf_shard(shard: HfShard, summary: dict):
    """Yields one raw `row` record per example of a shard (line = row number: global for a saved
    dataset, within the shard when streamed)."""
    row_no = shard.start if shard.from_disk else 0
    for example in _rows(shard):
        if shard.text_field != "text":
            example = dict(example)
            example["text"] = example.pop(shard.text_field, None)
        text = example.get("text")
        summary["records"] += 1
        summary["bytes"] += len(text.encode("utf-8", errors="replace")) if isinstance(text, str) else 0
        yield {"kind": "row", "file": shard.relpath, "line": row_no, "offset": None,
               "payload": example, "detail": ""}
        row_no += 1
