"""The training loop: one function, `train(...)`, used by the CLI, the Python API and torchrun.

Per step: pick the phase, LR, context length and batch from the schedule; take the global batch
from the train loader (the anneal loader in the anneal phase); each DDP rank takes its slice and
splits it into `grad_accum` micro-batches; bf16 autocast on GPU (on CPU too with `cpu_bf16`); clip
gradients; skip the update when the loss or gradient norm is not finite (up to
`max_nonfinite_steps`, then stop); AdamW (fused on CUDA, where the skip is decided on the device
and the host does a step's bookkeeping once the next step is queued, so the GPU never waits for
it: 3-4 % more tokens/s on an H200). Then: a train line in metrics.jsonl, an evaluation every
`eval_every` steps and at the end, a checkpoint every `ckpt_every` steps, at the end, and after
the step in flight when SIGTERM arrives (then exit 0). Running the same command again resumes from
the newest checkpoint.

`init_from` (a checkpoint file, or a run folder: its newest checkpoint) starts a new run from
another run's model weights only (loaded with weights_only=True; a fresh optimiser and schedule)
and continues that run's train-loader offsets for the domains both runs share, so the new run
reads on instead of re-reading the data the other run has seen: an anneal from a base checkpoint
on other data. `init_skip_tokens` moves those offsets on by that many tokens per domain (disjoint
data windows for anneals that differ by seed). Both are recorded in config.json and covered by the
config hash; a resumed run loads its own checkpoint and ignores them.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import signal
import sys
import threading
import time

import numpy as np
import torch
import torch.distributed as dist

from . import checkpoint as ckpt
from .config import resolve
from .data import DataError, Manifest, MixedLoader, check_shards, val_tokens
from .evaluate import byte_lengths_from_tokenizer, evaluate
from .model import GPT, ModelConfig
from .schedule import Schedule


class TrainingError(RuntimeError):
    """A run that cannot go on: non-finite losses past the limit, a mismatched OUTPUT folder."""


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _eta(elapsed: float, done: int, left: int) -> str:
    """`elapsed H:MM:SS, ETA H:MM:SS` from this process's pace so far (steps of every phase alike)."""
    eta = elapsed / done * left if done else 0.0
    return f"elapsed {_clock(elapsed)}, ETA {_clock(eta)}"


_ACTIVE_BARS: list = []


def _log(msg: str, rank: int = 0) -> None:
    if rank != 0:
        return
    if _ACTIVE_BARS:                      # print above the bar instead of through it
        _ACTIVE_BARS[-1].write(msg, file=sys.stderr)
    else:
        print(msg, file=sys.stderr, flush=True)


class _ProgressBar:
    """On a terminal (rank 0), a bar of steps with loss, tokens/s, phase and tqdm's ETA; elsewhere
    nothing (the periodic step lines, which carry an ETA too, are written either way)."""

    def __init__(self, enabled: bool, total: int, initial: int):
        self.bar = None
        if enabled and sys.stderr.isatty():
            import shutil

            from tqdm import tqdm
            width = shutil.get_terminal_size((100, 20)).columns   # COLUMNS, the terminal, else 100
            self.bar = tqdm(total=total, initial=initial, unit="step", ncols=width, file=sys.stderr)
            _ACTIVE_BARS.append(self.bar)

    def step(self, loss: float, tok_per_s: float, phase: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.3f} | {tok_per_s:,.0f} tok/s | {phase}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            _ACTIVE_BARS.remove(self.bar)
            self.bar.close()
            self.bar = None


def _resolve_device(device: str, local_rank: int) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device cuda requested but CUDA is not available")
        return torch.device("cuda", local_rank)
    return torch.device(device)


def read_metrics(path: str) -> list[dict]:
    out = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    break                      # a torn last line from a killed process
    return out


def _truncate_metrics(path: str, step: int) -> None:
    keep = [m for m in read_metrics(path) if m.get("step", 0) <= step]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for m in keep:
            f.write(json.dumps(m) + "\n")
    os.replace(tmp, path)


def _last_eval(path: str):
    evals = [m for m in read_metrics(path) if m.get("eval") == "val"]
    return evals[-1] if evals else None


