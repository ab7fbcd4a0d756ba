"""Reading input files in Beam: JSONL (plain, gzip, zstd), Parquet and WARC/WET, record by record.

JSONL is read as bytes with line numbers and byte offsets (of the decompressed stream) and decoded
later in a DoFn, so one bad line becomes one reject (Beam's ReadFromText dies on a bad byte and has
no line numbers). A corrupt or truncated compressed file (gzip, zstd), Parquet or WARC file is
rejected whole: one `unreadable_file` record and no documents from it. To know that before the first
record is emitted without holding a file in memory, such files are first streamed through once and
discarded (`check_whole`: every byte decompressed, gzip's CRC and length and zstd's checksum
checked, every Parquet row group decoded), then read for real: the cost is one extra decompression
pass (and, for remote files, a second download). Plain JSONL needs no check. A file that still
fails mid-way on the second pass (changed or an I/O error in between) yields what was read plus one
`unreadable_file` record.
Each file also yields a summary, counted here where the data is: records, blank lines, bytes.
WARC and WET files are read by pipeline.read_warc (records it skips are counted in the summary's
`skipped_records`), Hugging Face `datasets` shards by pipeline.read_hf.
"""
from __future__ import annotations

import gzip

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.inputs import InputFile
from pipeline.read_hf import iter_hf_shard
from pipeline.read_warc import iter_warc

SUMMARY = "files"
CHUNK_BYTES = 1 << 20


def _raw(kind, file, line, offset, payload, detail=""):
    """One record as read: kind is `line` (payload bytes), `row` (payload dict) or `error`."""
    return {"kind": kind, "file": file, "line": line, "offset": offset, "payload": payload,
            "detail": detail}


def iter_chunks(stream, path: str):
    """Decompressed chunks of a file by its name (.gz, .zst, else plain). A truncated or corrupt
    compressed stream raises (Beam's own decompressing reader stops quietly at a truncation)."""
    name = path.lower()
    if name.endswith(".gz"):
        # read1: hand on what was decompressed so far, so a truncation loses only its tail
        gz = gzip.GzipFile(fileobj=stream, mode="rb")
        while chunk := gz.read1(CHUNK_BYTES):
            yield chunk
        return
    if name.endswith((".zst", ".zstd")):
        yield from _zstd_chunks(stream)
        return
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            return
        yield chunk


def _zstd_chunks(stream):
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    dobj, pending = dctx.decompressobj(), b""
    while True:
        data = pending or stream.read(CHUNK_BYTES)
        pending = b""
        if not data:
            break
        out = dobj.decompress(data)
        if out:
            yield out
        if dobj.eof:  # a frame ended; more frames may follow
            pending = dobj.unused_data
            dobj = dctx.decompressobj()
            if not pending:
                nxt = stream.read(CHUNK_BYTES)
                if not nxt:
                    return
                pending = nxt
    raise EOFError("zstd stream ended before the end of its frame (truncated or corrupt file)")


def iter_jsonl(chunks, relpath: str, max_line_bytes: int, summary: dict):
    """Yields raw records of one JSONL byte stream (given as chunks). Lines over max_line_bytes are
    not held in memory: their first bytes are kept and the rest skipped, so one giant line cannot
    exhaust a worker."""
    line_no, offset, buf, buf_start, skipping = 0, 0, bytearray(), 0, False
    for chunk in chunks:
        summary["bytes"] += len(chunk)
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            piece = chunk[start:] if nl < 0 else chunk[start:nl]
            if not skipping:
                buf += piece
                if len(buf) > max_line_bytes:
                    skipping, buf = True, buf[:4096]
            if nl < 0:
                offset += len(chunk) - start
                break
            offset += nl - start + 1
            line_no += 1
            yield from _emit_line(bytes(buf), relpath, line_no, buf_start, skipping, summary)
            buf, buf_start, skipping, start = bytearray(), offset, False, nl + 1
    if buf or skipping:
        line_no += 1
        yield from _emit_line(bytes(buf), relpath, line_no, buf_start, skipping, summary)


