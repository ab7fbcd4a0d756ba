"""Proxy ablations over a finished mix (RegMix style): Dirichlet candidates around the target
(concentration fixed and recorded, every candidate within the repetition cap), one tiny proxy per
candidate through `trainer.api.train_proxy` (two single-thread processes side by side), per-domain
validation bits per byte in `ablations/runs.csv`, regressions (mixtures.regress), a simplex
search and a verification of the proposal against the default with several data-order seeds,
written to `ablations/fit.json`.

Seeds: every sweep proxy trains with the sweep's own seed (common random numbers: the same initial
weights, the same interleaving seed and the same start of each domain's stream, so two runs differ
in their mixture); the verification runs use fresh seeds the sweep never saw, which also read other
windows of each domain (trainer config `data_start`; the figures below were measured before it,
when every seed read each domain from its first token). On the same 24 cpu-demo candidates (concentration 5), one
seed per run against the common seed: each domain's bits per byte followed its own weight more
closely with the common seed (Spearman of weight against bpb: general -0.88 -> -0.92, math -0.88 ->
-0.94, code +0.27 -> -0.44, multilingual -0.93 -> -0.95), but the objective's cross-validated
Spearman (fit.json) was 0.68 -> 0.45: code's bits per byte is mostly noise at this proxy size
(the two sweeps agree on it at Spearman 0.22 for the same mixtures, on the other domains at
0.87-0.96).

Concentration 4 by default (Dirichlet(4 x target)): on 24 cpu-demo proxies over the demo corpus,
4 against 20 raised the mixing law's cross-validated Spearman per domain (fit.json
`cv_spearman_per_domain`, RegMix's measure: one validation loss at a time) from 0.89 / 0.82 / 0.19 /
0.96 to 0.94 / 0.96 / 0.68 / 0.97 (general / math / code / multilingual), and on the objective from
0.47 to 0.57: a wider design gives the regression leverage, and the search stays inside the weights
the sweep saw. The objective stays harder to rank: near the target, moving weight from one domain
to another trades their bits per byte, and its spread over the sweep (0.058) is about the seed
spread (0.05).

Then two changes to what a proxy reads (same demo corpus, same 24 candidates, concentration 4):
long documents as pieces of at most 2,048 tokens (mixtures.pieces; a proxy's code had been mostly
one 92,606-token file) and no switch to the anneal mix in a proxy's last 10 % of steps
(PROXY_OVERRIDES). Per-domain CV Spearman 0.94 / 0.96 / 0.68 / 0.97 -> 0.92 / 0.97 / 0.96 / 0.94
(general / math / code / multilingual); the objective's 0.57 -> 0.55 (its spread over the sweep
fell to 0.039, against out-of-fold residuals of 0.026). The proposal moved from 1 % code (an
artefact: the anneal mix fed every candidate its code) to within L1 0.075 of the target, and it
beat the default on each of the 3 paired verification seeds (+0.009, +0.014, +0.016 bpb).

How far can any regression get? `replicates` trains some sweep candidates again with another
common seed (replicate.csv) and compares (fit.json `reproducibility`). On the demo sweep above,
8 candidates spread over its range: each domain's bits per byte ranked alike across the two seeds
(Spearman 0.90-0.98), the objective did not (0.36): one run's noise on it is 0.025 bpb against a
spread of 0.039 over the sweep, which caps the correlation of even a perfect regression with single
runs near 0.77. So at this proxy size the objective-level Spearman is bounded by the proxies, not
by the regression: on four sweeps kept from earlier sessions, other forms fitted the same way (the
mixing law with a log-weight term, ridge regressions on weights and log weights, Gaussian processes
on either) all stayed within 0.34-0.67 on the objective, the mixing law within 0.46-0.59.

A proxy that learns more per minute lifts the ceiling: on a mix of the same corpus with a
4,096-token vocabulary, 900 steps in the same minutes, the objective ranked alike across seeds at
0.79 (ceiling 0.86) and the mixing law's cross-validated Spearman on it was 0.79 (README, "Proxies
that learn more per minute"; mixtures.transfer carries such a proposal to another tokenizer).

Several common seeds per candidate (`seeds_per_candidate`) go past that ceiling: the regression
fits each candidate's mean. With that proxy mix, 16 candidates x 2 seeds of 720 steps (32 proxies,
median 116 s each): the mixing law's cross-validated Spearman on the objective 0.926 (0.90-0.935
over five fold assignments; 0.44-0.80 fitted to either seed alone), and a proposal that beat the
default on each of 3 paired seeds, by 0.044 +- 0.024 bpb. It did not replicate: with another draw
(seed 1: mix, candidates and proxy seeds) 0.48, 0.48-0.80 over five fold assignments; its candidate
means spread 0.082 bpb against 0.134, so its ceiling against them was 0.85. Spending the 32
proxies on 32 candidates x 1 seed instead (concentration 2, two draws) ranked each domain better
(0.85-0.98 against 0.73-0.98) but not the objective (0.872 and 0.824 against 0.832 and 0.856).

Candidate design (`candidates`): the same recipe with a maximin set instead of random draws gave
seed 0 0.826 (0.765-0.900 over five fold assignments; ceiling 0.92), seed 1 0.747 (0.715-0.756;
ceiling 0.94): it lifts the bad draw and lowers the good one (means 0.70 -> 0.79 over two draws
each), but its wider trust region let the search propose extremes that did not verify (seed 0:
general 0.03, multilingual 0.37, lost on 2 of 3 paired seeds, -0.046 +- 0.064), where both random
sweeps' proposals verified. So random draws stay the default and maximin is an option. On seed 1
the ceiling is there and the regression is not: the spread comes from candidates far from the
target, which cross-validation makes the law extrapolate to.

The regression (`regress.DEFAULT`): a log-share law per domain, bpb_i = a_i + b_i . w + c_i log(w_i
+ 0.01), ridge alpha 0.01. The mixing law's exp(t . w) cannot bend as steeply as a domain's loss
climbs when its share nears zero, which a Dirichlet(4 x target) draw reaches for multilingual (8 %)
and code (17 %). Refitted on the runs of the two untied sweeps (README), the objective's CV Spearman
went 0.841 -> 0.915 (seed 0) and 0.938 -> 0.965 (seed 1), 0.900-0.968 over ten fold assignments;
gradient boosting gave 0.924 and 0.797. eps and alpha were chosen on those two sweeps (every pair of
eps in 1e-4..1e-2 and alpha in 1e-4..0.1 stayed within 0.88-0.965), so a third draw is the held-out
check: it did not hold: on seed 2 (the sample with python_packages and scilab_help) the objective's
CV Spearman was 0.350 (mixing law 0.309, boosting 0.282; per domain 0.86-0.97), one run's noise
0.047 bpb against a 0.068 spread of candidate means (ceiling 0.87), and the proposal's paired gain
+0.049 +- 0.110 was not verified. It stays the default as the best of the three on all three draws.

Resumable: runs.csv gets one line per finished run; candidates are a pure function of the seed,
so a rerun skips finished runs, and the trainer resumes an interrupted run from its checkpoint."""
from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from . import regress, transfer

