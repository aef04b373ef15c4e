"""Exercise 10's references against PyTorch, beyond the oracles the hidden tests use.

The hidden tests compare ``kv_cache_decode`` with ``F.scaled_dot_product_attention`` over the
cache it is given; here the reference, run chunk by chunk from an empty cache, must equal
``nn.MultiheadAttention``'s full causally masked pass, which never sees a cache. The
LayerNorm derivation must equal autograd through ``nn.LayerNorm`` (with a bias), and the
positions measure must be 0 up to rounding exactly where the theory says.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.instructor.tasks import transformer as t


def _mha(D: int, H: int, seed: int) -> tuple[nn.MultiheadAttention, dict]:
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    W_q, W_k, W_v = mha.in_proj_weight.detach().numpy().reshape(3, D, D)
    b_q, b_k, b_v = mha.in_proj_bias.detach().numpy().reshape(3, D)
    params = {"W_q": W_q, "W_k": W_k, "W_v": W_v, "W_o": mha.out_proj.weight.detach().numpy(),
              "b_q": b_q, "b_k": b_k, "b_v": b_v, "b_o": mha.out_proj.bias.detach().numpy()}
    return mha.eval(), params


@pytest.mark.parametrize(("D", "H", "chunks"), [(4, 1, [1] * 6), (8, 2, [3, 1, 1, 2]), (12, 4, [5, 4]), (6, 3, [7])])
def test_decoding_chunk_by_chunk_is_the_full_masked_pass(D, H, chunks):
    mha, params = _mha(D, H, seed=D + H)
    T = sum(chunks)
    X = np.random.default_rng(T).normal(size=(2, T, D))
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)  # True = may not attend (torch's convention)
    with torch.no_grad():
        full = mha(*(torch.tensor(X),) * 3, attn_mask=causal, need_weights=False)[0].numpy()
    cache, outputs, start = {"K": np.zeros((2, H, 0, D // H)), "V": np.zeros((2, H, 0, D // H))}, [], 0
    for n in chunks:
        Y, cache = t.kv_cache_decode(X[:, start:start + n], cache, params, H)
        outputs.append(Y)
        start += n
    assert cache["K"].shape == (2, H, T, D // H)
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full, rtol=1e-10, atol=1e-12)


def test_a_wrong_mask_would_differ_from_the_full_pass():
    """The comparison above can fail: without the causal mask, the prefill differs."""
    mha, params = _mha(8, 2, seed=3)
    X = np.random.default_rng(0).normal(size=(1, 5, 8))
    with torch.no_grad():
        unmasked = mha(*(torch.tensor(X),) * 3, need_weights=False)[0].numpy()
    Y, _ = t.kv_cache_decode(X, {"K": np.zeros((1, 2, 0, 4)), "V": np.zeros((1, 2, 0, 4))}, params, 2)
    assert not np.allclose(Y[:, :-1], unmasked[:, :-1])
    np.testing.assert_allclose(Y[:, -1], unmasked[:, -1], rtol=1e-10)  # the last token sees everything anyway


@pytest.mark.parametrize("shape", [(3, 7), (2, 4, 5), (1, 1)])
def test_layernorm_backward_is_autograd_through_nn_layernorm(shape):
    rng = np.random.default_rng(len(shape))
    x, dy = rng.normal(size=shape), rng.normal(size=shape)
    ln = nn.LayerNorm(shape[-1], eps=1e-4, dtype=torch.float64)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    xt = torch.tensor(x, requires_grad=True)
    ln(xt).backward(torch.tensor(dy))
    got = t.layernorm_backward(x, ln.weight.detach().numpy(), 1e-4, dy)
    np.testing.assert_allclose(got["x"], xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["gamma"], ln.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["beta"], ln.bias.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_positions_measure_is_zero_only_without_positions_and_mask():
    rng = np.random.default_rng(7)
    T, D = 9, 8
    X = rng.normal(size=(T, D))
    W = [rng.normal(size=(D, D)) / np.sqrt(D) for _ in range(3)]
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(T)
        assert t.positions_measure(X, perm, np.zeros((T, D)), *W, False) < 1e-12
        assert t.positions_measure(X, perm, t.sinusoidal(T, D), *W, False) > 1e-3
        assert t.positions_measure(X, perm, np.zeros((T, D)), *W, True) > 1e-3
    assert t.positions_verdict([t.positions_measure(X, np.arange(T), t.sinusoidal(T, D), *W, True)]) == "order-blind"
