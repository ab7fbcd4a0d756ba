"""Heuristic quality signals, rules and the provisional score (taggers.quality).

Every expected value below was worked out by hand from the definitions in the module docstring."""
import pytest

from taggers.quality import (QUALITY_SIGNAL_NAMES, QualityConfig, applicable_rules, score,
                             signals_of)

GOOD_EN = (
    "The museum reopened on Monday after a long renovation that took almost three years. "
    "Visitors were able to see the restored paintings for the first time, and many of them "
    "said that the new lighting made the colours look brighter than they remembered. "
    "The director thanked the volunteers who had helped to move the collection, and she "
    "promised that the galleries would stay open late on Fridays during the summer.\n\n"
    "Tickets can be booked online, and children under twelve are admitted free of charge."
)

PYTHON = (
    "import os\n\n\ndef list_files(root):\n    out = []\n    for name in os.listdir(root):\n"
    "        path = os.path.join(root, name)\n        if os.path.isfile(path):\n"
    "            out.append(path)\n    return out\n"
)


def sig(text):
    return signals_of(text)


def test_every_document_gets_the_same_float_signals():
    _, _, signals = score(["", "a", GOOD_EN, PYTHON], ["und", "und", "en", "und"],
                          [False, False, False, True])
    for s in signals:
        assert tuple(s) == QUALITY_SIGNAL_NAMES
        assert all(type(v) is float for v in s.values())
    assert len(set(QUALITY_SIGNAL_NAMES)) == len(QUALITY_SIGNAL_NAMES)
    for name in ("dup_5gram_frac", "dup_7gram_frac", "dup_10gram_frac", "top_2gram_frac",
                 "top_3gram_frac", "top_4gram_frac"):
        assert name in QUALITY_SIGNAL_NAMES


def test_word_counts_and_mean_word_length():
    s = sig("aa bbb cccc")          # 3 words, 2+3+4 = 9 characters
    assert s["n_chars"] == 11 and s["n_words"] == 3 and s["mean_word_length"] == 3.0


def test_symbol_to_word_ratio_counts_hashes_and_ellipses():
    s = sig("# a b ... c \u2026 d")   # 7 words; symbols: '#', '...', '…' = 3
    assert s["symbol_to_word_ratio"] == pytest.approx(3 / 7)


def test_digit_and_uppercase_fractions():
    assert sig("ab12")["digit_frac"] == 0.5
    assert sig("ABcd 12")["uppercase_frac"] == 0.5          # of letters: 2 of 4
    assert sig("\u00c4Bcd")["uppercase_frac"] == 0.5          # non-ASCII letters count too
    assert sig("\u0414\u043e\u043c")["uppercase_frac"] == pytest.approx(1 / 3)


def test_alpha_word_frac():
    # abc yes, 123 no, a1 yes, -- no, x_ yes -> 3 of 5
    assert sig("abc 123 a1 -- x_")["alpha_word_frac"] == pytest.approx(3 / 5)


def test_stop_words_are_whole_lowercase_words():
    # "The", "and", "the" count; "Then", "there", "other" do not
    assert sig("The cat and the dog. Then there sat other")["stop_word_count"] == 3


def test_line_shape_fractions():
    assert sig("One.\nTwo\nThree!\n\nFour?")["lines_ending_punct_frac"] == 0.75   # empty line ignored
    assert sig("- a\n* b\n\u2022 c\nd")["bullet_lines_frac"] == 0.75
    assert sig("wait...\nhm\u2026\nok")["ellipsis_lines_frac"] == pytest.approx(2 / 3)
    s = sig("short\n" + "x" * 31 + "\n" + "y" * 30)
    assert s["short_line_frac"] == pytest.approx(2 / 3)   # 5 and 30 chars are short, 31 is not
    assert s["max_line_length"] == 31 and s["mean_line_length"] == pytest.approx(66 / 3)


def test_duplicate_lines_and_paragraphs_by_characters():
    assert sig("abc\nabc\ndefgh")["dup_line_frac"] == pytest.approx(3 / 11)
    assert sig("para one\n\npara one\n\nother")["dup_paragraph_frac"] == pytest.approx(8 / 21)
    assert sig("abc\ndef")["dup_line_frac"] == 0.0


def test_top_ngram_fraction():
    s = sig("a b a b c")    # 2-gram "a b" twice, 2 chars each -> 4 of 5 word characters
    assert s["top_2gram_frac"] == pytest.approx(4 / 5)
    assert s["top_3gram_frac"] == 0.0     # no 3-gram repeats
    assert sig("alpha beta gamma")["top_2gram_frac"] == 0.0


