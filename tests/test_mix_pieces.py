"""Long documents become pieces: at most N tokens each, cut after a line feed when one lies near the
even cut, together exactly the document, each framed `<|bos|> ... <|eos|>`; documents that fit stay
whole."""
import numpy as np
import pytest

from mixtures import pieces, tokenizer

NL = np.zeros(50, dtype=bool)
NL[7] = True  # token 7 stands for a line feed


def framed(ids):
    return np.array([tokenizer.BOS_ID, *ids, tokenizer.EOS_ID], dtype=np.uint16)


def test_a_document_that_fits_stays_whole():
    doc = framed(range(10, 30))
    assert pieces.split(doc, 20, NL)[0] is doc and len(pieces.split(doc, 20, NL)) == 1
    assert len(pieces.split(doc, 0, NL)) == 1  # 0 = never split


@pytest.mark.parametrize("length, max_tokens", [(21, 20), (100, 20), (1000, 64), (5000, 333)])
def test_pieces_stay_within_the_limit_and_rebuild_the_document(length, max_tokens):
    rng = np.random.default_rng(length)
    ids = rng.integers(10, 50, size=length)
    ids[rng.random(length) < 0.1] = 7
    ps = pieces.split(framed(ids), max_tokens, NL)
    assert len(ps) >= 2
    assert all(p[0] == tokenizer.BOS_ID and p[-1] == tokenizer.EOS_ID for p in ps)
    inner = [p[1:-1] for p in ps]
    assert max(len(x) for x in inner) <= max_tokens
    assert np.array_equal(np.concatenate(inner), ids)
    # near-equal: no piece under half the mean (no stub at the end)
    assert min(len(x) for x in inner) >= 0.5 * length / len(ps)


def test_cuts_follow_line_ends_when_there_are_some():
    ids = np.tile(np.array([11, 12, 13, 14, 15, 16, 7]), 60)  # a line feed every 7 tokens
    ps = pieces.split(framed(ids), 64, NL)
    assert all(p[-2] == 7 for p in ps)  # every piece ends its last line
    no_lines = np.full(420, 11)
    assert [len(p) - 2 for p in pieces.split(framed(no_lines), 64, NL)] == [46, 47, 47, 46, 47, 47, 46, 47, 47]


def test_line_feed_tokens_are_read_from_the_tokenizer():
    texts = [f"line {i}\nnext line {i}\n\tindented {i}\n\n" for i in range(300)]
    tok = tokenizer.train_tokenizer(texts, vocab_size=300)
    mask = pieces.newline_tokens(tok)
    assert mask.shape == (tok.get_vocab_size(),) and not mask[:3].any()  # specials never
    for i in np.flatnonzero(mask):
        assert "\n" in tok.decode([int(i)])
    assert mask[tok.encode("\n", add_special_tokens=False).ids].all()


def test_piece_keys_differ_from_every_readable_id():
    assert pieces.piece_key("doc-1", 0) != pieces.piece_key("doc-1", 1) != "doc-1"
    assert pieces.piece_key("doc-1", 1) != pieces.piece_key("doc-11", 0)
