"""Token shards in, batches out: the manifest, the memory-mapped shards and the packing loader.

Reads what `make mix` writes (DESIGN.md): `manifest.json` and `shards/{train,val,anneal}/<domain>/
<NNNNN>.bin` (raw little-endian uint16 or uint32 tokens, every document already `<|bos|> ... <|eos|>`)
with `<NNNNN>.idx.npy` (int64 start offset of each document). The loader adds no tokens.

Packing: the shards of one (split, domain) are one token stream, read in manifest order and cut
into rows of `seq_len + 1` tokens that overlap by one, so each token is a target exactly once per
pass; rows cross document boundaries; the stream wraps around at its end (epochs).

Mixing: each row comes from one domain, picked by deterministic stride scheduling on the domain
weights (by default the realised token counts of the split's shards; the API may override them):
every domain earns its weight in credit per row, the richest domain gives the row and pays the
total. Over any window the realised shares track the weights within one row per domain. The seed
sets the initial credits, so different seeds interleave domains differently; with `seeded_start`
(the trainer's default, config `data_start`) it also sets where each domain's stream starts, so
different seeds read different windows of each domain (data-order seeds). The start of a domain
depends only on the seed, the domain's name and its stream's length, never on the other domains
or the weights: runs of one seed on different mixtures read the same tokens of a domain, as far as
each gets (common random numbers for proxy sweeps). A stream that started at an offset wraps to
token 0 at its end (the epoch counter counts wraps).

The loader's whole position (per-domain offsets, epochs, credits, rows served, and the tokens
served per domain: seq_len targets per row) is a small dict of ints and floats: `state_dict()` /
`load_state_dict()` restore it exactly. `continue_from(state)` takes only the per-domain offsets
and epochs of another run's loader (for the domains both share): a run started from another run's
weights reads on where that run stopped instead of re-reading the data it has seen.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np
import torch

DTYPES = {"uint16": np.uint16, "uint32": np.uint32}


class DataError(ValueError):
    """Bad input: a missing or truncated shard, an unreadable manifest, an unusable tokenizer."""


@dataclass
class Shard:
    path: str
    split: str
    domain: str
    tokens: int
    documents: int | None


class Manifest:
    def __init__(self, mix_dir: str):
        self.dir = os.path.abspath(mix_dir)
        path = os.path.join(self.dir, "manifest.json")
        if not os.path.isfile(path):
            raise DataError(f"no manifest.json in {mix_dir!r}: run `make mix` first (or point MIX= at its output)")
        try:
            with open(path) as f:
                self.raw = json.load(f)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e})") from None
        tok = self.raw.get("tokenizer") or {}
        dtype = tok.get("dtype", "uint16")
        if dtype not in DTYPES:
            raise DataError(f"{path}: tokenizer.dtype {dtype!r} is not uint16 or uint32")
        self.dtype = np.dtype(DTYPES[dtype]).newbyteorder("<")
        self.vocab_size = int(tok["vocab_size"]) if tok.get("vocab_size") is not None else None
        self.bos_id = int(tok.get("bos_id", 1))
        self.eos_id = int(tok.get("eos_id", 2))
        self.tokenizer_path = os.path.join(self.dir, tok["path"]) if tok.get("path") else None
        self.shards = []
        for i, s in enumerate(self.raw.get("shards") or []):
            try:
                self.shards.append(Shard(os.path.join(self.dir, s["path"]), s["split"], s["domain"],
                                         int(s["tokens"]), s.get("documents")))
            except KeyError as e:
                raise DataError(f"{path}: shards[{i}] lacks {e}") from None
        self.checked = set()

    def domains(self, split: str) -> list[str]:
        out = []
        for s in self.shards:
            if s.split == split and s.domain not in out:
                out.append(s.domain)
        return out

    def split_shards(self, split: str, domain: str) -> list[Shard]:
        return [s for s in self.shards if s.split == split and s.domain == domain]

    def open(self, shard: Shard) -> np.memmap:
        """Memory-map a shard after checking it exists and has exactly `tokens` tokens."""
        if not os.path.isfile(shard.path):
            raise DataError(f"manifest names a missing shard: {shard.path}")
        size = os.path.getsize(shard.path)
        want = shard.tokens * self.dtype.itemsize
        if size != want:
            raise DataError(f"shard {shard.path} is truncated or corrupt: {size} bytes, but the manifest "
                            f"says {shard.tokens} tokens of {self.dtype.name} = {want} bytes")
        if shard.tokens == 0:
            return np.zeros(0, dtype=self.dtype)
        return np.memmap(shard.path, dtype=self.dtype, mode="r")

    def check_vocab(self, model_vocab: int) -> None:
        if self.vocab_size is not None and self.vocab_size > model_vocab:
            raise DataError(f"tokenizer vocabulary ({self.vocab_size}) is larger than the model's "
                            f"vocab_size ({model_vocab}): set vocab_size >= {self.vocab_size} in the config "
                            f"(or null to take the tokenizer's)")


class TokenStream:
    """The shards of one (split, domain) as one virtual array of tokens."""

    def __init__(self, manifest: Manifest, shards: list[Shard]):
        self.arrays = [manifest.open(s) for s in shards]
        self.arrays = [a for a in self.arrays if len(a)]
        self.starts = np.cumsum([0] + [len(a) for a in self.arrays])
        self.length = int(self.starts[-1])

    def read(self, start: int, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        filled = 0
        while filled < n:
            pos = start + filled
            i = int(np.searchsorted(self.starts, pos, side="right") - 1)
            a = self.arrays[i]
            off = pos - int(self.starts[i])
            take = min(n - filled, len(a) - off)
            out[filled:filled + take] = a[off:off + take]
            filled += take
        return out


def start_offset(seed: int, domain: str, length: int) -> int:
    """Where a seeded loader starts reading `domain`'s stream of `length` tokens: uniform over the
    stream, from the seed and the domain's name only."""
    name = int.from_bytes(hashlib.sha256(domain.encode("utf-8")).digest()[:8], "little")
    return int(np.random.default_rng([int(seed), 0xDA7A, name]).integers(0, max(1, length)))


