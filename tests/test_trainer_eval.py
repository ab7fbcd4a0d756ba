"""Bits per byte and the per-token byte table (trainer/evaluate.py), checked by hand."""
import math

import numpy as np
import pytest
import torch

from test_trainer_helpers import train_tokenizer
from trainer.evaluate import byte_lengths_from_tokenizer, evaluate


class Uniform(torch.nn.Module):
    """Predicts every token of a V-token vocabulary with probability 1/V."""
    def __init__(self, V):
        super().__init__(); self.V = V
    def logits(self, x):
        return torch.zeros(*x.shape, self.V)


class NextIsPlusOne(torch.nn.Module):
    """Puts logit c on (x + 1) % V: NLL = log(e^c + V - 1) - c when right, log(e^c + V - 1) otherwise."""
    def __init__(self, V, c):
        super().__init__(); self.V, self.c = V, c
    def logits(self, x):
        return torch.nn.functional.one_hot((x + 1) % self.V, self.V).float() * self.c


def test_bpb_uniform_by_hand():
    V = 8
    blen = np.array([0, 0, 0, 1, 2, 3, 1, 4])       # ids 0-2 special (pad, bos, eos)
    special = np.array([True, True, True, False, False, False, False, False])
    toks = np.array([1, 3, 4, 5, 2, 1, 6, 7, 2, 1, 4])   # two windows of 8 + 1 with seq_len 8, overlap 1
    res = evaluate(Uniform(V), {"general": toks}, blen, special, seq_len=8, batch_size=1)
    predicted = toks[1:]
    counted = [t for t in predicted if not special[t]]
    assert res["general"]["tokens"] == len(counted) == 6
    nll = len(counted) * math.log(V)
    assert res["general"]["loss"] == pytest.approx(math.log(V))
    assert res["general"]["bpb"] == pytest.approx(nll / (math.log(2) * sum(blen[t] for t in counted)))
    assert res["objective"] == pytest.approx(res["general"]["bpb"])


def test_bpb_context_windows_and_objective():
    V, c = 10, 3.0
    blen = np.array([0, 0, 0] + [1] * 7)
    special = blen == 0
    toks = np.array([1, 3, 4, 5, 9, 8, 4, 5, 6, 2])
    res = evaluate(NextIsPlusOne(V, c), {"a": toks, "b": toks[:4]}, blen, special, seq_len=3, batch_size=2)
    z = math.log(math.exp(c) + V - 1)
    def nll(seq):
        return sum(z - (c if b == (a + 1) % V else 0.0) for a, b in zip(seq, seq[1:]) if not special[b])
    assert res["a"]["bpb"] == pytest.approx(nll(toks) / (math.log(2) * 8))
    assert res["b"]["bpb"] == pytest.approx(nll(toks[:4]) / (math.log(2) * 3))
    assert res["objective"] == pytest.approx((res["a"]["bpb"] + res["b"]["bpb"]) / 2)


def test_byte_lengths_from_byte_level_bpe(tmp_path):
    path = str(tmp_path / "tokenizer.json")
    tok = train_tokenizer(path)
    blen, special = byte_lengths_from_tokenizer(path)
    assert special[[0, 1, 2]].all() and not special[3:].any()
    assert (blen[:3] == 0).all() and (blen[3:] > 0).all()
    for text in ["the city said über 東京 x+1 = 2", "def f(x): return ça"]:
        ids = tok.encode(text).ids
        assert sum(int(blen[i]) for i in ids) == len(text.encode("utf-8"))
