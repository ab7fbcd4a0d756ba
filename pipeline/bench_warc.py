"""Throughput of WARC/WET input on one core, without Beam: reading records (warcio) and turning
them into documents (charset decoding and resiliparse main-text extraction), in CPU-seconds.

    python -m pipeline.bench_warc INPUT [--repeat 3]

INPUT is anything `make tag INPUT=` accepts; only its WARC and WET files are read. Prints pages
and MB of record bodies per CPU-second for reading alone and for reading plus extraction (median
of the repeats).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline import inputs
from pipeline.read_warc import iter_warc, warc_document


def _one_pass(files, extract: bool) -> tuple[float, int, int]:
    """(CPU seconds, documents, body bytes) of one pass over the files."""
    t0, docs, nbytes = time.process_time(), 0, 0
    for f in files:
        summary = {"records": 0, "bytes": 0, "oversized_lines": 0}
        with FileSystems.open(f.path, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
            for raw in iter_warc(stream, f.path, f.relpath, 8_000_000, summary):
                if raw["kind"] != "warc":
                    continue
                if extract:
                    kind, _, _ = warc_document(raw, 0.001)
                    docs += kind == "doc"
                else:
                    docs += 1
        nbytes += summary["bytes"]
    return time.process_time() - t0, docs, nbytes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench_warc", description=__doc__.split("\n")[0])
    parser.add_argument("input")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        files = [f for f in inputs.expand(args.input) if f.format == "warc"]
    except inputs.InputError as exc:
        print(f"bench_warc: error: {exc}", file=sys.stderr)
        return 2
    if not files:
        print(f"bench_warc: error: no WARC or WET files in {args.input}", file=sys.stderr)
        return 2
    for label, extract in (("read only", False), ("read + extract", True)):
        runs = [_one_pass(files, extract) for _ in range(args.repeat)]
        cpu = statistics.median(r[0] for r in runs)
        _, docs, nbytes = runs[0]
        print(f"{label:>15}: {docs} documents, {nbytes / 1e6:.1f} MB of bodies, {cpu:.2f} CPU-s: "
              f"{docs / cpu:,.0f} documents and {nbytes / 1e6 / cpu:.1f} MB per CPU-second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
