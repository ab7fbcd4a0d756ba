"""`tag_batch` on text that the caller already normalised tags exactly as on the raw text."""
import taggers
from taggers.normalise import normalise_text


def test_already_normalised_input_skips_the_second_pass_with_identical_tags():
    models = taggers.load_models()
    raw = ["Cafe\u0301 society\r\nmet on Tuesday to discuss the budget of the city library.",
           "def add(a, b):\r\n    return a + b\r\n"]
    plain = taggers.tag_batch(raw, models)
    pre = taggers.tag_batch([normalise_text(t) for t in raw], models, normalised=True)
    assert plain == pre