def build_optimizer(model: GPT, cfg: dict, device: torch.device) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg["weight_decay"]},
              {"params": no_decay, "weight_decay": 0.0}]
    extra = {"fused": True} if device.type == "cuda" else {"foreach": False}
    return torch.optim.AdamW(groups, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["adam_eps"], **extra)


def make_schedule(cfg: dict) -> Schedule:
    return Schedule(steps=cfg["steps"], lr=cfg["lr"], warmup_steps=cfg["warmup_steps"],
                    schedule=cfg["schedule"], min_lr_frac=cfg["min_lr_frac"], decay_frac=cfg["decay_frac"],
                    anneal_frac=cfg["anneal_frac"], seq_len=cfg["seq_len"], batch_size=cfg["batch_size"],
                    seq_stages=tuple(tuple(s) for s in (cfg["seq_stages"] or ())))


def model_config(cfg: dict) -> ModelConfig:
    stages = [int(t) for _, t in (cfg["seq_stages"] or [])]
    return ModelConfig.from_dict({**cfg, "max_seq_len": max([cfg["seq_len"], *stages])})


def train(mix_dir: str, output_dir: str, config="cpu-demo", steps=None, seed: int = 0, device: str = "auto",
          threads: int | None = None, domain_weights: dict | None = None, byte_lengths=None,
          compile=None, progress: bool = True, overrides: dict | None = None, init_from: str | None = None,
          init_skip_tokens: int = 0, force: bool = False) -> dict:
    """Train (or resume) one proxy run; returns the final evaluation ({domain: {loss, bpb, tokens},
    objective, step, tokens}, plus `anneal_avg` when checkpoint averaging is on). `init_from`: see
    the module's docstring. A run of another configuration or on another mix in `output_dir` is an
    error (TrainingError); with `force` any run there is removed (config.json, metrics.jsonl,
    checkpoints/) and a new one starts, as FORCE=1 redoes the tag and mix jobs."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if threads:
        torch.set_num_threads(int(threads))
    dev = _resolve_device(device, local_rank)
    if world > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    try:
        return _train(mix_dir, output_dir, config, steps, seed, dev, threads, domain_weights, byte_lengths,
                      compile, progress, overrides or {}, world, rank, init_from, init_skip_tokens, force)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _manifest_sha(mix_dir: str) -> str:
    """The identity of a mix: sha256 of its manifest.json (first 16 hex digits)."""
    with open(os.path.join(mix_dir, "manifest.json"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def init_checkpoint(init_from: str) -> str:
    """The checkpoint file `init_from` names: the file itself, or a run folder's newest checkpoint."""
    if os.path.isdir(init_from):
        found = ckpt.latest(init_from)
        if found is None:
            raise DataError(f"init_from {init_from!r} is a folder without checkpoints/step_*.pt")
        return os.path.abspath(found[1])
    if not os.path.isfile(init_from):
        raise DataError(f"init_from {init_from!r} is neither a checkpoint file nor a run folder")
    return os.path.abspath(init_from)


def _init_weights(model: GPT, path: str, train_loader: MixedLoader, rank: int, skip_tokens: int = 0) -> None:
    """Load another run's model weights into `model` and continue its train-loader offsets
    (moved on by `skip_tokens` per domain)."""
    st = ckpt.load(path)
    try:
        model.load_state_dict(st["model"])
    except RuntimeError as e:
        raise TrainingError(f"init_from {path}: its model does not fit this configuration "
                            f"(d_model, layers, heads, vocab must match): {str(e).splitlines()[0]}") from None
    taken = train_loader.continue_from((st.get("loader") or {}).get("train") or
                                       {"domains": [], "pos": [], "epoch": []}, skip_tokens)
    _log(f"initialised from {path} (step {st.get('step')}); train data continue where it stopped for "
         f"{', '.join(taken) or 'no domain'}", rank)


