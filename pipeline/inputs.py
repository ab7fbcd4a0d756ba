"""Turns a user's INPUT (a file, a folder searched recursively, or a glob) into the list of files
to read, each with its path relative to INPUT and its format.

Globs and remote paths (gs://, s3://) are expanded by Beam's FileSystems; a missing local path or an
empty match is a clear error before any pipeline starts. A dry run (`--dry_run`, graph only) does
not list remote inputs.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json.gz", ".ndjson", ".gz", ".zst")
PARQUET_SUFFIXES = (".parquet",)
WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")


class InputError(ValueError):
    """The INPUT cannot be read at all (nothing to do); raised before the pipeline starts."""


@dataclass(frozen=True)
class InputFile:
    path: str          # absolute local path or URL, as FileSystems understands it
    relpath: str       # path relative to INPUT, used for default ids and `source`
    format: str        # "jsonl", "parquet" or "warc" (WARC and WET)
    size: int
    mtime: float


def format_of(path: str) -> str | None:
    """`jsonl`, `parquet` or `warc` by file name, or None for a file we do not read."""
    name = path.lower()
    if name.endswith(WARC_SUFFIXES):  # before JSONL: `.gz` alone means gzipped JSONL
        return "warc"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _is_remote(path: str) -> bool:
    return "://" in path


def expand(input_spec: str) -> list[InputFile]:
    """All readable files under INPUT, sorted by relative path. Raises InputError when there are none."""
    spec = input_spec.strip()
    if not spec:
        raise InputError("INPUT is empty: give a file, a folder or a quoted glob")
    if not _is_remote(spec) and not _is_glob(spec):
        spec = os.path.abspath(spec)
        if not os.path.exists(spec):
            hint = " (run `make sample` to build the default corpus there)" \
                if os.path.normpath(input_spec).endswith(os.path.join("data", "sample")) else ""
            raise InputError(f"input path does not exist: {input_spec}{hint}")
        if os.path.isfile(spec):
            base, pattern = os.path.dirname(spec), spec
        else:
            base, pattern = spec, os.path.join(spec, "**")
    else:
        if _is_glob(spec):
            prefix = spec[:min(spec.index(ch) for ch in "*?[" if ch in spec)]
            base = prefix[:prefix.rfind("/")] if "/" in prefix else ""
        else:
            base = spec.rstrip("/")
        pattern = spec if _is_glob(spec) else spec.rstrip("/") + "/**"
    try:
        matched = FileSystems.match([pattern])[0].metadata_list
    except Exception as exc:  # Beam raises BeamIOError with the cause inside
        raise InputError(f"cannot list input {input_spec}: {exc}") from exc
    files = []
    for meta in matched:
        fmt = format_of(meta.path)
        if fmt is None:
            continue
        rel = meta.path[len(base):].lstrip("/") if base and meta.path.startswith(base) else meta.path
        files.append(InputFile(meta.path, rel, fmt, int(meta.size_in_bytes),
                               float(meta.last_updated_in_seconds or 0.0)))
    if not files:
        kinds = ", ".join(JSONL_SUFFIXES + PARQUET_SUFFIXES + WARC_SUFFIXES)
        raise InputError(f"no input files ({kinds}) match {input_spec}")
    files.sort(key=lambda f: f.relpath)
    return files


def expand_for_dry_run(input_spec: str) -> list[InputFile]:
    """The files of a graph that is built but never run (`--dry_run`): a local INPUT is expanded as
    usual; a remote one (gs://, s3://) is not listed, since the dry run promises no network and
    no credentials. The graph's shape does not depend on the file list, so it is empty then."""
    if _is_remote(input_spec.strip()):
        return []
    return expand(input_spec)


def fingerprint(files: list[InputFile]) -> str:
    """A cheap identity of the input: relative paths, sizes and modification times."""
    h = hashlib.sha256()
    for f in files:
        h.update(json.dumps([f.relpath, f.format, f.size, f.mtime]).encode())
    return h.hexdigest()
