"""Exercise 3 (``03_rnn``): the references of its graded tasks, their cases and checks.

Chapter 3 prints the RNN's forward pass, its one-step Jacobian and measures gradient norms
with autograd; the exercise grades what the chapter states in maths but does not code:

- ``rnn_bptt(X, h0, W_xh, W_hh, b_h, dH)``: a derivation, backpropagation through time for
  ``h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)`` given the upstream gradient on every state;
  the oracle is autograd through ``torch.nn.RNN`` with the weights copied in (float64);
- ``masked_perplexity(logits, targets, mask)``: the perplexity of a padded batch, a stable
  log-softmax and a mean over the real tokens only; the oracle is ``F.cross_entropy`` with
  ``ignore_index``;
- ``sensitivity_norms(W_hh, T)`` and ``sensitivity_verdict(norms)``: an experiment, the
  spectral norm of ``∂h_t/∂h_0 = (W_hh^t)ᵀ`` of a linear RNN ``h_t = h_{t-1} W_hh`` for
  t = 1..T, and the verdict on the last norm. The oracle of the norms is the Jacobian of the
  unrolled linear RNN from autograd.

Shapes (the chapter's layout, batch first): ``X`` ``(B, T, D)``, ``h0`` ``(B, H)``, ``W_xh``
``(D, H)``, ``W_hh`` ``(H, H)``, ``b_h`` ``(H,)``, ``dH`` ``(B, T, H)`` where ``dH[:, t]`` is
the gradient on the state after reading ``X[:, t]``; ``logits`` ``(B, T, V)``, ``targets``
and ``mask`` ``(B, T)``.
"""

from __future__ import annotations

import numpy as np

from ..hidden import Task

ASSIGNMENT = "03_rnn"
VERDICTS = ("vanishing", "stable", "exploding")
LOW, HIGH = 1e-2, 1e2


# --------------------------------------------------------------------------- references


def rnn_bptt(X: np.ndarray, h0: np.ndarray, W_xh: np.ndarray, W_hh: np.ndarray, b_h: np.ndarray,
             dH: np.ndarray) -> dict:
    """Gradients of ``L`` with ``∂L/∂h_{t+1} = dH[:, t]`` (direct part) through the unrolled RNN.

    Returns ``{"W_xh": (D, H), "W_hh": (H, H), "b_h": (H,), "h0": (B, H)}``.
    """
    T = X.shape[1]
    states = [h0]
    for t in range(T):
        states.append(np.tanh(X[:, t] @ W_xh + states[-1] @ W_hh + b_h))
    dW_xh, dW_hh, db = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros_like(b_h)
    g = np.zeros_like(h0)  # what reaches the state from later steps
    for t in reversed(range(T)):
        g = g + dH[:, t]
        delta = g * (1.0 - states[t + 1] ** 2)  # ∂L/∂a_t
        dW_xh += X[:, t].T @ delta
        dW_hh += states[t].T @ delta
        db += delta.sum(axis=0)
        g = delta @ W_hh.T
    return {"W_xh": dW_xh, "W_hh": dW_hh, "b_h": db, "h0": g}


