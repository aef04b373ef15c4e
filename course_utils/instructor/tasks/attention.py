"""Exercise 9 (``09_attention``): the references of its graded tasks, their cases and checks.

Chapter 9 prints the masked softmax, dot-product, additive and scaled dot-product attention
(in PyTorch), the encoder-decoder and beam search; the exercise grades what it does not code:

- ``bilinear_scores(S, H, W, mask)``: Luong's "general" score ``e_bt = s_bᵀ W h_bt``, with
  ``-inf`` at padded positions (the convention of the chapter's ``masked_softmax``);
- ``attention_backward(Q, K, V, mask, dOut)``: a derivation, ``dQ``, ``dK`` and ``dV`` of
  masked scaled dot-product attention (``F.scaled_dot_product_attention`` with a boolean
  ``attn_mask`` and autograd are the oracle);
- ``coverage_penalty(A, beta)``: GNMT's coverage penalty of one hypothesis (Wu et al., 2016),
  with the coverage of a source word clipped to ``[1e-10, 1]``;
- ``attention_entropy(weights, mask)`` and ``entropy_verdict(measurements)``: an experiment,
  the mean entropy of attention weights in nats per query over the valid keys, against its
  maximum, and the verdict sharp / mixed / diffuse.

Masks follow ``course_utils.models.attention``: boolean, True at the positions that may be
attended to (real tokens), False at padding. Shapes: ``S`` ``(B, H_d)`` decoder states, ``H``
``(B, T, H_e)`` encoder states, ``W`` ``(H_d, H_e)``, ``mask`` ``(B, T)``; ``Q`` ``(B, Tq, d)``,
``K`` ``(B, Tk, d)``, ``V`` ``(B, Tk, dv)``, attention mask ``(B, Tq, Tk)`` with at least one
True per query row, ``dOut`` ``(B, Tq, dv)``; ``A`` ``(T_out, T_in)``; ``weights``
``(B, Tq, Tk)`` with a key mask ``(B, Tk)``. Everything is float64.
"""

from __future__ import annotations

import numpy as np

from ..hidden import Task

ASSIGNMENT = "09_attention"
VERDICTS = ("sharp", "mixed", "diffuse")
EPS = 1e-10  # the floor of a source word's coverage in the coverage penalty


# --------------------------------------------------------------------------- references


