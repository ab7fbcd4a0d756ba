"""`python -m trainer.gpu_bench`: our trainer against the GPU reference, on the same card.

1. Writes a synthetic mix (random tokens, numpy only: no tokenizer file; bytes per token are passed
   as an array) into a temporary folder and runs the real trainer (`trainer.loop.train`: loader,
   schedule, bf16 autocast, fused AdamW, torch.compile, clipping, the non-finite guard, metrics)
   at the reference's d512-L8-T1024 shape (config gpu-d512-L8 at a fixed 1024 context, constant
   LR so no phase changes) for --warmup + --steps steps. Tokens/s = the measured steps' tokens over
   their summed wall time, from metrics.jsonl (each step's time includes its host sync).
2. Then runs the reference script (`--ref`, default bench_gpu/gpu_llama_ref.py: the caller copies
   ../shared/bench/gpu_llama_ref.py there, git-ignored) as `python REF d512-L8-T1024` and reads its
   tokens/s.
3. Prints both, the ratio (target >= 0.95) and the card, one JSON line at the end.
4. With --profile FILE: times bare training steps (random batch on the GPU, no loader and no
   bookkeeping) of our model and of the reference's, and writes the kernels each spends its GPU time
   in (torch.profiler) to FILE: where a gap comes from, when there is one.

Measured on an H200 (README, Measuring): ours 1.05-1.065x the reference's tokens/s.
Needs torch and numpy only. `--device cpu --tiny` is a CPU smoke test of the same path (a tiny
model; the reference, which needs CUDA, is skipped).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from .config import resolve


TINY = {"vocab_size": 512, "d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "ffn_dim": 192,
        "seq_len": 128, "batch_size": 4}     # --tiny: the CPU smoke test's model


def write_synthetic_mix(root: str, vocab: int, tokens: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    shards = []
    for split, n in (("train", tokens), ("val", 1 << 14)):
        rel = f"shards/{split}/general/00000.bin"
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        arr = rng.integers(3, vocab, size=n, dtype=np.uint16 if vocab <= 65536 else np.uint32)
        arr[::512] = 1                                   # a BOS every 512 tokens
        arr.astype(arr.dtype.newbyteorder("<")).tofile(os.path.join(root, rel))
        np.save(os.path.join(root, rel[:-4] + ".idx.npy"), np.arange(0, n, 512, dtype=np.int64))
        shards.append({"path": rel, "split": split, "domain": "general", "tokens": int(n),
                       "documents": int((n + 511) // 512), "bytes": int(arr.nbytes), "sha256": ""})
    manifest = {"format_version": 1, "seed": seed, "tokenizer": {"path": None, "vocab_size": vocab, "bos_id": 1,
                "eos_id": 2, "dtype": "uint16" if vocab <= 65536 else "uint32"}, "shards": shards}
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(manifest, f)


def run_ours(device: str, tiny: bool, warmup: int, steps: int, config: str) -> dict:
    from .loop import train

    cfg = resolve(config)
    overrides = {"seq_stages": [], "warmup_frac": 0.0, "anneal_frac": 0.0, "schedule": "wsd", "decay_frac": 0.0,
                 "eval_tokens": 4096, "eval_every": 10 ** 9, "ckpt_every": 10 ** 9, "keep_checkpoints": 1,
                 "log_every": 1}
    if tiny:
        overrides.update(TINY, eval_tokens=1024)
    vocab = overrides.get("vocab_size", cfg["vocab_size"])
    seq, batch = overrides.get("seq_len", cfg["seq_len"]), overrides.get("batch_size", cfg["batch_size"])
    total = warmup + steps
    with tempfile.TemporaryDirectory() as tmp:
        mix, out = os.path.join(tmp, "mix"), os.path.join(tmp, "run")
        write_synthetic_mix(mix, vocab, tokens=min(total * seq * batch + seq + 1, 64 << 20))
        t0 = time.perf_counter()
        train(mix, out, config=config, steps=total, seed=0, device=device, byte_lengths=np.ones(vocab, np.int64),
              progress=True, overrides=overrides)
        wall = time.perf_counter() - t0
        lines = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
        cfg_out = json.load(open(os.path.join(out, "config.json")))
    measured = [m for m in lines if "eval" not in m and m["step"] > warmup]
    secs = sum(seq * batch / m["tok_per_s"] for m in measured)
    tok_s = len(measured) * seq * batch / secs
    from .loop import model_config
    from .model import GPT
    with torch.device("meta"):
        model = GPT(model_config({**cfg_out}))
    flops = model.flops_per_token(seq)
    return {"tok_s": round(tok_s), "mfu_h100_peak": round(tok_s * flops / 989e12, 3), "steps": len(measured),
            "T": seq, "B": batch, "compile": cfg_out["compile"], "wall_s_total": round(wall, 1),
            "final_loss": measured[-1]["loss"]}


def run_reference(ref: str, name: str) -> dict | None:
    if not os.path.isfile(ref):
        print(f"reference {ref} not found: copy ../shared/bench/gpu_llama_ref.py there", file=sys.stderr)
        return None
    p = subprocess.run([sys.executable, ref, name], capture_output=True, text=True)
    sys.stderr.write(p.stdout + p.stderr[-3000:])
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    return None


def _bare_steps(name, fwd_backward, B, T, V, dev, steps, out) -> float:
    """Seconds per bare training step (synchronised before and after `steps` steps), and the
    profiler's table of 5 more steps appended to `out` (kernels by GPU time on CUDA)."""
    from torch.profiler import ProfilerActivity, profile

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    x, y = torch.randint(0, V, (B, T), device=dev), torch.randint(0, V, (B, T), device=dev)
    for _ in range(5):
        fwd_backward(x, y)
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        fwd_backward(x, y)
    sync()
    per_step = (time.perf_counter() - t) / steps
    cuda = dev.type == "cuda"
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        for _ in range(5):
            fwd_backward(x, y)
        sync()
    with open(out, "a") as f:
        f.write(f"=== {name}: {per_step * 1e3:.2f} ms per bare step, {B * T / per_step:,.0f} tok/s ===\n")
        f.write(prof.key_averages().table(sort_by="self_cuda_time_total" if cuda else "self_cpu_time_total",
                                          row_limit=40) + "\n")
    return per_step


