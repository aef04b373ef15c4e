"""Exercise 10 (``10_transformer``): the references of its graded tasks, their cases and checks.

Chapter 10 prints multi-head self-attention with its masks, positional encodings and the
encoder and decoder layers (in PyTorch, checked against ``torch.nn``); the exercise grades
what it does not code:

- ``layernorm_backward(x, gamma, eps, dy)``: a derivation, the gradients of layer
  normalisation over the last axis with respect to its input, its gain and its bias
  (autograd through ``F.layer_norm`` is the oracle);
- ``kv_cache_decode(X, cache, params, n_heads)``: causal multi-head self-attention on new
  positions that continue the positions held in a key-value cache; it returns the outputs of
  the new positions and the grown cache. Decoding a sequence chunk by chunk gives the full
  causally masked pass (``F.scaled_dot_product_attention`` on the whole cache is the oracle,
  and ``tests/exercises/test_transformer_tasks.py`` checks the reference against
  ``nn.MultiheadAttention``);
- ``positions_measure(X, perm, P, W_q, W_k, W_v, causal)`` and ``positions_verdict(changes)``:
  an experiment, how much single-head self-attention's outputs change when its input is
  permuted and the outputs put back in order, with or without positional encodings and the
  causal mask; and the verdict order-blind / order-aware.

Conventions are ``torch.nn``'s: a projection is ``X @ W.T + b`` with ``W`` ``(out, in)``; the
heads are contiguous slices of ``d_model`` (``d_head = d_model / n_heads``). Masks are
boolean, True where a query may attend. Everything is float64.
"""

from __future__ import annotations

import numpy as np

from ..hidden import Task

ASSIGNMENT = "10_transformer"
VERDICTS = ("order-blind", "order-aware")
BLIND_BELOW = 1e-8  # a relative change below this is rounding: the layer did not see the order


# --------------------------------------------------------------------------- references


def layernorm_backward(x: np.ndarray, gamma: np.ndarray, eps: float, dy: np.ndarray) -> dict:
    """Gradients of ``L = Σ dy ⊙ y`` for ``y = γ ⊙ (x − μ) / √(σ² + ε) + β`` over the last axis.

    ``x``, ``dy`` ``(..., D)``; ``gamma`` ``(D,)``; returns ``{"x": (..., D), "gamma": (D,),
    "beta": (D,)}``. ``σ²`` is the biased variance (divided by ``D``), as in ``F.layer_norm``.
    """
    D = x.shape[-1]
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * rstd
    g = dy * gamma                                             # dL/dx̂
    dx = rstd * (g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True))
    return {"x": dx, "gamma": (dy * xhat).reshape(-1, D).sum(axis=0), "beta": dy.reshape(-1, D).sum(axis=0)}


