"""The planner's pure parts: WEIGHTS parsing, quotas with the short-domain rule, hash-order
prefixes from bucket histograms, the shard format and the tokenizer's special ids."""
import numpy as np
import pytest

from mixtures import config, order, select, shards, tokenizer
from mixtures.plan import allocate

DOMAINS = ("general", "math", "code", "multilingual")
W = {"general": 0.5, "math": 0.25, "code": 0.17, "multilingual": 0.08}


def test_weights_parse_and_bad_weights_say_what_is_wrong():
    assert config.parse_weights(config.DEFAULT_WEIGHTS, DOMAINS) == W
    with pytest.raises(config.MixError, match="unknown domain 'maths'"):
        config.parse_weights("general=0.75,maths=0.25", DOMAINS)
    with pytest.raises(config.MixError, match="sum to 0.9"):
        config.parse_weights("general=0.5,math=0.4", DOMAINS)
    with pytest.raises(config.MixError, match="weight of 'math' is -0.25"):
        config.parse_weights("general=1.25,math=-0.25", DOMAINS)
    with pytest.raises(config.MixError, match="not domain=weight"):
        config.parse_weights("general", DOMAINS)


def test_anneal_weights_upweight_math_and_code():
    a = config.anneal_weights(W, {"math": 2, "code": 2})
    assert abs(sum(a.values()) - 1) < 1e-12
    assert a["math"] > W["math"] and a["code"] > W["code"] and a["general"] < W["general"]
    assert a["math"] / a["general"] == pytest.approx(2 * W["math"] / W["general"])


def test_quotas_follow_weights_when_data_suffice():
    plan = allocate(W, 1_000_000, {d: 10_000_000 for d in W}, 4)
    q = {d: v["quota"] for d, v in plan["domains"].items()}
    assert sum(q.values()) == 1_000_000
    assert q == {"general": 500_000, "math": 250_000, "code": 170_000, "multilingual": 80_000}
    assert plan["notes"] == []


def test_short_domain_is_upsampled_to_the_cap_and_the_rest_shared_in_proportion():
    eligible = {"general": 10_000_000, "math": 10_000_000, "code": 10_000_000, "multilingual": 10_000}
    plan = allocate(W, 1_000_000, eligible, 4)
    d = plan["domains"]
    assert d["multilingual"]["quota"] == 40_000 and d["multilingual"]["short"]
    assert d["multilingual"]["epochs"] == pytest.approx(4.0)
    rest = 1_000_000 - 40_000
    for k in ("general", "math", "code"):
        assert d[k]["quota"] == pytest.approx(rest * W[k] / 0.92, abs=1)
    assert sum(v["quota"] for v in d.values()) == 1_000_000
    assert "80,000" in plan["notes"][0] and "40,000" in plan["notes"][0]


def test_cascading_short_domains():
    eligible = {"general": 10_000_000, "math": 100_000, "code": 10_000_000, "multilingual": 10_000}
    plan = allocate(W, 1_000_000, eligible, 2)
    d = plan["domains"]
    assert d["math"]["quota"] == 200_000 and d["multilingual"]["quota"] == 20_000
    assert d["general"]["quota"] / d["code"]["quota"] == pytest.approx(0.5 / 0.17, rel=1e-4)
    assert len(plan["notes"]) == 2


def test_budget_beyond_data_and_cap_is_an_error_with_numbers():
    with pytest.raises(config.MixError, match=r"TOKENS=1,000,000 .* at most 400,000"):
        allocate(W, 1_000_000, {d: 25_000 for d in W}, 4)


def test_prefix_plan_whole_passes_then_boundary_bucket():
    hist = np.array([10, 0, 30, 20, 40])  # 100 tokens in all
    assert select.prefix_plan(hist, 35) == {"passes": 0, "cut": 2, "need": 25, "pass_tokens": 100}
    assert select.prefix_plan(hist, 250) == {"passes": 2, "cut": 3, "need": 10, "pass_tokens": 100}
    assert select.prefix_plan(hist, 300)["cut"] == -1
    assert select.take_prefix([(9, "c", 5), (3, "a", 10), (5, "b", 10)], 12) == ["a", "b"]
    assert select.take_prefix([(9, "c", 5), (3, "a", 10)], 10) == ["a"]
    assert select.copies({"passes": 2, "cut": 2}, 1, False) == 3
    assert select.copies({"passes": 2, "cut": 2}, 2, False) == 2
    assert select.copies({"passes": 2, "cut": 2}, 2, True) == 3
    assert select.copies({"passes": 2, "cut": -1}, 0, False) == 2


