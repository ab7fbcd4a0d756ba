"""Checkpoints: `OUTPUT/checkpoints/step_<NNNNNN>.pt`, written atomically, loaded with weights_only.

A checkpoint holds the model, the optimiser, the schedule, the loader positions, the RNG states
(torch, numpy, python, stored as tensors and lists so `torch.load(weights_only=True)` accepts them)
and the hash of the configuration that produced it. It is written to a temporary file in the same
folder and renamed into place, so a killed process leaves either the old set or the new one.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import random
import re

import numpy as np
import torch

CKPT_RE = re.compile(r"step_(\d{6,})\.pt$")

# Keys of the resolved configuration that do not change the computation (where and how fast it runs).
RUNTIME_KEYS = {"device", "threads", "compile", "output", "mix", "log_every", "keep_checkpoints",
                "versions", "world_size", "config_hash", "progress",
                "mix_manifest_sha256"}  # checked apart: runs written before it was recorded still resume


# Keys added after runs were first written, with the value that reproduces what those runs did: at
# that value a key is left out of the hash, so a run written before it existed still resumes.
LATER_KEYS = {"cpu_bf16": False, "anneal_data": "anneal"}


def config_hash(cfg: dict) -> str:
    core = {k: v for k, v in cfg.items()
            if k not in RUNTIME_KEYS and not (k in LATER_KEYS and v == LATER_KEYS[k])}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]


def path_for(out_dir: str, step: int) -> str:
    return os.path.join(out_dir, "checkpoints", f"step_{step:06d}.pt")


def list_checkpoints(out_dir: str) -> list[tuple[int, str]]:
    found = []
    for p in glob.glob(os.path.join(out_dir, "checkpoints", "step_*.pt")):
        m = CKPT_RE.search(p)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest(out_dir: str):
    ck = list_checkpoints(out_dir)
    return ck[-1] if ck else None


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                      int(np_state[3]), float(np_state[4])],
            "python": [list(random.getstate()[1]), random.getstate()[0]]}


def set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    name, keys, pos, has_gauss, cached = st["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    internal, version = st["python"]
    random.setstate((version, tuple(int(x) for x in internal), None))


def save(out_dir: str, step: int, state: dict) -> str:
    path = path_for(out_dir, step)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save(state, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def load(path: str, expected_hash: str | None = None) -> dict:
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RuntimeError(f"cannot load checkpoint {path}: {e}") from None
    if expected_hash is not None and st.get("config_hash") != expected_hash:
        raise RuntimeError(
            f"checkpoint {path} was written by another configuration (hash {st.get('config_hash')}, "
            f"this run {expected_hash}); use a new OUTPUT folder, or the original config, steps and seed")
    return st


def prune(out_dir: str, keep: int, protect: set[int] = frozenset()) -> None:
    """Delete all but the newest `keep` checkpoints (0 keeps all), sparing the steps in `protect`."""
    if keep <= 0:
        return
    ck = list_checkpoints(out_dir)
    for step, p in ck[:-keep]:
        if step not in protect:
            os.remove(p)