def _split(M: np.ndarray, n_heads: int) -> np.ndarray:
    """``(B, T, D)`` -> ``(B, H, T, D / H)``: head ``h`` is the slice ``[h d_h, (h + 1) d_h)``."""
    B, T, D = M.shape
    return M.reshape(B, T, n_heads, D // n_heads).transpose(0, 2, 1, 3)


def kv_cache_decode(X: np.ndarray, cache: dict, params: dict, n_heads: int) -> tuple:
    """Causal multi-head self-attention of ``T_new`` new positions after ``T_past`` cached ones.

    ``X`` ``(B, T_new, D)``; ``cache = {"K": (B, H, T_past, d_h), "V": (B, H, T_past, d_h)}``
    (projected keys and values, biases included); ``params``: ``W_q``, ``W_k``, ``W_v``,
    ``W_o`` ``(D, D)`` and ``b_q``, ``b_k``, ``b_v``, ``b_o`` ``(D,)``. Returns
    ``(Y (B, T_new, D), {"K": (B, H, T_past + T_new, d_h), "V": ...})``; new position ``i``
    (absolute ``T_past + i``) attends to the absolute positions ``0 .. T_past + i``.
    """
    B, T_new, D = X.shape
    d_h = D // n_heads
    q, k, v = (_split(X @ params[f"W_{n}"].T + params[f"b_{n}"], n_heads) for n in "qkv")
    K = np.concatenate([cache["K"], k], axis=2)
    V = np.concatenate([cache["V"], v], axis=2)
    T_past = cache["K"].shape[2]
    allowed = np.arange(T_past + T_new)[None, :] <= (T_past + np.arange(T_new))[:, None]   # (T_new, T_all)
    scores = np.where(allowed, q @ K.transpose(0, 1, 3, 2) / np.sqrt(d_h), -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    A = e / e.sum(axis=-1, keepdims=True)
    Z = (A @ V).transpose(0, 2, 1, 3).reshape(B, T_new, D)
    return Z @ params["W_o"].T + params["b_o"], {"K": K, "V": V}


def _attend(Z: np.ndarray, W_q: np.ndarray, W_k: np.ndarray, W_v: np.ndarray, causal: bool) -> np.ndarray:
    """Single-head self-attention ``softmax(Q Kᵀ / √D) V`` of ``Z`` ``(T, D)``, causal or not."""
    Q, K, V = Z @ W_q.T, Z @ W_k.T, Z @ W_v.T
    scores = Q @ K.T / np.sqrt(Z.shape[-1])
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape, dtype=bool)), scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)) @ V


def positions_measure(X, perm, P, W_q, W_k, W_v, causal) -> float:
    """``‖unpermute(attend(X[perm] + P)) − attend(X + P)‖_F / ‖attend(X + P)‖_F``.

    ``X``, ``P`` ``(T, D)`` (``P = 0``: no positions); ``perm`` ``(T,)`` a permutation of
    ``0 .. T-1`` (row ``i`` of the permuted input is token ``perm[i]``); the positions stay in
    place (row ``i`` always gets ``P[i]``); the output of token ``perm[i]`` is put back in row
    ``perm[i]`` before comparing.
    """
    Y = _attend(X + P, W_q, W_k, W_v, causal)
    Y_perm = _attend(X[perm] + P, W_q, W_k, W_v, causal)
    back = np.empty_like(Y_perm)
    back[perm] = Y_perm
    return float(np.linalg.norm(back - Y) / np.linalg.norm(Y))


def positions_verdict(changes) -> str:
    """``changes``: relative changes of one setting under several permutations. 'order-blind'
    if every one is below 1e-8 (rounding), else 'order-aware'."""
    return "order-blind" if max(changes) < BLIND_BELOW else "order-aware"


# --------------------------------------------------------------------------- visible cases


def _case(case_id: str, *args, **kwargs) -> dict:
    return {"id": case_id, "args": list(args), "kwargs": kwargs}


def _ln_args(rng, shape, eps=1e-5, offset=0.0, scale=1.0):
    D = shape[-1]
    x = offset + scale * rng.normal(size=shape)
    return [x, 1.0 + 0.5 * rng.normal(size=D), eps, rng.normal(size=shape)]


def layernorm_visible() -> list[dict]:
    rng = np.random.default_rng(1001)
    constant = _ln_args(rng, (2, 4))
    constant[0][1] = 3.0                                       # the second row is constant: σ² = 0
    flat_dy = _ln_args(rng, (3, 5))
    flat_dy[1] = np.ones(5)
    flat_dy[3] = np.repeat(rng.normal(size=(3, 1)), 5, axis=1)  # dy constant along each row
    return [
        _case("N = 2 rows, D = 4, eps = 1e-5", *_ln_args(rng, (2, 4))),
        _case("(B, T, D) = (2, 3, 5): dgamma and dbeta sum over B and T", *_ln_args(rng, (2, 3, 5))),
        _case("a constant row (variance 0): only eps keeps it finite", *constant),
        _case("eps = 0.5, a large eps", *_ln_args(rng, (2, 6), eps=0.5, scale=0.7)),
        _case("gamma = 1 and dy constant along each row: dx = 0", *flat_dy),
        _case("D = 2: each row normalises to ±1", *_ln_args(rng, (3, 2), eps=1e-3)),
        _case("D = 16, inputs around 100", *_ln_args(rng, (2, 16), offset=100.0, scale=3.0)),
    ]


