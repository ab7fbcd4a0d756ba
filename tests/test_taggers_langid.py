"""Language ID per paragraph with lid.176 (taggers.langid)."""
import pytest

from taggers import langid


@pytest.fixture(scope="module")
def lid():
    return langid.load_lid()


SAMPLES = {
    "en": "The weather was lovely this morning, so we walked along the river to the old mill.",
    "de": "Das Wetter war heute Morgen herrlich, also sind wir am Fluss entlang zur alten Mühle gegangen.",
    "fr": "Il faisait très beau ce matin, alors nous avons marché le long de la rivière jusqu'au vieux moulin.",
    "ru": "Сегодня утром была прекрасная погода, поэтому мы пошли вдоль реки к старой мельнице.",
    "zh": "今天早上天气很好，所以我们沿着河边散步，一直走到那座古老的磨坊。",
    "es": "Esta mañana hacía un tiempo precioso, así que caminamos junto al río hasta el viejo molino.",
}


def test_one_language_per_document_in_one_batch(lid):
    langs, scores, shares = langid.identify(list(SAMPLES.values()), lid)
    assert langs == list(SAMPLES)
    assert all(s > 0.8 for s in scores)
    assert shares == [1.0] * len(SAMPLES)


def test_lang_share_of_a_mixed_document_counts_letters_per_paragraph(lid):
    de = ["Der Hund läuft jeden Morgen durch den Park und bellt die Tauben an, die auf dem Rasen "
          "sitzen. Danach trinkt er Wasser aus dem Brunnen und kommt müde, aber glücklich nach Hause, "
          "wo schon sein Frühstück wartet.",
          "Am Nachmittag schläft er lange in seinem Korb neben dem warmen Ofen. Wenn es klingelt, "
          "springt er auf, rennt zur Tür und schaut nach, wer uns heute wohl besuchen kommt und ob "
          "der Besuch etwas zu fressen mitbringt.",
          "Abends bekommt er sein Futter und geht dann mit uns noch einmal spazieren, meistens am "
          "Fluss entlang bis zur alten Brücke und über den großen Marktplatz wieder zurück nach Hause "
          "in die warme und gemütliche Stube."]
    en = ("In the evening the dog gets his dinner and then goes for one more walk with us, usually "
          "along the river as far as the old bridge and back again across the market square to our "
          "house, where he falls asleep at once in front of the fire.")
    assert all(len(p) >= langid.MIN_CHUNK_CHARS for p in de + [en])
    doc = "\n\n".join(de[:2] + [en] + de[2:])
    langs, scores, shares = langid.identify([doc], lid)
    n_de = sum(langid.letter_count(p) for p in de)
    n_en = langid.letter_count(en)
    assert langs == ["de"]
    assert shares[0] == pytest.approx(n_de / (n_de + n_en))
    assert 0.6 < shares[0] < 0.9 and scores[0] > 0.8


def test_short_paragraphs_are_judged_together_with_their_neighbours(lid):
    # one-line paragraphs (headings, list items, code) are too little evidence on their own: they are
    # joined with the following ones until the chunk reaches MIN_CHUNK_CHARS
    de = ["Der Hund läuft jeden Morgen durch den Park.", "Er bellt die Tauben an.",
          "Am Nachmittag schläft er lange in seinem Korb.", "Abends geht er spazieren."]
    doc = "\n\n".join(de[:2] + ["Good dog."] + de[2:])
    langs, scores, shares = langid.identify([doc], lid)
    assert langs == ["de"] and shares == [1.0]
    langs, _, shares = langid.identify([doc], lid, min_chunk_chars=0)    # one paragraph per chunk
    assert langs == ["de"] and shares[0] < 1.0


class _Recording:
    """lid.176 that remembers what it was asked to predict."""
    def __init__(self, model):
        self.model, self.items = model, []

    def predict(self, items, **kw):
        self.items += list(items)
        return self.model.predict(items, **kw)


def test_a_long_document_is_read_from_max_chunks_chunks_spread_over_it(lid):
    # 24 German paragraphs then 24 English ones: 16 of the 48 chunks are predicted, evenly spaced,
    # so both halves are seen and the share is estimated from the sample (8 of 16 chunks German)
    de = ("Der Hund läuft jeden Morgen durch den Park und bellt die Tauben an, die auf dem Rasen "
          "sitzen, und danach trinkt er Wasser aus dem Brunnen am Markt, bevor er müde und zufrieden "
          "wieder nach Hause kommt.")
    en = ("The dog runs through the park every morning and barks at the pigeons sitting on the "
          "grass, and afterwards he drinks water from the fountain in the square before he comes "
          "home again, tired but very happy.")
    assert len(de) >= langid.MIN_CHUNK_CHARS and len(en) >= langid.MIN_CHUNK_CHARS
    doc = "\n\n".join([de] * 24 + [en] * 24)
    model = _Recording(lid)
    langs, _, shares = langid.identify([doc], model, max_chunks=16)
    assert len(model.items) == 16
    assert langs[0] in ("de", "en") and shares[0] == pytest.approx(0.5, abs=0.03)
    model = _Recording(lid)
    langid.identify([doc, SAMPLES["fr"]], model, max_chunks=None)   # None: every chunk
    assert len(model.items) == 49
    # a chunk read stands for the skipped ones after it: of 40 paragraphs, 16 read (0, 2, 5, 7, ...),
    # and the English one, 20, also stands for 21, so English holds 2 of the 40 paragraphs' letters
    mixed = "\n\n".join([de] * 20 + [en] + [de] * 19)
    n_de, n_en = langid.letter_count(de), langid.letter_count(en)
    langs, _, shares = langid.identify([mixed], lid, max_chunks=16)
    assert langs == ["de"] and shares[0] == pytest.approx(1 - (n_en + n_de) / (39 * n_de + n_en))


