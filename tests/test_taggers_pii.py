"""PII detection, counts and masking (taggers.pii): precise patterns, tricky negatives."""
import pytest

import taggers
from taggers import pii


def kinds(text):
    return [(text[s:e], k) for s, e, k in pii.spans(text)]


@pytest.mark.parametrize("text, found", [
    ("Write to jane.doe+news@example.co.uk today.", [("jane.doe+news@example.co.uk", "email")]),
    ("mail me: a@b.io", [("a@b.io", "email")]),
    ("Server 192.168.1.20 is down.", [("192.168.1.20", "ip")]),
    ("The gateway is 10.0.0.1.", [("10.0.0.1", "ip")]),
    ("Use 2001:db8:85a3::8a2e:370:7334 or fe80::1:2:3.",
     [("2001:db8:85a3::8a2e:370:7334", "ip"), ("fe80::1:2:3", "ip")]),
    ("mapped ::ffff:10.0.0.1 here", [("::ffff:10.0.0.1", "ip")]),
    ("Call +44 20 7946 0958 now", [("+44 20 7946 0958", "phone")]),
    ("Call (555) 123-4567.", [("(555) 123-4567", "phone")]),
    ("tel. 555-123-4567 or 555.123.4567", [("555-123-4567", "phone"), ("555.123.4567", "phone")]),
    ("+1-202-555-0143", [("+1-202-555-0143", "phone")]),
    ("London office: 020 7946 0958", [("020 7946 0958", "phone")]),
])
def test_positives(text, found):
    assert kinds(text) == found


@pytest.mark.parametrize("text", [
    "version 1.2.3.4 released", "v10.0.0.1", "Python 3.11.7 and OID 1.2.3.4.5",
    "on 2024-01-15 at 12:30:45", "years 2019 2020 2021 2022", "icon@2x.png", "logo@3x.jpg",
    "std::vector<int> and a::b", "MAC 00:1a:2b:3c:4d:5e", "pi is 3.14159", "ISBN 978-3-16-148410-0",
    "call 5551234", "256.1.1.1 is not an address", "$1,234,567.89", "@user said hi",
    "555-123.4567 mixes separators", "x = 999.999.999.999", "user@localhost",
    "range(10, 20) + 1234567890", "see RFC 2616 section 14.9.3",
])
def test_tricky_negatives(text):
    assert pii.spans(text) == []


def test_counts_and_masking():
    text = "Mail bob@example.org or ring +33 1 23 45 67 89; host 8.8.8.8 and 8.8.4.4."
    assert pii.count_batch([text, "nothing here"]) == [
        {"pii_email_count": 1.0, "pii_ip_count": 2.0, "pii_phone_count": 1.0},
        {"pii_email_count": 0.0, "pii_ip_count": 0.0, "pii_phone_count": 0.0}]
    assert pii.mask(text) == ("Mail <EMAIL> or ring <PHONE_NUMBER>; host <IP_ADDRESS> and "
                              "<IP_ADDRESS>.")
    assert pii.mask("nothing here") == "nothing here"
    assert pii.mask(text, {"email": "[e]", "ip": "[i]", "phone": "[p]"}) == (
        "Mail [e] or ring [p]; host [i] and [i].")


def test_tag_batch_counts_pii_and_masks_only_when_asked():
    models = taggers.load_models()
    texts = ["Contact alice@example.com or 192.168.0.1 for access.", "No personal data at all."]
    cols = taggers.tag_batch(texts, models)
    assert "masked_text" not in cols                       # off by default
    assert cols["quality_signals"][0]["pii_email_count"] == 1.0
    assert cols["quality_signals"][0]["pii_ip_count"] == 1.0
    assert cols["quality_signals"][1]["pii_email_count"] == 0.0
    masked = taggers.tag_batch(texts, models, mask_pii=True)["masked_text"]
    assert masked == ["Contact <EMAIL> or <IP_ADDRESS> for access.", texts[1]]