def _kv_params(rng, D):
    s = 1.0 / np.sqrt(D)
    params = {f"W_{n}": s * rng.normal(size=(D, D)) for n in "qkvo"}
    params |= {f"b_{n}": 0.5 * rng.normal(size=D) for n in "qkvo"}
    return params


def _empty_cache(B, H, d_h) -> dict:
    return {"K": np.zeros((B, H, 0, d_h)), "V": np.zeros((B, H, 0, d_h))}


def _kv_args(rng, B, T_past, T_new, D, H, scale=1.0):
    """``X, cache, params, n_heads``; the cache is what the reference made of ``T_past`` tokens."""
    params = _kv_params(rng, D)
    cache = _empty_cache(B, H, D // H)
    if T_past:
        _, cache = kv_cache_decode(scale * rng.normal(size=(B, T_past, D)), cache, params, H)
    return [scale * rng.normal(size=(B, T_new, D)), cache, params, H]


def kv_visible() -> list[dict]:
    rng = np.random.default_rng(1002)
    return [
        _case("prefill: an empty cache, 4 new tokens, D = 4, one head", *_kv_args(rng, 1, 0, 4, 4, 1)),
        _case("one new token, empty cache: it attends to itself only", *_kv_args(rng, 2, 0, 1, 4, 2)),
        _case("one new token after a cache of 3, two heads", *_kv_args(rng, 1, 3, 1, 4, 2)),
        _case("a chunk of 2 new tokens after a cache of 3", *_kv_args(rng, 2, 3, 2, 6, 2)),
        _case("D = 8, 4 heads (d_h = 2), cache of 5, one new token", *_kv_args(rng, 1, 5, 1, 8, 4, scale=2.0)),
        _case("prefill of 3 tokens, B = 2, D = 6, 3 heads", *_kv_args(rng, 2, 0, 3, 6, 3)),
    ]


def _positions_args(rng, T, D, perm=None, positions=True, causal=False, scale=1.0):
    X = scale * rng.normal(size=(T, D))
    W = [rng.normal(size=(D, D)) / np.sqrt(D) for _ in range(3)]
    perm = rng.permutation(T) if perm is None else np.asarray(perm, dtype=np.int64)
    P = sinusoidal(T, D) if positions else np.zeros((T, D))
    return [X, perm.astype(np.int64), P, *W, causal]


def sinusoidal(T: int, D: int) -> np.ndarray:
    """Vaswani et al.'s sinusoidal encodings ``(T, D)``: sin in even columns, cos in odd ones."""
    angle = np.arange(T)[:, None] / 10000 ** (np.arange(0, D, 2) / D)
    P = np.zeros((T, D))
    P[:, 0::2], P[:, 1::2] = np.sin(angle), np.cos(angle[:, : D // 2])
    return P


def measure_visible() -> list[dict]:
    rng = np.random.default_rng(1003)
    return [
        _case("no positions, no mask: a 3-cycle of 4 tokens",
              *_positions_args(rng, 4, 4, [1, 2, 0, 3], positions=False)),
        _case("sinusoidal positions, no mask, T = 5", *_positions_args(rng, 5, 4, [2, 0, 1, 4, 3])),
        _case("no positions, causal mask, T = 4",
              *_positions_args(rng, 4, 6, [3, 1, 0, 2], positions=False, causal=True)),
        _case("the identity permutation: nothing changes", *_positions_args(rng, 4, 4, [0, 1, 2, 3], causal=True)),
        _case("positions and the causal mask, T = 6, D = 8",
              *_positions_args(rng, 6, 8, [5, 3, 0, 1, 4, 2], causal=True)),
        _case("positions, no mask, larger inputs (scale 3)", *_positions_args(rng, 5, 6, [4, 0, 3, 2, 1], scale=3.0)),
    ]


def verdict_visible() -> list[dict]:
    return [
        _case("three permutations, all zero", [0.0, 0.0, 0.0]),
        _case("rounding only: 2e-16 and 5e-16", [2e-16, 5e-16]),
        _case("positions: 0.31, 0.44, 0.28", [0.31, 0.44, 0.28]),
        _case("one permutation of four changes it a little: 3e-8", [0.0, 0.0, 0.0, 3e-8]),
        _case("the first permutation changes it (2e-8), two do not", [2e-8, 0.0, 0.0]),
        _case("a small but real change: 2e-5 and 1e-4", [2e-5, 1e-4]),
        _case("the identity permutation, then a real one", [0.0, 0.5]),
        _case("just below the threshold: 9.9e-9", [9.9e-9, 1e-12]),
        _case("exactly the threshold: 1e-8 is not below it", [1e-8]),
    ]


# --------------------------------------------------------------------------- hidden cases (seeded, never released)


def layernorm_hidden() -> list[dict]:
    rng = np.random.default_rng(10901)
    big = _ln_args(rng, (2, 2, 7), eps=1e-6, offset=-1e4, scale=50.0)
    const = _ln_args(rng, (3, 3))
    const[0][0] = -2.0
    const[0][2] = 0.25
    return [
        _case("hidden: one row, D = 9", *_ln_args(rng, (1, 9))),
        _case("hidden: (B, T, D) = (3, 4, 6)", *_ln_args(rng, (3, 4, 6), eps=1e-3)),
        _case("hidden: D = 1", *_ln_args(rng, (4, 1))),
        _case("hidden: large offsets", *big),
        _case("hidden: two constant rows", *const),
        _case("hidden: eps = 2", *_ln_args(rng, (2, 5), eps=2.0)),
        _case("hidden: four axes", *_ln_args(rng, (2, 1, 3, 4))),
        _case("hidden: D = 32", *_ln_args(rng, (2, 32), scale=0.01)),
    ]


def kv_hidden() -> list[dict]:
    rng = np.random.default_rng(10902)
    odd = _kv_args(rng, 2, 0, 3, 6, 2)
    odd[1] = {"K": rng.normal(size=(2, 2, 4, 3)), "V": rng.normal(size=(2, 2, 4, 3))}  # any cache
    return [
        _case("hidden: prefill of 7, 2 heads", *_kv_args(rng, 1, 0, 7, 8, 2)),
        _case("hidden: one token after 9, 4 heads", *_kv_args(rng, 2, 9, 1, 8, 4)),
        _case("hidden: chunk of 3 after 4, one head", *_kv_args(rng, 1, 4, 3, 5, 1)),
        _case("hidden: chunk of 4 after 1, 3 heads", *_kv_args(rng, 3, 1, 4, 9, 3)),
        _case("hidden: a random cache", *odd),
        _case("hidden: large inputs", *_kv_args(rng, 1, 3, 2, 4, 2, scale=8.0)),
        _case("hidden: d_h = 1", *_kv_args(rng, 1, 2, 2, 4, 4)),
    ]


def measure_hidden() -> list[dict]:
    rng = np.random.default_rng(10903)
    return [
        _case("hidden: no positions, no mask, T = 9", *_positions_args(rng, 9, 8, positions=False)),
        _case("hidden: positions, T = 7", *_positions_args(rng, 7, 6)),
        _case("hidden: causal, no positions, T = 6", *_positions_args(rng, 6, 4, positions=False, causal=True)),
        _case("hidden: reversal, causal with positions", *_positions_args(rng, 5, 4, [4, 3, 2, 1, 0], causal=True)),
        _case("hidden: a swap of two, no positions", *_positions_args(rng, 3, 2, [1, 0, 2], positions=False)),
        _case("hidden: scale 5, positions", *_positions_args(rng, 8, 8, scale=5.0)),
    ]


def verdict_hidden() -> list[dict]:
    return [
        _case("hidden: exactly the threshold, with a zero", [0.0, 1e-8]),
        _case("hidden: one zero", [0.0]),
        _case("hidden: one large", [1.3]),
        _case("hidden: last of five", [0.0, 1e-17, 0.0, 0.0, 4e-6]),
        _case("hidden: middle", [1e-12, 0.02, 1e-12]),
        _case("hidden: all rounding", [3e-15, 1e-15, 8e-16, 2e-15]),
    ]


# --------------------------------------------------------------------------- oracles beyond the reference


def torch_layernorm_backward(x, gamma, eps, dy) -> dict:
    """The oracle of the derivation: autograd through ``F.layer_norm``."""
    import torch
    import torch.nn.functional as F

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    g = torch.tensor(gamma, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(x.shape[-1], dtype=torch.float64, requires_grad=True)
    y = F.layer_norm(xt, (x.shape[-1],), g, b, eps)
    grads = torch.autograd.grad(y, [xt, g, b], grad_outputs=torch.tensor(dy, dtype=torch.float64))
    return {name: t.numpy() for name, t in zip(("x", "gamma", "beta"), grads, strict=True)}


def torch_kv_cache_decode(X, cache, params, n_heads) -> tuple:
    """``F.scaled_dot_product_attention`` of the new queries over the whole cache, with the
    causal mask shifted by the cache's length (``torch.nn.functional.linear`` for projections)."""
    import torch
    import torch.nn.functional as F

    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
    x = torch.tensor(X, dtype=torch.float64)
    B, T_new, D = x.shape

    def heads(m):
        return m.view(B, T_new, n_heads, D // n_heads).transpose(1, 2)

    q, k, v = (heads(F.linear(x, t[f"W_{n}"], t[f"b_{n}"])) for n in "qkv")
    K = torch.cat([torch.tensor(cache["K"], dtype=torch.float64), k], dim=2)
    V = torch.cat([torch.tensor(cache["V"], dtype=torch.float64), v], dim=2)
    T_all = K.shape[2]
    mask = torch.ones(T_new, T_all, dtype=torch.bool).tril(diagonal=T_all - T_new)
    z = F.scaled_dot_product_attention(q, K, V, attn_mask=mask)
    y = F.linear(z.transpose(1, 2).reshape(B, T_new, D), t["W_o"], t["b_o"])
    return y.numpy(), {"K": K.numpy(), "V": V.numpy()}


def torch_positions_measure(X, perm, P, W_q, W_k, W_v, causal) -> float:
    """The same measure with ``F.scaled_dot_product_attention`` (``is_causal``) and an
    inverse permutation from ``torch.argsort``."""
    import torch
    import torch.nn.functional as F

    x, p = torch.tensor(X, dtype=torch.float64), torch.tensor(P, dtype=torch.float64)
    W = [torch.tensor(w, dtype=torch.float64) for w in (W_q, W_k, W_v)]
    perm_t = torch.as_tensor(perm)

    def attend(z):
        q, k, v = (F.linear(z, w)[None] for w in W)
        return F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal))[0]

    Y = attend(x + p)
    back = attend(x[perm_t] + p)[torch.argsort(perm_t)]
    return float(torch.linalg.norm(back - Y) / torch.linalg.norm(Y))


TASKS = {
    "layernorm_backward": Task("layernorm_backward", layernorm_backward, layernorm_visible, layernorm_hidden,
                               oracle=torch_layernorm_backward, derivation=True),
    "kv_cache_decode": Task("kv_cache_decode", kv_cache_decode, kv_visible, kv_hidden,
                            oracle=torch_kv_cache_decode),
    "positions_measure": Task("positions_measure", positions_measure, measure_visible, measure_hidden,
                              oracle=torch_positions_measure),
    "positions_verdict": Task("positions_verdict", positions_verdict, verdict_visible, verdict_hidden),
}
