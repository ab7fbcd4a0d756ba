"""The proxy model: a decoder-only, Llama-3-style transformer.

Owns the architecture only: pre-normalisation with RMSNorm, SwiGLU feed-forward (or an optional
mixture of SwiGLU experts with a top-k router and a load-balancing loss), rotary position
embeddings with a configurable theta (Llama 3: 500,000), grouped-query attention through
PyTorch's scaled-dot-product attention (flash kernels on GPU: no explicit mask unless document
masking is on, because an explicit mask disables them), tied or untied embeddings.

`GPT(cfg)(idx, targets)` returns `(ce_loss, aux_loss)`: mean cross-entropy in nats per target
token (float32) and the mixture-of-experts load-balancing loss (0 without experts). The caller
adds `moe_aux_coef * aux_loss` to what it optimises. `GPT(cfg).logits(idx)` gives the logits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from .losses import linear_cross_entropy


@dataclass
class ModelConfig:
    vocab_size: int = 16384
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 2
    ffn_dim: int = 384
    rope_theta: float = 500_000.0
    max_seq_len: int = 2048
    tie_embeddings: bool = True
    norm_eps: float = 1e-5
    init_std: float = 0.02
    moe_experts: int = 0          # 0 = dense SwiGLU feed-forward
    moe_top_k: int = 2
    doc_mask: bool = False        # attend only within a document (explicit mask: no flash kernels)
    bos_id: int = 1

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def validate(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not divisible by n_kv_heads {self.n_kv_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError("head dimension must be even for rotary embeddings")
        if self.moe_experts and not 1 <= self.moe_top_k <= self.moe_experts:
            raise ValueError(f"moe_top_k {self.moe_top_k} must be in 1..moe_experts {self.moe_experts}")


def rope_tables(seq_len: int, head_dim: int, theta: float, device=None):
    """cos/sin tables of shape (seq_len, head_dim // 2) for the rotate-half convention."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, T, H, D) by position: the two halves of the head dimension form the pairs."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[None, :, None, :].to(x.dtype), sin[None, :, None, :].to(x.dtype)
    return torch.cat((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1)


def document_mask(idx: torch.Tensor, bos_id: int) -> torch.Tensor:
    """Boolean (B, 1, T, T) mask: causal and within the same document (a BOS starts one)."""
    doc = torch.cumsum((idx == bos_id).int(), dim=1)
    T = idx.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool, device=idx.device).tril()
    same = doc[:, :, None] == doc[:, None, :]
    return (same & causal)[:, None]


class Attention(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.h, self.kvh, self.hd = c.n_heads, c.n_kv_heads, c.d_model // c.n_heads
        self.wqkv = nn.Linear(c.d_model, (self.h + 2 * self.kvh) * self.hd, bias=False)
        self.wo = nn.Linear(c.d_model, c.d_model, bias=False)

    def forward(self, x, cos, sin, mask=None):
        B, T, D = x.shape
        q, k, v = self.wqkv(x).split([self.h * self.hd, self.kvh * self.hd, self.kvh * self.hd], dim=-1)
        q = apply_rope(q.view(B, T, self.h, self.hd), cos, sin).transpose(1, 2)
        k = apply_rope(k.view(B, T, self.kvh, self.hd), cos, sin).transpose(1, 2)
        v = v.view(B, T, self.kvh, self.hd).transpose(1, 2)
        if mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
        return self.wo(y.transpose(1, 2).reshape(B, T, D))


class SwiGLU(nn.Module):
    def __init__(self, d: int, f: int):
        super().__init__()
        self.w13 = nn.Linear(d, 2 * f, bias=False)   # gate and up projections, fused
        self.w2 = nn.Linear(f, d, bias=False)

    def forward(self, x):
        gate, up = self.w13(x).chunk(2, dim=-1)
        return self.w2(F.silu(gate) * up)


class MoE(nn.Module):
    """K SwiGLU experts; each token goes to its top-k experts, outputs weighted by the router's
    renormalised probabilities. Load-balancing loss (Switch Transformer style):
    K * sum_e (share of routed assignments to e) * (mean router probability of e); 1.0 when balanced."""

    def __init__(self, c: ModelConfig):
        super().__init__()
        self.k, self.top_k = c.moe_experts, c.moe_top_k
        self.router = nn.Linear(c.d_model, self.k, bias=False)
        self.experts = nn.ModuleList(SwiGLU(c.d_model, c.ffn_dim) for _ in range(self.k))

    def forward(self, x):
        B, T, D = x.shape
        flat = x.reshape(-1, D)
        probs = F.softmax(self.router(flat).float(), dim=-1)             # (N, K)
        top_p, top_i = probs.topk(self.top_k, dim=-1)                     # (N, k)
        top_p = (top_p / top_p.sum(-1, keepdim=True)).to(x.dtype)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            tok, slot = (top_i == e).nonzero(as_tuple=True)
            if tok.numel():
                out.index_add_(0, tok, expert(flat[tok]) * top_p[tok, slot, None])
        assigned = F.one_hot(top_i, self.k).sum(1).float().mean(0) / self.top_k   # share per expert
        aux = self.k * (assigned * probs.mean(0)).sum()
        return out.view(B, T, D), aux


class Block(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        self.attn_norm = nn.RMSNorm(c.d_model, eps=c.norm_eps)
        self.attn = Attention(c)
        self.ffn_norm = nn.RMSNorm(c.d_model, eps=c.norm_eps)
        self.ffn = MoE(c) if c.moe_experts else SwiGLU(c.d_model, c.ffn_dim)

    def forward(self, x, cos, sin, mask=None):
        x = x + self.attn(F.rms_norm(x, (x.shape[-1],), self.attn_norm.weight, self.attn_norm.eps), cos, sin, mask)
        h = F.rms_norm(x, (x.shape[-1],), self.ffn_norm.weight, self.ffn_norm.eps)
        if isinstance(self.ffn, MoE):
            y, aux = self.ffn(h)
            return x + y, aux
        return x + self.ffn(h), None


class GPT(nn.Module):
    def __init__(self, c: ModelConfig):
        super().__init__()
        c.validate()
        self.config = c
        self.embed = nn.Embedding(c.vocab_size, c.d_model)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.n_layers))
        self.norm = nn.RMSNorm(c.d_model, eps=c.norm_eps)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.head.weight = self.embed.weight
        cos, sin = rope_tables(c.max_seq_len, c.d_model // c.n_heads, c.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self):
        c = self.config
        out_std = c.init_std / math.sqrt(2 * c.n_layers)   # residual-branch outputs scaled down
        for name, p in self.named_parameters():
            if p.dim() < 2:
                p.fill_(1.0)                                # RMSNorm weights
            elif name.endswith(("wo.weight", "w2.weight")):
                nn.init.normal_(p, 0.0, out_std)
            else:
                nn.init.normal_(p, 0.0, c.init_std)

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())      # tied weights counted once
        if non_embedding:
            n -= self.embed.weight.numel()
            if not self.config.tie_embeddings:
                n -= self.head.weight.numel()
        return n

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token: 6 x matmul parameters (experts: the k active ones) + attention."""
        c = self.config
        n = self.num_params(non_embedding=True) + c.vocab_size * c.d_model   # the head is a matmul
        if c.moe_experts:
            per_expert = 3 * c.d_model * c.ffn_dim
            n -= c.n_layers * (c.moe_experts - c.moe_top_k) * per_expert
        return 6 * n + 12 * c.n_layers * c.d_model * seq_len   # same count as the GPU reference

    def hidden(self, idx: torch.Tensor):
        T = idx.shape[1]
        if T > self.config.max_seq_len:
            raise ValueError(f"sequence length {T} exceeds max_seq_len {self.config.max_seq_len}")
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        mask = document_mask(idx, self.config.bos_id) if self.config.doc_mask else None
        x = self.embed(idx)
        aux = x.new_zeros((), dtype=torch.float32)
        for block in self.blocks:
            x, a = block(x, cos, sin, mask)
            if a is not None:
                aux = aux + a
        if self.config.moe_experts:
            aux = aux / self.config.n_layers
        return self.norm(x), aux

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(idx)[0]).float()

    def forward(self, idx: torch.Tensor, targets: torch.Tensor):
        h, aux = self.hidden(idx)
        loss = linear_cross_entropy(h.reshape(-1, h.shape[-1]), self.head.weight, targets.reshape(-1))
        return loss, aux