def _train(mix_dir, output_dir, config, steps, seed, dev, threads, domain_weights, byte_lengths,
           compile_, progress, overrides, world, rank, init_from=None, init_skip_tokens=0, force=False):
    cfg = resolve(config, steps=steps, **overrides)
    manifest = Manifest(mix_dir)
    check_shards(manifest)
    if cfg["vocab_size"] is None:
        if manifest.vocab_size is None:
            raise DataError("config has vocab_size null and the manifest's tokenizer has no vocab_size")
        cfg["vocab_size"] = manifest.vocab_size
    manifest.check_vocab(cfg["vocab_size"])
    cfg["bos_id"] = manifest.bos_id
    cfg.update(seed=int(seed), domain_weights=domain_weights, world_size=world,
               mix=manifest.dir, mix_manifest_sha256=_manifest_sha(manifest.dir), device=dev.type,
               threads=threads,
               compile=cfg["compile"] if compile_ is None else compile_,
               versions={"torch": torch.__version__, "numpy": np.__version__,
                         "python": sys.version.split()[0]})
    if init_from:                    # only then: the hash of every other run stays as it was
        cfg["init_from"] = init_checkpoint(init_from)
    if init_skip_tokens:
        if not init_from or init_skip_tokens < 0:
            raise DataError("init_skip_tokens needs init_from and must be >= 0")
        cfg["init_skip_tokens"] = int(init_skip_tokens)
    sched = make_schedule(cfg)
    for s_len in {sched.seq_len_at(s) for s in range(cfg["steps"])}:
        b = sched.tokens_per_step // s_len
        if b % (world * cfg["grad_accum"]):
            raise ValueError(f"batch {b} at seq_len {s_len} is not divisible by world size {world} x "
                             f"grad_accum {cfg['grad_accum']}")
    chash = ckpt.config_hash(cfg)
    cfg["config_hash"] = chash

    os.makedirs(output_dir, exist_ok=True)
    metrics_path = os.path.join(output_dir, "metrics.jsonl")
    cfg_path = os.path.join(output_dir, "config.json")
    if os.path.exists(cfg_path):
        with open(cfg_path) as f:
            old = json.load(f)
        other = []
        if old.get("config_hash") not in (None, chash):
            other.append(f"another configuration (hash {old.get('config_hash')}, this run {chash})")
        # runs written before the mix was recorded cannot be checked
        if old.get("mix_manifest_sha256") not in (None, cfg["mix_manifest_sha256"]):
            other.append(f"another mix (manifest.json sha256 {old['mix_manifest_sha256']}, this "
                         f"mix {cfg['mix_manifest_sha256']})")
        if other and not force:
            raise TrainingError(f"{output_dir} holds a run with {' and '.join(other)}: use a new "
                                "OUTPUT folder, or FORCE=1 (--force) to replace it")
    if force:                        # start over, as FORCE=1 does (rank 0 clears, every rank waits)
        if rank == 0 and (os.path.exists(cfg_path) or ckpt.latest(output_dir)):
            _log(f"--force: replacing the run in {output_dir}", rank)
            for name in ("config.json", "metrics.jsonl"):
                if os.path.exists(os.path.join(output_dir, name)):
                    os.remove(os.path.join(output_dir, name))
            shutil.rmtree(os.path.join(output_dir, "checkpoints"), ignore_errors=True)
        if world > 1:
            dist.barrier()
    found = ckpt.latest(output_dir)
    state = ckpt.load(found[1], chash) if found else None
    if state is not None and state["step"] >= cfg["steps"]:
        _log(f"run in {output_dir} already finished ({cfg['steps']} steps); nothing to do", rank)
        return state.get("final_eval") or _last_eval(metrics_path) or {}
    if rank == 0:
        tmp = cfg_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        os.replace(tmp, cfg_path)

    # --- model, optimiser, data -----------------------------------------------------------------
    torch.manual_seed(seed); np.random.seed(seed); random.seed(seed)
    model = GPT(model_config(cfg))
    n_all, n_core = model.num_params(), model.num_params(non_embedding=True)
    _log(f"model {cfg['name']}: {n_all:,} parameters ({n_core:,} non-embedding), vocab {cfg['vocab_size']}, "
         f"d {cfg['d_model']}, {cfg['n_layers']} layers, {cfg['n_heads']}/{cfg['n_kv_heads']} heads"
         f"{', %d experts top-%d' % (cfg['moe_experts'], cfg['moe_top_k']) if cfg['moe_experts'] else ''}", rank)
    model.to(dev)
    opt = build_optimizer(model, cfg, dev)
    seeded = cfg["data_start"] == "seeded"
    train_loader = MixedLoader(manifest, "train", seed, weights=domain_weights, seeded_start=seeded)
    anneal_loader = None
    if sched.anneal_steps and cfg["anneal_data"] == "train":
        _log("anneal_data=train: the anneal phase decays the learning rate on the train mix", rank)
    elif sched.anneal_steps and manifest.domains("anneal"):
        anneal_loader = MixedLoader(manifest, "anneal", seed, seeded_start=seeded)
    elif sched.anneal_steps:
        _log("manifest has no anneal shards: the anneal phase keeps the train mix", rank)
    val = val_tokens(manifest, cfg["eval_tokens"])
    if not val:
        raise DataError("manifest has no val shards: nothing to evaluate")
    if byte_lengths is None:
        if not manifest.tokenizer_path or not os.path.isfile(manifest.tokenizer_path):
            raise DataError(f"tokenizer file {manifest.tokenizer_path!r} named in the manifest is missing "
                            f"(needed for bytes per token)")
        blen, special = byte_lengths_from_tokenizer(manifest.tokenizer_path, cfg["vocab_size"])
    else:
        blen = np.asarray(byte_lengths, dtype=np.int64)
        special = blen == 0
    if len(blen) < cfg["vocab_size"]:
        blen = np.pad(blen, (0, cfg["vocab_size"] - len(blen)))
        special = np.pad(special, (0, cfg["vocab_size"] - len(special)), constant_values=True)
    for i in (manifest.bos_id, manifest.eos_id, 0):
        special[i] = True

    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        train_loader.load_state_dict(state["loader"]["train"])
        if anneal_loader is not None and state["loader"].get("anneal") is not None:
            anneal_loader.load_state_dict(state["loader"]["anneal"])
        ckpt.set_rng_state(state["rng"])
        tokens = int(state["tokens"])
        nonfinite = int(state.get("nonfinite", 0))
        if rank == 0:
            _truncate_metrics(metrics_path, sched.step)
        _log(f"resumed from {found[1]} at step {sched.step}", rank)
    else:
        tokens, nonfinite = 0, 0
        if rank == 0 and os.path.exists(metrics_path):
            os.remove(metrics_path)
        if cfg.get("init_from"):
            _init_weights(model, cfg["init_from"], train_loader, rank, cfg.get("init_skip_tokens", 0))

    use_compile = cfg["compile"] is True or (cfg["compile"] == "auto" and dev.type == "cuda")
    fwd = torch.compile(model) if use_compile else model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        fwd = DDP(fwd, device_ids=[dev.index] if dev.type == "cuda" else None)
    amp = torch.bfloat16 if dev.type == "cuda" or cfg["cpu_bf16"] else None
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    stop = {"sigterm": False}
    old_handler = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):
            stop["sigterm"] = True
        old_handler = signal.signal(signal.SIGTERM, on_term)

    metrics_f = open(metrics_path, "a") if rank == 0 else None

    def write(line: dict):
        if metrics_f is not None:
            metrics_f.write(json.dumps(line) + "\n")
            metrics_f.flush()

    def do_eval(step_done: int, which: str = "val", net=None):
        res = evaluate(net or model, val, blen, special, seq_len=cfg["seq_len"], batch_size=cfg["eval_batch"],
                       device=dev, autocast_dtype=amp)
        line = {"eval": which, "step": step_done, "tokens": tokens, **{k: v for k, v in res.items()}}
        write(line)
        _log(f"eval step {step_done}: " + ", ".join(f"{d} bpb {v['bpb']:.4f}" for d, v in res.items()
                                                    if isinstance(v, dict)) + f" | objective {res['objective']:.4f}", rank)
        return line

    def save(step_done: int, final_eval=None):
        if rank == 0:
            st = {"step": step_done, "tokens": tokens, "nonfinite": nonfinite, "config_hash": chash,
                  "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                  "loader": {"train": train_loader.state_dict(),
                             "anneal": anneal_loader.state_dict() if anneal_loader else None},
                  "rng": ckpt.rng_state(), "final_eval": final_eval}
            ckpt.save(output_dir, step_done, st)
            protect = set(range(sched.anneal_start + 1, cfg["steps"] + 1)) if cfg["anneal_average"] else set()
            ckpt.prune(output_dir, cfg["keep_checkpoints"], protect=protect)
        if world > 1:
            dist.barrier()

    # A fused optimiser skips a non-finite step on the device (optimizer_step), so on a GPU the host
    # reads a step's loss only after the next step is queued, and the GPU never waits for Python.
    defer = bool(opt.defaults.get("fused"))
    pending = None
    synced = {"at": 0.0}

    def finish(rec: dict, nonfinite: int) -> int:
        """A finished step's bookkeeping (reads its loss: a host sync): metrics line, the
        non-finite count and its limit, progress bar and log line; returns the new count."""
        loss_v, ok = float(rec["loss"]), bool(rec["ok"])
        now = time.perf_counter()
        dt = now - max(rec["t0"], synced["at"])       # the time between two finished steps
        synced["at"] = now
        s1, T, B, phase = rec["step"], rec["seq_len"], rec["batch"], rec["phase"]
        write({"step": s1, "tokens": rec["tokens"], "loss": loss_v if ok else None, "lr": rec["lr"],
               "seq_len": T, "phase": phase, "tok_per_s": round(B * T / dt, 1)})
        if not ok:
            nonfinite += 1
            _log(f"step {s1}: non-finite loss ({loss_v}); update skipped "
                 f"({nonfinite}/{cfg['max_nonfinite_steps']} allowed)", rank)
            if nonfinite > cfg["max_nonfinite_steps"]:
                raise TrainingError(
                    f"stopping: {nonfinite} steps had a non-finite loss or gradient (limit "
                    f"max_nonfinite_steps={cfg['max_nonfinite_steps']}); lower lr, check the data, "
                    f"or resume from an earlier checkpoint")
        bar.step(loss_v, B * T / dt, phase)
        if progress and (s1 % cfg["log_every"] == 0 or s1 == cfg["steps"]):
            _log(f"step {s1:>6}/{cfg['steps']} | loss {loss_v:.4f} | lr {rec['lr']:.2e} | seq {T} x {B} | "
                 f"{B * T / dt:,.0f} tok/s | {phase} | "
                 + _eta(now - run_t0, s1 - run_step0, cfg["steps"] - s1), rank)
        return nonfinite

    final = None
    bar = None
    fault = set(int(s) for s in cfg["fault_nan_steps"])
    try:
        model.train()
        run_t0, run_step0 = time.perf_counter(), sched.step  # for the ETA of this process's steps
        bar = _ProgressBar(progress and rank == 0, cfg["steps"], sched.step)
        while sched.step < cfg["steps"]:
            s = sched.step
            t0 = time.perf_counter()
            phase, lr, T, B = sched.phase(s), sched.lr_at(s), sched.seq_len_at(s), sched.batch_at(s)
            for g in opt.param_groups:
                g["lr"] = lr
            loader = anneal_loader if (phase == "anneal" and anneal_loader is not None) else train_loader
            x, y = loader.next_batch(B, T)
            per_rank = B // world
            x, y = x[rank * per_rank:(rank + 1) * per_rank], y[rank * per_rank:(rank + 1) * per_rank]
            if dev.type == "cuda":
                x, y = x.pin_memory().to(dev, non_blocking=True), y.pin_memory().to(dev, non_blocking=True)
            loss = forward_backward(fwd, x, y, cfg["grad_accum"], amp, cfg["moe_aux_coef"] if cfg["moe_experts"] else 0.0,
                                    ddp=world > 1)
            if (s + 1) in fault:
                loss = loss * float("nan")
            gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"] or float("inf"))
            ok = torch.isfinite(loss) & torch.isfinite(gnorm)
            if world > 1:
                packed = torch.stack([loss.float(), (~ok).float()])
                dist.all_reduce(packed)
                loss, ok = packed[0] / world, packed[1] == 0
            optimizer_step(opt, ok)
            opt.zero_grad(set_to_none=True)
            sched.step = s + 1
            tokens += B * T
            if pending is not None:                  # the step before: done by now, or nearly
                nonfinite = finish(pending, nonfinite)
            pending = {"step": s + 1, "tokens": tokens, "lr": lr, "seq_len": T, "batch": B,
                       "phase": phase, "loss": loss, "ok": ok, "t0": t0}
            last = s + 1 == cfg["steps"]
            boundary = last or (s + 1) % cfg["eval_every"] == 0 or (s + 1) % cfg["ckpt_every"] == 0
            if boundary or stop["sigterm"] or not defer:
                nonfinite = finish(pending, nonfinite)
                pending = None
            if last or (s + 1) % cfg["eval_every"] == 0:
                line = do_eval(s + 1)
                if last:
                    final = line
            if last or (s + 1) % cfg["ckpt_every"] == 0 or stop["sigterm"]:
                save(s + 1, final_eval=final)
            if stop["sigterm"] and not last:
                _log(f"SIGTERM: checkpointed at step {s + 1}; run the same command again to resume", rank)
                return {"interrupted": True, "step": s + 1}
        if cfg["anneal_average"]:
            final = dict(final or {})
            final["anneal_avg"] = _anneal_average(output_dir, sched.anneal_start, model_config(cfg), dev,
                                                  lambda net: do_eval(cfg["steps"], "val_anneal_avg", net), rank)
        return final
    finally:
        if bar is not None:
            bar.close()
        if metrics_f is not None:
            metrics_f.close()
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)


