"""Valuing a candidate data source by annealing, Llama 3's way: from one base checkpoint trained on
the default mix, anneal on (1 - share) default mix + share candidate (treatment) against 100 %
default mix (control), with the same schedule and the same seed per pair, and report the change in
validation bits per byte per domain with its spread over seeds.

    python -m mixtures.value --mix runs/mix --candidate runs/mix-cand [--candidate-share 0.3]
        [--config cpu-demo] [--base-steps N] [--anneal-steps M] [--seeds 3] [--workers 2] [--out DIR]

Inputs are two finished `make mix` outputs with the same tokenizer (tokenizer.json compared by
sha256 before anything trains). Runs, under OUT (default MIX/valuation/<candidate folder name>):

- `base/`: the config on MIX's train shards for base-steps, warmup then a constant LR (schedule
  wsd, no decay, no final anneal), so the LR decay is left to the anneals.
- `anneal_mix/manifest.json`: a mix that names MIX's train and val shards under their domains and
  the candidate's train and val shards under `candidate:<domain>` (relative paths into both mixes;
  no file is copied). Control and treatment both train on it and differ only in their domain
  weights: the control gives the candidate domains 0, the treatment scales MIX's realised train
  token shares by 1 - share and the candidate's by share. The trainer's stride-scheduling loader
  then mixes the two mixes row by row like any domains, and its evaluation covers MIX's val
  domains and the candidate's own val domains in both arms.
- `runs/{control,treatment}_s<seed>/`: anneal-steps from the base's final checkpoint (trainer
  `init_from`: model weights only; MIX's domains read on from where the base stopped), at the
  config's final context, LR from the peak linearly to zero, no warmup. The k-th seed sets the
  anneal's domain interleaving and starts k anneal-budgets further on in every domain (trainer
  `init_skip_tokens`), so the seeds read disjoint data windows (wrapping around a domain that is
  shorter) and the spread covers the data sample, not only the order; control and treatment of one
  seed share their window.
  Each finished run writes `result.json` (final evaluation and tokens served per domain, read from
  its last checkpoint's loader state); a rerun reads it back instead of training.

`valuation.json`: per domain, control and treatment bpb (mean, std, values) and the paired delta
treatment - control (mean, std over seeds, values), a verdict ("helps"/"hurts" only when |mean
delta| > 2 x std of the paired deltas), the settings, seeds, steps and token counts.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np

from .config import MixError
from .shards import sha256_file

CANDIDATE_PREFIX = "candidate:"
BASE_OVERRIDES = {"schedule": "wsd", "decay_frac": 0.0, "anneal_frac": 0.0}


# ---------------------------------------------------------------- inputs and checks

def read_mix(mix_dir: str, what: str) -> dict:
    """A finished `make mix` output's manifest, with its tokenizer's path and sha256."""
    if not os.path.isfile(os.path.join(mix_dir, "_SUCCESS")):
        raise MixError(f"{what} {mix_dir!r} is not a finished `make mix` output (no _SUCCESS)")
    path = os.path.join(mix_dir, "manifest.json")
    if not os.path.isfile(path):
        raise MixError(f"{what} {mix_dir!r} has no manifest.json")
    with open(path) as f:
        manifest = json.load(f)
    tok = os.path.join(mix_dir, (manifest.get("tokenizer") or {}).get("path") or "tokenizer.json")
    if not os.path.isfile(tok):
        raise MixError(f"{what} {mix_dir!r}: tokenizer file {tok} is missing")
    return {"dir": os.path.abspath(mix_dir), "manifest": manifest, "manifest_sha256": sha256_file(path),
            "tokenizer": tok, "tokenizer_sha256": sha256_file(tok)}


def check_same_tokenizer(mix: dict, cand: dict) -> None:
    if mix["tokenizer_sha256"] != cand["tokenizer_sha256"]:
        raise MixError(
            f"the candidate's tokenizer differs from the mix's ({cand['tokenizer']} sha256 "
            f"{cand['tokenizer_sha256'][:12]} vs {mix['tokenizer']} sha256 {mix['tokenizer_sha256'][:12]}): "
            "token ids would mean different strings. Tokenise the candidate with the mix's tokenizer.json")
    if not _train_tokens(cand["manifest"]):
        raise MixError(f"the candidate {cand['dir']} has no train shards")


def check_shards(mix_dir: str, what: str) -> None:
    """Every shard the manifest names exists with its listed size (the trainer's own check)."""
    from trainer.data import DataError, Manifest
    from trainer.data import check_shards as open_all
    try:
        open_all(Manifest(mix_dir))
    except DataError as e:
        raise MixError(f"{what}: {e}") from None


def check_options(share: float, seeds: int, workers: int, base_steps: int, anneal_steps: int) -> None:
    if not 0.0 < share < 1.0:
        raise MixError(f"--candidate-share must be in (0, 1), got {share}")
    if seeds < 2:
        raise MixError(f"--seeds must be at least 2 (a seed spread needs two runs per arm), got {seeds}")
    if workers < 1:
        raise MixError(f"--workers must be at least 1, got {workers}")
    if base_steps < 1 or anneal_steps < 1:
        raise MixError(f"--base-steps and --anneal-steps must be at least 1, got {base_steps} and {anneal_steps}")


def _train_tokens(manifest: dict) -> dict[str, int]:
    """Realised train tokens per domain, summed from the manifest's shard list."""
    out: dict[str, int] = {}
    for s in manifest.get("shards") or []:
        if s["split"] == "train":
            out[s["domain"]] = out.get(s["domain"], 0) + int(s["tokens"])
    return {d: n for d, n in out.items() if n > 0}


def steps_for(config, base_steps: int | None, anneal_steps: int | None) -> tuple[dict, int, int]:
    """The resolved config, base steps (default: the config's) and anneal steps (default 20 %)."""
    from trainer.config import resolve
    try:
        cfg = resolve(config)
    except (FileNotFoundError, ValueError) as e:
        raise MixError(f"--config: {e}") from None
    base = int(base_steps or cfg["steps"])
    anneal = int(anneal_steps or max(1, round(0.2 * base)))
    return cfg, base, anneal


def anneal_overrides(cfg: dict, anneal_steps: int) -> dict:
    """Anneal from the peak LR straight down to zero (wsd decaying over all steps, floor 0), no
    warmup, at the config's final context length; evaluated once, at the end."""
    return {"schedule": "wsd", "warmup_frac": 0.0, "decay_frac": 1.0, "min_lr_frac": 0.0, "anneal_frac": 0.0,
            "seq_stages": [[0.0, int(cfg["seq_len"])]], "eval_every": int(anneal_steps)}


# ---------------------------------------------------------------- the two-mix manifest and weights

def anneal_manifest(out: str, mix: dict, cand: dict) -> str:
    """Writes OUT/anneal_mix/manifest.json naming MIX's train + val shards and the candidate's
    (domains prefixed `candidate:`), by paths relative to that folder; returns the folder."""
    folder = os.path.join(out, "anneal_mix")
    os.makedirs(folder, exist_ok=True)
    shards = []
    for src, prefix in ((mix, ""), (cand, CANDIDATE_PREFIX)):
        for s in src["manifest"]["shards"]:
            if s["split"] in ("train", "val"):
                path = os.path.relpath(os.path.join(src["dir"], s["path"]), folder)
                shards.append({**s, "path": path, "domain": prefix + s["domain"]})
    tok = dict(mix["manifest"]["tokenizer"])
    tok["path"] = os.path.relpath(mix["tokenizer"], folder)
    manifest = {"format_version": mix["manifest"].get("format_version", 1), "tokenizer": tok, "shards": shards,
                "sources": {"mix": mix["dir"], "candidate": cand["dir"]}}
    tmp = os.path.join(folder, "manifest.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(folder, "manifest.json"))
    return folder


def arm_weights(mix: dict, cand: dict, share: float) -> dict[str, dict[str, float]]:
    """Domain weights of the anneal mix: control = MIX's realised train shares, candidate 0;
    treatment = (1 - share) x MIX's shares + share x the candidate's realised shares."""
    m, c = _train_tokens(mix["manifest"]), _train_tokens(cand["manifest"])
    mt, ct = sum(m.values()), sum(c.values())
    control = {d: n / mt for d, n in m.items()}
    control.update({CANDIDATE_PREFIX + d: 0.0 for d in c})
    treatment = {d: (1.0 - share) * n / mt for d, n in m.items()}
    treatment.update({CANDIDATE_PREFIX + d: share * n / ct for d, n in c.items()})
    return {"control": control, "treatment": treatment}


# ---------------------------------------------------------------- runs

def _result_path(run_dir: str) -> str:
    return os.path.join(run_dir, "result.json")


def read_result(run_dir: str) -> dict | None:
    path = _result_path(run_dir)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _served(run_dir: str) -> dict[str, int]:
    """Tokens served per domain by the run's train loader, from its newest checkpoint."""
    from trainer import checkpoint as ckpt
    found = ckpt.latest(run_dir)
    st = ckpt.load(found[1])["loader"]["train"] if found else {}
    return {d: int(n) for d, n in zip(st.get("domains", []), st.get("served") or [])}


def run_one(job: dict) -> dict:
    """Trains one run (or resumes it) and writes its result.json; a finished one is read back."""
    done = read_result(job["dir"])
    if done is not None:
        return done
    from trainer.api import train_proxy
    t0 = time.time()
    res = train_proxy(job["mix"], job["dir"], job["config"], steps=job["steps"], seed=job["seed"], device="cpu",
                      threads=job["threads"], domain_weights=job["weights"], overrides=job["overrides"],
                      init_from=job.get("init_from"), init_skip_tokens=job.get("init_skip_tokens", 0))
    if not res or "objective" not in res:
        raise MixError(f"run {job['dir']} stopped before its final evaluation: {res}")
    result = {"name": job["name"], "seed": job["seed"], "steps": job["steps"], "eval": res,
              "tokens_served": _served(job["dir"]), "wall_s": round(time.time() - t0, 3)}
    tmp = _result_path(job["dir"]) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    os.replace(tmp, _result_path(job["dir"]))
    return result


def _init_worker():
    os.environ["OMP_NUM_THREADS"] = "1"


def run_jobs(jobs: list[dict], workers: int):
    """Results as runs finish: in this process, or `workers` single-thread processes side by side."""
    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            yield run_one(j)
        return
    with mp.get_context("spawn").Pool(min(workers, len(jobs)), initializer=_init_worker) as pool:
        yield from pool.imap_unordered(run_one, jobs)


# ---------------------------------------------------------------- summary

def _stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0, "values": a.tolist()}


def verdict(mean: float, std: float) -> str:
    """"helps"/"hurts" only when the mean paired change exceeds twice its seed spread."""
    if abs(mean) > 2.0 * std:
        return f"{'helps' if mean < 0 else 'hurts'}: {mean:+.3f} ± {std:.3f} bpb".replace("-", "−")
    return "no measurable change"


def compare(control: list[dict], treatment: list[dict], domains: list[str]) -> dict:
    """Per domain: control, treatment and paired delta statistics over seeds, and the verdict."""
    out = {}
    for d in domains:
        c = [r["eval"][d]["bpb"] for r in control]
        t = [r["eval"][d]["bpb"] for r in treatment]
        delta = _stats([b - a for a, b in zip(c, t)])
        out[d] = {"control": _stats(c), "treatment": _stats(t), "delta": delta,
                  "verdict": verdict(delta["mean"], delta["std"])}
    return out


def table(valuation: dict) -> str:
    rows = [f"{'domain':<24} {'control bpb':>17} {'treatment bpb':>17} {'delta':>17}  verdict"]
    for group in ("domains", "candidate_domains"):
        for d, v in valuation[group].items():
            cell = [f"{v[k]['mean']:.4f} ± {v[k]['std']:.4f}" for k in ("control", "treatment")]
            rows.append(f"{d:<24} {cell[0]:>17} {cell[1]:>17} {v['delta']['mean']:>+9.4f} ± {v['delta']['std']:.4f}"
                        f"  {v['verdict']}")
    return "\n".join(rows)


# ---------------------------------------------------------------- the whole valuation

def _settings(mix, cand, share, cfg, base_steps, anneal_steps, seed) -> dict:
    return {"mix": mix["dir"], "candidate": cand["dir"], "mix_manifest_sha256": mix["manifest_sha256"],
            "candidate_manifest_sha256": cand["manifest_sha256"], "tokenizer_sha256": mix["tokenizer_sha256"],
            "candidate_share": share, "config": cfg, "base_steps": base_steps, "anneal_steps": anneal_steps,
            "seed": seed}


def _check_settings(out: str, settings: dict) -> None:
    """OUT holds runs of these settings only (seeds may be added: each run is named by its seed)."""
    path = os.path.join(out, "settings.json")
    settings = json.loads(json.dumps(settings))
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        if old != settings:
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise MixError(f"{out} holds a valuation with other settings ({', '.join(changed)}): "
                           "remove it or pass another --out")
        return
    os.makedirs(out, exist_ok=True)
    with open(path, "w") as f:
        json.dump(settings, f, indent=1, sort_keys=True)


def value(mix_dir: str, candidate_dir: str, share: float = 0.3, config="cpu-demo", base_steps: int | None = None,
          anneal_steps: int | None = None, seeds: int = 3, workers: int = 2, out: str | None = None,
          seed: int = 0, log=print) -> dict:
    """The whole valuation into OUT; returns valuation.json's content."""
    cfg, base_steps, anneal_steps = steps_for(config, base_steps, anneal_steps)
    check_options(share, seeds, workers, base_steps, anneal_steps)
    mix, cand = read_mix(mix_dir, "--mix"), read_mix(candidate_dir, "--candidate")
    check_same_tokenizer(mix, cand)
    check_shards(mix_dir, "--mix")
    check_shards(candidate_dir, "--candidate")
    out = os.path.abspath(out or os.path.join(mix_dir, "valuation", os.path.basename(os.path.normpath(candidate_dir))))
    _check_settings(out, _settings(mix, cand, share, cfg, base_steps, anneal_steps, seed))
    t0 = time.time()

    log(f"value: base proxy, {base_steps} steps on {mix['dir']} (constant LR after warmup)")
    base = run_one({"name": "base", "mix": mix["dir"], "dir": os.path.join(out, "base"), "config": config,
                    "steps": base_steps, "seed": seed, "threads": workers, "weights": None,
                    "overrides": BASE_OVERRIDES})
    from trainer import checkpoint as ckpt
    init = ckpt.path_for(os.path.join(out, "base"), base_steps)

    amix = anneal_manifest(out, mix, cand)
    weights = arm_weights(mix, cand, share)
    over = anneal_overrides(cfg, anneal_steps)
    seed_list = [seed + k for k in range(seeds)]
    window = anneal_steps * int(cfg["batch_size"]) * int(cfg["seq_len"])  # tokens one anneal reads at most
    jobs = [{"name": f"{arm}_s{s}", "mix": amix, "dir": os.path.join(out, "runs", f"{arm}_s{s}"), "config": config,
             "steps": anneal_steps, "seed": s, "threads": 1, "weights": weights[arm], "overrides": over,
             "init_from": init, "init_skip_tokens": k * window}
            for k, s in enumerate(seed_list) for arm in ("control", "treatment")]
    log(f"value: {len(jobs)} anneals of {anneal_steps} steps ({len(seed_list)} seeds x control/treatment), "
        f"{workers} side by side")
    results = {}
    for r in run_jobs(jobs, workers):
        results[r["name"]] = r
        log(f"value: {r['name']} done ({len(results)}/{len(jobs)}), objective {r['eval']['objective']:.4f}")
    control = [results[f"control_s{s}"] for s in seed_list]
    treatment = [results[f"treatment_s{s}"] for s in seed_list]
    valuation = summarise(base, control, treatment, cfg, {
        "mix": mix["dir"], "candidate": cand["dir"], "candidate_share": share, "config": cfg.get("name"),
        "base_steps": base_steps, "anneal_steps": anneal_steps, "base_schedule": BASE_OVERRIDES,
        "anneal_schedule": over, "seed": seed, "tokenizer_sha256": mix["tokenizer_sha256"], "weights": weights,
        "verdict_rule": "helps/hurts only when |mean delta| > 2 x std of the paired deltas"})
    valuation["wall_s"] = round(time.time() - t0, 3)
    tmp = os.path.join(out, "valuation.json.tmp")
    with open(tmp, "w") as f:
        json.dump(valuation, f, indent=1, sort_keys=True, ensure_ascii=False)
    os.replace(tmp, os.path.join(out, "valuation.json"))
    log(table(valuation))
    log(f"value: wrote {os.path.join(out, 'valuation.json')}")
    return valuation


def summarise(base: dict, control: list[dict], treatment: list[dict], cfg: dict, settings: dict) -> dict:
    """valuation.json's content from the base's and the anneals' results (control and treatment
    lists in the same seed order)."""
    mix_domains = [d for d in base["eval"] if isinstance(base["eval"][d], dict)]
    cand_domains = [d for d in control[0]["eval"] if d.startswith(CANDIDATE_PREFIX)]
    tps = int(cfg["seq_len"]) * int(cfg["batch_size"])
    return {
        "settings": settings,
        "seeds": [r["seed"] for r in control],
        "tokens": {"base": base["eval"].get("tokens"), "anneal_per_run": control[0]["eval"].get("tokens"),
                   "tokens_per_step": tps,
                   "served_by_domain": {r["name"]: r["tokens_served"] for r in control + treatment},
                   "candidate_per_treatment": {r["name"]: sum(n for d, n in r["tokens_served"].items()
                                                              if d.startswith(CANDIDATE_PREFIX)) for r in treatment}},
        "base": {d: base["eval"][d]["bpb"] for d in mix_domains},
        "domains": compare(control, treatment, mix_domains),
        "candidate_domains": compare(control, treatment, cand_domains),
        "runs": {r["name"]: {"seed": r["seed"], "wall_s": r["wall_s"],
                             "bpb": {d: v["bpb"] for d, v in r["eval"].items() if isinstance(v, dict)}}
                 for r in [base] + control + treatment},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m mixtures.value", description=__doc__.split("\n\n")[0])
    p.add_argument("--mix", required=True, help="the default mix: a finished `make mix` output")
    p.add_argument("--candidate", required=True, help="a finished `make mix` output of the candidate data, "
                                                       "same tokenizer.json")
    p.add_argument("--candidate-share", type=float, default=0.3)
    p.add_argument("--config", default="cpu-demo", help="a trainer config name or JSON file")
    p.add_argument("--base-steps", type=int, default=None, help="default: the config's steps")
    p.add_argument("--anneal-steps", type=int, default=None, help="default: 20 %% of the base steps")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="default: MIX/valuation/<candidate folder name>")
    a = p.parse_args(argv)
    try:
        value(a.mix, a.candidate, a.candidate_share, a.config, a.base_steps, a.anneal_steps, a.seeds,
              a.workers, a.out, a.seed, log=lambda m: print(m, flush=True))
    except MixError as e:
        print(f"value: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
