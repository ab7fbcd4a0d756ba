"""The training loss of the output head: cross-entropy of `h @ W.T`, fused and chunked on CPU.

Written by hand because torch has no fused linear + cross-entropy on CPU: at the cpu-3m size the
full logits tensor (4,096 tokens x 16,384 vocabulary, 268 MB in fp32) is written, log-softmaxed,
zero-filled for its gradient and read back, and those memory passes cost about as much as the
head's matmuls. Here the logits of `chunk` tokens at a time are computed, turned into
`softmax - onehot` in place and multiplied straight into the gradients of `h` and `W`, during the
forward pass; backward only scales them. The result equals `F.cross_entropy(h @ W.T, targets)`
(mean over targets that are not `ignore_index`) up to float rounding. Under CPU bf16 autocast
(config `cpu_bf16`) the three matmuls take bf16 inputs (2-5x the fp32 speed on CPUs with
AVX512-BF16 or AMX) and the softmax, loss and gradient sums stay fp32. GPUs keep the plain path,
where torch.compile fuses it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
DEFAULT_CHUNK = 1024


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, weight, targets, chunk, compute_dtype):
        n = h.shape[0]
        valid = targets != IGNORE_INDEX
        count = int(valid.sum())
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_h = torch.empty(h.shape, dtype=torch.float32) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32) if need_w else None
        hc, wc = h.to(compute_dtype), weight.to(compute_dtype)   # the matmuls' inputs
        loss = torch.zeros((), dtype=torch.float32)
        for s in range(0, n, chunk):
            hs, ts, vs = hc[s:s + chunk], targets[s:s + chunk], valid[s:s + chunk]
            logits = (hs @ wc.t()).float()
            lse = torch.logsumexp(logits, dim=-1)
            safe_t = torch.where(vs, ts, torch.zeros_like(ts))
            picked = logits.gather(1, safe_t[:, None]).squeeze(1)
            loss += ((lse - picked) * vs).sum()
            if need_h or need_w:
                probs = logits.sub_(lse[:, None]).exp_()           # softmax, in place
                rows = torch.arange(len(ts))
                probs[rows, safe_t] -= 1.0
                probs *= vs[:, None].to(probs.dtype)                # ignored targets: no gradient
                probs = probs.to(compute_dtype)
                if need_h:
                    if compute_dtype == torch.float32:
                        torch.mm(probs, wc, out=grad_h[s:s + chunk])
                    else:
                        grad_h[s:s + chunk] = probs @ wc
                if need_w:
                    if compute_dtype == torch.float32:
                        grad_w.addmm_(probs.t(), hs)
                    else:
                        grad_w += probs.t() @ hs
        denom = max(count, 1)
        ctx.denom = denom
        ctx.save_for_backward(*(g for g in (grad_h, grad_w) if g is not None))
        ctx.need = (need_h, need_w)
        ctx.dtypes = (h.dtype, weight.dtype)
        return (loss / denom) if count else loss * float("nan")

    @staticmethod
    def backward(ctx, grad_out):
        saved = list(ctx.saved_tensors)
        scale = grad_out / ctx.denom
        grad_h = (saved.pop(0) * scale).to(ctx.dtypes[0]) if ctx.need[0] else None
        grad_w = (saved.pop(0) * scale).to(ctx.dtypes[1]) if ctx.need[1] else None
        return grad_h, grad_w, None, None, None


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """Mean cross-entropy of the logits `h @ weight.T` (h: (N, d), weight: (V, d), targets: (N,)).
    Fused and chunked on CPU: matmuls in fp32, or in bf16 under CPU bf16 autocast (softmax and
    gradient sums in fp32 either way); the plain logits path elsewhere."""
    if h.device.type == "cpu" and weight.dtype == torch.float32:
        if not torch.is_autocast_enabled("cpu") and h.dtype == torch.float32:
            return _ChunkedLinearCrossEntropy.apply(h, weight, targets, chunk, torch.float32)
        if torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16:
            return _ChunkedLinearCrossEntropy.apply(h, weight, targets, chunk, torch.bfloat16)
    logits = (h @ weight.t()).float()
    return F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX)
