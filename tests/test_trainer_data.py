"""The shard loader: packing, deterministic mixing, exact state restore, clear errors on bad shards."""
import json
import os
import shutil

import numpy as np
import pytest

from test_trainer_helpers import make_mix
from trainer.data import DataError, Manifest, MixedLoader, TokenStream, check_shards, val_tokens


@pytest.fixture(scope="module")
def mix(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mix"))
    make_mix(root)
    return root


def concat(manifest, split, domain):
    return np.concatenate([np.fromfile(s.path, dtype=manifest.dtype) for s in manifest.split_shards(split, domain)])


def test_rows_are_packed_slices_of_the_stream_no_tokens_added(mix):
    m = Manifest(mix)
    ld = MixedLoader(m, "train", seed=0, weights={"code": 1.0})
    stream = concat(m, "train", "code")
    x, y = ld.next_batch(3, 20)
    assert x.shape == y.shape == (3, 20)
    for r in range(3):   # consecutive rows overlap by one token: every token is a target once
        assert np.array_equal(x[r].numpy(), stream[20 * r:20 * r + 20])
        assert np.array_equal(y[r].numpy(), stream[20 * r + 1:20 * r + 21])
    assert int((x == m.bos_id).sum()) >= 1        # rows cross document boundaries


def test_deterministic_and_seed_dependent(mix):
    m = Manifest(mix)
    a = [MixedLoader(m, "train", seed=3).next_batch(8, 16)[0] for _ in range(2)]
    assert (a[0] == a[1]).all()
    b = MixedLoader(m, "train", seed=4)
    c = MixedLoader(m, "train", seed=3)
    order_b = [b._next_domain() for _ in range(40)]
    order_c = [c._next_domain() for _ in range(40)]
    assert order_b != order_c


def test_state_restore_is_exact(mix):
    m = Manifest(mix)
    ld = MixedLoader(m, "train", seed=1)
    for _ in range(120):          # enough to wrap the small domains around
        ld.next_batch(4, 32)
    st = ld.state_dict()
    st = json.loads(json.dumps(st))   # plain ints/floats/lists: survives any serialisation
    want = [ld.next_batch(4, 32) for _ in range(5)]
    other = MixedLoader(m, "train", seed=1)
    other.load_state_dict(st)
    got = [other.next_batch(4, 32) for _ in range(5)]
    for (wx, wy), (gx, gy) in zip(want, got):
        assert (wx == gx).all() and (wy == gy).all()
    assert max(ld.epoch.values()) >= 1


def test_mixing_follows_realised_token_counts(mix):
    m = Manifest(mix)
    ld = MixedLoader(m, "train", seed=0)
    tokens = {d: sum(s.tokens for s in m.split_shards("train", d)) for d in m.domains("train")}
    total = sum(tokens.values())
    n = 1000
    picks = [ld._next_domain() for _ in range(n)]
    for d, t in tokens.items():
        assert abs(picks.count(d) - n * t / total) <= 1.5


def test_weights_override_and_zero_weight(mix):
    m = Manifest(mix)
    ld = MixedLoader(m, "train", seed=0, weights={"general": 3, "math": 1, "code": 0, "multilingual": 0})
    picks = [ld._next_domain() for _ in range(400)]
    assert picks.count("general") == 300 and picks.count("math") == 100
    with pytest.raises(DataError, match="without train shards"):
        MixedLoader(m, "train", weights={"poetry": 1.0})


def test_splits_and_val_tokens(mix):
    m = Manifest(mix)
    assert set(m.domains("anneal")) == {"general", "math", "code", "multilingual"}
    a = MixedLoader(m, "anneal", seed=0, weights={"math": 1})
    assert np.array_equal(a.next_batch(1, 10)[0][0].numpy(), concat(m, "anneal", "math")[:10])
    v = val_tokens(m, 100)
    assert set(v) == set(m.domains("val")) and all(len(t) == 100 for t in v.values())
    assert np.array_equal(v["general"], concat(m, "val", "general")[:100])


def test_token_stream_spans_shards(tmp_path):
    root = str(tmp_path)
    make_mix(root)
    man = json.load(open(os.path.join(root, "manifest.json")))
    first = next(s for s in man["shards"] if s["split"] == "train" and s["domain"] == "code")
    src = os.path.join(root, first["path"])
    data = np.fromfile(src, dtype="<u2")
    half = len(data) // 2
    data[:half].tofile(src)
    data[half:].tofile(src.replace("00000.bin", "00001.bin"))
    first["tokens"] = half
    man["shards"].append({**first, "path": first["path"].replace("00000", "00001"), "tokens": len(data) - half})
    json.dump(man, open(os.path.join(root, "manifest.json"), "w"))
    m = Manifest(root)
    s = TokenStream(m, m.split_shards("train", "code"))
    assert np.array_equal(s.read(half - 3, 6), data[half - 3:half + 3])


def test_missing_and_truncated_shards(tmp_path, mix):
    root = str(tmp_path / "m")
    shutil.copytree(mix, root)
    path = os.path.join(root, "shards/train/math/00000.bin")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) - 2)
    with pytest.raises(DataError, match="truncated"):
        check_shards(Manifest(root))
    os.remove(path)
    with pytest.raises(DataError, match="missing shard"):
        check_shards(Manifest(root))
    with pytest.raises(DataError, match="manifest.json"):
        Manifest(str(tmp_path / "nowhere"))


