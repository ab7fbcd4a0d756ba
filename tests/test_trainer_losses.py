"""The fused, chunked linear + cross-entropy equals torch's cross-entropy on the full logits."""
import torch
import torch.nn.functional as F

from trainer.losses import IGNORE_INDEX, linear_cross_entropy
from trainer.model import GPT, ModelConfig


def _reference(h, w, t):
    return F.cross_entropy(h @ w.t(), t, ignore_index=IGNORE_INDEX)


def test_loss_and_gradients_match_full_logits_for_any_chunking():
    torch.manual_seed(0)
    for n, chunk in [(1, 4), (37, 8), (64, 64), (100, 1024)]:
        h = torch.randn(n, 12, requires_grad=True)
        w = torch.randn(50, 12, requires_grad=True)
        t = torch.randint(0, 50, (n,))
        ref = _reference(h, w, t)
        ref_grads = torch.autograd.grad(2.5 * ref, (h, w))
        got = linear_cross_entropy(h, w, t, chunk=chunk)
        got_grads = torch.autograd.grad(2.5 * got, (h, w))
        assert torch.allclose(got, ref, atol=1e-5), (n, chunk)
        for a, b in zip(got_grads, ref_grads):
            assert torch.allclose(a, b, atol=1e-5), (n, chunk)


def test_ignored_targets_count_neither_in_the_mean_nor_in_the_gradient():
    torch.manual_seed(1)
    h = torch.randn(20, 6, requires_grad=True)
    w = torch.randn(9, 6, requires_grad=True)
    t = torch.randint(0, 9, (20,))
    t[::3] = IGNORE_INDEX
    got = linear_cross_entropy(h, w, t, chunk=7)
    assert torch.allclose(got, _reference(h, w, t), atol=1e-6)
    gh, = torch.autograd.grad(got, (h,))
    assert torch.count_nonzero(gh[::3]) == 0
    all_ignored = torch.full((20,), IGNORE_INDEX)
    assert torch.isnan(linear_cross_entropy(h, w, all_ignored))


def test_without_grad_it_only_computes_the_loss():
    torch.manual_seed(2)
    h, w, t = torch.randn(30, 5), torch.randn(11, 5), torch.randint(0, 11, (30,))
    with torch.no_grad():
        assert torch.allclose(linear_cross_entropy(h, w, t, chunk=4), _reference(h, w, t), atol=1e-6)


def test_model_with_tied_embeddings_gets_the_same_gradients_as_the_plain_head():
    torch.manual_seed(3)
    cfg = ModelConfig(vocab_size=97, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=64,
                      max_seq_len=16, tie_embeddings=True)
    model = GPT(cfg)
    x = torch.randint(0, 97, (3, 16))
    y = torch.randint(0, 97, (3, 16))
    loss, _ = model(x, y)
    fused = torch.autograd.grad(loss, list(model.parameters()))
    h, _ = model.hidden(x)
    plain = F.cross_entropy(model.head(h).reshape(-1, 97), y.reshape(-1))
    ref = torch.autograd.grad(plain, list(model.parameters()))
    assert torch.allclose(loss, plain, atol=1e-5)
    for a, b in zip(fused, ref):
        assert torch.allclose(a, b, atol=1e-5)


def test_under_cpu_bf16_autocast_the_fused_head_stays_close_to_fp32():
    torch.manual_seed(4)
    h = torch.randn(300, 32, requires_grad=True)
    w = (0.1 * torch.randn(500, 32)).requires_grad_(True)
    t = torch.randint(0, 500, (300,))
    t[::5] = IGNORE_INDEX
    ref = _reference(h, w, t)
    ref_grads = torch.autograd.grad(ref, (h, w))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear_cross_entropy(h, w, t, chunk=64)
    assert got.dtype == torch.float32 and abs(got.item() - ref.item()) < 1e-2
    got_grads = torch.autograd.grad(got, (h, w))
    for a, b in zip(got_grads, ref_grads):
        assert a.dtype == torch.float32
        assert float((a - b).abs().max()) < 2e-2 * float(b.abs().max())   # bf16 inputs, fp32 sums
        assert torch.count_nonzero(a) > 0
