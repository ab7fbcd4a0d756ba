"""Per-domain validation loss and bits per byte (DESIGN.md's definition, also the ablations' objective).

For each domain, take the first `eval_tokens` tokens of its val shards, cut them into windows of
`seq_len + 1` tokens overlapping by one (every token after the first is predicted exactly once,
seeing up to `seq_len` tokens of context inside its window), and sum over the predicted tokens that
are not special (BOS/EOS/PAD and any other added special token are neither predicted nor counted):

    loss = Σ NLL (nats) / n_tokens
    bpb  = Σ NLL (nats) / (ln 2 × Σ UTF-8 bytes of those tokens)

`objective` = the unweighted mean of the domains' bpb: every domain counts the same, whatever its
share of the training mix (lower is better).

Bytes per token come from a byte-length table indexed by token id. `byte_lengths_from_tokenizer`
builds it from a Hugging Face `tokenizers` JSON file (byte-level BPE: every vocabulary string maps
back to bytes); the GPU path, which has only torch and numpy, passes an array instead.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def _byte_decoder() -> dict[str, int]:
    """Inverse of the byte-level BPE alphabet: printable bytes stand for themselves, the other
    bytes were shifted to code points 256 and up, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def byte_lengths_from_tokenizer(path: str, vocab_size: int | None = None):
    """(byte_lengths int64[V], special bool[V]) from a `tokenizers` JSON file."""
    from tokenizers import Tokenizer   # local: the GPU path has no `tokenizers`

    tok = Tokenizer.from_file(path)
    vocab = tok.get_vocab(with_added_tokens=True)
    n = max(vocab_size or 0, max(vocab.values()) + 1)
    lengths = np.zeros(n, dtype=np.int64)
    special = np.zeros(n, dtype=bool)
    decoder = _byte_decoder()
    added = {t.content: t.special for t in tok.get_added_tokens_decoder().values()}
    for s, i in vocab.items():
        if added.get(s):
            special[i] = True
            continue
        if all(ch in decoder for ch in s):
            lengths[i] = len(s)                      # one symbol per byte
        else:                                        # not byte-level: fall back to the decoded text
            lengths[i] = len(tok.decode([i], skip_special_tokens=False).encode("utf-8"))
    return lengths, special


def counted_mask(targets: torch.Tensor, byte_lengths: torch.Tensor, special: torch.Tensor) -> torch.Tensor:
    return ~special[targets] & (byte_lengths[targets] > 0)


@torch.no_grad()
def evaluate(model, val: dict, byte_lengths, special, seq_len: int, batch_size: int = 8,
             device="cpu", autocast_dtype=None) -> dict:
    """{"<domain>": {"loss", "bpb", "tokens"}, ..., "objective"} for the given val token arrays."""
    was_training = model.training
    model.eval()
    bl = torch.as_tensor(np.asarray(byte_lengths), dtype=torch.int64, device=device)
    sp = torch.as_tensor(np.asarray(special), dtype=torch.bool, device=device)
    out = {}
    for domain, toks in val.items():
        toks = np.asarray(toks, dtype=np.int64)
        windows = []
        for start in range(0, max(len(toks) - 1, 0), seq_len):
            w = toks[start:start + seq_len + 1]
            if len(w) >= 2:
                windows.append(w)
        nll, count, nbytes = 0.0, 0, 0
        for i in range(0, len(windows), batch_size):
            chunk = windows[i:i + batch_size]
            T = max(len(w) for w in chunk) - 1
            x = torch.zeros(len(chunk), T, dtype=torch.int64)
            y = torch.zeros(len(chunk), T, dtype=torch.int64)
            valid = torch.zeros(len(chunk), T, dtype=torch.bool)
            for r, w in enumerate(chunk):
                n = len(w) - 1
                x[r, :n] = torch.from_numpy(w[:-1])
                y[r, :n] = torch.from_numpy(w[1:])
                valid[r, :n] = True
            x, y, valid = x.to(device), y.to(device), valid.to(device)
            with torch.autocast(device_type=torch.device(device).type, dtype=autocast_dtype,
                                enabled=autocast_dtype is not None):
                logits = model.logits(x)
            losses = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), y.view(-1),
                                     reduction="none").view_as(y)
            m = valid & counted_mask(y, bl, sp)
            nll += float(losses[m].double().sum())
            count += int(m.sum())
            nbytes += int(bl[y][m].sum())
        out[domain] = {"loss": nll / count if count else float("nan"),
                       "bpb": nll / (math.log(2) * nbytes) if nbytes else float("nan"),
                       "tokens": count}
    bpbs = [v["bpb"] for v in out.values()]
    out["objective"] = float(np.mean(bpbs)) if bpbs else float("nan")
    if was_training:
        model.train()
    return out