class AblationError(ValueError):
    """A sweep that cannot run as asked (other settings in the folder, caps no candidate meets)."""


# A proxy trains on its candidate mixture to the end: its final learning-rate decay stays on the
# train mix instead of switching to the manifest's anneal mix, whose fixed, code- and math-boosted
# weights would feed every candidate the domains it lacks (a proxy at 1 % code read about 7x more
# code in its last 10 % of steps than before them).
# Its output layer is its own matrix, not the input embeddings: with tied embeddings a cpu-demo
# proxy on a 4,096-token proxy mix sat near the unigram loss (about 7.0) for a random 100 to 400 of
# its 720 steps, so one run's result depended on when it left (default mix, seeds 0-3: 3.234,
# 3.299, 3.263, 3.523 bpb, sd 0.131). Untied, seeds 0-5: 3.106 to 3.212, mean 3.155, sd 0.036.
PROXY_OVERRIDES = {"anneal_data": "train", "tie_embeddings": False}

# Dirichlet(concentration x target) draws the candidates. 2, not 4 (until 2026-12-07): on the same
# draw (seed 2, 16 candidates x 2 seeds) the candidate means spread 0.134 bpb instead of 0.058 and the
# log-share law's CV Spearman on the objective was 0.83 instead of 0.19; a second draw gave 0.86
# (four draws at 4: 0.915, 0.965, 0.35, 0.19). README, "A wider Dirichlet".
DEFAULT_CONCENTRATION = 2.0

