"""Signatures (taggers.minhash): bit-identical to datasketch.MinHash 2.0.0, chunked shingling, banding."""
import random

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH

from taggers.minhash import (MinHasher, band_keys, hashfunc_for, jaccard, optimal_bands, shingles,
                             to_lean_minhash)

WORDS = ("the of and to in is was for on that with as by at from this be are or an it not "
         "function return value matrix integral prime river council minister écrit über 数学 "
         "println fn let mut def class import").split()


def _docs(seed=0, n=60):
    rng = random.Random(seed)
    docs = ["", "   \n\t ", "one", "two words", "x" * 3, "Å ß 数学\n" * 3]
    for i in range(n):
        length = rng.choice([1, 4, 5, 6, 30, 300, 3000])
        words = [rng.choice(WORDS) + (str(rng.randrange(50)) if rng.random() < 0.1 else "")
                 for _ in range(length)]
        sep = rng.choice([" ", "\n", "  \t"])
        docs.append(sep.join(words).upper() if i % 7 == 0 else sep.join(words))
    return docs


def _datasketch(text, n, kind, **kw):
    m = MinHash(**kw)
    for part in shingles(text, n, kind):
        m.update_batch(part)
    return m


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("hash_name", ["sha1", "crc32", "poly"])
@pytest.mark.parametrize("kind,n", [("word", 5), ("char", 4)])
def test_signatures_are_bit_identical_to_datasketch(scheme, hash_name, kind, n):
    docs = _docs(seed=len(scheme) + n)
    hasher = MinHasher(num_perm=64, seed=11, n=n, kind=kind, hash_name=hash_name, scheme=scheme)
    sig, counts = hasher.signatures(docs)
    assert sig.shape == (len(docs), 64) and sig.dtype == np.uint32
    for i, text in enumerate(docs):
        ref = _datasketch(text, n, kind, num_perm=64, seed=11, scheme=scheme,
                          hashfunc=hashfunc_for(hash_name))
        assert np.array_equal(ref.hashvalues.astype(np.uint64), sig[i].astype(np.uint64)), i
    assert counts[0] == 0 and counts[1] == 0 and counts[2] == 1


def test_default_is_datasketch_default_scheme_and_hash():
    text = " ".join(_docs(3, 5)[-1:])
    ref = MinHash()  # datasketch 2.0.0 defaults: affine32, sha1_hash32, 128 permutations, seed 1
    for part in shingles(text):
        ref.update_batch(part)
    assert ref.scheme == "affine32"
    assert np.array_equal(MinHasher().signatures([text])[0][0], ref.hashvalues)


def test_giant_documents_are_shingled_in_chunks_with_the_same_result():
    rng = random.Random(5)
    text = " ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(5000))
    parts = list(shingles(text, 5, "word", chunk_tokens=700))
    assert len(parts) > 5 and max(len(p) for p in parts) <= 700
    flat = [s for p in parts for s in p]
    assert flat == next(shingles(text, 5, "word", chunk_tokens=10 ** 9))
    ref = MinHash(num_perm=32, seed=3)
    ref.update_batch(flat)
    assert np.array_equal(MinHasher(num_perm=32, seed=3).signatures([text])[0][0], ref.hashvalues)


def test_poly_hash_is_vectorised_over_chunks_and_matches_datasketch_on_giant_documents(monkeypatch):
    import taggers.minhash as mh
    rng = random.Random(6)
    text = " ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(3000))
    flat = [s for p in shingles(text, 5) for s in p]
    chunks = list(mh.poly_word_shingles(text, 5, chunk_tokens=400))
    assert len(chunks) == 8
    assert np.array_equal(np.concatenate(chunks), mh.hash_shingles(flat, "poly"))
    assert [mh.poly_hash32(s) for s in flat[:50]] == mh.hash_shingles(flat[:50], "poly").tolist()
    monkeypatch.setattr(mh, "CHUNK_TOKENS", 500)  # the giant-document path inside signatures
    docs = [text, "short text", "", text[:900]]
    sig, counts = MinHasher(num_perm=32, hash_name="poly").signatures(docs)
    for i, d in enumerate(docs):
        ref = _datasketch(d, 5, "word", num_perm=32, hashfunc=mh.poly_hash32)
        assert np.array_equal(ref.hashvalues, sig[i])
    assert counts.tolist() == [2996, 1, 0, len(next(shingles(text[:900])))]


