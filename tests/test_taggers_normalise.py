"""Normalisation and UTF-8 repair (taggers.normalise): the text every tagger sees."""
import unicodedata

import pytest

from taggers.normalise import char_chunks, decode_utf8, normalise_text, utf8_verdict


def test_valid_utf8_decodes_with_no_replacements():
    assert decode_utf8("héllo wörld €".encode()) == ("héllo wörld €", 0)


def test_each_invalid_sequence_becomes_one_replacement_char_and_is_counted():
    text, n = decode_utf8(b"a\xffb\xfe\xfdc")
    assert text == "a\ufffdb\ufffd\ufffdc" and n == 3
    # a truncated 3-byte sequence (e2 82 of "€") is one maximal invalid subpart: one U+FFFD
    text, n = decode_utf8(b"price: \xe2\x82 only")
    assert text == "price: \ufffd only" and n == 1


def test_a_genuine_replacement_char_in_valid_input_is_not_counted():
    assert decode_utf8("ok \ufffd ok".encode()) == ("ok \ufffd ok", 0)


def test_nfc_composes_decomposed_characters():
    decomposed = "cafe\u0301"  # e + combining acute
    out = normalise_text(decomposed)
    assert out == "caf\u00e9" and unicodedata.is_normalized("NFC", out)


def test_crlf_and_lone_cr_become_lf():
    assert normalise_text("a\r\nb\rc\n\rd") == "a\nb\nc\n\nd"


def test_lone_surrogates_become_replacement_chars():
    import json
    text = json.loads('"x\\ud800y\\udfffz"')  # JSON escapes can produce lone surrogates
    out = normalise_text(text)
    assert out == "x\ufffdy\ufffdz"
    out.encode("utf-8")  # now encodable


def test_control_chars_removed_except_tab_and_newline():
    assert normalise_text("a\x00b\x01c\x07d\te\nf\x0bg\x0ch\x1fi") == "abcd\te\nfghi"


def test_control_chars_are_removed_from_non_ascii_text_and_multibyte_characters_survive():
    import json
    # U+0100..U+011F and U+4E00 hold bytes 0x80-0x9F and 0xB8 in UTF-8, never a byte below 0x20
    text = json.loads('"\\u00e9t\\u00e9\\u0001 \\u0100\\u011f\\u4e00\\u001f|\\ud83d|\\t\\n"')
    assert normalise_text(text) == "\u00e9t\u00e9 \u0100\u011f\u4e00|\ufffd|\t\n"
    plain = "caf\u00e9 \u4e2d\u6587\n\tok"
    assert normalise_text(plain) is plain      # nothing to drop: the same object, no copy


def test_ascii_text_without_controls_is_unchanged():
    s = "Plain text.\n\tIndented line."
    assert normalise_text(s) == s


@pytest.mark.parametrize("n_invalid, n_chars, verdict", [
    (0, 100, "ok"),
    (1, 10, "repaired"),            # a single bad sequence is always repaired
    (5, 10_000, "repaired"),        # 0.0005 <= 0.001
    (10, 10_000, "repaired"),       # exactly at the threshold
    (11, 10_000, "reject"),         # above it
    (9, 30, "reject"),              # mostly garbage
])
def test_utf8_verdict_repairs_rare_and_rejects_frequent_invalid_bytes(n_invalid, n_chars, verdict):
    assert utf8_verdict(n_invalid, n_chars) == verdict


def test_utf8_verdict_thresholds_are_configurable():
    assert utf8_verdict(5, 1000, max_invalid_frac=0.01) == "repaired"
    assert utf8_verdict(2, 1000, max_invalid_frac=0.0, tolerated=1) == "reject"
    assert utf8_verdict(2, 1000, max_invalid_frac=0.0, tolerated=2) == "repaired"


def test_char_chunks_cover_the_batch_in_order_within_the_bound():
    texts = ["a" * n for n in (3, 4, 2, 9, 1, 1, 5)]
    chunks = list(char_chunks(texts, 6))
    assert chunks == [(0, 1), (1, 3), (3, 4), (4, 6), (6, 7)]  # the 9-character text is a chunk of its own
    assert all(sum(map(len, texts[a:b])) <= 6 or b - a == 1 for a, b in chunks)
    assert list(char_chunks([], 6)) == []