OBJECTIVE = "target-weighted validation bits per byte (sum over domains of target weight x bpb)"


def proxy_tokens(config, steps) -> int:
    """Upper bound of the tokens a proxy trains on: steps x batch_size x seq_len."""
    from trainer.config import resolve
    cfg = resolve(config)
    return int((steps or cfg["steps"]) * cfg["batch_size"] * cfg["seq_len"])


def max_shares(train_tokens: dict, domains, max_epochs: float, tokens: int) -> np.ndarray:
    """Largest share of a proxy's tokens each domain may take without exceeding max_epochs."""
    return np.array([min(1.0, max_epochs * train_tokens.get(d, 0) / max(1, tokens)) for d in domains])


DESIGNS = ("maximin", "random")
MAXIMIN_POOL = 2          # maximin picks n of this many x n candidates


def candidates(target, n, concentration, max_share, seed, design="random"):
    """n Dirichlet(concentration x target) mixtures within the caps; (weights[n, D], rejected).

    `random` (default): independent draws. `maximin`: a space-filling design from the same
    distribution. MAXIMIN_POOL x n candidates are drawn as a Latin hypercube over the Dirichlet's
    gamma components (each is still a Dirichlet draw, but every domain's gamma variable takes one
    value from each equal-probability stratum); n of them are kept, chosen greedily far apart
    (`spread_out`, from the one nearest the target), so they cannot clump by chance; the design
    leans towards the edges of the Dirichlet's range. Why: the objective-level Spearman is capped
    by how far the candidates' objectives spread against a proxy's seed noise, and two random
    16-candidate draws of one recipe spread 0.134 and 0.082 bpb (module docstring). In a simulation
    (a mixing-law-shaped truth, 0.025 bpb of noise on each domain of each candidate, 60 draws of
    16), the share of draws whose mixing law reached a cross-validated Spearman of 0.9 was 0.65
    random, 0.78 maximin (median 0.921 and 0.938). Measured, it did not pay (module docstring), so
    it is an option. Infeasible rows (over a cap) are replaced from further draws, which loosens
    the strata only where caps bind."""
    rng = np.random.default_rng([seed, 0xAB1A7E])
    alpha = np.maximum(np.asarray(target, float) * concentration, 1e-3)
    if design not in DESIGNS:
        raise AblationError(f"unknown candidate design {design!r}: one of {', '.join(DESIGNS)}")
    want = n * MAXIMIN_POOL if design == "maximin" else n
    out, rejected = [], 0
    while len(out) < want:
        if design == "random":
            W = rng.dirichlet(alpha)[None, :]
        else:
            from scipy.stats import gamma, qmc
            U = qmc.LatinHypercube(d=len(alpha), rng=rng).random(want)
            G = gamma.ppf(U, alpha)
            W = G / G.sum(axis=1, keepdims=True)
        ok = regress.feasible(W, max_share)
        out.extend(W[ok][:want - len(out)])
        rejected += int((~ok).sum())
        if rejected > 1000 * max(1, want):
            raise AblationError(f"no Dirichlet candidate within the caps {max_share.tolist()}")
    W = np.array(out)
    return (spread_out(W, n, np.asarray(target, float)) if design == "maximin" else W), rejected


def spread_out(pool: np.ndarray, n: int, start: np.ndarray) -> np.ndarray:
    """n rows of `pool` chosen greedily far apart: the row nearest `start`, then each time the row
    farthest (Euclidean) from every row chosen so far."""
    chosen = [int(np.linalg.norm(pool - start, axis=1).argmin())]
    nearest = np.linalg.norm(pool - pool[chosen[0]], axis=1)
    while len(chosen) < n:
        j = int(nearest.argmax())
        chosen.append(j)
        nearest = np.minimum(nearest, np.linalg.norm(pool - pool[j], axis=1))
    return pool[chosen]


def _init_worker():
    os.environ["OMP_NUM_THREADS"] = "1"


