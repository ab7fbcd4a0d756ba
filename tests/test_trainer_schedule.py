"""LR schedule, phases and staged context length (trainer/schedule.py)."""
import math

import pytest

from trainer.schedule import Schedule


def test_cosine_with_warmup_and_anneal_to_zero():
    s = Schedule(steps=100, lr=1.0, warmup_steps=10, schedule="cosine", min_lr_frac=0.1, anneal_frac=0.1)
    assert s.anneal_start == 90
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(9) == pytest.approx(1.0)                     # warmup ends at the peak
    assert [s.phase(i) for i in (0, 9, 10, 89, 90, 99)] == ["warmup", "warmup", "decay", "decay", "anneal", "anneal"]
    mid = 10 + (90 - 10) // 2
    assert s.lr_at(mid) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert s.lr_at(90) == pytest.approx(0.1)                    # the anneal starts at the floor
    assert s.lr_at(99) == 0.0                                   # exactly zero at the last step
    for i in range(90, 99):                                     # linear in between
        assert s.lr_at(i) - s.lr_at(i + 1) == pytest.approx(0.1 / 9)
    lrs = [s.lr_at(i) for i in range(10, 100)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_warmup_stable_decay():
    s = Schedule(steps=200, lr=2.0, warmup_steps=20, schedule="wsd", decay_frac=0.1, min_lr_frac=0.0,
                 anneal_frac=0.1)
    assert s.phase(19) == "warmup" and s.phase(20) == "stable" and s.phase(159) == "stable"
    assert s.phase(160) == "decay" and s.phase(179) == "decay" and s.phase(180) == "anneal"
    assert s.lr_at(100) == 2.0 and s.lr_at(159) == 2.0
    assert s.lr_at(170) == pytest.approx(1.0)
    assert s.lr_at(199) == 0.0
    assert {s.phase(i) for i in range(200)} == {"warmup", "stable", "decay", "anneal"}


def test_wsd_without_decay_anneals_from_the_peak():
    s = Schedule(steps=50, lr=1.0, warmup_steps=5, schedule="wsd", anneal_frac=0.2)
    assert s.lr_at(39) == 1.0 and s.phase(40) == "anneal"
    assert s.lr_at(40) == 1.0 and s.lr_at(49) == 0.0


def test_staged_context_keeps_tokens_per_step():
    s = Schedule(steps=100, lr=1.0, seq_len=256, batch_size=8, seq_stages=((0.0, 64), (0.3, 128), (0.6, 256)))
    assert (s.seq_len_at(0), s.batch_at(0)) == (64, 32)
    assert (s.seq_len_at(29), s.seq_len_at(30), s.batch_at(30)) == (64, 128, 16)
    assert (s.seq_len_at(60), s.batch_at(99)) == (256, 8)
    assert {s.seq_len_at(i) * s.batch_at(i) for i in range(100)} == {2048}
    with pytest.raises(ValueError):
        Schedule(steps=10, lr=1.0, seq_len=256, batch_size=1, seq_stages=((0.0, 96),))


def test_no_anneal_and_state():
    s = Schedule(steps=10, lr=1.0, anneal_frac=0.0, min_lr_frac=0.5)
    assert s.phase(9) == "decay" and s.lr_at(9) > 0.5
    s.step = 7
    t = Schedule(steps=10, lr=1.0)
    t.load_state_dict(s.state_dict())
    assert t.step == 7
