"""`python -m trainer.bench` (`make bench`): CPU training throughput and MFU of the CPU configs.

Each config trains for a few steps on synthetic tokens (vocabulary 16,384, the default tokenizer's)
at each of its context lengths, with the trainer's own model, optimiser and forward/backward, in
fp32 and then under CPU bf16 autocast (the `cpu_bf16` setting).
Reported per config and context length: tokens/s (from the median step time, so that
other processes on a shared machine skew it less) and MFU = tokens/s x training FLOPs per token
(6 x matmul parameters, the output head included, + 12 x layers x d_model x seq_len for attention,
the same count as shared/bench/gpu_llama_ref.py) / peak FLOP/s.

Peak FLOP/s assumption (override with --peak-gflops): fp32 FMA throughput of the cores torch uses,
cores x clock (--ghz, default 3.0) x FLOPs per cycle per core: 64 with AVX-512 (two 16-lane FMA
units), 32 with AVX2 (two 8-lane FMA units), 16 otherwise.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from .config import resolve
from .loop import build_optimizer, forward_backward, model_config
from .model import GPT


def cpu_flops_per_cycle() -> int:
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return 16
    if " avx512f" in flags:
        return 64
    if " avx2" in flags and " fma" in flags:
        return 32
    return 16


def bench_config(name: str, steps: int, vocab: int, peak: float, warmup: int = 2,
                 bf16: bool = False) -> list[dict]:
    """Tokens/s and MFU of one config at each of its context lengths; `bf16`: under CPU bf16
    autocast (the config's `cpu_bf16`; MFU still against the fp32 peak)."""
    cfg = resolve(name)
    cfg["vocab_size"] = cfg["vocab_size"] or vocab
    torch.manual_seed(0)
    model = GPT(model_config(cfg))
    opt = build_optimizer(model, cfg, torch.device("cpu"))
    stages = sorted({int(t) for _, t in (cfg["seq_stages"] or [])} | {cfg["seq_len"]})
    tokens_per_step = cfg["batch_size"] * cfg["seq_len"]
    out = []
    for T in stages:
        B = tokens_per_step // T
        x = torch.randint(0, cfg["vocab_size"], (B, T))
        y = torch.randint(0, cfg["vocab_size"], (B, T))
        coef = cfg["moe_aux_coef"] if cfg["moe_experts"] else 0.0
        times = []
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            forward_backward(model, x, y, 1, torch.bfloat16 if bf16 else None, coef)
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
            opt.step()
            opt.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - t0)
        dt = statistics.median(times[warmup:])      # robust to other processes on a shared machine
        tok_s = B * T / dt
        out.append({"config": name, "precision": "bf16" if bf16 else "fp32",
                    "params": model.num_params(), "seq_len": T, "batch": B,
                    "tok_per_s": round(tok_s), "mfu": round(tok_s * model.flops_per_token(T) / peak, 4)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="cpu-demo,cpu-3m,cpu-moe")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--vocab", type=int, default=16384, help="vocabulary for configs with vocab_size null")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--ghz", type=float, default=3.0)
    p.add_argument("--peak-gflops", type=float, default=None)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    cores = torch.get_num_threads()
    fpc = cpu_flops_per_cycle()
    peak = a.peak_gflops * 1e9 if a.peak_gflops else cores * a.ghz * 1e9 * fpc
    print(f"torch {torch.__version__}, {cores} threads; peak assumed {peak / 1e9:.0f} GFLOP/s fp32 "
          f"({'given' if a.peak_gflops else f'{cores} cores x {a.ghz} GHz x {fpc} FLOP/cycle'})", flush=True)
    for name in a.configs.split(","):
        for bf16 in (False, True):
            for r in bench_config(name, a.steps, a.vocab, peak, bf16=bf16):
                print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
