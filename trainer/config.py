"""Named configurations (`trainer/configs/<name>.json`, or any JSON file path) and their defaults.

A config file sets any of the keys in DEFAULTS; `resolve()` fills the rest and applies the
command line's overrides (steps, seed, ...). The resolved dict is what `config.json` records and
what the checkpoint's config hash covers (minus the runtime-only keys in checkpoint.RUNTIME_KEYS).
"""
from __future__ import annotations

import json
import os

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")

DEFAULTS = {
    # model (trainer/model.py); vocab_size null = the tokenizer's vocabulary size from the manifest
    "vocab_size": None, "d_model": 128, "n_layers": 4, "n_heads": 4, "n_kv_heads": 2, "ffn_dim": 384,
    "rope_theta": 500_000.0, "tie_embeddings": True, "norm_eps": 1e-5, "init_std": 0.02,
    "moe_experts": 0, "moe_top_k": 2, "moe_aux_coef": 0.01, "doc_mask": False,
    # batch and context: tokens per step = batch_size * seq_len; seq_stages = [[start fraction, seq_len], ...]
    "seq_len": 256, "batch_size": 8, "seq_stages": None, "grad_accum": 1,
    # optimiser and schedule (trainer/schedule.py)
    "steps": 200, "lr": 3e-3, "min_lr_frac": 0.1, "warmup_frac": 0.05, "schedule": "cosine",
    "decay_frac": 0.0, "anneal_frac": 0.1,
    "anneal_data": "anneal",       # the anneal phase reads the manifest's anneal shards; "train": the train mix
    "data_start": "seeded",        # each domain's stream starts at an offset drawn from the seed; "beginning": token 0
    "weight_decay": 0.1, "betas": [0.9, 0.95], "adam_eps": 1e-8,
    "grad_clip": 1.0,
    # evaluation, checkpoints, guards
    "eval_every": None,            # null = max(1, steps // 4); always at the end
    "eval_tokens": 100_000, "eval_batch": 16,
    "ckpt_every": None,            # null = max(1, steps // 10); always at the end and on SIGTERM
    "keep_checkpoints": 2,         # newest N kept (0 = all); anneal checkpoints kept when averaging
    "anneal_average": False,       # average the checkpoints taken during the anneal at the end
    "max_nonfinite_steps": 5,      # skip up to this many steps with a non-finite loss, then stop
    "fault_nan_steps": [],         # test hook: 1-based steps whose loss is replaced by NaN
    "compile": "auto",             # auto = on CUDA only
    # bf16 autocast on CPU as well (always on CUDA): matmuls 2-5x faster on CPUs with AVX512-BF16
    # or AMX, results differ from fp32 at bf16 rounding; off by default so proxies stay comparable
    "cpu_bf16": False,
    "log_every": 1,
}


def load_named(config: str | dict) -> dict:
    if isinstance(config, dict):
        return dict(config)
    path = config if os.path.isfile(config) else os.path.join(CONFIG_DIR, f"{config}.json")
    if not os.path.isfile(path):
        names = sorted(f[:-5] for f in os.listdir(CONFIG_DIR) if f.endswith(".json"))
        raise FileNotFoundError(f"config {config!r} is neither a file nor one of {names}")
    with open(path) as f:
        d = json.load(f)
    d.setdefault("name", os.path.splitext(os.path.basename(path))[0])
    return d


def resolve(config: str | dict, **overrides) -> dict:
    raw = load_named(config)
    unknown = sorted(set(raw) - set(DEFAULTS) - {"name", "description"})
    if unknown:
        raise ValueError(f"unknown config keys: {unknown}")
    cfg = dict(DEFAULTS)
    cfg.update(raw)
    cfg.setdefault("name", "custom")
    for k, v in overrides.items():
        if v is not None:
            cfg[k] = v
    if cfg["anneal_data"] not in ("anneal", "train"):
        raise ValueError(f"anneal_data must be 'anneal' or 'train', got {cfg['anneal_data']!r}")
    if cfg["data_start"] not in ("seeded", "beginning"):
        raise ValueError(f"data_start must be 'seeded' or 'beginning', got {cfg['data_start']!r}")
    steps = int(cfg["steps"])
    cfg["steps"] = steps
    if cfg["eval_every"] is None:
        cfg["eval_every"] = max(1, steps // 4)
    if cfg["ckpt_every"] is None:
        cfg["ckpt_every"] = max(1, steps // 10)
    cfg["warmup_steps"] = int(round(cfg["warmup_frac"] * steps))
    return cfg


def list_configs() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(CONFIG_DIR) if f.endswith(".json"))
