"""Proxy ablations: runs.csv and fit.json per DESIGN.md, candidates within the caps, a resumed
sweep reuses its finished runs, and the regressions recover known laws."""
import csv
import json
import os
import shutil

import numpy as np
import pytest

from mixtures import ablate, regress, transfer
from pipeline import mix_job
from test_mix_job import FAST, write_tag_output
from test_trainer_helpers import write_config

DOMAINS = ["general", "math", "code", "multilingual"]
TARGET = np.array([0.5, 0.25, 0.17, 0.08])


def test_mixing_law_recovers_a_known_law_and_ranks_held_out_runs():
    rng = np.random.default_rng(0)
    W = rng.dirichlet(TARGET * 20, size=24)
    t = np.array([[-2.0, 0.3, 0.1, 0.2], [0.2, -3.0, 0.3, 0.1], [0.1, 0.4, -2.5, 0.1], [0.3, 0.1, 0.1, -4.0]])
    B = np.stack([1.0 + i * 0.2 + np.exp(0.5 + W @ t[i]) for i in range(4)], axis=1)
    B += rng.normal(0, 0.002, B.shape)
    rho, pred = regress.cv_spearman("mixing_law", W, B, TARGET)
    assert rho > 0.9
    per_domain = regress.cv_spearman_domains(W, B, ["general", "math", "code", "multilingual"], "mixing_law")
    assert list(per_domain) == ["general", "math", "code", "multilingual"]
    assert all(r > 0.9 for r in per_domain.values())
    shuffled = regress.cv_spearman_domains(W, rng.permutation(B), ["a", "b", "c", "d"], "mixing_law")
    assert max(shuffled.values()) < 0.9      # runs whose losses do not follow their weights
    model = regress.MixingLaw(TARGET).fit(W, B)
    best, predicted, n = regress.search(model, TARGET, np.ones(4), n=5000)
    truth = lambda w: sum(TARGET[i] * (1.0 + i * 0.2 + np.exp(0.5 + w @ t[i])) for i in range(4))
    assert truth(best) < truth(TARGET) and abs(predicted - truth(best)) < 0.05 and n > 4000
    lo, hi = W.min(0), W.max(0)
    inside, _, m = regress.search(model, TARGET, np.ones(4), n=5000, bounds=(lo, hi))
    assert ((inside >= lo - 1e-9) & (inside <= hi + 1e-9)).all() and m < n
    assert model.predict(inside[None])[0] <= model.predict(TARGET[None])[0] + 1e-12


def test_log_share_law_ranks_a_domain_whose_loss_climbs_as_its_share_nears_zero():
    rng = np.random.default_rng(1)
    W = rng.dirichlet(TARGET * 4, size=16)          # a sweep's width: some shares near zero
    b = np.array([[0.0, 0.2, 0.1, 0.1], [0.1, 0.0, 0.3, 0.0], [0.0, 0.3, 0.0, 0.1], [0.2, 0.0, 0.1, 0.0]])
    c = np.array([-0.10, -0.15, -0.12, -0.25])

    def truth(w):
        w = np.atleast_2d(w)
        return np.stack([3.0 + w @ b[i] + c[i] * np.log(w[:, i] + 0.01) for i in range(4)], axis=1)
    B = truth(W) + rng.normal(0, 0.01, (16, 4))
    rho, _ = regress.cv_spearman("log_share_law", W, B, TARGET)
    assert rho > 0.9
    per_domain = regress.cv_spearman_domains(W, B, DOMAINS, "log_share_law")
    assert all(r > 0.9 for r in per_domain.values())
    assert max(regress.cv_spearman_domains(W, rng.permutation(B), DOMAINS, "log_share_law").values()) < 0.9
    model = regress.LogShareLaw(TARGET).fit(W, B)
    best, predicted, _ = regress.search(model, TARGET, np.ones(4), n=5000, bounds=(W.min(0), W.max(0)))
    assert truth(best) @ TARGET < truth(TARGET) @ TARGET
    assert abs(predicted - (truth(best) @ TARGET)[0]) < 0.05
    with pytest.raises(ValueError, match="does not predict each domain"):
        regress.cv_spearman_domains(W, B, DOMAINS, "gradient_boosting")