def test_val_range_and_source_cap_from_histograms():
    hist = np.array([5, 5, 5, 5, 10])
    assert select.val_cut(hist, 12) == 3  # buckets 3..4 hold 15 >= 12
    assert select.val_cut(hist, 0) == 5
    assert select.source_cap_cut(hist, 12) == 2  # 10 tokens <= 12, a third bucket would exceed it
    assert select.source_cap_cut(hist, 100) == 5


def test_plan_selection_caps_a_dominant_source():
    nb = 8
    big = np.zeros((4, nb), dtype=np.int64)
    big[0], big[1] = 100, 1
    small = np.zeros((4, nb), dtype=np.int64)
    small[0], small[1] = 10, 1
    hists = {("general", "big"): big, ("general", "small"): small}
    pool = np.zeros((2, nb), dtype=np.int64)
    pool[0] = [110] * 4 + [10] * 4  # the pool's tokens by their own bucket: big's first 4, all of small
    plan = select.plan_selection(hists, {("general", ""): pool}, {"general": 1.0}, 300, 4, 0.5, 0,
                                 {"general": 1.0}, 0, 10**9, nb)
    g = plan["domains"]["general"]
    assert g["source_cuts"] == {"big": 4, "small": 8}  # 880 tokens in all: big may give 440 at most
    assert g["source_cap_removed"] == {"documents": 4, "tokens": 400}
    assert g["eligible_tokens"] == 480
    assert g["train"] | {"passes": 0, "cut": 2, "need": 80} == g["train"]  # 300 = 110 + 110 + 80
    pool[0, 7] += 1  # pool histograms that disagree with the document histograms are a bug, not data
    with pytest.raises(RuntimeError, match="pool histograms"):
        select.plan_selection(hists, {("general", ""): pool}, {"general": 1.0}, 300, 4, 0.5, 0,
                              {"general": 1.0}, 0, 10**9, nb)


def test_hash_order_is_seeded_and_buckets_keep_it():
    ids = [f"doc-{i}" for i in range(2000)]
    h0, h1 = order.doc_hashes(0, ids), order.doc_hashes(1, ids)
    assert (h0 == order.doc_hashes(0, ids)).all() and not (h0 == h1).all()
    b = order.buckets(h0)
    assert b.min() >= 0 and b.max() < order.N_BUCKETS
    srt = np.argsort(h0)
    assert (np.diff(b[srt]) >= 0).all()


def test_shard_pack_and_read_back(tmp_path):
    docs = [np.array([1, 7, 8, 2]), np.array([1, 2]), np.array([1, 300, 301, 302, 2])]
    data, idx, info = shards.pack(docs, "uint16")
    assert info["tokens"] == 11 and info["documents"] == 3 and info["bytes"] == 22
    (tmp_path / "00000.bin").write_bytes(data)
    (tmp_path / "00000.idx.npy").write_bytes(idx)
    tokens, offsets = shards.read_shard(str(tmp_path / "00000.bin"), "uint16")
    assert offsets.dtype == np.int64 and offsets.tolist() == [0, 4, 6]
    assert tokens.tolist() == [1, 7, 8, 2, 1, 2, 1, 300, 301, 302, 2]
    assert np.frombuffer(data, dtype="<u2")[7] == 300
    np.save(tmp_path / "00000.idx.npy", np.array([0, 3, 6], dtype=np.int64))  # 3 is not a <|bos|>
    with pytest.raises(ValueError, match="bos"):
        shards.read_shard(str(tmp_path / "00000.bin"), "uint16")


def test_tokenizer_specials_and_framing():
    texts = [f"the quick brown fox {i} jumps over the lazy dog" for i in range(200)]
    tok = tokenizer.train_tokenizer(texts, vocab_size=300)
    assert [tok.token_to_id(s) for s in tokenizer.SPECIALS] == [0, 1, 2]
    assert tok.get_vocab_size() <= 300
    enc = tokenizer.encode_docs(tok, ["the fox", "é ☃"], "uint16")
    assert all(e[0] == 1 and e[-1] == 2 and e.dtype == np.dtype("<u2") for e in enc)
    assert tok.decode(enc[1][1:-1].tolist()) == "é ☃"
    assert tokenizer.dtype_for(16_384) == "uint16" and tokenizer.dtype_for(100_000) == "uint32"
