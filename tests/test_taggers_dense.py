"""Dense copies of the quantised fastText models (taggers.fasttext_dense): the same predictions.

Runs against the committed models and lid.176; the texts are this repository's own files and the
Python standard library's modules (real prose, code and markup), so nothing is read from data/."""
import glob
import os
import shutil
import sysconfig

import fasttext
import numpy as np
import pytest

import taggers
from taggers import fasttext_dense
from taggers.langid import lid_model_path
from taggers.normalise import normalise_text
from taggers.topic import topic_inputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = {"lid": lid_model_path(), **{k: os.path.join(taggers.MODEL_DIR, n) for k, n in
                                       (("topic", taggers.TOPIC_MODEL),
                                        ("code_language", taggers.CODE_LANGUAGE_MODEL),
                                        ("quality", taggers.QUALITY_MODEL))}}


def _real_texts() -> list[str]:
    paths = sorted(glob.glob(os.path.join(ROOT, "**", "*.py"), recursive=True)
                   + [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "Makefile")])
    paths = [p for p in paths if "/.venv/" not in p]
    paths += sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))[:150]
    texts = []
    for p in paths:
        with open(p, encoding="utf-8", errors="replace") as f:
            text = f.read()
        # whole files and their paragraphs: long and short inputs
        texts.append(text)
        texts += [para for para in text.split("\n\n") if len(para) > 40][:20]
    return [normalise_text(t) for t in texts]


@pytest.fixture(scope="module")
def texts():
    return _real_texts()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_dense_model_predicts_exactly_what_the_quantised_model_predicts(name, texts):
    path = SHIPPED[name]
    quantised = fasttext.load_model(path)
    dense = fasttext_dense.densify(fasttext.load_model(path), path)
    inputs = ([t.replace("\n", " ") for t in texts] if name == "lid" else topic_inputs(texts))
    assert len(inputs) > 1000
    q_labels, q_probs = quantised.predict(inputs, k=3, threshold=0.0)
    d_labels, d_probs = dense.predict(inputs, k=3, threshold=0.0)
    assert d_labels == q_labels
    np.testing.assert_allclose(np.concatenate(d_probs), np.concatenate(q_probs), rtol=0, atol=1e-6)


def test_dense_input_matrix_rows_are_the_rows_fasttext_decodes():
    path = SHIPPED["topic"]
    model = fasttext.load_model(path)
    matrix, output = fasttext_dense.dense_matrices(path)
    assert matrix.shape[1] == model.get_dimension() == output.shape[1]
    assert output.shape[0] == len(model.get_labels())
    for row in (0, 1, len(model.get_words()), matrix.shape[0] // 2, matrix.shape[0] - 1):
        np.testing.assert_array_equal(matrix[row], model.get_input_vector(row))


def test_load_models_serves_dense_models():
    models = taggers.load_models()
    for key, model in (("lid", models.lid), ("topic", models.topic),
                       ("code_language", models.code_language), ("quality", models.quality_model)):
        assert not model.f.isQuant()
        np.testing.assert_array_equal(model.get_input_matrix(),
                                      fasttext_dense.dense_matrices(SHIPPED[key])[0])


def test_a_file_this_reader_does_not_know_leaves_the_model_quantised(tmp_path):
    path = SHIPPED["quality"]
    padded = tmp_path / "padded.ftz"
    shutil.copy(path, padded)
    with open(padded, "ab") as f:
        f.write(b"\0" * 7)
    with pytest.raises(ValueError, match="bytes left"):
        fasttext_dense.dense_matrices(str(padded))
    truncated = tmp_path / "truncated.ftz"
    truncated.write_bytes(open(path, "rb").read()[:5000])
    with pytest.raises(ValueError):
        fasttext_dense.dense_matrices(str(truncated))
    not_fasttext = tmp_path / "other.ftz"
    not_fasttext.write_bytes(b"PK\x03\x04" + b"\0" * 200)
    with pytest.raises(ValueError, match="not a fastText model"):
        fasttext_dense.dense_matrices(str(not_fasttext))
    messages = []
    model = fasttext_dense.densify(fasttext.load_model(path), str(padded), log=messages.append)
    assert messages and "stays quantised" in messages[0]
    assert model.predict("a plain sentence of english prose", k=1)[0][0] in ("__label__hq",
                                                                             "__label__lq")