# Texts at the edges of the fast paths of `spans` (e-mail pre-check, numeric pre-scans).
ADVERSARIAL = [
    "", "@", "a@", "@b", "a@b.co", "a_@b.io", "a%@b.io", "a-@b.io", "a+@9b.io", "x@y.com@z.org",
    "a@b.cd@example.com", "a @b.io", "é@b.io",
    "1.2.3.4", "1.2.3.4 and 5.6.7.8", "2001:db8::1:2", "::ffff:10.0.0.1", "+44 20 7946 0958",
    "(555) 123-4567 first", "last 555-123-4567", "5551234567", "020 7946 0958",
    "\x00+44 20 7946 0958\x00", "a\x001.2.3.4\x00b", "\n555.123.4567\n", "\x1f(555) 123-4567\x1f",
    "٠١٢٣٤٥٦٧٨٩", "+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨", "+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨ ref 1234", "tel ٥٥٥-١٢٣-٤٥٦٧ 12",
    "０１２-３４５-６７８９ 1234", "+４４ ２０ ７９４６ ０９５８ and 99", "𝟏𝟐𝟑-𝟒𝟓𝟔-𝟕𝟖𝟗𝟎 1234",
    "555-123-😀4567 1234", "+44 20 😀 7946 0958", "12345😀 +44 20 7946 0958", "😀1.2.3.4😀",
    "(1) (2) (3) 4", "((((((1 23", "+ - . 1 2 3 4",
    "9.9.9.9 é ١٢٣ (555) 123-4567 😀 +1 202 555 0143",
    "ip 10.0.0.1, mail a.b@c.org; ☎ +33 1 23 45 67 89 / 𝟗𝟗𝟗.𝟏.𝟏.𝟏",
]


def _reference_spans(text, monkeypatch):
    """`spans` with its fast paths off: every "@" scanned, the exact numeric pre-scan."""
    class Everything:
        def __contains__(self, ch):
            return True
    with monkeypatch.context() as m:
        m.setattr(pii, "_LOCAL_END", Everything())
        m.setattr(pii, "_DOMAIN_START", Everything())
        m.setattr(pii, "_numeric_candidates", lambda t: list(pii._NUMERIC_PRE.finditer(t)))
        return pii.spans(text)


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_fast_paths_find_the_same_spans(text, monkeypatch):
    assert pii.spans(text) == _reference_spans(text, monkeypatch)
    assert ([m.span() for m in pii._numeric_candidates(text)]
            == [m.span() for m in pii._NUMERIC_PRE.finditer(text)])


def test_numeric_prescan_is_exact_on_every_code_point():
    # every BMP code point, and astral digits/non-digits, as the last and an inner character
    astral = [0x1D7CE, 0x1D7FF, 0x104A0, 0x1F600, 0x10000, 0x10FFFF]
    chars = [chr(c) for c in [*range(0x10000), *astral]]
    text = "".join(f"x+12345{c}x(1{c}2 3 4)" for c in chars)
    assert ([m.span() for m in pii._numeric_candidates(text)]
            == [m.span() for m in pii._NUMERIC_PRE.finditer(text)])


def test_non_ascii_digits_need_four_ascii_digits():
    assert pii.spans("+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨") == []                 # fewer than 4 ASCII digits
    assert pii.spans("+٤٤ ٢٠ ٧٩٤٦ ٠٩٥8") == []
    assert [k for *_, k in pii.spans("+٤٤ ٢٠ 7946 ٠٩٥٨")] == ["phone"]
    assert [k for *_, k in pii.spans("+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨ ref 1234")] == ["phone"]


def test_batches_equal_per_text_spans_and_never_join_texts():
    texts = ADVERSARIAL + ["call 555-123", "-4567 now", "+44 20", " 7946 0958", "1.2.3", ".4",
                           "a@", "b.io", "2001:db8:", ":1:2"]
    per_text = [pii.spans(t) for t in texts]
    assert pii.count_batch(texts) == [
        {"pii_email_count": float(sum(k == "email" for *_, k in s)),
         "pii_ip_count": float(sum(k == "ip" for *_, k in s)),
         "pii_phone_count": float(sum(k == "phone" for *_, k in s))} for s in per_text]
    masked = []
    for t, s in zip(texts, per_text):
        for a, b, k in reversed(s):
            t = t[:a] + pii.MASKS[k] + t[b:]
        masked.append(t)
    assert pii.mask_batch(texts) == masked
    assert all(c == dict.fromkeys(pii.PII_SIGNAL_NAMES, 0.0)
               for c in pii.count_batch(texts[len(ADVERSARIAL):]))
