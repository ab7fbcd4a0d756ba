"""Command line of the report:

    python -m report --run runs/demo [--output runs/demo/report]
"""
from __future__ import annotations

import argparse
import sys

from .build import write_report
from .load import ReportError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m report", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a run folder holding tag/, mix/ and/or train/")
    parser.add_argument("--output", default=None, help="report folder (default RUN/report)")
    args = parser.parse_args(argv)
    try:
        index, run = write_report(args.run, args.output)
    except ReportError as exc:
        print(f"report: error: {exc}", file=sys.stderr)
        return 2
    print(f"report: wrote {index}")
    for stage, why in run.missing.items():
        print(f"report: {stage} absent: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
