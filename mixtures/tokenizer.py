"""The mix's tokenizer: Hugging Face `tokenizers` byte-level BPE trained on a sample of kept
documents, specials `<|pad|>`=0, `<|bos|>`=1, `<|eos|>`=2; and batch encoding of documents as
`<|bos|> tokens <|eos|>` arrays in the shard dtype."""
from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIALS = ["<|pad|>", "<|bos|>", "<|eos|>"]
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
DEFAULT_VOCAB = 16_384


def train_tokenizer(texts, vocab_size: int = DEFAULT_VOCAB) -> Tokenizer:
    """Byte-level BPE over an iterable of strings, specials first so their ids are 0, 1, 2."""
    if vocab_size < 256 + len(SPECIALS):
        raise ValueError(f"vocab_size {vocab_size} is below the 256 bytes plus {len(SPECIALS)} specials")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator(texts, trainer=trainer)
    for i, s in enumerate(SPECIALS):
        if tok.token_to_id(s) != i:
            raise RuntimeError(f"special token {s} got id {tok.token_to_id(s)}, expected {i}")
    return tok


def load_tokenizer(path: str) -> tuple[Tokenizer, bytes]:
    """A tokenizer.json another mix wrote, and its bytes (to be copied unchanged, so both mixes'
    files have one sha256). Raises ValueError when it cannot be read or its specials are not
    <|pad|>=0, <|bos|>=1, <|eos|>=2."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        tok = Tokenizer.from_str(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, Exception) as exc:  # tokenizers raises plain Exception
        raise ValueError(f"cannot load tokenizer {path}: {exc}") from None
    for i, s in enumerate(SPECIALS):
        if tok.token_to_id(s) != i:
            raise ValueError(f"tokenizer {path}: special token {s} has id {tok.token_to_id(s)}, expected {i} "
                             "(use a tokenizer.json written by `make mix`)")
    return tok, raw


def dtype_for(vocab_size: int) -> str:
    """Shard dtype by DESIGN.md: uint16 up to 65,536 ids, else uint32."""
    return "uint16" if vocab_size <= 65_536 else "uint32"


def encode_docs(tok: Tokenizer, texts: list[str], dtype: str) -> list[np.ndarray]:
    """Each text as `<|bos|> ids <|eos|>` in `dtype` (one batched call into the Rust encoder, whose
    Encoding objects hold every token's string, offsets and masks: callers bound `texts`)."""
    np_dtype = np.dtype(dtype).newbyteorder("<")
    out = []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        ids = enc.ids
        arr = np.empty(len(ids) + 2, dtype=np_dtype)
        arr[0], arr[-1] = BOS_ID, EOS_ID
        arr[1:-1] = ids
        out.append(arr)
    return out