def masked_perplexity(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> float:
    """``exp`` of the mean negative log-likelihood over the positions where ``mask`` is true."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(logp, np.asarray(targets)[..., None], axis=-1)[..., 0]
    keep = np.asarray(mask).astype(bool)
    return float(np.exp(nll[keep].sum() / keep.sum()))


def sensitivity_norms(W_hh: np.ndarray, T: int) -> list[float]:
    """``[‖W_hh^t‖₂ for t = 1..T]``: the spectral norm of ``∂h_t/∂h_0`` of ``h_t = h_{t-1} W_hh``."""
    power = np.eye(W_hh.shape[0])
    norms = []
    for _ in range(T):
        power = power @ W_hh
        norms.append(float(np.linalg.norm(power, 2)))
    return norms


def sensitivity_verdict(norms: list[float]) -> str:
    """'vanishing' if the last norm is below 1e-2, 'exploding' if above 1e2, else 'stable'."""
    last = norms[-1]
    return "vanishing" if last < LOW else "exploding" if last > HIGH else "stable"


# --------------------------------------------------------------------------- visible cases


def _case(case_id: str, *args, **kwargs) -> dict:
    return {"id": case_id, "args": list(args), "kwargs": kwargs}


def _rnn_inputs(rng: np.random.Generator, B: int, T: int, D: int, H: int, scale: float = 0.5,
                h0: bool = True) -> list:
    X = rng.normal(size=(B, T, D))
    start = 0.5 * rng.normal(size=(B, H)) if h0 else np.zeros((B, H))
    W_xh = scale * rng.normal(size=(D, H))
    W_hh = scale * rng.normal(size=(H, H))
    b_h = 0.3 * rng.normal(size=H)
    dH = rng.normal(size=(B, T, H))
    return [X, start, W_xh, W_hh, b_h, dH]


def bptt_visible() -> list[dict]:
    rng = np.random.default_rng(301)
    one = _rnn_inputs(rng, 2, 1, 3, 4)
    three = _rnn_inputs(rng, 2, 3, 3, 4)
    last = _rnn_inputs(rng, 3, 4, 2, 3)
    last[5][:, :-1] = 0.0
    single = _rnn_inputs(rng, 1, 5, 2, 3)
    saturated = _rnn_inputs(rng, 2, 3, 2, 3, scale=2.5)
    return [
        _case("one step (T = 1)", *one),
        _case("three steps, a gradient on every state", *three),
        _case("gradient on the last state only", *last),
        _case("one sequence (B = 1), five steps", *single),
        _case("large weights: saturated states", *saturated),
    ]


def _lm_batch(rng: np.random.Generator, B: int, T: int, V: int, lengths: list[int],
              scale: float = 1.0, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits ``scale * N(0, 1)`` plus ``±offset`` (one sign per position: the softmax is
    unchanged, a naive exp overflows or underflows), targets with the padding id 0."""
    logits = scale * rng.normal(size=(B, T, V)) + offset * rng.choice([-1.0, 1.0], size=(B, T, 1))
    targets = rng.integers(0, V, size=(B, T))
    mask = np.arange(T)[None, :] < np.array(lengths)[:, None]
    targets[~mask] = 0  # the padding id
    return logits, targets, mask


def perplexity_visible() -> list[dict]:
    rng = np.random.default_rng(302)
    full = _lm_batch(rng, 2, 3, 4, [3, 3])
    padded = _lm_batch(rng, 3, 5, 6, [5, 2, 4])
    empty_row = _lm_batch(rng, 3, 4, 5, [4, 0, 2])
    large = _lm_batch(rng, 2, 4, 5, [4, 3], scale=3.0, offset=1000.0)
    as_ints = _lm_batch(rng, 2, 6, 3, [6, 1])
    return [
        _case("no padding", full[0], full[1], full[2].astype(np.int64)),
        _case("rows of lengths 5, 2 and 4 (bool mask)", *padded),
        _case("a fully padded row", *empty_row),
        _case("logits near +1000 and -1000 (exp overflows)", *large),
        _case("a 0/1 float mask, one row of one token", as_ints[0], as_ints[1], as_ints[2].astype(np.float64)),
    ]


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def norms_visible() -> list[dict]:
    rng = np.random.default_rng(303)
    return [
        _case("0.5 times the identity, T = 4", 0.5 * np.eye(3), 4),
        _case("a rotation scaled by 1.2, T = 5", 1.2 * _rotation(0.7), 5),
        _case("non-normal: spectral radius 0.5, largest singular value 4", np.array([[0.5, 4.0], [0.0, 0.5]]), 8),
        _case("a random 4 x 4 matrix, T = 3", 0.6 * rng.normal(size=(4, 4)), 3),
        _case("one step (T = 1) is the largest singular value", np.array([[0.2, 0.9, 0.0], [0.0, -0.3, 0.4],
                                                                           [0.5, 0.0, 0.1]]), 1),
    ]


def verdict_visible() -> list[dict]:
    return [
        _case("falls to 0.005", [0.5, 0.1, 0.005]),
        _case("falls to 0.02", [0.5, 0.1, 0.02]),
        _case("grows to 50", [5.0, 20.0, 50.0]),
        _case("grows to 200", [5.0, 40.0, 200.0]),
        _case("grows to 300, then falls to 0.004", [20.0, 300.0, 50.0, 0.5, 0.004]),
        _case("falls to 0.5, then grows to 150", [0.5, 0.9, 3.0, 150.0]),
        _case("falls to exactly 0.01 (not below)", [0.5, 0.05, 0.01]),
        _case("falls to exactly 100 (not above)", [500.0, 200.0, 100.0]),
    ]


# --------------------------------------------------------------------------- hidden cases (seeded, never released)


def bptt_hidden() -> list[dict]:
    rng = np.random.default_rng(9301)
    first_only = _rnn_inputs(rng, 3, 6, 2, 4)
    first_only[5][:, 1:] = 0.0
    return [
        _case("hidden: twelve steps", *_rnn_inputs(rng, 4, 12, 3, 5)),
        _case("hidden: saturated, wide input", *_rnn_inputs(rng, 3, 5, 7, 2, scale=3.0)),
        _case("hidden: one unit, one feature", *_rnn_inputs(rng, 5, 4, 1, 1)),
        _case("hidden: thirty steps, small weights, h0 = 0", *_rnn_inputs(rng, 2, 30, 3, 4, scale=0.3, h0=False)),
        _case("hidden: gradient on the first state only", *first_only),
    ]


def perplexity_hidden() -> list[dict]:
    rng = np.random.default_rng(9302)
    huge = _lm_batch(rng, 3, 5, 7, [5, 0, 3], scale=6.0, offset=3000.0)
    return [
        _case("hidden: a longer batch", *_lm_batch(rng, 5, 9, 11, [9, 3, 7, 1, 5], scale=2.0)),
        _case("hidden: huge logits and an empty row", *huge),
        _case("hidden: one token in the whole batch", *_lm_batch(rng, 2, 3, 4, [0, 1])),
        _case("hidden: two classes, 0/1 ints",
              *(lambda b: (b[0], b[1], b[2].astype(np.int32)))(_lm_batch(rng, 4, 3, 2, [3, 3, 2, 0]))),
    ]


def norms_hidden() -> list[dict]:
    rng = np.random.default_rng(9303)
    W = rng.normal(size=(5, 5))
    jordan = np.diag([0.95, 0.95, 0.95]) + np.diag([6.0, 6.0], k=1)
    Q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    return [
        _case("hidden: random 5 x 5, spectral radius 1.1",
              1.1 * W / np.abs(np.linalg.eigvals(W)).max(), 30),
        _case("hidden: non-normal 3 x 3, spectral radius 0.95", jordan, 25),
        _case("hidden: one unit", np.array([[-1.3]]), 6),
        _case("hidden: orthogonal", Q, 10),
        _case("hidden: nilpotent", np.array([[0.0, 3.0], [0.0, 0.0]]), 3),
    ]


def verdict_hidden() -> list[dict]:
    return [
        _case("hidden: just below 0.01", [0.3, 0.0099]),
        _case("hidden: just above 0.01", [0.3, 0.0101]),
        _case("hidden: exactly 0.01", [0.01]),
        _case("hidden: just below 100", [3.0, 99.0]),
        _case("hidden: just above 100", [3.0, 101.0]),
        _case("hidden: exactly 100", [50.0, 100.0]),
        _case("hidden: exactly zero", [3.0, 0.0]),
        _case("hidden: transient growth", [4.0, 8.0, 500.0, 20.0, 0.9, 0.02]),
    ]


# --------------------------------------------------------------------------- oracles beyond the reference


def torch_bptt(X, h0, W_xh, W_hh, b_h, dH) -> dict:
    """The oracle of the derivation: autograd through ``torch.nn.RNN`` (float64), our weights
    copied in (its weights are the transposes; its second bias is zero)."""
    import torch

    B, T, D = X.shape
    H = W_hh.shape[0]
    net = torch.nn.RNN(D, H, batch_first=True).double()
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(np.array(W_xh).T))
        net.weight_hh_l0.copy_(torch.from_numpy(np.array(W_hh).T))
        net.bias_ih_l0.copy_(torch.from_numpy(np.array(b_h)))
        net.bias_hh_l0.zero_()
    start = torch.tensor(h0, dtype=torch.float64).unsqueeze(0).requires_grad_()
    out, _ = net(torch.tensor(X, dtype=torch.float64), start)
    loss = (out * torch.tensor(dH, dtype=torch.float64)).sum()
    grads = torch.autograd.grad(loss, [net.weight_ih_l0, net.weight_hh_l0, net.bias_ih_l0, start])
    return {"W_xh": grads[0].T.numpy(), "W_hh": grads[1].T.numpy(), "b_h": grads[2].numpy(),
            "h0": grads[3][0].numpy()}