class MixedLoader:
    """Rows of `seq_len + 1` tokens from the domains of one split, mixed by stride scheduling."""

    def __init__(self, manifest: Manifest, split: str, seed: int = 0, weights: dict | None = None,
                 seeded_start: bool = False):
        self.split = split
        domains = manifest.domains(split)
        if not domains:
            raise DataError(f"manifest has no {split!r} shards")
        self.streams = {d: TokenStream(manifest, manifest.split_shards(split, d)) for d in domains}
        if weights is None:
            weights = {d: float(s.length) for d, s in self.streams.items()}
        else:
            unknown = sorted(set(weights) - set(self.streams))
            if unknown:
                raise DataError(f"domain weights name domains without {split} shards: {unknown} "
                                f"(have {sorted(self.streams)})")
            weights = {d: float(w) for d, w in weights.items()}
            if any(w < 0 for w in weights.values()):
                raise DataError(f"domain weights must be non-negative: {weights}")
        total = sum(weights.values())
        if total <= 0:
            raise DataError(f"domain weights sum to zero for split {split!r}")
        self.domains = [d for d in domains if weights.get(d, 0.0) > 0]
        self.weights = [weights[d] / total for d in self.domains]
        for d in self.domains:
            if self.streams[d].length < 2:
                raise DataError(f"{split} shards of domain {d!r} hold fewer than 2 tokens")
        rng = np.random.default_rng([seed, 0x5EED])
        self.credit = [float(x) for x in rng.random(len(self.domains)) * 0.5]
        self.pos = {d: (start_offset(seed, d, self.streams[d].length) if seeded_start else 0)
                    for d in self.domains}
        self.epoch = {d: 0 for d in self.domains}
        self.served = {d: 0 for d in self.domains}
        self.rows = 0

    def _next_domain(self) -> str:
        for i, w in enumerate(self.weights):
            self.credit[i] += w
        i = max(range(len(self.domains)), key=lambda j: (self.credit[j], -j))
        self.credit[i] -= 1.0
        return self.domains[i]

    def next_row(self, seq_len: int) -> np.ndarray:
        d = self._next_domain()
        s = self.streams[d]
        if s.length < seq_len + 1:
            raise DataError(f"{self.split} data of domain {d!r} ({s.length} tokens) is shorter than one "
                            f"row of {seq_len + 1} tokens")
        if self.pos[d] + seq_len + 1 > s.length:
            self.pos[d], self.epoch[d] = 0, self.epoch[d] + 1
        row = s.read(self.pos[d], seq_len + 1)
        self.pos[d] += seq_len
        self.served[d] += seq_len
        self.rows += 1
        return row

    def next_batch(self, batch: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) as int64 tensors of shape (batch, seq_len)."""
        rows = torch.from_numpy(np.stack([self.next_row(seq_len) for _ in range(batch)]))
        return rows[:, :-1], rows[:, 1:]

    def state_dict(self) -> dict:
        return {"split": self.split, "domains": list(self.domains), "credit": list(self.credit),
                "pos": [int(self.pos[d]) for d in self.domains],
                "epoch": [int(self.epoch[d]) for d in self.domains], "rows": int(self.rows),
                "served": [int(self.served[d]) for d in self.domains]}

    def load_state_dict(self, st: dict) -> None:
        if list(st["domains"]) != self.domains:
            raise DataError(f"loader state is for domains {st['domains']}, this mix has {self.domains}")
        self.credit = [float(x) for x in st["credit"]]
        self.pos = {d: int(p) for d, p in zip(self.domains, st["pos"])}
        self.epoch = {d: int(e) for d, e in zip(self.domains, st["epoch"])}
        self.rows = int(st["rows"])
        self.served = {d: int(n) for d, n in zip(self.domains, st.get("served") or [0] * len(self.domains))}

    def continue_from(self, st: dict, skip_tokens: int = 0) -> list[str]:
        """Take the offsets and epochs of another loader's state for the domains both have (credits,
        rows and served tokens stay this loader's own), each moved on by `skip_tokens` (wrapping
        into the next epoch); returns the domains taken."""
        taken = []
        for d, p, e in zip(st["domains"], st["pos"], st["epoch"]):
            if d in self.pos:
                length = self.streams[d].length
                at = int(p) + int(skip_tokens)
                self.pos[d], self.epoch[d] = at % length, int(e) + at // length
                taken.append(d)
        return taken


def val_tokens(manifest: Manifest, eval_tokens: int) -> dict[str, np.ndarray]:
    """The first `eval_tokens` tokens of each domain's val shards (int64)."""
    out = {}
    for d in manifest.domains("val"):
        s = TokenStream(manifest, manifest.split_shards("val", d))
        out[d] = s.read(0, min(eval_tokens, s.length)) if s.length else np.zeros(0, np.int64)
    return out


def check_shards(manifest: Manifest) -> None:
    """Open every shard the manifest names (fail fast on a missing or truncated one)."""
    for s in manifest.shards:
        manifest.open(s)