def test_chunk_sample_keeps_short_documents_whole_and_spreads_over_long_ones():
    spans = [(i, i + 1) for i in range(3 + 10)]
    owner = [0] * 3 + [1] * 10
    kept = langid.sampled_spans(spans, owner, 4)
    assert kept[:3] == spans[:3]                            # 3 chunks <= 4: all of them
    assert [a - 3 for a, _ in kept[3:]] == [0, 2, 5, 7]     # floor(i * 10 / 4) for i < 4
    assert langid.sampled_spans(spans, owner, 10) == spans


def test_paragraphs_split_on_blank_lines_only():
    assert langid.paragraphs("a\nb\n\n  \nc\n \t\nd") == ["a\nb", "c", "d"]
    assert langid.paragraphs("\n\n   \n") == []


def test_letter_count_ignores_digits_punctuation_and_spaces():
    assert langid.letter_count("Abc, 123 déf_!") == 6


@pytest.mark.parametrize("text", ["1234 5678 90", "3.14159 + 2.71828 = 5.85987", "   ", "", "#### ---- ****"])
def test_text_without_letters_is_und(lid, text):
    langs, scores, shares = langid.identify([text], lid)
    assert langs == ["und"] and scores == [0.0] and shares == [0.0]


def test_low_confidence_is_und_with_a_configurable_threshold(lid):
    text = SAMPLES["fr"]
    langs, scores, _ = langid.identify([text], lid, min_score=0.0)
    assert langs == ["fr"]
    langs2, scores2, _ = langid.identify([text], lid, min_score=1.01)
    assert langs2 == ["und"] and scores2 == scores  # the top candidate's score is kept


def test_newlines_inside_a_paragraph_are_handled_and_long_paragraphs_truncated(lid):
    long_para = ("Die Katze sitzt auf der Matte.\n" * 500).strip()
    langs, scores, shares = langid.identify([long_para, "Hello there\nmy friend, how are you today?"], lid)
    assert langs[0] == "de" and shares[0] == 1.0
    assert langs[1] == "en"


def test_empty_batch(lid):
    assert langid.identify([], lid) == ([], [], [])


def _top(*pairs):
    """One chunk's lid.176 output: (labels, probabilities) as fastText returns them."""
    return [f"__label__{l}" for l, _ in pairs], [p for _, p in pairs]


def test_confidence_is_the_mass_of_the_top_languages_group_of_close_languages():
    chunks = [_top(("hr", 0.35), ("sr", 0.30), ("bs", 0.20), ("en", 0.05)),
              _top(("de", 0.35), ("nl", 0.30), ("en", 0.20), ("fr", 0.05))]
    labels, probs = zip(*chunks)
    langs, conf = langid.decide(labels, probs)
    assert langs == ["hr", "de"]
    assert conf == pytest.approx([0.85, 0.35])   # German has no close neighbours here: its own mass


def test_danish_loses_to_norwegian_when_both_norwegian_standards_together_weigh_more():
    chunks = [_top(("da", 0.45), ("no", 0.30), ("nn", 0.20), ("sv", 0.02)),
              _top(("da", 0.45), ("nn", 0.30), ("no", 0.20), ("sv", 0.02)),
              _top(("da", 0.60), ("no", 0.30), ("nn", 0.05), ("sv", 0.02))]
    labels, probs = zip(*chunks)
    langs, conf = langid.decide(labels, probs)
    assert langs == ["no", "nn", "da"]
    assert conf == pytest.approx([0.95, 0.95, 0.95])


def test_decide_on_a_chunk_without_labels_is_und():
    assert langid.decide([[]], [[]]) == (["und"], [0.0])


def test_an_all_capitals_paragraph_is_identified(lid):
    # as it is, lid.176 calls this Kannada at 0.09 (under the `und` threshold); lower-cased, English
    text = ("THIS SOFTWARE IS PROVIDED BY THE AUTHORS AS IS AND WITHOUT ANY EXPRESS OR IMPLIED "
            "PROMISES, SO THAT NOBODY WHO WROTE IT CAN BE HELD RESPONSIBLE FOR WHAT HAPPENS WHEN YOU "
            "RUN IT ON YOUR OWN COMPUTER, WHATEVER THE REASON AND WHATEVER THE DAMAGE.")
    langs, scores, _ = langid.identify([text], lid)
    assert langs == ["en"] and scores[0] > langid.MIN_SCORE
