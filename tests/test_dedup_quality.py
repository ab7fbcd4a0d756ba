"""Dedup quality bench: the seeded edits do what they say, the labelled sets have the promised
structure, the pairwise metrics and ARI are right on hand-computed clusterings, and our dedup
without Beam (the bench's sweep path) gives the Beam stages' clusters."""
import random

import pytest
from sklearn.metrics import adjusted_rand_score

from corpus import neardup as nd
from pipeline import bench_dedup_quality as bq

TEXT = ("The river rose in the night and the town woke to water in the streets.\n"
        "Boats were tied to lamp posts while the council met in the school hall.\n\n"
        "By noon the rain had stopped, and volunteers carried sandbags to the old bridge.\n\n"
        "Nobody was hurt, the mayor said, but the museum lost its ground floor archive.")
VOCAB = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


def _words(text):
    return text.lower().split()


def _is_subsequence(small, big):
    it = iter(big)
    return all(w in it for w in small)


def test_substitute_changes_exactly_the_promised_number_of_words():
    out = nd.substitute_words(TEXT, random.Random(1), 0.2, VOCAB)
    a, b = _words(TEXT), _words(out)
    assert len(a) == len(b)
    assert sum(x != y for x, y in zip(a, b)) == round(0.2 * len(a))
    assert out.count("\n") == TEXT.count("\n")  # layout kept
    assert out == nd.substitute_words(TEXT, random.Random(1), 0.2, VOCAB)  # seeded
    assert out != nd.substitute_words(TEXT, random.Random(2), 0.2, VOCAB)


def test_insert_and_delete_add_and_remove_exactly_k_words_keeping_the_rest_in_order():
    n = len(_words(TEXT))
    ins = nd.insert_words(TEXT, random.Random(3), 0.1, VOCAB)
    assert len(_words(ins)) == n + round(0.1 * n)
    assert _is_subsequence(_words(TEXT), _words(ins))
    assert not ins.endswith(" ")
    dele = nd.delete_words(TEXT, random.Random(3), 0.1)
    assert len(_words(dele)) == n - round(0.1 * n)
    assert _is_subsequence(_words(dele), _words(TEXT))
    assert dele.count("\n\n") == TEXT.count("\n\n")  # paragraph breaks survive deleted words


def test_truncate_keeps_a_word_prefix():
    out = nd.truncate(TEXT, 0.5)
    n = len(_words(TEXT))
    assert _words(out) == _words(TEXT)[:-(-n // 2)]
    assert TEXT.startswith(out)
    assert nd.truncate(TEXT, 0.0) == "The"


def test_reorder_paragraphs_permutes_paragraphs_only():
    out = nd.reorder_paragraphs(TEXT, random.Random(0))
    assert sorted(nd.paragraphs(out)) == sorted(nd.paragraphs(TEXT))
    assert nd.paragraphs(out) != nd.paragraphs(TEXT)
    assert nd.reorder_paragraphs("one paragraph only", random.Random(0)) == "one paragraph only"


def test_boilerplate_wraps_and_whitespace_case_changes_keep_the_words():
    out = nd.add_boilerplate(TEXT, "Site header", "Site footer")
    assert out == "Site header\n\n" + TEXT + "\n\nSite footer"
    assert nd.add_boilerplate(TEXT, "", "") == TEXT
    ws = nd.change_whitespace_and_case(TEXT, random.Random(5), 0.5)
    assert ws != TEXT and _words(ws) == _words(TEXT)


def test_licence_header_is_a_comment_block_in_the_source_syntax():
    py = nd.licence_header("python_stdlib", 2020)
    go = nd.licence_header("go_src", 2020)
    assert all(line.startswith("# ") for line in py.split("\n"))
    assert all(line.startswith("// ") for line in go.split("\n"))
    assert "2020" in py and len(py.split()) > 150


def test_source_halves_are_disjoint_cover_everything_and_hold_every_domain():
    sources = [f"{d}/s{i}" for d in ("code", "general", "math") for i in range(4)] + ["multilingual/x", "multilingual/y"]
    dev, test = nd.split_sources(sources, seed=0)
    assert set(dev) | set(test) == set(sources) and not set(dev) & set(test)
    assert {s.split("/")[0] for s in dev} == {s.split("/")[0] for s in test} == {"code", "general", "math", "multilingual"}
    assert (dev, test) == nd.split_sources(list(reversed(sources)), seed=0)


def _docs(n_sources=2, per_source=12, seed=0):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)]
    out = {}
    for s in range(n_sources):
        out[f"general/src{s}"] = ["\n\n".join(" ".join(rng.choice(vocab) for _ in range(60)) for _ in range(3))
                                  for _ in range(per_source)]
    return out


