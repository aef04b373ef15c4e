"""The attention references against PyTorch's scaled_dot_product_attention and explicit loops."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.models import attention as attn


def random_inputs(B=3, L=4, S=6, d=5, v=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q, K, V = (torch.randn(B, n, k, generator=g, dtype=torch.float64) for n, k in ((L, d), (S, d), (S, v)))
    mask = torch.rand(B, L, S, generator=g) < 0.7
    mask[:, :, 0] = True  # every row keeps something...
    return Q, K, V, mask


def test_scaled_dot_product_attention_matches_torch():
    Q, K, V, mask = random_inputs()
    torch.testing.assert_close(attn.scaled_dot_product_attention(Q, K, V),
                               F.scaled_dot_product_attention(Q, K, V), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(attn.scaled_dot_product_attention(Q, K, V, mask),
                               F.scaled_dot_product_attention(Q, K, V, attn_mask=mask), rtol=1e-12, atol=1e-12)


def test_scaled_dot_product_attention_scales_by_sqrt_d():
    Q, K, V, _ = random_inputs(d=16)
    unscaled = F.scaled_dot_product_attention(Q, K, V, scale=1.0)
    assert not torch.allclose(attn.scaled_dot_product_attention(Q, K, V), unscaled)
    torch.testing.assert_close(attn.scaled_dot_product_attention(Q * 4, K, V), unscaled)  # √16 = 4


def test_fully_masked_rows_give_zeros_like_torch_and_finite_gradients():
    Q, K, V, mask = random_inputs()
    mask[1, 2] = False
    Q.requires_grad_(True)
    out = attn.scaled_dot_product_attention(Q, K, V, mask)
    assert torch.all(out[1, 2] == 0)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(Q, K, V, attn_mask=mask))
    out.sum().backward()
    assert torch.all(torch.isfinite(Q.grad)) and torch.all(Q.grad[1, 2] == 0)
    weights = attn.scaled_dot_product_weights(Q, K, mask)
    sums = weights.sum(-1)
    assert torch.allclose(sums[mask.any(-1)], torch.ones(1, dtype=sums.dtype)) and sums[1, 2] == 0


def test_masked_positions_do_not_matter():
    Q, K, V, mask = random_inputs(seed=1)
    K2, V2 = K.clone(), V.clone()
    K2[:, -1], V2[:, -1] = 100.0, -100.0
    mask[:, :, -1] = False
    torch.testing.assert_close(attn.scaled_dot_product_attention(Q, K, V, mask),
                               attn.scaled_dot_product_attention(Q, K2, V2, mask))


def test_dot_product_attention_is_unscaled_attention_with_one_query():
    Q, K, V, mask = random_inputs(L=1, d=8)
    context, weights = attn.dot_product_attention(Q[:, 0], K, V, mask[:, 0])
    assert context.shape == (3, 7) and weights.shape == (3, 6)
    expected = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask, scale=1.0)[:, 0]
    torch.testing.assert_close(context, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, dtype=torch.float64))
    assert torch.all(weights[~mask[:, 0]] == 0)
    empty = torch.zeros(3, 6, dtype=torch.bool)
    context, weights = attn.dot_product_attention(Q[:, 0], K, V, empty)
    assert torch.all(context == 0) and torch.all(weights == 0)


def test_additive_attention_matches_an_explicit_loop():
    g = torch.Generator().manual_seed(2)
    B, S, H, Hk, A, V_ = 2, 5, 4, 3, 6, 2
    q, keys, values = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((B, H), (B, S, Hk), (B, S, V_)))
    W_q, W_k, v = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((A, H), (A, Hk), (A,)))
    mask = torch.tensor([[True, True, False, True, False], [True] * 5])
    context, weights = attn.additive_attention(q, keys, values, W_q, W_k, v, mask)
    for b in range(B):
        kept = [j for j in range(S) if mask[b, j]]
        scores = torch.stack([v @ torch.tanh(F.linear(q[b], W_q) + F.linear(keys[b, j], W_k)) for j in kept])
        alpha = torch.softmax(scores, 0)
        torch.testing.assert_close(weights[b, kept], alpha)
        torch.testing.assert_close(context[b], sum(a * values[b, j] for a, j in zip(alpha, kept, strict=True)))
    assert torch.all(weights[~mask] == 0)


@pytest.mark.parametrize("d", [4, 64, 1024])
def test_scaling_keeps_the_score_variance_near_one(d):
    g = torch.Generator().manual_seed(d)
    q, k = torch.randn(2, 20000, d, generator=g)
    raw = (q * k).sum(-1)
    assert abs(raw.var().item() / d - 1) < 0.1
    assert abs((raw / math.sqrt(d)).var().item() - 1) < 0.1
