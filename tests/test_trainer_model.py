"""The proxy model: Llama-3-style shapes, grouped-query attention, RoPE theta, tied embeddings, MoE."""
import math

import pytest
import torch
import torch.nn.functional as F

from trainer.model import GPT, ModelConfig, apply_rope, rope_tables


def cfg(**kw):
    base = dict(vocab_size=97, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=48, max_seq_len=64)
    base.update(kw)
    return ModelConfig(**base)


def test_forward_shapes_and_loss():
    torch.manual_seed(0)
    m = GPT(cfg())
    x = torch.randint(0, 97, (3, 16))
    assert m.logits(x).shape == (3, 16, 97)
    loss, aux = m(x, torch.randint(0, 97, (3, 16)))
    assert loss.dtype == torch.float32 and loss.ndim == 0 and float(aux) == 0.0
    assert abs(loss.item() - math.log(97)) < 0.5          # near uniform at init
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())


def test_grouped_query_attention_projection_sizes():
    m = GPT(cfg(n_heads=8, n_kv_heads=2, d_model=64))
    hd = 64 // 8
    assert m.blocks[0].attn.wqkv.weight.shape == ((8 + 2 * 2) * hd, 64)
    with pytest.raises(ValueError):
        GPT(cfg(n_heads=4, n_kv_heads=3))


def test_gqa_equals_repeated_kv_heads():
    """enable_gqa shares each KV head across n_heads / n_kv_heads query heads."""
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 4, 5, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    b = F.scaled_dot_product_attention(q, k.repeat_interleave(2, 1), v.repeat_interleave(2, 1), is_causal=True)
    assert torch.allclose(a, b, atol=1e-6)


def test_tied_and_untied_embeddings():
    tied, untied = GPT(cfg(tie_embeddings=True)), GPT(cfg(tie_embeddings=False))
    assert tied.head.weight is tied.embed.weight
    assert untied.head.weight is not untied.embed.weight
    assert untied.num_params() - tied.num_params() == 97 * 32
    assert tied.num_params(non_embedding=True) == untied.num_params(non_embedding=True)


def test_rope_theta_is_used():
    c = cfg(rope_theta=10_000.0)
    m = GPT(c)
    cos, _ = rope_tables(64, 8, 10_000.0)
    assert torch.allclose(m.rope_cos, cos)
    assert not torch.allclose(GPT(cfg()).rope_cos, cos)   # default theta is 500,000
    assert ModelConfig().rope_theta == 500_000.0
    inv = 1.0 / (500_000.0 ** (torch.arange(0, 8, 2).float() / 8))
    assert torch.allclose(GPT(cfg()).rope_cos[3], torch.cos(3 * inv))
    torch.manual_seed(0)
    x = m.embed(torch.randint(0, 97, (1, 10)))
    y1 = GPT(cfg(rope_theta=10_000.0)).logits(torch.randint(0, 97, (1, 10)))
    assert y1.shape == (1, 10, 97)


def test_rope_is_relative():
    """Rotated q.k depends only on the distance between positions."""
    torch.manual_seed(0)
    cos, sin = rope_tables(32, 8, 500_000.0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    def score(i, j):
        qi = apply_rope(q.expand(1, 32, 1, 8), cos, sin)[0, i, 0]
        kj = apply_rope(k.expand(1, 32, 1, 8), cos, sin)[0, j, 0]
        return float(qi @ kj)
    assert abs(score(5, 2) - score(20, 17)) < 1e-4


def test_causal():
    torch.manual_seed(0)
    m = GPT(cfg())
    x = torch.randint(0, 97, (1, 12))
    y = x.clone(); y[0, 8:] = (y[0, 8:] + 1) % 97
    assert torch.allclose(m.logits(x)[0, :8], m.logits(y)[0, :8], atol=1e-5)


def test_document_mask_isolates_documents():
    torch.manual_seed(0)
    m = GPT(cfg(doc_mask=True, bos_id=1))
    a = torch.tensor([[1, 5, 6, 7, 2, 1, 9, 10, 11]])
    b = a.clone(); b[0, 1:4] = torch.tensor([20, 21, 22])   # change only the first document
    assert torch.allclose(m.logits(a)[0, 5:], m.logits(b)[0, 5:], atol=1e-5)
    assert not torch.allclose(m.logits(a)[0, 1:4], m.logits(b)[0, 1:4])


def test_mixture_of_experts():
    torch.manual_seed(0)
    m = GPT(cfg(moe_experts=4, moe_top_k=2))
    assert len(m.blocks[0].ffn.experts) == 4
    x = torch.randint(0, 97, (2, 16))
    loss, aux = m(x, x)
    assert 0.9 < aux.item() < 4.0     # 1.0 when perfectly balanced, K when collapsed
    (loss + 0.01 * aux).backward()
    assert m.blocks[0].ffn.router.weight.grad is not None
    assert m.num_params() > GPT(cfg()).num_params()
    with pytest.raises(ValueError):
        GPT(cfg(moe_experts=2, moe_top_k=3))


def test_flops_per_token_counts_head_and_attention():
    m = GPT(cfg())
    c = m.config
    n = m.num_params(non_embedding=True) + c.vocab_size * c.d_model
    assert m.flops_per_token(16) == 6 * n + 12 * c.n_layers * c.d_model * 16