def torch_perplexity(logits, targets, mask) -> float:
    import torch
    import torch.nn.functional as F

    y = torch.as_tensor(np.where(np.asarray(mask).astype(bool), targets, -100))
    loss = F.cross_entropy(torch.tensor(logits, dtype=torch.float64).flatten(0, 1), y.flatten(), ignore_index=-100)
    return float(torch.exp(loss))


def torch_norms(W_hh, T) -> list[float]:
    """The spectral norm of the Jacobian ``∂h_t/∂h_0`` of the unrolled linear RNN, by autograd."""
    import torch

    W = torch.tensor(W_hh, dtype=torch.float64)

    def unrolled(steps):
        def run(h):
            for _ in range(steps):
                h = h @ W
            return h
        return run

    h0 = torch.zeros(W.shape[0], dtype=torch.float64)
    return [float(torch.linalg.matrix_norm(torch.autograd.functional.jacobian(unrolled(t), h0), ord=2))
            for t in range(1, T + 1)]


TASKS = {
    "rnn_bptt": Task("rnn_bptt", rnn_bptt, bptt_visible, bptt_hidden, oracle=torch_bptt, derivation=True),
    "masked_perplexity": Task("masked_perplexity", masked_perplexity, perplexity_visible, perplexity_hidden,
                              oracle=torch_perplexity),
    "sensitivity_norms": Task("sensitivity_norms", sensitivity_norms, norms_visible, norms_hidden,
                              oracle=torch_norms),
    "sensitivity_verdict": Task("sensitivity_verdict", sensitivity_verdict, verdict_visible, verdict_hidden),
}