def test_cv_spearman_range_spans_fold_assignments_and_starts_with_the_reported_one():
    rng = np.random.default_rng(4)
    W = rng.dirichlet(TARGET * 2, size=20)
    B = 3.0 - 0.2 * np.log(W + 0.01) + rng.normal(0, 0.08, (20, 4))   # noisy: folds matter
    first, _ = regress.cv_spearman("log_share_law", W, B, TARGET, seed=7)
    spread = regress.cv_spearman_range("log_share_law", W, B, TARGET, seed=7, assignments=6)
    assert spread["assignments"] == 6
    assert spread["min"] <= first <= spread["max"] and spread["min"] <= spread["median"] <= spread["max"]
    assert spread["min"] < spread["max"]        # other fold assignments give other figures
    again = [regress.cv_spearman("log_share_law", W, B, TARGET, seed=7 + a)[0] for a in range(6)]
    assert spread["median"] == pytest.approx(float(np.median(again)))


def test_candidates_respect_the_repetition_cap():
    caps = np.array([1.0, 1.0, 1.0, 0.05])
    W, rejected = ablate.candidates(TARGET, 50, 20.0, caps, seed=3)
    assert W.shape == (50, 4) and np.allclose(W.sum(1), 1) and (W[:, 3] <= 0.05).all() and rejected > 0
    assert (ablate.candidates(TARGET, 50, 20.0, caps, seed=3)[0] == W).all()


def test_maximin_candidates_are_dirichlet_draws_kept_far_apart():
    caps = np.ones(4)
    W, rejected = ablate.candidates(TARGET, 16, 4.0, caps, seed=1, design="maximin")
    assert W.shape == (16, 4) and np.allclose(W.sum(1), 1) and (W >= 0).all() and rejected == 0
    assert (ablate.candidates(TARGET, 16, 4.0, caps, seed=1, design="maximin")[0] == W).all()   # pure

    def closest_pair(X):
        d = np.linalg.norm(X[:, None] - X[None], axis=-1)
        return d[np.triu_indices(len(X), 1)].min()
    # farther apart than independent draws of the same Dirichlet, over several seeds
    gaps = [(closest_pair(ablate.candidates(TARGET, 16, 4.0, caps, seed=s, design="maximin")[0]),
             closest_pair(ablate.candidates(TARGET, 16, 4.0, caps, seed=s, design="random")[0])) for s in range(5)]
    assert all(m > r for m, r in gaps)
    assert np.linalg.norm(W[0] - TARGET) < 0.15                  # the first one sits near the target
    # the greedy choice itself, on points with a known answer: the middle, then the two ends
    line = np.array([[0.0, 1.0], [0.5, 0.5], [0.45, 0.55], [1.0, 0.0], [0.9, 0.1]])
    assert ablate.spread_out(line, 3, np.array([0.5, 0.5])).tolist() == [[0.5, 0.5], [0.0, 1.0], [1.0, 0.0]]
    with pytest.raises(ablate.AblationError, match="unknown candidate design"):
        ablate.candidates(TARGET, 4, 4.0, caps, seed=0, design="sobol")
    caps = np.array([1.0, 1.0, 1.0, 0.05])
    W, rejected = ablate.candidates(TARGET, 16, 4.0, caps, seed=2, design="maximin")
    assert (W[:, 3] <= 0.05).all() and rejected > 0


def test_verdict_judges_the_gain_by_its_spread_over_paired_seeds():
    # the demo sweep's verification: the seed moves both arms alike, the gain is the same sign on each seed
    proposal, default = [3.033027, 3.062865, 3.057819], [3.041950, 3.076825, 3.074178]
    text, paired = ablate.judge(0.075, proposal, default)
    assert text.startswith("the proposal beats the default by 0.0131 bpb, paired over 3 seeds")
    assert paired["values"] == pytest.approx([0.008923, 0.01396, 0.016359])
    assert paired["std"] < np.std(default, ddof=1) / 4   # the arms' own spread would hide it
    text, paired = ablate.judge(0.33, [3.030885, 3.026921, 2.990767], [3.100255, 3.003773, 3.028996])
    assert text.startswith("no verified gain") and paired["mean"] < paired["std"]
    assert ablate.judge(0.04, proposal, default)[0].startswith("the default mix is optimal within L1 0.040")
    assert ablate.judge(0.3, default, proposal)[0].startswith("no verified gain")  # a consistent loss


