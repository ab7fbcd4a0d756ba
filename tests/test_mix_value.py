"""Valuing a candidate source by annealing (mixtures/value.py): from one base checkpoint, anneals on
100 % default mix (control) and on 70 % default + 30 % candidate (treatment), paired by seed."""
import json
import math
import os
import shutil

import numpy as np
import pytest

from mixtures.config import MixError
from mixtures.value import main, value
from test_trainer_helpers import TINY, make_mix, train_tokenizer, write_shard

# Streams start at token 0 here: the control never sees the candidate, so its bits per byte on it
# is this 29k-parameter model's guess at unseen tokens, which swung from 7.97 to 9.58 between two
# seeded windows of the base data (7.98-8.00 from token 0) and hid the treatment's clear gain from
# a 2-seed verdict. Seeded starts are the trainer's default and are tested in test_trainer_*.
CONFIG = {**TINY, "name": "tiny-value", "eval_every": 20, "ckpt_every": 10, "keep_checkpoints": 2,
          "data_start": "beginning"}
CYCLE = [40, 41, 42, 43, 44, 45, 46, 47, 48]       # the candidate: one token sequence, repeated


def finish(root):
    open(os.path.join(root, "_SUCCESS"), "w").close()
    return root


def make_candidate(root, tokenizer_from, bos=1, eos=2):
    """A mix whose only domain holds documents of CYCLE repeated, with the given tokenizer.json."""
    os.makedirs(root, exist_ok=True)
    shutil.copy(tokenizer_from, os.path.join(root, "tokenizer.json"))
    shards = []
    for split, n_docs in (("train", 40), ("val", 6)):
        docs = [[bos] + CYCLE * 6 + [eos] for _ in range(n_docs)]
        rel = f"shards/{split}/general/00000.bin"
        arr = write_shard(os.path.join(root, rel), docs)
        shards.append({"path": rel, "split": split, "domain": "general", "tokens": int(arr.size),
                       "documents": n_docs, "bytes": int(arr.nbytes), "sha256": ""})
    with open(os.path.join(root, "tokenizer.json")) as f:
        vocab = len(json.load(f)["model"]["vocab"])
    manifest = {"format_version": 1, "tokenizer": {"path": "tokenizer.json", "vocab_size": vocab, "bos_id": bos,
                                                   "eos_id": eos, "dtype": "uint16"},
                "target_weights": {"general": 1.0}, "shards": shards}
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    return finish(root)


@pytest.fixture(scope="module")
def mixes(tmp_path_factory):
    root = tmp_path_factory.mktemp("value")
    mix = str(root / "mix")
    make_mix(mix, anneal=False)
    cand = make_candidate(str(root / "cand"), os.path.join(mix, "tokenizer.json"))
    return finish(mix), cand


@pytest.fixture(scope="module")
def valued(mixes):
    mix, cand = mixes
    res = value(mix, cand, share=0.3, config=CONFIG, base_steps=20, anneal_steps=10, seeds=2, workers=2,
                log=lambda m: None)
    return res, os.path.join(mix, "valuation", "cand")


def test_valuation_json_has_finite_paired_numbers_and_verdicts(valued):
    res, out = valued
    with open(os.path.join(out, "valuation.json")) as f:
        assert json.load(f) == json.loads(json.dumps(res))
    assert set(res["domains"]) == {"general", "math", "code", "multilingual"}
    assert set(res["candidate_domains"]) == {"candidate:general"}
    assert res["seeds"] == [0, 1]
    for group in ("domains", "candidate_domains"):
        for d, v in res[group].items():
            c, t, delta = v["control"]["values"], v["treatment"]["values"], v["delta"]["values"]
            assert len(c) == len(t) == len(delta) == 2
            assert all(math.isfinite(x) for x in c + t + delta + [v["delta"]["mean"], v["delta"]["std"]])
            assert delta == pytest.approx([b - a for a, b in zip(c, t)])     # paired by seed
            assert v["delta"]["mean"] == pytest.approx(np.mean(delta))
            assert v["delta"]["std"] == pytest.approx(np.std(delta, ddof=1))
            significant = abs(v["delta"]["mean"]) > 2 * v["delta"]["std"]
            assert v["verdict"].startswith(("helps", "hurts")) == significant
            assert (v["verdict"] == "no measurable change") == (not significant)
            assert v["control"]["values"] == [res["runs"][f"control_s{s}"]["bpb"][d] for s in res["seeds"]]
    assert res["tokens"]["base"] == 20 * CONFIG["seq_len"] * CONFIG["batch_size"]
    assert res["tokens"]["anneal_per_run"] == 10 * CONFIG["seq_len"] * CONFIG["batch_size"]
    assert res["settings"]["candidate_share"] == 0.3 and res["settings"]["anneal_steps"] == 10


