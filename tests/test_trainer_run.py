"""End-to-end runs: metrics.jsonl and config.json format, exact kill-and-resume of a real process,
SIGTERM, finished runs, the Python API, bad input (missing shard, other config, vocab, non-finite)."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from test_trainer_helpers import ROOT, make_mix, read_metrics, run_trainer, trainer_cmd, write_config
from trainer.api import train_proxy
from trainer.data import DataError
from trainer.loop import TrainingError

DOMAINS = ["general", "math", "code", "multilingual"]


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mix"))
    make_mix(root)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_config(str(tmp_path_factory.mktemp("cfg") / "tiny.json"))


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    """Steps of ~10-20 ms, so a test can kill the process between two checkpoints."""
    return write_config(str(tmp_path_factory.mktemp("cfg") / "slow.json"), d_model=64, ffn_dim=160,
                        seq_len=64, batch_size=16, seq_stages=[[0.0, 32], [0.5, 64]], steps=60,
                        ckpt_every=5, eval_every=30)


def test_metrics_and_config_format(tmp_path, mix, tiny):
    out = str(tmp_path / "run")
    run_trainer(mix, out, tiny)
    lines = read_metrics(out)
    train = [m for m in lines if "eval" not in m]
    evals = [m for m in lines if "eval" in m]
    assert [m["step"] for m in train] == list(range(1, 21))
    for m in train:
        assert set(m) == {"step", "tokens", "loss", "lr", "seq_len", "phase", "tok_per_s"}
        assert m["phase"] in {"warmup", "stable", "decay", "anneal"}
        assert m["tokens"] == 128 * m["step"]              # 4 x 32 tokens per step at every stage
    assert [m["seq_len"] for m in train[:10]] == [16] * 10 and train[-1]["seq_len"] == 32
    assert train[-1]["lr"] == 0.0 and train[-1]["phase"] == "anneal" and train[0]["phase"] == "warmup"
    assert [e["step"] for e in evals] == [10, 20]
    for e in evals:
        assert "loss" not in e and e["eval"] == "val"
        assert set(e) == {"eval", "step", "tokens", "objective", *DOMAINS}
        for d in DOMAINS:
            assert set(e[d]) == {"loss", "bpb", "tokens"} and e[d]["bpb"] > 0 and e[d]["tokens"] > 0
        assert e["objective"] == pytest.approx(sum(e[d]["bpb"] for d in DOMAINS) / 4)
    steps = [m["step"] for m in lines]
    assert steps == sorted(steps)
    cfg = json.load(open(os.path.join(out, "config.json")))
    assert cfg["vocab_size"] == 320 and cfg["steps"] == 20 and cfg["seed"] == 0 and cfg["rope_theta"] == 500000.0
    assert cfg["ckpt_every"] == 5 and "config_hash" in cfg
    names = sorted(os.listdir(os.path.join(out, "checkpoints")))
    assert names == [f"step_{s:06d}.pt" for s in (5, 10, 15, 20)]
    import torch
    st = torch.load(os.path.join(out, "checkpoints", names[-1]), weights_only=True)
    assert {"model", "optimizer", "scheduler", "loader", "rng", "config_hash"} <= set(st)


def _wait_for(path, proc, timeout=60):
    t = time.time()
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() - t > timeout:
            raise AssertionError(f"{path} never appeared (rc {proc.poll()}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.005)


def _popen(mix, out, cfg):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    return subprocess.Popen(trainer_cmd(mix, out, cfg), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _comparable(lines):
    return [{k: v for k, v in m.items() if k != "tok_per_s"} for m in lines]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, mix, slow):
    out = str(tmp_path_factory.mktemp("full") / "run")
    run_trainer(mix, out, slow)
    return read_metrics(out)


def test_kill_and_resume_is_exact(tmp_path, mix, slow, uninterrupted):
    out = str(tmp_path / "run")
    proc = _popen(mix, out, slow)
    _wait_for(os.path.join(out, "checkpoints", "step_000010.pt"), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpts = sorted(os.listdir(os.path.join(out, "checkpoints")))
    killed_at = int(ckpts[-1][5:11])
    assert 10 <= killed_at < 60, "the process must have been killed mid-run"
    run_trainer(mix, out, slow)
    resumed = read_metrics(out)
    assert _comparable(resumed) == _comparable(uninterrupted)     # every loss bit-identical
    assert [m["step"] for m in resumed if "eval" not in m] == list(range(1, 61))


def test_sigterm_checkpoints_and_exits_cleanly_then_finished_run_is_noop(tmp_path, mix, slow, uninterrupted):
    out = str(tmp_path / "run")
    proc = _popen(mix, out, slow)
    _wait_for(os.path.join(out, "checkpoints", "step_000005.pt"), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "SIGTERM" in err
    last = read_metrics(out)[-1]["step"]
    ckpts = sorted(os.listdir(os.path.join(out, "checkpoints")))
    assert ckpts[-1] == f"step_{last:06d}.pt" and last < 60
    run_trainer(mix, out, slow)
    assert _comparable(read_metrics(out)) == _comparable(uninterrupted)
    before = open(os.path.join(out, "metrics.jsonl")).read()
    t = time.time()
    p = run_trainer(mix, out, slow)
    assert "already finished" in p.stderr and time.time() - t < 30
    assert open(os.path.join(out, "metrics.jsonl")).read() == before


def test_api_domain_weights_and_threads(tmp_path, mix, tiny):
    res = train_proxy(mix, str(tmp_path / "a"), tiny, steps=6, seed=1, threads=1,
                      domain_weights={"code": 1.0, "math": 0.0})
    assert set(DOMAINS) <= set(res) and res["step"] == 6 and res["eval"] == "val"
    cfg = json.load(open(tmp_path / "a" / "config.json"))
    assert cfg["domain_weights"] == {"code": 1.0, "math": 0.0}
    again = train_proxy(mix, str(tmp_path / "a"), tiny, steps=6, seed=1, threads=1,
                        domain_weights={"code": 1.0, "math": 0.0})
    assert again["objective"] == res["objective"]          # finished: the same result, no training
    other = train_proxy(mix, str(tmp_path / "b"), tiny, steps=6, seed=1, threads=1)
    assert other["objective"] != res["objective"]


def test_anneal_average(tmp_path, mix, tiny):
    res = train_proxy(mix, str(tmp_path / "a"), tiny, steps=20, overrides={"anneal_frac": 0.5, "anneal_average": True,
                                                                           "keep_checkpoints": 1})
    avg = res["anneal_avg"]
    assert avg["eval"] == "val_anneal_avg" and avg["averaged_steps"] == [15, 20]
    assert os.path.exists(tmp_path / "a" / "checkpoints" / "anneal_avg.pt")
    assert not os.path.exists(tmp_path / "a" / "checkpoints" / "step_000005.pt")


def test_anneal_data_train_keeps_the_train_mix_to_the_end(tmp_path, mix, tiny):
    from trainer import checkpoint
    runs = {}
    for data in ("anneal", "train"):
        out = str(tmp_path / data)
        train_proxy(mix, out, tiny, steps=20, domain_weights={"math": 1.0},
                    overrides={"anneal_frac": 0.5, "anneal_data": data})
        runs[data] = checkpoint.load(checkpoint.latest(out)[1])["loader"]
    # 20 steps of 128 targets, the last 10 in the anneal phase
    assert runs["train"]["anneal"] is None and sum(runs["train"]["train"]["served"]) == 128 * 20
    assert sum(runs["anneal"]["anneal"]["served"]) == 128 * 10 == sum(runs["anneal"]["train"]["served"])
    with pytest.raises(ValueError, match="anneal_data"):
        train_proxy(mix, str(tmp_path / "bad"), tiny, steps=4, overrides={"anneal_data": "val"})


def test_data_order_seeds_start_each_domain_elsewhere_unless_told_to_begin_at_zero(tmp_path, mix, tiny):
    from trainer import checkpoint
    from trainer.data import Manifest, start_offset
    length = sum(s.tokens for s in Manifest(mix).split_shards("train", "math"))
    pos = {}
    for seed, start in ((1, "seeded"), (2, "seeded"), (1, "beginning")):
        out = str(tmp_path / f"{seed}{start}")
        train_proxy(mix, out, tiny, steps=2, seed=seed, domain_weights={"math": 1.0},
                    overrides={"anneal_frac": 0.0, "data_start": start})
        pos[seed, start] = checkpoint.load(checkpoint.latest(out)[1])["loader"]["train"]["pos"][0]
    read = 2 * 128                                       # 2 steps of 128 targets
    assert pos[1, "beginning"] == read
    for seed in (1, 2):
        assert pos[seed, "seeded"] == (start_offset(seed, "math", length) + read) % length \
            or pos[seed, "seeded"] < read               # wrapped to the stream's beginning
    assert pos[1, "seeded"] != pos[2, "seeded"]
    with pytest.raises(ValueError, match="data_start"):
        train_proxy(mix, str(tmp_path / "bad"), tiny, steps=2, overrides={"data_start": "random"})


def test_bad_inputs(tmp_path, mix, tiny):
    bad = str(tmp_path / "mix")
    shutil.copytree(mix, bad)
    os.remove(os.path.join(bad, "shards/val/code/00000.bin"))
    p = run_trainer(bad, str(tmp_path / "r1"), tiny, check=False)
    assert p.returncode == 2 and "missing shard" in p.stderr and "shards/val/code/00000.bin" in p.stderr
    with pytest.raises(DataError, match="larger than the model"):
        train_proxy(mix, str(tmp_path / "r2"), tiny, steps=2, overrides={"vocab_size": 300})


def test_checkpoint_from_another_config(tmp_path, mix, tiny):
    out = str(tmp_path / "run")
    train_proxy(mix, out, tiny, steps=5)
    with pytest.raises(TrainingError, match="another configuration"):
        train_proxy(mix, out, tiny, steps=5, overrides={"lr": 1e-3})
    os.remove(os.path.join(out, "config.json"))        # only the checkpoint remains to tell
    with pytest.raises(RuntimeError, match="another configuration"):
        train_proxy(mix, out, tiny, steps=5, overrides={"d_model": 64})
    p = run_trainer(mix, out, tiny, "--steps", "5", "--set", "lr=0.01", check=False)
    assert p.returncode == 3 and "another configuration" in p.stderr


def test_non_finite_loss_skips_then_stops(tmp_path, mix, tiny):
    res = train_proxy(mix, str(tmp_path / "a"), tiny, steps=8, overrides={"fault_nan_steps": [3, 4],
                                                                          "max_nonfinite_steps": 2})
    lines = [m for m in read_metrics(str(tmp_path / "a")) if "eval" not in m]
    assert [m["loss"] is None for m in lines] == [False, False, True, True] + [False] * 4
    assert res["objective"] == res["objective"]           # finite
    with pytest.raises(TrainingError, match="non-finite"):
        train_proxy(mix, str(tmp_path / "b"), tiny, steps=8, overrides={"fault_nan_steps": [2, 3, 4],
                                                                        "max_nonfinite_steps": 2})


def test_a_fused_optimiser_skips_a_non_finite_step_on_the_device_exactly():
    import torch

    from trainer.loop import optimizer_step
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(8, 4))
    opt = torch.optim.AdamW([w], lr=0.1, weight_decay=0.1, fused=True)
    w.grad = torch.randn(8, 4)
    optimizer_step(opt, torch.tensor(True))
    before = (w.detach().clone(), {k: v.clone() for k, v in opt.state[w].items()})
    w.grad = torch.randn(8, 4)
    optimizer_step(opt, torch.tensor(False))
    assert torch.equal(w, before[0])                      # no update, no weight decay
    assert all(torch.equal(opt.state[w][k], v) for k, v in before[1].items())   # moments, step count
    assert not hasattr(opt, "found_inf")
    optimizer_step(opt, torch.tensor(True))
    assert not torch.equal(w, before[0]) and int(opt.state[w]["step"]) == 2


def test_deferred_bookkeeping_of_a_fused_optimiser_writes_what_immediate_bookkeeping_writes(
        tmp_path, mix, tiny, monkeypatch):
    """On a GPU the optimiser is fused and the host reads each step's loss one step late; forced
    here on CPU, the metrics (losses, skipped steps, evaluations) and the non-finite stop match
    the immediate path's up to the two AdamW implementations' rounding."""
    import torch

    from trainer import loop
    over = {"fault_nan_steps": [3, 4], "max_nonfinite_steps": 2, "eval_every": 5, "ckpt_every": 4}
    train_proxy(mix, str(tmp_path / "immediate"), tiny, steps=10, overrides=over)
    plain = loop.build_optimizer
    monkeypatch.setattr(loop, "build_optimizer", lambda model, cfg, dev: torch.optim.AdamW(
        [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in plain(model, cfg, dev).param_groups],
        lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["adam_eps"], fused=True))
    written_before_step = []                              # metrics lines when each update is queued
    step = loop.optimizer_step
    monkeypatch.setattr(loop, "optimizer_step", lambda opt, ok: (written_before_step.append(
        len(read_metrics(str(tmp_path / "deferred")))), step(opt, ok)))
    train_proxy(mix, str(tmp_path / "deferred"), tiny, steps=10, overrides=over)
    # step 2 is queued before step 1's line is written (immediate: 0, 1, 2, 3, ...); a checkpoint
    # (4) or an evaluation (5: its step line and its eval line) waits for its own step
    assert written_before_step[:6] == [0, 0, 1, 2, 4, 6]
    a, b = read_metrics(str(tmp_path / "immediate")), read_metrics(str(tmp_path / "deferred"))
    assert [(m.get("eval"), m["step"]) for m in a] == [(m.get("eval"), m["step"]) for m in b]
    for x, y in zip(a, b):
        if "eval" in x:
            assert y["objective"] == pytest.approx(x["objective"], abs=1e-4)
        else:
            assert (x["loss"] is None) == (y["loss"] is None) and x["tokens"] == y["tokens"]
            if x["loss"] is not None:
                assert y["loss"] == pytest.approx(x["loss"], abs=1e-4)
    assert [m["loss"] is None for m in b if "eval" not in m] == [False, False, True, True] + [False] * 6
    with pytest.raises(TrainingError, match="non-finite"):
        train_proxy(mix, str(tmp_path / "stop"), tiny, steps=10, overrides={**over, "fault_nan_steps": [2, 3, 4]})


def test_moe_and_document_masking_train(tmp_path, mix, tiny):
    res = train_proxy(mix, str(tmp_path / "moe"), tiny, steps=4, overrides={"moe_experts": 3, "moe_top_k": 2,
                                                                              "doc_mask": True})
    assert res["objective"] > 0
    cfg = json.load(open(tmp_path / "moe" / "config.json"))
    assert cfg["moe_experts"] == 3 and cfg["doc_mask"] is True


def test_on_a_terminal_a_progress_bar_shows_loss_speed_phase_and_eta(tmp_path, mix, tiny):
    import fcntl
    import pty
    import struct
    import termios
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))   # rows, columns
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT, "COLUMNS": "160"}
    cmd = [c for c in trainer_cmd(mix, str(tmp_path / "out"), tiny, "--steps", "6") if c != "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 4096)
        except OSError:              # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(primary)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "6/6" in screen and "tok/s" in screen and "loss " in screen   # the bar, at its end
    assert "anneal" in screen and "<00:00" in screen                      # phase and tqdm's ETA
    assert "step      6/6" in screen                                       # step lines still printed


def test_without_a_terminal_only_the_step_lines_are_written(tmp_path, mix, tiny):
    cmd = [c for c in trainer_cmd(mix, str(tmp_path / "out"), tiny, "--steps", "4") if c != "--quiet"]
    p = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT},
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "step      4/4" in p.stderr and "ETA" in p.stderr
    assert "\r" not in p.stderr and "it/s" not in p.stderr and "step/s" not in p.stderr


def test_cpu_bf16_trains_and_is_recorded(tmp_path, mix, tiny):
    res = train_proxy(mix, str(tmp_path / "bf16"), tiny, steps=6, overrides={"cpu_bf16": True})
    assert res["objective"] > 0
    cfg = json.load(open(tmp_path / "bf16" / "config.json"))
    assert cfg["cpu_bf16"] is True
    losses = [m["loss"] for m in read_metrics(str(tmp_path / "bf16")) if "loss" in m]
    assert len(losses) == 6 and all(l == l for l in losses) and losses[-1] < losses[0]


def test_a_setting_added_later_at_its_old_behaviour_keeps_earlier_runs_resumable():
    from trainer.checkpoint import config_hash
    from trainer.config import resolve
    cfg = resolve("cpu-demo")
    before = {k: v for k, v in cfg.items() if k != "cpu_bf16"}    # a config.json written before the key
    assert config_hash(cfg) == config_hash(before)
    assert config_hash({**cfg, "cpu_bf16": True}) != config_hash(before)


def test_a_finished_run_on_another_mix_is_not_reused_unless_forced(tmp_path, mix, tiny):
    other_mix = str(tmp_path / "other-mix")
    make_mix(other_mix, seed=1)
    out = str(tmp_path / "run")
    train_proxy(mix, out, tiny, steps=3)
    with pytest.raises(TrainingError, match="another mix"):
        train_proxy(other_mix, out, tiny, steps=3)
    p = run_trainer(other_mix, out, tiny, "--steps", "3", check=False)
    assert p.returncode == 3 and "FORCE=1" in p.stderr
    p = run_trainer(other_mix, out, tiny, "--steps", "3", "--force", check=False)
    assert p.returncode == 0, p.stderr
    cfg = json.load(open(os.path.join(out, "config.json")))
    assert cfg["mix"] == os.path.abspath(other_mix) or cfg["mix"].endswith("other-mix")
    assert [m["step"] for m in read_metrics(out) if "loss" in m] == [1, 2, 3]   # a new run, not appended
    assert train_proxy(other_mix, out, tiny, steps=3)["objective"] > 0        # now finished: a no-op