def bilinear_scores(S: np.ndarray, H: np.ndarray, W: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``e[b, t] = S[b] @ W @ H[b, t]`` ``(B, T)``, and ``-inf`` where ``mask`` is False."""
    scores = np.einsum("bi,ij,btj->bt", S, W, H)
    return np.where(mask, scores, -np.inf)


def attention_backward(Q: np.ndarray, K: np.ndarray, V: np.ndarray, mask: np.ndarray,
                       dOut: np.ndarray) -> dict:
    """Gradients of ``L = Σ dOut ⊙ out`` for ``out = softmax(Q Kᵀ / √d, masked) V``."""
    scale = 1.0 / np.sqrt(Q.shape[-1])
    scores = np.where(mask, Q @ K.transpose(0, 2, 1) * scale, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    P = e / e.sum(axis=-1, keepdims=True)                        # (B, Tq, Tk), 0 where masked
    dP = dOut @ V.transpose(0, 2, 1)                              # (B, Tq, Tk)
    dS = P * (dP - (P * dP).sum(axis=-1, keepdims=True))          # the softmax's VJP
    return {"Q": dS @ K * scale, "K": dS.transpose(0, 2, 1) @ Q * scale, "V": P.transpose(0, 2, 1) @ dOut}


def coverage_penalty(A: np.ndarray, beta: float) -> float:
    """``β Σ_j log(clip(Σ_i A[i, j], 1e-10, 1))``: 0 when every source word is covered."""
    coverage = A.sum(axis=0)
    return float(beta * np.log(np.clip(coverage, EPS, 1.0)).sum())


def attention_entropy(weights: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """``(mean entropy, mean maximum entropy)`` in nats over the ``B·Tq`` queries.

    The entropy of a query is ``-Σ_k a_k log a_k`` over its valid keys (``0 log 0 = 0``); its
    maximum is ``log n_b``, with ``n_b`` the number of valid keys of its example.
    """
    valid = mask[:, None, :] & (weights > 0)
    terms = np.where(valid, weights * np.log(np.where(valid, weights, 1.0)), 0.0)
    entropy = -terms.sum(axis=-1)                                  # (B, Tq)
    n_valid = mask.sum(axis=-1)                                    # (B,)
    return float(entropy.mean()), float(np.log(n_valid).mean())


def entropy_verdict(measurements) -> str:
    """``measurements = (entropy, max_entropy)``: 'sharp' if entropy < 0.25 max, 'diffuse' if
    entropy > 0.75 max, else 'mixed'."""
    entropy, max_entropy = measurements
    if entropy < 0.25 * max_entropy:
        return "sharp"
    if entropy > 0.75 * max_entropy:
        return "diffuse"
    return "mixed"


# --------------------------------------------------------------------------- visible cases


def _case(case_id: str, *args, **kwargs) -> dict:
    return {"id": case_id, "args": list(args), "kwargs": kwargs}


def _lengths_mask(lengths, T: int) -> np.ndarray:
    """``(B, T)`` bool, True at the first ``lengths[b]`` positions."""
    return np.arange(T)[None, :] < np.asarray(lengths)[:, None]


def _bilinear_args(rng, B, T, Hd, He, lengths=None, pad=None):
    """``S, H, W, mask``; padded encoder states hold ``pad`` (if given), like any garbage."""
    S, H, W = rng.normal(size=(B, Hd)), rng.normal(size=(B, T, He)), rng.normal(size=(Hd, He))
    mask = _lengths_mask(lengths if lengths is not None else [T] * B, T)
    if pad is not None:
        H[~mask] = pad
    return [S, H, W, mask]


def bilinear_visible() -> list[dict]:
    rng = np.random.default_rng(901)
    identity = _bilinear_args(rng, 2, 4, 3, 3)
    identity[2] = np.eye(3)
    empty = _bilinear_args(rng, 2, 3, 2, 3)
    empty[3] = np.array([[True, True, False], [False, False, False]])
    return [
        _case("one example, T = 3, H_d = H_e = 2, no padding", *_bilinear_args(rng, 1, 3, 2, 2)),
        _case("W = identity: the dot-product score sᵀh", *identity),
        _case("H_d = 3, H_e = 5: W is not square", *_bilinear_args(rng, 2, 3, 3, 5)),
        _case("lengths 5, 3, 1: padding gets -inf", *_bilinear_args(rng, 3, 5, 4, 2, [5, 3, 1], pad=2.0)),
        _case("every position of the second example is padding", *empty),
    ]


def _attention_args(rng, B, Tq, Tk, d, dv, mask=None, scale=1.0):
    """``Q, K, V, mask, dOut``; ``mask`` defaults to all True."""
    Q, K = scale * rng.normal(size=(B, Tq, d)), scale * rng.normal(size=(B, Tk, d))
    V, dOut = rng.normal(size=(B, Tk, dv)), rng.normal(size=(B, Tq, dv))
    mask = np.ones((B, Tq, Tk), dtype=bool) if mask is None else mask
    return [Q, K, V, mask, dOut]


def _key_padding(lengths, Tq: int, Tk: int) -> np.ndarray:
    """``(B, Tq, Tk)``: every query may attend to the first ``lengths[b]`` keys."""
    return np.repeat(_lengths_mask(lengths, Tk)[:, None, :], Tq, axis=1)


def _large_scores(targets=(1000.0, 999.0, 998.5, 700.0, -50.0), masked=1500.0, d=2) -> list:
    """One query whose scaled scores are ``targets`` and, on a last, masked key, ``masked``."""
    targets = np.array([*targets, masked])
    Q = np.zeros((1, 1, d))
    Q[0, 0, 0] = 20.0
    K = np.zeros((1, targets.size, d))
    K[0, :, 0] = targets * np.sqrt(d) / 20.0
    K[0, :, 1] = np.linspace(-1.0, 1.0, targets.size)
    mask = np.array([[[True] * (targets.size - 1) + [False]]])
    V = np.arange(targets.size * 3, dtype=float).reshape(1, targets.size, 3) / 7.0
    return [Q, K, V, mask, np.array([[[1.0, -2.0, 0.5]]])]


def backward_visible() -> list[dict]:
    rng = np.random.default_rng(902)
    padded = _attention_args(rng, 2, 3, 5, 4, 2, _key_padding([5, 3], 3, 5))
    padded[1][~padded[3][:, 0, :]] = 3.0  # padded keys and values hold large garbage
    padded[2][~padded[3][:, 0, :]] = 50.0
    causal = np.repeat(np.tril(np.ones((4, 4), dtype=bool))[None], 2, axis=0)
    return [
        _case("one query (Tq = 1), no padding, d = 3", *_attention_args(rng, 2, 1, 4, 3, 2)),
        _case("padding keys hidden by the mask (lengths 5 and 3)", *padded),
        _case("one query, scores up to 1000, a masked key scoring 1500", *_large_scores()),
        _case("causal mask, Tq = Tk = 4, d = 8, dv = 3", *_attention_args(rng, 2, 4, 4, 8, 3, causal)),
        _case("d = 16, Tq = 2, Tk = 6, dv = 1", *_attention_args(rng, 1, 2, 6, 16, 1)),
    ]


def coverage_visible() -> list[dict]:
    rng = np.random.default_rng(903)

    def rows(T_out, T_in, sharpness=1.0):
        z = sharpness * rng.normal(size=(T_out, T_in))
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    covered = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.0, 0.8]])
    unseen = rows(3, 4)
    unseen[:, 2] = 0.0
    unseen /= unseen.sum(axis=1, keepdims=True)
    over = np.array([[0.95, 0.05, 0.0, 0.0], [0.9, 0.1, 0.0, 0.0], [0.5, 0.2, 0.3, 0.0],
                     [0.55, 0.05, 0.1, 0.3]])
    return [
        _case("three outputs, five source words, beta = 0.2", rows(3, 5), 0.2),
        _case("every source word covered exactly once: no penalty", covered, 1.0),
        _case("a source word with zero attention: coverage clipped at 1e-10", unseen, 0.2),
        _case("one output (T_out = 1), beta = 1", rows(1, 4), 1.0),
        _case("an over-attended source word (coverage 2.9) earns no bonus", over, 0.5),
    ]


def _softmax_rows(scores: np.ndarray, key_mask: np.ndarray) -> np.ndarray:
    """Masked softmax over the last axis of ``(B, Tq, Tk)`` scores with a ``(B, Tk)`` key mask."""
    s = np.where(key_mask[:, None, :], scores, -np.inf)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def entropy_visible() -> list[dict]:
    rng = np.random.default_rng(904)
    one_hot = np.zeros((2, 3, 4))
    one_hot[0, [0, 1, 2], [1, 3, 0]] = 1.0
    one_hot[1, [0, 1, 2], [2, 2, 1]] = 1.0
    padded = _lengths_mask([5, 2], 5)
    uneven = _lengths_mask([1, 4, 8], 8)
    return [
        _case("uniform weights: the entropy is its maximum log 4", np.full((1, 2, 4), 0.25), np.ones((1, 4), bool)),
        _case("one-hot weights: 0 log 0 = 0", one_hot, np.ones((2, 4), bool)),
        _case("padding (lengths 5 and 2): zeros at padded keys",
              _softmax_rows(rng.normal(size=(2, 3, 5)), padded), padded),
        _case("lengths 1, 4 and 8: the maximum averages log n",
              _softmax_rows(2.0 * rng.normal(size=(3, 2, 8)), uneven), uneven),
        _case("peaked but not one-hot, 6 keys", _softmax_rows(6.0 * rng.normal(size=(2, 4, 6)), np.ones((2, 6), bool)),
              np.ones((2, 6), bool)),
    ]


def verdict_visible() -> list[dict]:
    return [
        _case("entropy 0.1 of a maximum 2.0", (0.1, 2.0)),
        _case("entropy 1.8 of a maximum 2.0", (1.8, 2.0)),
        _case("entropy 1.0 of a maximum 2.0", (1.0, 2.0)),
        _case("just below a quarter of the maximum", (0.249, 1.0)),
        _case("just above three quarters of the maximum", (0.751, 1.0)),
        _case("just above a quarter, maximum log 20", (0.26 * np.log(20), float(np.log(20)))),
        _case("entropy 0.8 of a maximum 0.9 (one key of two)", (0.8, 0.9)),
    ]


# --------------------------------------------------------------------------- hidden cases (seeded, never released)


def bilinear_hidden() -> list[dict]:
    rng = np.random.default_rng(9901)
    return [
        _case("hidden: B = 4, T = 7, H_d = 6, H_e = 3, lengths",
              *_bilinear_args(rng, 4, 7, 6, 3, [7, 1, 4, 6], pad=-5.0)),
        _case("hidden: one state dimension", *_bilinear_args(rng, 2, 3, 1, 1, [2, 3])),
        _case("hidden: square W, no padding", *_bilinear_args(rng, 3, 5, 4, 4)),
        _case("hidden: mask with holes", *_bilinear_args(rng, 2, 4, 2, 5)[:3],
              np.array([[True, False, True, False], [False, True, True, True]])),
    ]


def backward_hidden() -> list[dict]:
    rng = np.random.default_rng(9902)
    random_mask = rng.uniform(size=(2, 5, 6)) < 0.5
    random_mask[..., 0] = True  # every query keeps at least one key
    big = _attention_args(rng, 2, 3, 4, 5, 2, _key_padding([4, 2], 3, 4), scale=40.0)
    return [
        _case("hidden: Tq = 1, key padding", *_attention_args(rng, 3, 1, 6, 4, 3, _key_padding([6, 2, 4], 1, 6))),
        _case("hidden: a random mask", *_attention_args(rng, 2, 5, 6, 3, 4, random_mask)),
        _case("hidden: large scores", *big),
        _case("hidden: scores near -3000 and 2500", *_large_scores((2500.0, 2499.3, -3000.0, 2490.0), 4000.0, d=3)),
        _case("hidden: causal, d = 1", *_attention_args(rng, 1, 5, 5, 1, 2,
                                                          np.tril(np.ones((1, 5, 5), dtype=bool)))),
        _case("hidden: one key", *_attention_args(rng, 2, 3, 1, 4, 2)),
        _case("hidden: d = 32, Tq = 7, Tk = 9", *_attention_args(rng, 2, 7, 9, 32, 5, _key_padding([9, 5], 7, 9))),
    ]


def coverage_hidden() -> list[dict]:
    rng = np.random.default_rng(9903)
    A = rng.dirichlet(np.full(7, 0.3), size=6)
    sparse = rng.dirichlet(np.full(5, 0.5), size=3)
    sparse[:, [1, 4]] = 0.0
    sparse /= sparse.sum(axis=1, keepdims=True)
    return [
        _case("hidden: T_out = 6, T_in = 7", A, 0.3),
        _case("hidden: two unseen source words", sparse, 0.15),
        _case("hidden: beta = 0", rng.dirichlet(np.ones(4), size=2), 0.0),
        _case("hidden: a tiny but positive coverage", np.array([[1.0 - 1e-12, 1e-12], [1.0, 0.0]]), 1.0),
        _case("hidden: one source word", np.ones((3, 1)), 0.7),
    ]


def entropy_hidden() -> list[dict]:
    rng = np.random.default_rng(9904)
    lengths = _lengths_mask([3, 9, 1, 6], 9)
    full = np.ones((2, 7), bool)
    return [
        _case("hidden: four lengths", _softmax_rows(1.5 * rng.normal(size=(4, 5, 9)), lengths), lengths),
        _case("hidden: sharp", _softmax_rows(20.0 * rng.normal(size=(2, 3, 7)), full), full),
        _case("hidden: flat", _softmax_rows(0.1 * rng.normal(size=(2, 3, 7)), full), full),
        _case("hidden: one query", _softmax_rows(rng.normal(size=(1, 1, 4)), np.ones((1, 4), bool)),
              np.ones((1, 4), bool)),
        _case("hidden: zero weights at valid keys",
              np.array([[[0.5, 0.0, 0.5, 0.0], [0.0, 0.0, 1.0, 0.0]], [[0.0, 1.0, 0.0, 0.0], [0.25, 0.75, 0.0, 0.0]]]),
              np.array([[True] * 4, [True, True, False, False]])),
    ]


def verdict_hidden() -> list[dict]:
    return [
        _case("hidden: exactly a quarter", (0.25, 1.0)),
        _case("hidden: exactly three quarters", (3.0, 4.0)),
        _case("hidden: just below three quarters", (0.7499, 1.0)),
        _case("hidden: zero entropy", (0.0, 1.5)),
        _case("hidden: at the maximum", (float(np.log(7)), float(np.log(7)))),
        _case("hidden: just above a quarter", (0.2501, 1.0)),
        _case("hidden: large maximum, sharp", (0.9, 3.7)),
    ]


# --------------------------------------------------------------------------- oracles beyond the reference


def torch_bilinear(S, H, W, mask) -> np.ndarray:
    """``F.bilinear`` (``x1ᵀ A x2``) of each state with each encoder state, then the mask."""
    import torch
    import torch.nn.functional as F

    B, T, _ = H.shape
    s = torch.tensor(S, dtype=torch.float64)[:, None, :].expand(B, T, -1)
    scores = F.bilinear(s, torch.tensor(H, dtype=torch.float64), torch.tensor(W, dtype=torch.float64)[None])
    return scores[..., 0].masked_fill(~torch.as_tensor(mask), float("-inf")).numpy()


def torch_attention_backward(Q, K, V, mask, dOut) -> dict:
    """The oracle of the derivation: autograd through ``F.scaled_dot_product_attention``."""
    import torch
    import torch.nn.functional as F

    q, k, v = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (Q, K, V))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=torch.as_tensor(mask))
    grads = torch.autograd.grad(out, [q, k, v], grad_outputs=torch.tensor(dOut, dtype=torch.float64))
    return {name: g.numpy() for name, g in zip(("Q", "K", "V"), grads, strict=True)}


def torch_entropy(weights, mask) -> tuple[float, float]:
    """``torch.distributions.Categorical`` entropy of each query over its valid keys."""
    import torch

    w = torch.tensor(weights, dtype=torch.float64)
    m = torch.as_tensor(mask)[:, None, :].expand_as(w)
    probs = torch.where(m, w, torch.zeros_like(w))
    entropy = torch.distributions.Categorical(probs=probs).entropy()
    return float(entropy.mean()), float(torch.log(torch.as_tensor(mask).sum(-1).double()).mean())


TASKS = {
    "bilinear_scores": Task("bilinear_scores", bilinear_scores, bilinear_visible, bilinear_hidden,
                            oracle=torch_bilinear),
    "attention_backward": Task("attention_backward", attention_backward, backward_visible, backward_hidden,
                               oracle=torch_attention_backward, derivation=True),
    "coverage_penalty": Task("coverage_penalty", coverage_penalty, coverage_visible, coverage_hidden),
    "attention_entropy": Task("attention_entropy", attention_entropy, entropy_visible, entropy_hidden,
                              oracle=torch_entropy),
    "entropy_verdict": Task("entropy_verdict", entropy_verdict, verdict_visible, verdict_hidden),
}
