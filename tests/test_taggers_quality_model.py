"""Model-based quality (taggers.quality_model) and its combination with the heuristics: the score
falls on planted degradations of real text; training, held-out ROC-AUC and the model card."""
import gzip
import json
import os
import random
import shutil

import pytest

import taggers
from taggers import quality_model as qm
from taggers.quality import QUALITY_SIGNAL_NAMES, QualityConfig, score

# Real prose, written for this test (two paragraphs of an ordinary news-style report).
REAL = (
    "The town council met on Tuesday evening to discuss the future of the old railway station, "
    "which has stood empty since the last trains ran more than twenty years ago. Several "
    "residents spoke in favour of turning the building into a library and a small museum, "
    "arguing that the station was part of the history of the valley and that young people "
    "needed a quiet place to study. Others worried about the cost of repairing the roof and "
    "asked whether the money would be better spent on the roads.\n\n"
    "After a long debate, the council agreed to ask an architect to prepare a report on the "
    "state of the building before the end of the year. The mayor said that no decision would "
    "be taken until the report had been published and the residents had been given a chance "
    "to comment on it. A public meeting will be held in the school hall in January, and the "
    "plans will be on display in the town hall during the week before it."
)
REAL_DE = (
    "Der Gemeinderat hat am Dienstagabend über die Zukunft des alten Bahnhofs beraten, der seit "
    "mehr als zwanzig Jahren leer steht. Mehrere Bürgerinnen und Bürger sprachen sich dafür aus, "
    "das Gebäude in eine Bücherei und ein kleines Museum umzuwandeln, weil der Bahnhof zur "
    "Geschichte des Tals gehöre und junge Menschen einen ruhigen Ort zum Lernen bräuchten. "
    "Andere äußerten Bedenken wegen der Kosten für die Reparatur des Daches und fragten, ob das "
    "Geld nicht besser für die Straßen ausgegeben würde. Über die Pläne wird im Januar entschieden."
)


@pytest.fixture(scope="module")
def models():
    return taggers.load_models()


@pytest.mark.parametrize("kind", ["shuffled", "char_noise", "keyword_spam", "boilerplate",
                                  "short_fragment"])
def test_quality_falls_on_planted_degradations_of_real_text(models, kind):
    bad = qm.degrade(REAL, kind, random.Random(7))
    assert bad and bad != REAL
    cols = taggers.tag_batch([REAL, bad], models)
    (q_real, q_bad), (s_real, s_bad) = cols["quality"], cols["quality_signals"]
    assert s_real["model_hq_prob"] > 0.5 > s_bad["model_hq_prob"]
    assert q_bad < q_real - 0.2
    assert "model_low_quality" in cols["quality_flags"][1]
    assert "model_low_quality" not in cols["quality_flags"][0]


def test_mojibake_is_caught(models):
    bad = qm.degrade(REAL_DE, "mojibake", random.Random(1))
    assert "Ã" in bad
    cols = taggers.tag_batch([REAL_DE, bad], models)
    assert cols["quality_signals"][0]["model_hq_prob"] > cols["quality_signals"][1]["model_hq_prob"]
    assert cols["quality"][1] < cols["quality"][0]


def test_degradations_are_deterministic_and_say_when_they_do_not_apply():
    assert qm.degrade(REAL, "shuffled", random.Random(3)) == qm.degrade(REAL, "shuffled", random.Random(3))
    assert sorted(qm.degrade(REAL, "shuffled", random.Random(3)).split()) == sorted(REAL.split())
    assert qm.degrade(REAL, "mojibake", random.Random(0)) is None     # pure ASCII: nothing to garble
    assert qm.degrade("too short", "shuffled", random.Random(0)) is None


def test_model_weight_and_threshold_are_configurable():
    texts = [REAL]
    q0, f0, s0 = score(texts, ["en"], [False], QualityConfig(), model_probs=[0.2])
    q1, f1, _ = score(texts, ["en"], [False], QualityConfig(model_weight=0.0, min_model_hq_prob=0.1),
                      model_probs=[0.2])
    assert "model_low_quality" in f0[0] and "model_low_quality" not in f1[0]
    assert q1[0] == pytest.approx(1.0) and q0[0] == pytest.approx(0.5 * 1.0 + 0.5 * 0.2)
    assert tuple(s0[0]) == QUALITY_SIGNAL_NAMES and s0[0]["model_hq_prob"] == 0.2
    qc, fc, _ = score(["x = 1\n"], ["und"], [True], QualityConfig(), model_probs=[0.0])
    assert "model_low_quality" not in fc[0]                 # code: heuristics only
    one_line = "cheap | deal, buy - " * 20                   # code to a topic model, not in form
    ql, fl, _ = score([one_line], ["en"], [True], QualityConfig(), model_probs=[0.0])
    assert "model_low_quality" in fl[0] and "code_long_lines" in fl[0]
    qk, fk, _ = score([one_line], ["en"], [True], QualityConfig(code_exempt_max_mean_line=1e9),
                      model_probs=[0.0])
    assert "model_low_quality" not in fk[0] and ql[0] < qk[0]
    qn, _, sn = score(texts, ["en"], [False])                # no model: NaN, heuristics only
    assert sn[0]["model_hq_prob"] != sn[0]["model_hq_prob"] and qn[0] == pytest.approx(1.0)


def test_roc_auc():
    assert qm.roc_auc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 1.0
    assert qm.roc_auc([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0]) == 0.0
    assert qm.roc_auc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == 0.5
    assert qm.roc_auc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(0.875)


def test_shipped_model_is_small_and_its_card_reports_heldout_auc(models):
    assert os.path.getsize(models.paths["quality"]) <= 3 * 1024 * 1024
    card = open(os.path.splitext(models.paths["quality"])[0] + ".md", encoding="utf-8").read()
    assert "Held-out ROC-AUC" in card and "python -m taggers train-quality" in card


def _write_source(path, texts):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"{os.path.basename(path)}:{i}", "text": t}) + "\n")


def test_train_holds_out_sources_and_writes_model_and_card(tmp_path):
    rng = random.Random(0)
    sents = [s.strip() + "." for s in REAL.replace("\n", " ").split(".") if s.strip()]
    docs = [" ".join(rng.sample(sents, 5)) for _ in range(80)]
    _write_source(str(tmp_path / "general" / "a.jsonl.gz"), docs[:40])
    _write_source(str(tmp_path / "general" / "b.jsonl.gz"), docs[40:])
    out = str(tmp_path / "models" / "quality.ftz")
    r = qm.train(str(tmp_path), out, seed=0, heldout_sources=("general/b",), log=lambda m: None)
    assert os.path.getsize(out) > 0 and r["heldout"]["n"] > 40
    assert 0.0 <= r["heldout"]["auc"] <= 1.0
    card = open(str(tmp_path / "models" / "quality.md"), encoding="utf-8").read()
    assert "general/b" in card and "held out" in card
    with pytest.raises(SystemExit, match="general/zzz"):
        qm.train(str(tmp_path), out, heldout_sources=("general/zzz",), log=lambda m: None)


def test_missing_or_corrupt_quality_model_is_a_clear_error(tmp_path):
    for name in ("topic.ftz", "code_language.ftz"):
        shutil.copy(os.path.join(taggers.MODEL_DIR, name), tmp_path / name)
    with pytest.raises(FileNotFoundError, match="quality.ftz.*make train-taggers"):
        taggers.load_models(str(tmp_path))
    (tmp_path / "quality.ftz").write_bytes(b"not a fastText model")
    with pytest.raises(ValueError, match="quality.ftz"):
        taggers.load_models(str(tmp_path))
