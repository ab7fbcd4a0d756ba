"""`python -m trainer`: train (or resume) a proxy model on the shards of a `make mix` output.

    python -m trainer --mix runs/mix --output runs/train --config cpu-demo [--steps N]
                      [--device auto|cpu|cuda] [--seed 0] [--threads N] [--set key=value ...] [--force]

Under `torchrun --nproc_per_node K python -m trainer ...` it runs data-parallel (gloo on CPU,
nccl on GPU). Exit codes: 0 done, finished already, or checkpointed on SIGTERM; 2 bad input; 3 the
run cannot go on (non-finite losses, another configuration in OUTPUT).
"""
from __future__ import annotations

import argparse
import json
import sys

from .config import list_configs


def parse_set(items):
    out = {}
    for item in items or []:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer", description=__doc__.split("\n\n")[0])
    p.add_argument("--mix", required=True, help="folder holding manifest.json (the output of `make mix`)")
    p.add_argument("--output", required=True, help="run folder: config.json, metrics.jsonl, checkpoints/")
    p.add_argument("--config", default="cpu-demo", help=f"a name ({', '.join(list_configs())}) or a JSON file")
    p.add_argument("--steps", type=int, default=None, help="optimiser steps (default: the config's)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--weights", default=None, help="train domain weights, e.g. general=0.5,code=0.5")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (JSON value)")
    p.add_argument("--quiet", action="store_true", help="no per-step progress lines")
    p.add_argument("--force", action="store_true",
                   help="start a new run, replacing any run in --output (FORCE=1 in make)")
    a = p.parse_args(argv)

    from .data import DataError
    from .loop import TrainingError, train

    weights = None
    if a.weights:
        weights = {k: float(v) for k, v in (kv.split("=") for kv in a.weights.split(","))}
    try:
        res = train(a.mix, a.output, config=a.config, steps=a.steps, seed=a.seed, device=a.device,
                    threads=a.threads, domain_weights=weights, progress=not a.quiet, overrides=parse_set(a.set),
                    force=a.force)
    except (DataError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (TrainingError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    if res and "objective" in res:
        print(json.dumps({"step": res.get("step"), "objective": res["objective"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