def test_duplicate_ngram_fraction_counts_the_repeated_copy_once():
    s = sig("one two three four five One two three four five")   # case-insensitive
    # the second copy of the 5-gram repeats the first: 3+3+5+4+4 = 19 of 38 characters
    assert s["dup_5gram_frac"] == pytest.approx(0.5)
    assert s["dup_6gram_frac"] == 0.0 and s["dup_10gram_frac"] == 0.0
    # overlapping duplicates: every word after the first 5 is covered by a repeated 5-gram
    words = "a b c d e " * 4
    assert sig(words)["dup_5gram_frac"] == pytest.approx(15 / 20)
    # 10-grams: the one at word 5 repeats the one at word 0 (period 5), covering words 5..19 too
    assert sig(words)["dup_10gram_frac"] == pytest.approx(15 / 20)
    assert sig("a b c d e f g h i j k " + "a b c d e f g h i j")["dup_10gram_frac"] == pytest.approx(10 / 21)


def test_replacement_curly_and_lorem():
    assert sig("ab\ufffd")["replacement_char_frac"] == pytest.approx(1 / 3)
    assert sig("{a}")["curly_bracket_frac"] == pytest.approx(2 / 3)
    assert sig("Lorem Ipsum dolor sit amet")["lorem_ipsum"] == 1.0
    assert sig("lorem and ipsum")["lorem_ipsum"] == 0.0


def test_clean_english_prose_passes_every_rule():
    q, flags, _ = score([GOOD_EN], ["en"], [False])
    assert flags == [[]] and q == [1.0]


def test_repetitive_boilerplate_fails_the_repetition_rules():
    text = "Click here to buy cheap watches now. " * 30
    _, flags, _ = score([text], ["en"], [False])
    assert "gopher_dup_ngram" in flags[0] and "gopher_top_ngram" in flags[0]


def test_short_text_fails_word_count_and_english_specific_rules():
    _, flags, _ = score(["Buy now"], ["en"], [False])
    assert "gopher_word_count" in flags[0] and "gopher_stop_words" in flags[0]
    assert "c4_lines_end_punct" in flags[0]


def test_prose_rules_are_not_applied_to_code():
    q, flags, _ = score([PYTHON], ["und"], [True])
    for rule in ("gopher_stop_words", "c4_lines_end_punct", "gopher_symbol_ratio",
                 "gopher_mean_word_length", "fineweb_short_lines", "gopher_alpha_words"):
        assert rule not in flags[0]
    assert "gopher_stop_words" not in applicable_rules("en", True)
    assert "code_long_lines" in applicable_rules("en", True)


def test_english_only_rules_are_skipped_for_other_languages():
    de = ("Das Museum wurde am Montag nach einer langen Renovierung wieder eröffnet, die fast drei "
          "Jahre gedauert hat. Besucher konnten die restaurierten Gemälde zum ersten Mal sehen, und "
          "viele von ihnen sagten, dass die neue Beleuchtung die Farben heller erscheinen lasse, als "
          "sie es in Erinnerung hatten. Die Direktorin dankte den freiwilligen Helfern herzlich.")
    q, flags, _ = score([de], ["de"], [False])
    assert flags == [[]] and q == [1.0]   # no English stop words, yet nothing flagged
    assert "gopher_stop_words" not in applicable_rules("de", False)
    # word-based rules make no sense where words are not separated by spaces
    assert "gopher_mean_word_length" not in applicable_rules("zh", False)
    assert "gopher_word_count" not in applicable_rules("zh", False)


def test_replacement_chars_and_lorem_ipsum_apply_to_everything():
    _, flags, _ = score([GOOD_EN.replace("museum", "mus\ufffdum"), "lorem ipsum " + PYTHON],
                        ["en", "und"], [False, True])
    assert flags[0] == ["replacement_chars"]
    assert "c4_lorem_ipsum" in flags[1]


def test_code_rules_catch_minified_lines():
    minified = "var a=1;" * 200 + "\n" + " ".join(f"x{i}" for i in range(60))
    _, flags, _ = score([minified], ["und"], [True])
    assert "code_long_lines" in flags[0]


def test_quality_is_one_minus_failed_share_of_applicable_rules_smoothed():
    n_applicable = len(applicable_rules("en", False))
    q, flags, _ = score([GOOD_EN.replace("museum", "mus\ufffdum")], ["en"], [False])
    assert q[0] == pytest.approx(1 - 1 / (n_applicable + 2.0))
    # weights and smoothing are configurable
    cfg = QualityConfig(weights={"replacement_chars": 3.0}, smoothing=0.0)
    q2, _, _ = score([GOOD_EN.replace("museum", "mus\ufffdum")], ["en"], [False], cfg)
    assert q2[0] == pytest.approx(1 - 3 / (n_applicable - 1 + 3.0))


def test_thresholds_are_configurable():
    _, flags, _ = score(["one two three"], ["en"], [False], QualityConfig(min_words=3))
    assert "gopher_word_count" not in flags[0]


def test_score_checks_lengths():
    with pytest.raises(ValueError):
        score(["a", "b"], ["en"], [False, False])
