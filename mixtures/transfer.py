"""Carrying mixture weights between tokenizers. A mix's weights are token shares of its own
tokenizer; a proxy sweep run on a mix with a smaller vocabulary (faster proxies that learn more per
minute) proposes token shares of that tokenizer. Through the bytes per token of each domain
(`manifest.json` counts.fertility.domain) they become byte shares, the same under any tokenizer, and
from those the token shares of another mix.

    python -m mixtures.transfer --fit PROXY_MIX/ablations/fit.json --to MIX/manifest.json

prints the proposal as `WEIGHTS=` for the mix whose manifest is given (and the byte shares).
"""
from __future__ import annotations

import argparse
import json
import sys


class TransferError(ValueError):
    """A manifest without bytes per token for a domain the weights name."""


def bytes_per_token(manifest: dict) -> dict[str, float]:
    return dict(((manifest.get("counts") or {}).get("fertility") or {}).get("domain") or {})


def _rescaled(values: dict[str, float]) -> dict[str, float]:
    total = sum(values.values())
    return {d: v / total for d, v in values.items()}


def _checked(weights: dict, bpt: dict, what: str) -> None:
    missing = sorted(d for d, w in weights.items() if w > 0 and not bpt.get(d, 0) > 0)
    if missing:
        raise TransferError(f"{what} has no bytes per token for {missing} (counts.fertility.domain)")


def byte_shares(token_shares: dict, bpt: dict, what: str = "the manifest") -> dict[str, float]:
    """Token shares of a tokenizer with `bpt` bytes per token per domain -> shares of bytes."""
    _checked(token_shares, bpt, what)
    return _rescaled({d: w * bpt.get(d, 0.0) for d, w in token_shares.items()})


def token_shares(shares_of_bytes: dict, bpt: dict, what: str = "the manifest") -> dict[str, float]:
    """Shares of bytes -> token shares of a tokenizer with `bpt` bytes per token per domain."""
    _checked(shares_of_bytes, bpt, what)
    return _rescaled({d: (b / bpt[d] if b > 0 else 0.0) for d, b in shares_of_bytes.items()})


def weights_spec(weights: dict[str, float], digits: int = 6) -> str:
    """`d=w,...` rounded to `digits`, the rounding residue on the largest weight so the string
    sums to exactly 1 at that precision (WEIGHTS must sum to 1)."""
    rounded = {d: round(w, digits) for d, w in weights.items()}
    top = max(rounded, key=rounded.get)
    rounded[top] = round(rounded[top] + 1.0 - sum(rounded.values()), digits)
    return ",".join(f"{d}={w:.{digits}f}" for d, w in rounded.items())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mixtures.transfer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--fit", required=True, help="a sweep's ablations/fit.json")
    ap.add_argument("--to", required=True, metavar="MANIFEST", help="manifest.json of the mix to carry it to")
    args = ap.parse_args(argv)
    try:
        with open(args.fit) as f:
            fit = json.load(f)
        with open(args.to) as f:
            target = json.load(f)
        shares = fit.get("proposed_byte_shares")
        if shares is None:
            raise TransferError(f"{args.fit} has no proposed_byte_shares (a sweep from before they were written: "
                                "run the same make mix ABLATIONS= again, it reuses its runs)")
        weights = token_shares(shares, bytes_per_token(target), args.to)
    except (OSError, ValueError) as exc:
        print(f"transfer: error: {exc}", file=sys.stderr)
        return 2
    print("byte shares of the proposal: " + ", ".join(f"{d} {b:.3f}" for d, b in shares.items()))
    print(f"WEIGHTS={weights_spec(weights)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