def test_treatment_trains_on_candidate_tokens_and_learns_them(valued):
    res, _ = valued
    rows = 10 * CONFIG["batch_size"]
    for s in res["seeds"]:
        served_c = res["tokens"]["served_by_domain"][f"control_s{s}"]
        served_t = res["tokens"]["served_by_domain"][f"treatment_s{s}"]
        assert not any(d.startswith("candidate:") for d in served_c)        # the control never sees it
        assert sum(served_c.values()) == sum(served_t.values()) == rows * CONFIG["seq_len"]
        cand_rows = served_t["candidate:general"] / CONFIG["seq_len"]
        assert abs(cand_rows - 0.3 * rows) <= 1.0                            # 30 % of the anneal's rows
    cand = res["candidate_domains"]["candidate:general"]
    # the repeated sequence is learnt by the treatment, not by the control: a large, clear drop
    assert all(t < c - 0.3 for c, t in zip(cand["control"]["values"], cand["treatment"]["values"]))
    assert cand["verdict"].startswith("helps: −")


def test_anneals_start_from_the_base_weights_and_read_on(valued):
    _, out = valued
    def lines(run):
        with open(os.path.join(out, run, "metrics.jsonl")) as f:
            return [m for m in map(json.loads, f) if "lr" in m]      # the train lines
    base, control = lines("base"), lines("runs/control_s0")
    assert control[0]["loss"] < base[0]["loss"] - 1.0       # not a fresh model
    assert [m["lr"] for m in control] == sorted((m["lr"] for m in control), reverse=True)
    assert control[0]["lr"] == pytest.approx(CONFIG["lr"]) and control[-1]["lr"] < 0.11 * CONFIG["lr"]
    assert {m["phase"] for m in base} <= {"warmup", "stable"}  # the base leaves the decay to the anneals
    with open(os.path.join(out, "runs/control_s0/config.json")) as f:
        assert json.load(f)["init_from"] == os.path.join(out, "base", "checkpoints", "step_000020.pt")


def test_each_seed_reads_its_own_data_window_and_both_arms_of_a_seed_share_it(valued):
    _, out = valued
    def cfg(run):
        with open(os.path.join(out, "runs", run, "config.json")) as f:
            return json.load(f)
    window = 10 * CONFIG["batch_size"] * CONFIG["seq_len"]  # anneal steps x tokens per step
    assert cfg("control_s0").get("init_skip_tokens", 0) == cfg("treatment_s0").get("init_skip_tokens", 0) == 0
    assert cfg("control_s1")["init_skip_tokens"] == cfg("treatment_s1")["init_skip_tokens"] == window


def test_a_rerun_reads_the_results_back_without_training(valued, mixes):
    res, out = valued
    mix, cand = mixes
    watched = [os.path.join(dp, f) for dp, _, fs in os.walk(out) for f in fs
               if f == "metrics.jsonl" or f.endswith(".pt")]
    before = {p: os.stat(p).st_mtime_ns for p in watched}
    assert len(before) >= 5 * 2
    again = value(mix, cand, share=0.3, config=CONFIG, base_steps=20, anneal_steps=10, seeds=2, workers=2,
                  log=lambda m: None)
    assert {p: os.stat(p).st_mtime_ns for p in watched} == before
    assert again["domains"] == res["domains"] and again["candidate_domains"] == res["candidate_domains"]
    with pytest.raises(MixError, match="other settings .*candidate_share"):
        value(mix, cand, share=0.5, config=CONFIG, base_steps=20, anneal_steps=10, seeds=2, log=lambda m: None)


def test_a_candidate_with_another_tokenizer_fails_before_any_training(tmp_path, mixes, capsys):
    mix, _ = mixes
    other_tok = str(tmp_path / "other.json")
    train_tokenizer(other_tok, vocab_size=300)
    cand = make_candidate(str(tmp_path / "other"), other_tok)
    out = str(tmp_path / "out")
    with pytest.raises(MixError, match="tokenizer differs .*sha256"):
        value(mix, cand, config=CONFIG, base_steps=4, out=out, log=lambda m: None)
    assert not os.path.exists(out)
    assert main(["--mix", mix, "--candidate", cand, "--out", out]) == 2
    assert "candidate's tokenizer differs" in capsys.readouterr().err
    assert main(["--mix", mix, "--candidate", cand, "--seeds", "1", "--out", out]) == 2
    assert "--seeds must be at least 2" in capsys.readouterr().err
    os.remove(os.path.join(cand, "_SUCCESS"))
    assert main(["--mix", mix, "--candidate", cand, "--out", out]) == 2
    assert "is not a finished `make mix` output (no _SUCCESS)" in capsys.readouterr().err
    assert not os.path.exists(out)