def test_replicates_measure_how_far_one_run_ranks_a_mixture():
    # five mixtures whose true objectives spread evenly; the second seed shifts every run by 0.05
    # (its own luck, which changes no ranking) and adds +-0.015 of noise of its own
    truth = np.array([3.00, 3.02, 3.04, 3.06, 3.08])
    first = np.repeat(truth[:, None], 4, axis=1)
    jitter = np.array([0.015, -0.015, 0.015, -0.015, 0.0])
    second = first + 0.05 + jitter[:, None]
    rp = ablate.reproducibility(first, second, TARGET)
    assert rp["runs"] == 5 and rp["seed_shift"] == pytest.approx(0.05)
    assert rp["spearman_objective"] == pytest.approx(0.8)      # runs 1-2 and 3-4 swap
    noise = np.std(jitter, ddof=1) / np.sqrt(2)
    spread = np.std(truth, ddof=1)
    assert rp["run_noise"] == pytest.approx(noise)
    assert rp["ceiling"] == pytest.approx(np.sqrt(1 - noise ** 2 / spread ** 2))
    # noise as large as the spread leaves nothing for a regression to rank
    wide = ablate.reproducibility(first, first + np.array([0.1, -0.1, 0.1, -0.1, 0.1])[:, None], TARGET,
                                  sweep_objectives=truth[:3])
    assert wide["ceiling"] == 0.0 and wide["objective_spread"] == pytest.approx(0.02)
    # the runs replicated cover the sweep's range: its best, its worst and evenly between
    objectives = [3.05, 3.01, 3.09, 3.03, 3.07, 3.02]
    assert ablate.replicate_picks(objectives, 3) == [1, 3, 2]   # ranks 0, 2 and 5 of 6
    assert ablate.replicate_picks(objectives, 0) == []