def _train_one(job):
    from trainer.api import train_proxy
    t0 = time.time()
    res = train_proxy(job["mix"], job["dir"], job["config"], steps=job["steps"], seed=job["seed"],
                      device="cpu", threads=1, domain_weights=job["weights"], overrides=PROXY_OVERRIDES)
    return {**job, "result": res, "wall_s": time.time() - t0}


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _run_jobs(jobs, workers):
    """Finished jobs as they come. On SIGTERM the pool is terminated (its workers get SIGTERM, on
    which the trainer checkpoints), never left running without its parent."""
    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            yield _train_one(j)
        return
    import signal
    import threading
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main else None
    try:
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
            yield from pool.imap_unordered(_train_one, jobs)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def _read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _row(job, domains, target):
    res = job["result"]
    bpb = {d: float(res[d]["bpb"]) for d in domains}
    return {"run": job["name"], "seed": job["seed"], "steps": res.get("step", job["steps"]),
            "tokens": res.get("tokens", ""), **{f"w_{d}": f"{job['weights'][d]:.6f}" for d in domains},
            **{f"bpb_{d}": f"{bpb[d]:.6f}" for d in domains},
            "objective": f"{sum(target[i] * bpb[d] for i, d in enumerate(domains)):.6f}",
            "wall_s": f"{job['wall_s']:.2f}"}


def _run_table(path, jobs, domains, target, workers):
    """Runs the jobs not yet in the CSV at `path`, appending one flushed line per finished run.
    A line torn by a kill is dropped (its run is trained again: the trainer resumes it)."""
    fields = ["run", "seed", "steps", "tokens", *[f"w_{d}" for d in domains], *[f"bpb_{d}" for d in domains],
              "objective", "wall_s"]
    rows = []
    if os.path.exists(path) and os.path.getsize(path) > 0:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != fields:
                raise AblationError(f"{path} has columns {reader.fieldnames}, expected {fields}; "
                                    "remove it or use FORCE=1")
            rows = [r for r in reader if all(r.get(k) not in (None, "") for k in fields)]
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(path + ".tmp", path)
    done = {r["run"] for r in rows}
    todo = [j for j in jobs if j["name"] not in done]
    with open(path, "a", newline="") as f, tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="run",
                                                 desc=f"ablations {os.path.basename(path)}", file=sys.stderr,
                                                 mininterval=1.0) as bar:  # shows the ETA
        w = csv.DictWriter(f, fieldnames=fields)
        for job in _run_jobs(todo, workers):
            w.writerow(_row(job, domains, target))
            f.flush()
            bar.update(1)
    rows = {r["run"]: r for r in _read_csv(path)}
    return [rows[j["name"]] for j in jobs]


def replicate_picks(objectives, r: int) -> list[int]:
    """Indices of r sweep runs spread evenly over the ranks of their objective (best, worst and
    evenly between), so a replication sees the whole range the regression must rank."""
    order = np.argsort(np.asarray(objectives, float), kind="stable")
    r = min(int(r), len(order))
    return [int(order[i]) for i in np.linspace(0, len(order) - 1, r).round().astype(int)] if r else []