def _emit_line(data: bytes, relpath, line_no, offset, truncated, summary):
    if not truncated and not data.strip():
        summary["blank_lines"] += 1
        return
    summary["records"] += 1
    if truncated:
        summary["oversized_lines"] += 1
        yield _raw("error", relpath, line_no, offset, data, "too_large")
    else:
        yield _raw("line", relpath, line_no, offset, data)


def iter_parquet(stream, relpath: str, summary: dict, batch_rows: int = 1024):
    """Yields one raw record per Parquet row (line = row index, from 0)."""
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(stream).iter_batches(batch_size=batch_rows):
        for obj in batch.to_pylist():
            summary["records"] += 1
            yield _raw("row", relpath, row, None, obj)
            row += 1


def check_whole(stream, path: str, fmt: str) -> None:
    """Reads a compressed JSONL, a Parquet or a WARC file through to its end and discards it; raises on the
    first sign of corruption or truncation. Memory: one chunk or one record batch at a time."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        for _ in pq.ParquetFile(stream, page_checksum_verification=True).iter_batches(batch_size=65536):
            pass
        return
    if fmt == "warc":  # every record parsed and its length checked; bodies skipped unkept
        for _ in iter_warc(stream, path, path, 0, {"records": 0, "bytes": 0, "oversized_lines": 0}):
            pass
        return
    for _ in iter_chunks(stream, path):
        pass


def needs_check(f: InputFile) -> bool:
    """Files whose corruption shows only once decoded: compressed JSONL, Parquet and WARC."""
    return f.format in ("parquet", "warc") or (
        f.format == "jsonl" and f.path.lower().endswith((".gz", ".zst", ".zstd")))


class ReadFiles(beam.DoFn):
    """InputFile -> raw records (main output) and one summary per file (output `files`)."""

    def __init__(self, max_line_bytes: int):
        self.max_line_bytes = max_line_bytes

    def process(self, f: InputFile):
        summary = {"file": f.relpath, "format": f.format, "records": 0, "blank_lines": 0,
                   "oversized_lines": 0, "bytes": 0, "error": None}
        try:
            if needs_check(f):
                with FileSystems.open(f.path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                    check_whole(stream, f.path, f.format)
        except Exception as exc:  # corrupt or truncated: reject the whole file, emit nothing from it
            summary["records"] = 1
            summary["error"] = f"{type(exc).__name__}: {exc}"
            yield _raw("error", f.relpath, None, None, b"", f"unreadable_file: {type(exc).__name__}: {exc}")
            yield beam.pvalue.TaggedOutput(SUMMARY, summary)
            return
        try:
            if f.format == "jsonl":
                with FileSystems.open(f.path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                    yield from iter_jsonl(iter_chunks(stream, f.path), f.relpath,
                                          self.max_line_bytes, summary)
            elif f.format == "parquet":
                with FileSystems.open(f.path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                    yield from iter_parquet(stream, f.relpath, summary)
            elif f.format == "warc":
                with FileSystems.open(f.path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
                    yield from iter_warc(stream, f.path, f.relpath, self.max_line_bytes, summary)
            elif f.format == "hf":
                yield from iter_hf_shard(f, summary)
            else:
                summary["records"] += 1
                summary["error"] = "unsupported_format"
                yield _raw("error", f.relpath, None, None, b"", "unsupported_format")
        except Exception as exc:  # changed since the check, or an I/O failure: reject the rest of the file
            summary["records"] += 1
            summary["error"] = f"{type(exc).__name__}: {exc}"
            yield _raw("error", f.relpath, None, None, b"",
                       f"unreadable_file: {type(exc).__name__}: {exc} (after {summary['records'] - 1} records)")
        yield beam.pvalue.TaggedOutput(SUMMARY, summary)