def test_batch_result_does_not_depend_on_batch_composition():
    docs = _docs(9, 40)
    hasher = MinHasher(num_perm=32, seed=2)
    whole = hasher.signatures(docs)[0]
    singles = np.vstack([hasher.signatures([d])[0] for d in docs])
    assert np.array_equal(whole, singles)
    assert not np.array_equal(whole, MinHasher(num_perm=32, seed=3).signatures(docs)[0])


def test_lean_minhash_export_works_in_datasketch_lsh():
    docs = _docs(4, 10)[-3:]
    hasher = MinHasher(num_perm=128, seed=1)
    sig = hasher.signatures(docs)[0]
    lean = to_lean_minhash(sig[0])
    assert isinstance(lean, LeanMinHash) and lean.jaccard(_datasketch(docs[0], 5, "word")) == 1.0
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    for i in range(3):
        lsh.insert(str(i), to_lean_minhash(sig[i]))
    assert "0" in lsh.query(to_lean_minhash(sig[0]))


def test_bands_from_threshold_match_datasketch_lsh():
    for t in (0.5, 0.7, 0.8, 0.9):
        b, r = optimal_bands(t, 128)
        assert (b, r) == (MinHashLSH(threshold=t, num_perm=128).b, MinHashLSH(threshold=t, num_perm=128).r)
    with pytest.raises(ValueError):
        optimal_bands(1.5, 128)


def test_band_keys_collide_exactly_when_band_values_equal():
    sig = np.array([[1, 2, 3, 4, 5, 6], [1, 2, 9, 4, 5, 6], [7, 2, 3, 4, 5, 6]], dtype=np.uint32)
    keys = band_keys(sig, 3, 2)
    assert [k[0] == keys[0][0] for k in keys] == [True, True, False]
    assert [k[1] == keys[0][1] for k in keys] == [True, False, True]
    assert [k[2] == keys[0][2] for k in keys] == [True, True, True]
    with pytest.raises(ValueError):
        band_keys(sig, 4, 2)


def test_exact_jaccard_of_shingle_sets():
    h = MinHasher(n=1)
    a, b = h.shingle_hashes("a b c d"), h.shingle_hashes("c d e f")
    assert jaccard(a, b) == pytest.approx(2 / 6) and jaccard(a, a) == 1.0


def test_bad_parameters_fail_clearly():
    for kw in ({"num_perm": 0}, {"scheme": "x"}, {"hash_name": "md5"}, {"kind": "token"}, {"n": 0}):
        with pytest.raises(ValueError):
            MinHasher(**kw)


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_poly_range_hashes_are_the_same_whatever_the_power_table_block(monkeypatch, block):
    """Positions past one block of the power tables are hashed block by block: every range hash,
    also of ranges that cross blocks or start on a block's edge, equals the polynomial's value."""
    import taggers.minhash as mh
    monkeypatch.setattr(mh, "POWER_BLOCK", block)
    rng = np.random.default_rng(block)
    values = rng.integers(0, 256, size=3 * block + 5 if block < 1000 else 400, dtype=np.uint8)
    n = len(values)
    starts = np.array(sorted(rng.integers(0, n + 1, size=200)) + [0, n, min(block, n)], dtype=np.int64)
    ends = np.minimum(starts + rng.integers(0, 3 * min(block, 50) + 1, size=len(starts)), n)
    ends[-3] = n
    got = mh.poly_spans(mh.poly_prefix(values), starts, ends)
    P, mask = mh._P, (1 << 64) - 1
    for s, e, h in zip(starts.tolist(), ends.tolist(), got.tolist()):
        assert h == sum(int(v) * pow(P, j, 1 << 64) for j, v in enumerate(values[s:e].tolist())) & mask
    head = values[:50].tobytes()  # the scalar hash datasketch is given agrees with the vectorised one
    assert mh.poly_hash32(head) == int(mh._poly_segments(head, np.zeros(1, np.int64), np.array([len(head)]))[0])
