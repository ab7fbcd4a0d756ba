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