def profile_both(config: str, ref: str, out: str, device: str = "cuda", overrides: dict | None = None,
                 steps: int = 20) -> dict:
    """Bare steps of our model (our forward_backward, clipping, optimizer_step) and of the
    reference's model and step, each compiled (on CUDA), same shape."""
    import importlib.util

    from .loop import build_optimizer, forward_backward, model_config, optimizer_step
    from .model import GPT
    cfg = resolve(config, seq_stages=[], **(overrides or {}))
    B, T, V = cfg["batch_size"], cfg["seq_len"], cfg["vocab_size"]
    dev = torch.device(device)
    amp = torch.bfloat16 if dev.type == "cuda" else None
    torch.manual_seed(0)
    model = GPT(model_config(cfg)).to(dev)
    opt = build_optimizer(model, cfg, dev)
    compiled = torch.compile if dev.type == "cuda" else (lambda m: m)    # CPU: a quick smoke test
    fwd = compiled(model)

    def ours(x, y):
        loss = forward_backward(fwd, x, y, 1, amp)
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        optimizer_step(opt, torch.isfinite(loss) & torch.isfinite(gnorm))
        opt.zero_grad(set_to_none=True)

    res = {"ours_bare_ms": round(_bare_steps("ours", ours, B, T, V, dev, steps, out) * 1e3, 2)}
    del model, opt, fwd
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    if os.path.isfile(ref):
        spec = importlib.util.spec_from_file_location("gpu_llama_ref", ref)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        m = mod.LM(V, cfg["d_model"], cfg["n_layers"], cfg["n_heads"], cfg["n_kv_heads"], cfg["ffn_dim"]).to(dev)
        ropt = torch.optim.AdamW(m.parameters(), lr=3e-4, fused=dev.type == "cuda")
        f = compiled(m)

        def theirs(x, y):
            with torch.autocast(dev.type, torch.bfloat16, enabled=amp is not None):
                loss = f(x, y)
            loss.backward()
            ropt.step()
            ropt.zero_grad(set_to_none=True)

        res["ref_bare_ms"] = round(_bare_steps("reference", theirs, B, T, V, dev, steps, out) * 1e3, 2)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainer.gpu_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--tiny", action="store_true", help="tiny model (CPU smoke test)")
    p.add_argument("--config", default="gpu-d512-L8")
    p.add_argument("--ref", default=os.path.join("bench_gpu", "gpu_llama_ref.py"))
    p.add_argument("--ref-name", default="d512-L8-T1024")
    p.add_argument("--warmup", type=int, default=10, help="steps left out of the timing (compile, autotune)")
    p.add_argument("--steps", type=int, default=30, help="timed steps (the reference times 30)")
    p.add_argument("--profile", metavar="FILE", help="also time and profile bare steps of both models (CUDA)")
    a = p.parse_args(argv)
    card = torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {card}", flush=True)
    ours = run_ours(a.device, a.tiny, a.warmup, a.steps, a.config)
    print("ours", json.dumps(ours), flush=True)
    if a.device == "cuda":
        torch.cuda.empty_cache()
    ref = run_reference(a.ref, a.ref_name) if a.device == "cuda" and not a.tiny else None
    result = {"card": card, "torch": torch.__version__, "ours_tok_s": ours["tok_s"],
              "ref_tok_s": ref["tok_s"] if ref else None,
              "ratio": round(ours["tok_s"] / ref["tok_s"], 3) if ref else None, "target": 0.95}
    if a.profile:
        result.update(profile_both(a.config, a.ref, a.profile, a.device, TINY if a.tiny else None))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