def forward_backward(fwd, x, y, accum: int, amp, moe_aux_coef: float = 0.0, ddp: bool = False) -> torch.Tensor:
    """Forward and backward over `accum` equal micro-batches of (x, y); returns the mean
    cross-entropy (a detached tensor, no host sync). Only the last micro-batch syncs DDP gradients."""
    mb = x.shape[0] // accum
    loss_sum = torch.zeros((), device=x.device)
    for a in range(accum):
        xs, ys = x[a * mb:(a + 1) * mb], y[a * mb:(a + 1) * mb]
        sync_ctx = fwd.no_sync() if (ddp and a < accum - 1) else _null()
        with sync_ctx:
            with torch.autocast(x.device.type, dtype=amp, enabled=amp is not None):
                ce, aux = fwd(xs, ys)
                total = ce + moe_aux_coef * aux if moe_aux_coef else ce
            (total / accum).backward()
        loss_sum += ce.detach()
    return loss_sum / accum


def optimizer_step(opt: torch.optim.Optimizer, ok: torch.Tensor) -> None:
    """Step unless `ok` (a bool tensor) is False. A fused AdamW takes the decision on the device
    (its `found_inf` input, as GradScaler uses it: parameters, moments and step counts stay as they
    were), so no host sync; any other optimiser reads `ok` on the host first."""
    if opt.defaults.get("fused"):
        opt.found_inf = (~ok).float()
        try:
            opt.step()
        finally:
            del opt.found_inf
    elif bool(ok):
        opt.step()


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _anneal_average(output_dir, anneal_start, mcfg, dev, evaluate_fn, rank):
    """Average the model weights of the checkpoints taken during the anneal; evaluate and save it."""
    if world_size() > 1:
        dist.barrier()
    steps = [s for s, _ in ckpt.list_checkpoints(output_dir) if s > anneal_start]
    if not steps:
        steps = [s for s, _ in ckpt.list_checkpoints(output_dir)][-1:]
    avg = None
    for s in steps:
        sd = torch.load(ckpt.path_for(output_dir, s), map_location="cpu", weights_only=True)["model"]
        if avg is None:
            avg = {k: v.double().clone() for k, v in sd.items()}
        else:
            for k in avg:
                avg[k] += sd[k].double()
    net = GPT(mcfg)
    net.load_state_dict({k: (v / len(steps)).float() for k, v in avg.items()})
    net.to(dev)
    if rank == 0:
        torch.save({"model": net.state_dict(), "steps": list(steps)},
                   os.path.join(output_dir, "checkpoints", "anneal_avg.pt"))
    line = evaluate_fn(net)
    line["averaged_steps"] = list(steps)
    return line


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1