def test_distinct_documents_drops_a_near_copy_of_an_earlier_text():
    texts = _docs(1, 3)["general/src0"]
    texts.append(texts[1] + " one more word")
    assert nd.distinct_documents(texts) == [0, 1, 2]


@pytest.mark.parametrize("kind", nd.KINDS)
def test_set_builder_gives_clusters_of_one_original_plus_variants_and_singletons(kind):
    docs = _docs()
    got = nd.build_set(kind, docs, seed=7, clusters=4, singletons=5)
    assert got == nd.build_set(kind, docs, seed=7, clusters=4, singletons=5)  # seeded
    assert got != nd.build_set(kind, docs, seed=8, clusters=4, singletons=5)
    by_cluster = {}
    for d in got:
        by_cluster.setdefault(d["cluster"], []).append(d)
    roles = sorted(sorted(x["role"] for x in members) for members in by_cluster.values())
    assert sum(r == ["singleton"] for r in roles) == 5
    clusters = [r for r in roles if r != ["singleton"]]
    assert len(clusters) == 4
    for r in clusters:
        assert r[0] == "original" and 2 <= len(r) <= 1 + nd.RECIPES[kind].max_variants
        assert set(r[1:]) == {"variant"}
    assert len({d["id"] for d in got}) == len(got) and all(d["id"].startswith("d") for d in got)
    for members in by_cluster.values():
        original = next(d for d in members if d["role"] in ("original", "singleton"))
        assert all(d["text"] != original["text"] for d in members if d["role"] == "variant")
    if kind == "code":  # hard negatives: every file under the one licence text
        assert all("Harbour Permissive Licence" in d["text"].split("\n")[1] for d in got)
    if kind == "boilerplate":
        assert all("cookie" in d["text"] for d in got)


def test_set_builder_says_when_documents_run_out():
    with pytest.raises(ValueError, match="distinct documents"):
        nd.build_set("web", _docs(1, 3), seed=0, clusters=3, singletons=3)
    with pytest.raises(ValueError, match="set kind"):
        nd.build_set("poetry", _docs(), seed=0, clusters=1, singletons=1)


def test_pairwise_scores_on_a_hand_computed_clustering():
    truth = [0, 0, 0, 1, 1, 2]
    pred = [0, 0, 1, 1, 1, 2]
    # true pairs {01, 02, 12, 34}; predicted {01, 23, 24, 34}; shared {01, 34}
    s = bq.pairwise_scores(truth, pred)
    assert (s["true_pairs"], s["predicted_pairs"]) == (4, 4)
    assert s["precision"] == pytest.approx(0.5) and s["recall"] == pytest.approx(0.5)
    assert s["f1"] == pytest.approx(0.5)
    # ARI: sum C(n_ij, 2) = 2, sum C(a_i, 2) = sum C(b_j, 2) = 4, C(6, 2) = 15 -> (2 - 16/15) / (4 - 16/15)
    assert s["ari"] == pytest.approx(7 / 22)
    assert s["ari"] == pytest.approx(adjusted_rand_score(truth, pred))