def test_vocab_larger_than_model(mix):
    m = Manifest(mix)
    m.check_vocab(m.vocab_size)
    with pytest.raises(DataError, match="larger than the model"):
        m.check_vocab(m.vocab_size - 1)


def test_uint32_shards(tmp_path):
    make_mix(str(tmp_path), dtype="uint32")
    m = Manifest(str(tmp_path))
    assert m.dtype.itemsize == 4
    x, _ = MixedLoader(m, "train").next_batch(2, 8)
    assert int(x.max()) < m.vocab_size


def test_continue_from_takes_the_shared_domains_offsets_moved_on_and_wrapped(mix):
    m = Manifest(mix)
    base = MixedLoader(m, "train", seed=0, weights={"code": 1.0, "math": 1.0})
    for _ in range(5):
        base.next_row(16)
    st = base.state_dict()
    length = base.streams["code"].length
    ld = MixedLoader(m, "train", seed=9, weights={"code": 1.0, "general": 1.0})
    assert ld.continue_from(st) == ["code"]           # math is not in this loader, general not in the base
    assert ld.pos["code"] == base.pos["code"] and ld.pos["general"] == 0
    moved = MixedLoader(m, "train", seed=9, weights={"code": 1.0})
    moved.continue_from(st, skip_tokens=length + 7)   # one lap and 7 tokens further on
    assert moved.pos["code"] == (base.pos["code"] + 7) % length
    assert moved.epoch["code"] == base.epoch["code"] + 1 + (base.pos["code"] + 7) // length
    row = moved.next_row(16)
    assert np.array_equal(row, concat(m, "train", "code")[moved.pos["code"] - 16:moved.pos["code"] + 1])


def test_seeded_start_reads_a_seed_dependent_window_of_each_domain(mix):
    m = Manifest(mix)
    stream = concat(m, "train", "code")
    a = MixedLoader(m, "train", seed=5, weights={"code": 1.0}, seeded_start=True)
    start = a.pos["code"]
    assert 0 <= start < len(stream)
    row = a.next_row(16)
    n = min(17, len(stream) - start)          # a row that reaches the end wraps to token 0
    assert np.array_equal(row[:n], stream[start:start + n])
    starts = {MixedLoader(m, "train", seed=s, weights={"code": 1.0}, seeded_start=True).pos["code"]
              for s in range(6)}
    assert len(starts) >= 5                    # seeds read different windows
    assert MixedLoader(m, "train", seed=0, weights={"code": 1.0}).pos["code"] == 0   # the default


def test_seeded_start_of_a_domain_ignores_the_other_domains_and_the_weights(mix):
    m = Manifest(mix)
    only_code = MixedLoader(m, "train", seed=7, weights={"code": 1.0}, seeded_start=True)
    mixed = MixedLoader(m, "train", seed=7, weights={"code": 0.2, "general": 0.5, "math": 0.3},
                        seeded_start=True)
    assert only_code.pos["code"] == mixed.pos["code"]     # common random numbers across mixtures
    alone = MixedLoader(m, "train", seed=7, weights={"general": 1.0}, seeded_start=True)
    assert mixed.pos["general"] == alone.pos["general"]


def test_a_seeded_stream_wraps_to_its_beginning(mix):
    m = Manifest(mix)
    ld = MixedLoader(m, "train", seed=3, weights={"math": 1.0}, seeded_start=True)
    length = ld.streams["math"].length
    stream = concat(m, "train", "math")
    ld.pos["math"] = length - 5                   # fewer tokens left than a row needs
    row = ld.next_row(16)
    assert np.array_equal(row, stream[:17]) and ld.epoch["math"] == 1