def test_sweep_writes_runs_and_fit_and_resumes(tmp_path):
    tag = tmp_path / "tag"
    write_tag_output(str(tag))
    out = tmp_path / "mix"
    assert mix_job.main(["--input", str(tag), "--output", str(out), *FAST, "--tokens", "40000",
                         "--val-tokens", "600", "--anneal-tokens", "0"]) == 0
    cfg = write_config(str(tmp_path / "tiny.json"), eval_tokens=300, steps=6, eval_every=6, ckpt_every=6)
    args = ["--input", str(tag), "--output", str(out), *FAST, "--tokens", "40000", "--val-tokens", "600",
            "--anneal-tokens", "0", "--ablation-config", cfg, "--ablation-steps", "6", "--ablation-design", "random"]
    assert mix_job.main(args + ["--ablations", "4"]) == 0
    # random draws write no design into sweep.json: sweeps from before the option still resume
    assert "design" not in json.load(open(out / "ablations" / "sweep.json"))
    # a proxy has its own output layer and decays its learning rate on its own mixture
    proxy_cfg = json.load(open(out / "ablations" / "runs" / "run_000" / "config.json"))
    assert proxy_cfg["tie_embeddings"] is False and proxy_cfg["anneal_data"] == "train"
    with open(out / "ablations" / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    target = json.load(open(out / "manifest.json"))["target_weights"]
    doms = list(target)
    assert sorted(r["run"] for r in rows) == [f"run_{i:03d}" for i in range(4)]  # in finishing order
    assert list(rows[0]) == ["run", "seed", "steps", "tokens", *[f"w_{d}" for d in doms],
                             *[f"bpb_{d}" for d in doms], "objective", "wall_s"]
    for r in rows:
        w = np.array([float(r[f"w_{d}"]) for d in doms])
        objective = sum(target[d] * float(r[f"bpb_{d}"]) for d in doms)
        assert abs(w.sum() - 1) < 1e-4 and float(r["objective"]) == pytest.approx(objective, abs=1e-4)
    shutil.rmtree(out / "ablations" / "runs" / "run_001")  # as if killed before its line was written
    rows = {r["run"]: r for r in rows}
    with open(out / "ablations" / "runs.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows["run_000"]))
        wr.writeheader()
        wr.writerows([rows["run_000"], rows["run_002"], rows["run_003"]])
        f.write("run_001,1,6,7")  # a line torn by the kill
    assert mix_job.main(args + ["--ablations", "5", "--ablation-replicates", "2"]) == 0
    with open(out / "ablations" / "runs.csv") as f:
        again = {r["run"]: r for r in csv.DictReader(f)}
    assert set(again) == {f"run_{i:03d}" for i in range(5)}
    assert again["run_000"]["wall_s"] == rows["run_000"]["wall_s"]  # finished runs are not trained again
    fit = json.load(open(out / "ablations" / "fit.json"))
    for key in ("objective", "n_runs", "regressors", "chosen", "cv_spearman", "proposed_weights",
                "predicted_objective", "verified_objective", "default_objective"):
        assert key in fit
    assert fit["n_runs"] == 5 and set(fit["regressors"]) == {"log_share_law", "mixing_law", "gradient_boosting"}
    assert fit["chosen"] == "log_share_law"     # fixed below 64 runs, whichever scores best
    folds = fit["regressors"]["log_share_law"]["cv_spearman_folds"]
    assert folds["min"] <= fit["cv_spearman"] <= folds["max"] and folds["assignments"] == regress.FOLD_ASSIGNMENTS
    for law in ("log_share_law", "mixing_law"):
        assert set(fit["regressors"][law]["cv_spearman_per_domain"]) == set(fit["proposed_weights"])
    assert len(fit["verified_objective_values"]) == 3 and len(fit["default_objective_values"]) == 3
    assert fit["paired_gain"]["values"] == pytest.approx(np.subtract(fit["default_objective_values"],
                                                                     fit["verified_objective_values"]))
    assert sum(fit["proposed_weights"].values()) == pytest.approx(1.0)
    bpt = json.load(open(out / "manifest.json"))["counts"]["fertility"]["domain"]
    assert fit["proposed_byte_shares"] == pytest.approx(transfer.byte_shares(fit["proposed_weights"], bpt))
    assert fit["default_byte_shares"] == pytest.approx(transfer.byte_shares(target, bpt))
    with open(out / "ablations" / "replicate.csv") as f:
        replicated = {r["run"]: r for r in csv.DictReader(f)}
    objectives = {r: float(again[r]["objective"]) for r in again}
    best, worst = min(objectives, key=objectives.get), max(objectives, key=objectives.get)
    assert set(replicated) == {f"replicate_{best}", f"replicate_{worst}"}
    for name, r in replicated.items():   # the same mixture, another seed
        assert r["seed"] == "1" and all(r[f"w_{d}"] == again[name[len("replicate_"):]][f"w_{d}"] for d in doms)
    rp = fit["reproducibility"]
    assert rp["runs"] == 2 and rp["seed"] == 1 and set(rp["spearman_per_domain"]) == set(doms)
    assert rp["seed_shift"] == pytest.approx(np.mean([float(r["objective"]) - objectives[n[len("replicate_"):]]
                                                      for n, r in replicated.items()]), abs=1e-5)
    assert os.path.exists(out / "ablations" / "predicted_vs_actual.png")
    with open(out / "ablations" / "verify.csv") as f:
        verified = list(csv.DictReader(f))
    proposal = [r for r in verified if r["run"].startswith("verify_proposal_")]
    assert len(proposal) >= 3 and all(float(r[f"w_{d}"]) == pytest.approx(fit["proposed_weights"][d], abs=1e-5)
                                      for r in proposal[-3:] for d in doms)


def test_seeds_per_candidate_bound_the_regression_against_each_candidates_mean():
    # four candidates, two seeds each: the second seed shifts every run by 0.05 and adds +-0.02
    truth = np.array([3.00, 3.03, 3.06, 3.09])
    jitter = np.array([0.02, -0.02, 0.02, -0.02])
    runs = np.stack([np.repeat(truth[:, None], 4, axis=1),
                     np.repeat((truth + 0.05 + jitter)[:, None], 4, axis=1)], axis=1)   # [n, K, D]
    rp = ablate._across_seeds(runs, DOMAINS, TARGET, seed=0, log=lambda m: None)
    noise = np.std(jitter, ddof=1) / np.sqrt(2)
    means = runs.mean(axis=1) @ TARGET
    assert rp["runs"] == 4 and rp["seeds_per_candidate"] == 2 and rp["seed"] == 1
    assert rp["run_noise"] == pytest.approx(noise) and rp["seed_shift"] == pytest.approx(0.05)
    assert rp["mean_spread"] == pytest.approx(np.std(means, ddof=1))
    assert rp["ceiling_of_mean"] == pytest.approx(np.sqrt(1 - noise ** 2 / 2 / np.std(means, ddof=1) ** 2))
    assert rp["ceiling_of_mean"] > rp["ceiling"]      # the mean of two runs is less noisy than one


def _four_step_sweep(tmp_path, *extra) -> tuple:
    """(the mix folder, the mix job's arguments) for a sweep of 4 candidates of a 4-step tiny proxy
    on a small tag output written here, 2 verification seeds."""
    tag = tmp_path / "tag"
    write_tag_output(str(tag))
    out = tmp_path / "mix"
    cfg = write_config(str(tmp_path / "tiny.json"), eval_tokens=300, steps=4, eval_every=4, ckpt_every=4)
    return out, ["--input", str(tag), "--output", str(out), *FAST, "--tokens", "40000", "--val-tokens", "600",
                 "--anneal-tokens", "0", "--ablation-config", cfg, "--ablation-steps", "4", "--ablations", "4",
                 "--verify-seeds", "2", "--ablation-workers", "1", *extra]


def test_a_sweep_with_two_seeds_per_candidate_regresses_on_their_means(tmp_path):
    out, args = _four_step_sweep(tmp_path, "--ablation-seeds", "2", "--ablation-design", "maximin")
    assert mix_job.main(args) == 0
    with open(out / "ablations" / "runs.csv") as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    doms = list(json.load(open(out / "manifest.json"))["target_weights"])
    assert set(rows) == {f"run_{i:03d}{s}" for i in range(4) for s in ("", "_s1")}
    for i in range(4):   # the same mixture under seeds 0 and 1
        first, second = rows[f"run_{i:03d}"], rows[f"run_{i:03d}_s1"]
        assert (first["seed"], second["seed"]) == ("0", "1")
        assert all(first[f"w_{d}"] == second[f"w_{d}"] for d in doms)
    fit = json.load(open(out / "ablations" / "fit.json"))
    assert fit["n_runs"] == 8 and fit["n_candidates"] == 4 and fit["seeds_per_candidate"] == 2
    assert len(fit["cv_predictions"]["mixing_law"]) == 4
    objective = lambda r: float(r["objective"])
    means = [(objective(rows[f"run_{i:03d}"]) + objective(rows[f"run_{i:03d}_s1"])) / 2 for i in range(4)]
    rp = fit["reproducibility"]
    assert rp["runs"] == 4 and rp["mean_spread"] == pytest.approx(np.std(means, ddof=1), abs=1e-5)
    assert not os.path.exists(out / "ablations" / "replicate.csv")
    with open(out / "ablations" / "sweep.json") as f:
        settings = json.load(f)
    assert settings["seeds_per_candidate"] == 2 and (settings["design"], settings["candidates"]) == ("maximin", 4)
    assert fit["sweep"]["design"] == "maximin"
    assert mix_job.main(args) == 0           # a rerun trains nothing again
    with open(out / "ablations" / "runs.csv") as f:
        assert {r["run"]: r["wall_s"] for r in csv.DictReader(f)} == {k: r["wall_s"] for k, r in rows.items()}
    # a maximin set is chosen for its size: 5 candidates are not 4 plus one, so that is another sweep
    five = list(args)
    five[five.index("--ablations") + 1] = "5"
    with pytest.raises(mix_job.mcfg.MixError, match="number of maximin candidates"):
        mix_job.run(five)


def test_more_verification_seeds_extend_a_finished_sweep_without_training_it_again(tmp_path):
    out, args = _four_step_sweep(tmp_path, "--ablation-vocab-size", "0")
    assert mix_job.main(args) == 0
    with open(out / "ablations" / "runs.csv") as f:
        sweep_runs = {r["run"]: r["wall_s"] for r in csv.DictReader(f)}
    with open(out / "ablations" / "verify.csv") as f:
        first = {r["run"]: r for r in csv.DictReader(f)}
    assert len(first) == 4                    # 2 seeds x (proposal, default)
    three = list(args)
    three[three.index("--verify-seeds") + 1] = "3"
    assert mix_job.main(three) == 0
    with open(out / "ablations" / "runs.csv") as f:
        assert {r["run"]: r["wall_s"] for r in csv.DictReader(f)} == sweep_runs
    with open(out / "ablations" / "verify.csv") as f:
        again = {r["run"]: r for r in csv.DictReader(f)}
    assert len(again) == 6 and all(again[name] == row for name, row in first.items())  # seeds 0, 1 kept
    fit = json.load(open(out / "ablations" / "fit.json"))
    assert len(fit["verified_objective_values"]) == 3 and fit["sweep"]["verify_seeds"] == 3
    assert json.load(open(out / "ablations" / "sweep.json"))["verify_seeds"] == 3
    other = list(three)
    other += ["--ablation-concentration", "7"]     # the sweep itself differs: refused
    with pytest.raises(mix_job.mcfg.MixError, match="other settings"):
        mix_job.run(other)


def test_a_sweep_at_a_smaller_vocabulary_builds_its_proxy_mix_and_carries_the_proposal_back(tmp_path):
    out, args = _four_step_sweep(tmp_path, "--ablation-vocab-size", "300")
    assert mix_job.main(args) == 0
    main = json.load(open(out / "manifest.json"))
    proxy = json.load(open(out / "ablations" / "proxy_mix" / "manifest.json"))
    assert main["tokenizer"]["vocab_size"] == 600 and proxy["tokenizer"]["vocab_size"] == 300
    # the same documents: the same input, filters and seed, only the tokenizer differs
    assert proxy["input_fingerprint"] == main["input_fingerprint"]
    bpt, proxy_bpt = (m["counts"]["fertility"]["domain"] for m in (main, proxy))
    assert all(proxy_bpt[d] < bpt[d] for d in bpt)          # fewer merges, fewer bytes per token
    fit = json.load(open(out / "ablations" / "fit.json"))
    doms = list(main["target_weights"])
    # the default the sweep judges is the mix's default in bytes, expressed in the proxy's tokens
    default = fit["proxy"]["target_weights"]
    assert transfer.byte_shares(default, proxy_bpt) == pytest.approx(
        transfer.byte_shares(main["target_weights"], bpt))
    assert default != pytest.approx(main["target_weights"])
    with open(out / "ablations" / "verify.csv") as f:
        verified = list(csv.DictReader(f))
    defaults = [r for r in verified if r["run"].startswith("verify_default_")]
    assert len(defaults) == 2 and all(float(r[f"w_{d}"]) == pytest.approx(default[d], abs=1e-5)
                                      for r in defaults for d in doms)
    # the proposal the proxies verified, carried to the mix's own tokens through its bytes
    assert fit["proxy"]["vocab_size"] == 300
    assert fit["proposed_byte_shares"] == pytest.approx(
        transfer.byte_shares(fit["proxy"]["proposed_weights"], proxy_bpt))
    assert fit["proposed_weights"] == pytest.approx(transfer.token_shares(fit["proposed_byte_shares"], bpt))
    assert sum(fit["proposed_weights"].values()) == pytest.approx(1.0)
    spec = mix_job.mcfg.parse_weights(fit["weights_spec"], doms)
    assert spec == pytest.approx(fit["proposed_weights"], abs=1e-5)
    with open(out / "ablations" / "runs.csv") as f:
        rows = {r["run"]: r["wall_s"] for r in csv.DictReader(f)}
    assert set(rows) == {f"run_{i:03d}" for i in range(4)}
    assert mix_job.main(args) == 0           # a rerun builds and trains nothing again
    with open(out / "ablations" / "runs.csv") as f:
        assert {r["run"]: r["wall_s"] for r in csv.DictReader(f)} == rows
    assert json.load(open(out / "ablations" / "proxy_mix" / "manifest.json")) == proxy


def test_the_mix_jobs_default_concentration_is_the_sweeps():
    # mix_job spells the default out (importing mixtures.ablate costs scipy's start-up)
    args = mix_job.parse_args(["--input", "in", "--output", "out"])[0]
    assert args.ablation_concentration == ablate.DEFAULT_CONCENTRATION
