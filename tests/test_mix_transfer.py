"""Weights carried between tokenizers: token shares -> byte shares -> token shares of another mix,
through each manifest's bytes per token per domain; the CLI prints WEIGHTS= that `make mix` accepts."""
import json

import pytest

from mixtures import config as mcfg
from mixtures import transfer

# bytes per token of the demo corpus's domains under a 16,384- and a 4,096-token tokenizer
BPT_16K = {"code": 2.9785, "general": 3.5483, "math": 3.2729, "multilingual": 2.9784}
BPT_4K = {"code": 2.5097, "general": 2.8405, "math": 2.817, "multilingual": 2.2282}
DEFAULT = {"general": 0.5, "math": 0.25, "code": 0.17, "multilingual": 0.08}


def test_token_shares_become_byte_shares_and_back():
    b = transfer.byte_shares(DEFAULT, BPT_16K)
    assert sum(b.values()) == pytest.approx(1.0)
    # general: 0.5 x 3.5483 bytes of every 3.3369 bytes a token of the mix carries on average
    avg = sum(DEFAULT[d] * BPT_16K[d] for d in DEFAULT)
    assert b["general"] == pytest.approx(0.5 * 3.5483 / avg)
    assert transfer.token_shares(b, BPT_16K) == pytest.approx(DEFAULT)
    # the same bytes under a smaller vocabulary: domains whose tokens shrink more need more tokens
    w4 = transfer.token_shares(b, BPT_4K)
    assert sum(w4.values()) == pytest.approx(1.0)
    assert w4["multilingual"] > DEFAULT["multilingual"] and w4["code"] < DEFAULT["code"]
    assert transfer.byte_shares(w4, BPT_4K) == pytest.approx(b)


def test_a_domain_without_bytes_per_token_is_an_error():
    with pytest.raises(transfer.TransferError, match="no bytes per token for \\['math'\\]"):
        transfer.byte_shares(DEFAULT, {d: v for d, v in BPT_16K.items() if d != "math"})
    zero = dict(DEFAULT, math=0.0)  # a domain without weight needs none
    assert transfer.byte_shares(zero, {d: v for d, v in BPT_16K.items() if d != "math"})["math"] == 0.0


def test_the_printed_weights_are_accepted_by_make_mix(tmp_path, capsys):
    shares = transfer.byte_shares({"general": 0.4771, "math": 0.2583, "code": 0.1837, "multilingual": 0.0809}, BPT_4K)
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps({"proposed_byte_shares": shares}))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"counts": {"fertility": {"domain": BPT_16K}}}))
    assert transfer.main(["--fit", str(fit), "--to", str(manifest)]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("WEIGHTS=")][0]
    weights = mcfg.parse_weights(line[len("WEIGHTS="):], list(BPT_16K))   # sums to 1 exactly enough
    assert weights == pytest.approx(transfer.token_shares(shares, BPT_16K), abs=2e-6)


def test_a_fit_without_byte_shares_or_a_missing_file_is_a_clear_error(tmp_path, capsys):
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps({"proposed_weights": DEFAULT}))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"counts": {"fertility": {"domain": BPT_16K}}}))
    assert transfer.main(["--fit", str(fit), "--to", str(manifest)]) == 2
    assert "has no proposed_byte_shares" in capsys.readouterr().err
    assert transfer.main(["--fit", str(tmp_path / "nope.json"), "--to", str(manifest)]) == 2
    assert "nope.json" in capsys.readouterr().err
