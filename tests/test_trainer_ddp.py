"""Data parallel: 2 torchrun processes on gloo give the same losses as 1 process with the same
global batch (and so does gradient accumulation), within float tolerance."""
import os
import subprocess
import sys

import pytest

from test_trainer_helpers import ROOT, make_mix, read_metrics, run_trainer, write_config


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    make_mix(str(root / "mix"))
    cfg = write_config(str(root / "tiny.json"), steps=8, eval_every=8, ckpt_every=8)
    return str(root / "mix"), cfg, root


def losses(out):
    return [m["loss"] for m in read_metrics(out) if "eval" not in m]


def test_two_gloo_processes_match_one(setup):
    mix, cfg, root = setup
    run_trainer(mix, str(root / "one"), cfg)
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
    p = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "trainer", "--mix", mix,
                        "--output", str(root / "two"), "--config", cfg, "--device", "cpu", "--threads", "1",
                        "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    one, two = losses(str(root / "one")), losses(str(root / "two"))
    assert len(one) == len(two) == 8
    assert two == pytest.approx(one, rel=1e-4, abs=1e-5)
    e1 = [m for m in read_metrics(str(root / "one")) if "eval" in m][-1]
    e2 = [m for m in read_metrics(str(root / "two")) if "eval" in m][-1]
    assert e2["objective"] == pytest.approx(e1["objective"], rel=1e-4)
    assert os.path.exists(root / "two" / "checkpoints" / "step_000008.pt")


def test_grad_accumulation_matches(setup):
    mix, cfg, root = setup
    if not os.path.exists(root / "one"):
        run_trainer(mix, str(root / "one"), cfg)
    run_trainer(mix, str(root / "accum"), cfg, "--set", "grad_accum=2")
    assert losses(str(root / "accum")) == pytest.approx(losses(str(root / "one")), rel=1e-4, abs=1e-5)