def test_pairwise_scores_edge_cases():
    assert bq.pairwise_scores([0, 1, 2], [5, 6, 7])["f1"] == 1.0  # no pairs anywhere
    merged = bq.pairwise_scores([0, 1, 2], [9, 9, 9])
    assert (merged["precision"], merged["recall"], merged["f1"]) == (0.0, 1.0, 0.0)
    missed = bq.pairwise_scores([0, 0, 1], [0, 1, 2])
    assert (missed["precision"], missed["recall"], missed["f1"]) == (1.0, 0.0, 0.0)
    assert bq.same_partition([1, 1, 2], ["a", "a", "b"]) and not bq.same_partition([1, 1, 2], [1, 2, 2])


def _hard_set():
    """Documents sharing a long header (hard negatives) and lightly edited copies."""
    rng = random.Random(4)
    vocab = [f"w{i}" for i in range(4000)]
    header = " ".join(rng.choice(vocab) for _ in range(150))
    docs = []
    for c in range(25):
        body = " ".join(rng.choice(vocab) for _ in range(80 + 10 * c))
        docs.append({"id": f"d{c:03d}a", "text": header + "\n\n" + body, "cluster": c, "source": "s"})
        if c % 2:
            edited = nd.substitute_words(body, rng, 0.03, vocab)
            docs.append({"id": f"d{c:03d}b", "text": header + "\n\n" + edited, "cluster": c, "source": "s"})
    docs.append({"id": "d999x", "text": docs[0]["text"], "cluster": 0, "source": "s"})  # an exact copy
    return docs


def test_pure_path_gives_the_beam_stages_clusters_with_and_without_the_check_and_line_filter():
    docs = _hard_set()
    for config in (bq.make_config(2, 0.3, 0.6), bq.make_config(5, 0.5, None),
                   bq.make_config(3, 0.3, 0.3, "unrepeated")):
        pure, info = bq.our_clusters(docs, config)
        assert bq.same_partition(pure, bq.beam_clusters(docs, config))
    truth = [d["cluster"] for d in docs]
    checked, info = bq.our_clusters(docs, bq.make_config(2, 0.3, 0.6))
    assert info["rejected_pairs"] > 0  # the shared header made candidates the check threw out
    assert bq.pairwise_scores(truth, checked)["f1"] == 1.0
    loose, _ = bq.our_clusters(docs, bq.make_config(2, 0.3, None))
    assert bq.pairwise_scores(truth, loose)["precision"] < 0.5


def test_baseline_sweep_covers_the_grid_and_finds_the_planted_pairs():
    docs = _hard_set()
    truth = [d["cluster"] for d in docs]
    got = bq.baseline_sweep(docs, 128)
    assert sorted(got) == sorted(f"shingle={n} threshold={t}" for n in bq.BASELINE_SHINGLES
                                 for t in bq.BASELINE_THRESHOLDS)
    assert bq.pairwise_scores(truth, got["shingle=5 threshold=0.9"])["precision"] == 1.0
    assert bq.pairwise_scores(truth, got["shingle=2 threshold=0.5"])["precision"] < 0.5


def test_unrepeated_signature_lines_in_the_pure_path_ignore_the_shared_header():
    docs = _hard_set()  # the 150-word header is one line held by all 38 documents
    truth = [d["cluster"] for d in docs]
    loose_all, _ = bq.our_clusters(docs, bq.make_config(3, 0.3, None, "all"))
    loose_unrepeated, _ = bq.our_clusters(docs, bq.make_config(3, 0.3, None, "unrepeated"))
    assert bq.pairwise_scores(truth, loose_all)["precision"] < 0.5
    assert bq.pairwise_scores(truth, loose_unrepeated)["f1"] == 1.0
    engine = bq.OurDedup(docs)
    texts = engine.signature_texts(bq.make_config(3, 0.3, None, "unrepeated"))
    assert all(d["text"].endswith(t) and len(t) < len(d["text"]) for d, t in zip(docs, texts))