def reproducibility(first, second, target, sweep_objectives=None) -> dict:
    """How far one proxy run ranks its mixture: bits per byte [r, D] of the same r candidates
    trained with the sweep's seed (`first`) and with another common seed (`second`).
    The run-to-run noise of one objective is std(second - first) / sqrt(2): a shift common to all
    candidates (the seed's own luck) is removed, since it changes no ranking. Against the spread of
    the objective over the sweep (`sweep_objectives`, else the first runs), that bounds what any
    regression can reach against single runs: corr(truth, one run) = sqrt(1 - noise^2 / spread^2)
    (`ceiling`, Pearson)."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    target = np.asarray(target, float)
    o1, o2 = first @ target, second @ target
    diff = o2 - o1
    noise = float(diff.std(ddof=1) / np.sqrt(2)) if len(diff) > 1 else float("nan")
    over = o1 if sweep_objectives is None else np.asarray(sweep_objectives, float)
    spread = float(over.std(ddof=1)) if len(over) > 1 else float("nan")
    ceiling = float(np.sqrt(max(0.0, 1.0 - (noise / spread) ** 2))) if spread > 0 else float("nan")
    return {"runs": int(len(o1)), "spearman_objective": regress.spearman(o1, o2),
            "spearman_per_domain": [regress.spearman(first[:, j], second[:, j]) for j in range(first.shape[1])],
            "seed_shift": float(diff.mean()), "run_noise": noise, "objective_spread": spread,
            "ceiling": ceiling}


def sweep(mix_dir, n, config="cpu-demo", steps=None, seed=0, concentration=DEFAULT_CONCENTRATION,
          max_epochs=4.0, verify_seeds=3, workers=2, search_n=100_000, replicates=0, seeds_per_candidate=1,
          design="random", log=print, out=None, target_weights=None, carry_to=None) -> dict:
    """The whole ablation study into MIX/ablations/ (or `out`); returns fit.json's content.
    `target_weights`: the default mixture the sweep is drawn around and verified against (default:
    the mix's own target). `carry_to`: the manifest of another mix (another tokenizer) the sweep
    proposes for: `proposed_weights` are then that mix's token shares, carried through bytes per
    token (mixtures.transfer), and `proxy` holds the sweep mix's own. `replicates` > 0
    trains that many sweep candidates again with another common seed (seed + 1; replicate.csv)
    and reports how well one run ranks a mixture (fit.json `reproducibility`).
    `seeds_per_candidate` K > 1 trains every candidate with the common seeds seed .. seed + K - 1
    (runs.csv: `run_NNN` for the first, `run_NNN_sK` for the others) and regresses on each
    candidate's mean over its K runs, whose noise is 1/sqrt(K) of one run's; `reproducibility`
    then compares the first two seeds over every candidate (no separate replicates). `design`:
    how the candidates are drawn (`candidates`)."""
    if seeds_per_candidate < 1 or (seeds_per_candidate > 1 and replicates):
        raise AblationError(f"seeds per candidate must be >= 1 and replicates 0 when it is above 1 "
                            f"(got {seeds_per_candidate} and {replicates}): the seeds replicate")
    with open(os.path.join(mix_dir, "manifest.json")) as f:
        manifest = json.load(f)
    default = dict(target_weights or manifest["target_weights"])
    domains = list(manifest["target_weights"])
    target = np.array([default[d] for d in domains])
    out = out or os.path.join(mix_dir, "ablations")
    os.makedirs(os.path.join(out, "runs"), exist_ok=True)
    settings = {"config": config, "steps": steps, "seed": seed, "proxy_seeds": "common",
                "proxy_overrides": PROXY_OVERRIDES,
                "concentration": concentration,
                "max_epochs": max_epochs, "verify_seeds": verify_seeds, "search_n": search_n,
                "manifest_fingerprint": manifest.get("input_fingerprint"), "shards": manifest["shards"]}
    if seeds_per_candidate > 1:   # absent at 1, so that sweeps written before it still resume
        settings["seeds_per_candidate"] = seeds_per_candidate
    if target_weights is not None:  # absent for the mix's own target: older sweeps still resume
        settings["target_weights"] = {d: float(default[d]) for d in domains}
    if design != "random":        # absent for random draws: sweeps before the option still resume
        settings["design"] = design
        settings["candidates"] = n    # random draws extend with N; a maximin set is chosen for its N
    spath = os.path.join(out, "sweep.json")
    if os.path.exists(spath):
        with open(spath) as f:
            held = json.load(f)
        # the verification seeds are not part of the sweep: more of them extend verify.csv (runs
        # 0..k-1 keep their names and seeds), fewer read its first ones
        same = {**held, "verify_seeds": verify_seeds} == json.loads(json.dumps(settings))
        if same and held.get("verify_seeds") != verify_seeds:
            with open(spath, "w") as f:
                json.dump(settings, f, indent=1, sort_keys=True)
        if not same:
            raise AblationError(f"{out} holds a sweep with other settings (config, steps, seed, "
                                "concentration, design, the number of maximin candidates, caps or "
                                "shards); remove it or use FORCE=1 (a sweep from before candidate "
                                "designs: --ablation-design random; one that ran on the mix itself, "
                                "from before proxy mixes: --ablation-vocab-size 0)")
    else:
        with open(spath, "w") as f:
            json.dump(settings, f, indent=1, sort_keys=True)
    tokens = proxy_tokens(config, steps)
    train_tokens = {d: manifest["domains"][d]["tokens"] for d in domains}
    caps = max_shares(train_tokens, domains, max_epochs, tokens)
    W, rejected = candidates(target, n, concentration, caps, seed, design)
    K = seeds_per_candidate
    names = [[f"run_{i:03d}" + (f"_s{k}" if k else "") for k in range(K)] for i in range(n)]
    jobs = [{"name": names[i][k], "mix": mix_dir, "dir": os.path.join(out, "runs", names[i][k]),
             "config": config, "steps": steps, "seed": seed + k,
             "weights": {d: float(w) for d, w in zip(domains, W[i])}} for i in range(n) for k in range(K)]
    log(f"ablations: {n} candidates x {K} seed(s) = {len(jobs)} proxies ({tokens:,} tokens each at "
        f"most), {workers} side by side")
    all_rows = _run_table(os.path.join(out, "runs.csv"), jobs, domains, target, workers)
    rows = all_rows[::K]     # each candidate's first run: its weights, and the one-run view
    Wr = np.array([[float(r[f"w_{d}"]) for d in domains] for r in rows])
    B_runs = np.array([[float(r[f"bpb_{d}"]) for d in domains] for r in all_rows]).reshape(n, K, -1)
    Br = B_runs.mean(axis=1)
    regs, preds = {}, {}
    for name in regress.REGRESSORS:
        rho, pred = regress.cv_spearman(name, Wr, Br, target, seed=seed)
        regs[name], preds[name] = {"cv_spearman": rho}, pred
        regs[name]["cv_spearman_folds"] = regress.cv_spearman_range(name, Wr, Br, target, seed=seed)
    for name in regress.PER_DOMAIN:
        regs[name]["cv_spearman_per_domain"] = regress.cv_spearman_domains(Wr, Br, domains, name, seed=seed)
    if K > 1:
        repro = _across_seeds(B_runs, domains, target, seed, log)
    else:
        repro = _replicate(out, mix_dir, rows, Br, domains, target, config, steps, seed, replicates,
                           workers, log)
    # fixed for a few dozen runs: picking the best CV score among regressors would flatter it
    chosen = regress.DEFAULT if n < 64 else max(regs, key=lambda r: regs[r]["cv_spearman"])
    model = regress.REGRESSORS[chosen](target).fit(Wr, Br)
    bounds = (Wr.min(axis=0), Wr.max(axis=0))  # trust region: weights seen in the sweep
    best, predicted, searched = regress.search(model, target, caps, n=search_n, seed=seed, bounds=bounds)
    proposal = {d: float(x) for d, x in zip(domains, best)}
    vjobs = []
    for k in range(verify_seeds):
        vseed = seed + 10_000 + k  # fresh data-order seeds, never used by the sweep
        for kind, w in (("proposal", proposal), ("default", default)):
            # the weights' digest is in the name: a different proposal is never verified by old runs
            tag = hashlib.sha256(json.dumps({d: round(x, 6) for d, x in w.items()}, sort_keys=True)
                                 .encode()).hexdigest()[:8]
            name = f"verify_{kind}_{k}_{tag}"
            vjobs.append({"name": name, "mix": mix_dir, "config": config, "steps": steps,
                          "dir": os.path.join(out, "runs", name), "seed": vseed, "weights": w})
    vrows = _run_table(os.path.join(out, "verify.csv"), vjobs, domains, target, workers)

    def stats(kind, col="objective"):
        vals = np.array([float(r[col]) if col == "objective" else np.mean([float(r[f"bpb_{d}"]) for d in domains])
                         for r in vrows if r["run"].startswith(f"verify_{kind}_")])
        assert len(vals) == verify_seeds
        return {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
                "values": vals.tolist()}
    vp, vd = stats("proposal"), stats("default")
    l1 = float(np.abs(best - target).sum())
    verdict, paired = judge(l1, vp["values"], vd["values"])
    fit = {"objective": OBJECTIVE, "n_runs": len(all_rows), "n_candidates": n,
           "seeds_per_candidate": K, "regressors": regs, "chosen": chosen,
           "cv_spearman": regs[chosen]["cv_spearman"], "proposed_weights": proposal,
           "predicted_objective": predicted, "verified_objective": vp["mean"], "verified_objective_std": vp["std"],
           "verified_objective_values": vp["values"], "default_objective": vd["mean"],
           "default_objective_std": vd["std"], "default_objective_values": vd["values"],
           "uniform_average_bpb": {"proposal": stats("proposal", "uniform")["mean"],
                                   "default": stats("default", "uniform")["mean"]},
           "paired_gain": paired, "l1_to_default": l1, "verdict": verdict,
           "sweep": {"concentration": concentration, "design": design, "rejected_candidates": rejected, "max_epochs": max_epochs,
                     "max_share": {d: float(c) for d, c in zip(domains, caps)}, "config": config,
                     "steps": steps, "proxy_tokens": tokens, "seed": seed, "searched_mixtures": searched,
                     "search_bounds": {d: [float(lo), float(hi)] for d, lo, hi in zip(domains, *bounds)},
                     "verify_seeds": verify_seeds, "proxy_overrides": PROXY_OVERRIDES},
           "cv_predictions": {name: p.tolist() for name, p in preds.items()}}
    if repro is not None:
        fit["reproducibility"] = repro
    bpt = transfer.bytes_per_token(manifest)
    if all(bpt.get(d, 0) > 0 for d in domains):  # the proposal in units any tokenizer shares
        fit["proposed_byte_shares"] = transfer.byte_shares(proposal, bpt)
        fit["default_byte_shares"] = transfer.byte_shares(default, bpt)
    if carry_to is not None:
        fit["proxy"] = {"vocab_size": manifest["tokenizer"]["vocab_size"], "target_weights": default,
                        "proposed_weights": proposal}
        if "proposed_byte_shares" not in fit:
            raise AblationError(f"{mix_dir}/manifest.json has no bytes per token for every domain "
                                "(counts.fertility.domain): its proposal cannot be carried to the mix")
        fit["proposed_weights"] = transfer.token_shares(fit["proposed_byte_shares"], transfer.bytes_per_token(carry_to),
                                                        "the mix's manifest")
        fit["weights_spec"] = transfer.weights_spec(fit["proposed_weights"])
    with open(os.path.join(out, "fit.json.tmp"), "w") as f:
        json.dump(fit, f, indent=1, sort_keys=True)
    os.replace(os.path.join(out, "fit.json.tmp"), os.path.join(out, "fit.json"))
    _plots(out, (Br @ target).tolist(), preds[chosen], fit, domains)
    law = chosen if chosen in regress.PER_DOMAIN else regress.DEFAULT
    per_domain = ", ".join(f"{d} {r:.3f}" for d, r in regs[law]["cv_spearman_per_domain"].items())
    others = ", ".join(f"{r} {regs[r]['cv_spearman']:.3f}" for r in regs if r != chosen)
    spread = regs[chosen]["cv_spearman_folds"]
    log(f"ablations: {chosen} CV Spearman {fit['cv_spearman']:.3f} on the objective ({spread['min']:.3f}-"
        f"{spread['max']:.3f} over {spread['assignments']} fold assignments, median {spread['median']:.3f}; "
        f"{others}); "
        f"{law} per domain: {per_domain}; {verdict}")
    return fit


def _replicate(out, mix_dir, rows, Br, domains, target, config, steps, seed, replicates, workers, log):
    """Trains `replicates` sweep candidates again with seed + 1 (replicate.csv, resumable) and
    returns `reproducibility` over them, or None when replicates is 0."""
    picks = replicate_picks(Br @ target, replicates)
    if not picks:
        return None
    jobs = [{"name": f"replicate_{rows[i]['run']}", "mix": mix_dir, "config": config, "steps": steps,
             "dir": os.path.join(out, "runs", f"replicate_{rows[i]['run']}"), "seed": seed + 1,
             "weights": {d: float(rows[i][f"w_{d}"]) for d in domains}} for i in picks]
    log(f"ablations: {len(jobs)} sweep candidates again with seed {seed + 1} (how far one run ranks a mixture)")
    again = _run_table(os.path.join(out, "replicate.csv"), jobs, domains, target, workers)
    second = np.array([[float(r[f"bpb_{d}"]) for d in domains] for r in again])
    repro = reproducibility(Br[picks], second, target, Br @ target)
    repro["spearman_per_domain"] = dict(zip(domains, repro["spearman_per_domain"]))
    repro["seed"] = seed + 1
    log(f"ablations: the same {repro['runs']} mixtures with another seed rank alike at Spearman "
        f"{repro['spearman_objective']:.2f} on the objective; one run's noise {repro['run_noise']:.4f} bpb "
        f"against a spread of {repro['objective_spread']:.4f} over the sweep, so a regression can reach "
        f"about {repro['ceiling']:.2f} against single runs")
    return repro


def _across_seeds(B_runs, domains, target, seed, log):
    """`reproducibility` from the first two seeds of every candidate ([n, K, D] bits per byte),
    with `ceiling_of_mean`: the bound for the mean of the K seeds the regression fits."""
    K = B_runs.shape[1]
    repro = reproducibility(B_runs[:, 0], B_runs[:, 1], target)
    repro["spearman_per_domain"] = dict(zip(domains, repro["spearman_per_domain"]))
    repro["seed"] = seed + 1
    means = B_runs.mean(axis=1) @ np.asarray(target, float)
    spread = float(means.std(ddof=1))
    repro["seeds_per_candidate"] = K
    repro["mean_spread"] = spread
    repro["ceiling_of_mean"] = float(np.sqrt(max(0.0, 1.0 - repro["run_noise"] ** 2 / K / spread ** 2))) \
        if spread > 0 else float("nan")
    log(f"ablations: seeds {seed} and {seed + 1} rank the {repro['runs']} candidates alike at Spearman "
        f"{repro['spearman_objective']:.2f} on the objective; one run's noise {repro['run_noise']:.4f} bpb, "
        f"so a regression can reach about {repro['ceiling_of_mean']:.2f} against the means of {K} seeds")
    return repro


def judge(l1: float, proposal: list[float], default: list[float]) -> tuple[str, dict]:
    """The verdict on a proposal from its verified objectives and the default's, run k of each
    with the same seed: (text, paired gain {mean, std, values}). The seed moves both runs of a
    pair alike (same initial weights, same interleaving seed), so the spread that judges the gain
    is that of the per-seed differences default_k - proposal_k, not of either arm alone."""
    diffs = np.asarray(default, float) - np.asarray(proposal, float)
    paired = {"mean": float(diffs.mean()), "std": float(diffs.std(ddof=1)) if len(diffs) > 1 else 0.0,
              "values": diffs.tolist()}
    p_mean, d_mean = float(np.mean(proposal)), float(np.mean(default))
    if l1 < 0.05:
        return (f"the default mix is optimal within L1 {l1:.3f} < 0.05: verified objective {d_mean:.4f}, "
                f"proposal {p_mean:.4f}"), paired
    if len(diffs) > 1 and paired["mean"] > paired["std"] and paired["mean"] > 0:
        return (f"the proposal beats the default by {paired['mean']:.4f} bpb, paired over {len(diffs)} seeds "
                f"(spread of the per-seed gains {paired['std']:.4f}; per seed: "
                f"{', '.join(f'{d:+.4f}' for d in diffs)})"), paired
    return (f"no verified gain: proposal {p_mean:.4f} vs default {d_mean:.4f}, per-seed gain "
            f"{paired['mean']:+.4f} +- {paired['std']:.4f}; keep the default"), paired


def _plots(out, actual, pred, fit, domains):
    """predicted_vs_actual.png (each candidate's objective, the mean over its seeds, against its
    held-out prediction) and default_vs_proposal.png."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(actual, pred)
    lo, hi = min(actual + list(pred)), max(actual + list(pred))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("actual objective (bpb)")
    ax.set_ylabel("predicted, held out (bpb)")
    ax.set_title(f"{fit['chosen']}: CV Spearman {fit['cv_spearman']:.2f}")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "predicted_vs_actual.png"), dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(len(domains))
    with open(os.path.join(os.path.dirname(out), "manifest.json")) as f:
        weights = json.load(f)["target_weights"]
    default = [weights[d] for d in domains]
    ax.bar(x - 0.2, default, 0.4, label=f"default ({fit['default_objective']:.3f} bpb)")
    ax.bar(x + 0.2, [fit["proposed_weights"][d] for d in domains], 0.4,
           label=f"proposal ({fit['verified_objective']:.3f} bpb)")
    ax.set_xticks(x, domains)
    ax.legend()
    ax.set_title("Default mix against the proposal (verified objective)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "default_vs_proposal.png"), dpi=100)
    plt.close(fig)
