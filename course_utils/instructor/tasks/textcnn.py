"""Exercise 8 (``08_cnn_text``): the references of its graded tasks, their cases and checks.

Chapter 8 prints the forward convolution over an embedded sentence (``conv1d_text``), the
masked max over time and the ``TextCNN``; the exercise grades what the chapter does not code:

- ``conv1d_backward(X, W, b, dY)``: a derivation, the gradients of a valid stride-1 text
  convolution with respect to its input, filters and bias from the upstream gradient ``dY``
  of the feature maps (autograd through ``torch.nn.functional.conv1d`` is the oracle);
- ``dilated_conv1d(X, W, b, d)``: a variant, the same convolution with its taps ``d``
  tokens apart (``F.conv1d(dilation=d)`` is the oracle);
- ``kmax_pooling(maps, lengths, k)``: order-preserving k-max pooling over time
  (Kalchbrenner et al., 2014) over the valid positions only;
- ``receptive_field(kernel_sizes, dilations)`` and ``receptive_verdict(field, n)``: an
  experiment, the input tokens one output of a stack of (dilated) convolutions depends on,
  measured from the stack's impulse response, and whether it sees a whole n-gram.

Layout (the chapter's and ``conv1d_text``'s): ``X`` ``(B, T, E)`` embeddings, batch first,
time second; ``W`` ``(C, E, k)`` filters (the layout of ``nn.Conv1d.weight``); ``b``
``(C,)``; feature maps ``(B, C, T')``. The convolution (a cross-correlation)::

    Y[b, c, t] = sum_{e, j} W[c, e, j] X[b, t + d j, e] + b[c],   t = 0 .. T - d (k - 1) - 1

with ``d = 1`` for ``conv1d_backward``, whose gradients are those of ``L = sum(dY * Y)``.
"""

from __future__ import annotations

import numpy as np

from ..hidden import Task

ASSIGNMENT = "08_cnn_text"
VERDICTS = ("sees_ngram", "gapped", "too_narrow")


# --------------------------------------------------------------------------- references


def conv1d_backward(X: np.ndarray, W: np.ndarray, b: np.ndarray, dY: np.ndarray) -> dict:
    """``{"X": dL/dX (B, T, E), "W": dL/dW (C, E, k), "b": dL/db (C,)}`` for ``L = sum(dY * Y)``."""
    k, n = W.shape[-1], dY.shape[-1]                    # kernel width, number of windows T - k + 1
    dX = np.zeros_like(X, dtype=float)
    dW = np.zeros_like(W, dtype=float)
    for j in range(k):                                  # tap j reads X[:, t + j] for t < n
        dX[:, j:j + n] += np.einsum("bct,ce->bte", dY, W[:, :, j])
        dW[:, :, j] = np.einsum("bct,bte->ce", dY, X[:, j:j + n])
    return {"X": dX, "W": dW, "b": dY.sum(axis=(0, 2))}


def dilated_conv1d(X: np.ndarray, W: np.ndarray, b: np.ndarray, d: int) -> np.ndarray:
    """``(B, C, T - d (k - 1))``: ``Y[b, c, t] = sum_{e, j} W[c, e, j] X[b, t + d j, e] + b[c]``."""
    k = W.shape[-1]
    n = X.shape[1] - d * (k - 1)
    Y = np.zeros((X.shape[0], W.shape[0], n)) + b[None, :, None]
    for j in range(k):
        Y += np.einsum("bte,ce->bct", X[:, d * j:d * j + n], W[:, :, j])
    return Y


def kmax_pooling(maps: np.ndarray, lengths: np.ndarray, k: int) -> np.ndarray:
    """``(B, C, k)``: per row, the ``k`` largest of the first ``lengths[b]`` values in their order.

    Ties go to the earlier position; a row with fewer than ``k`` valid positions keeps them all,
    in order, followed by ``-inf``. The dtype of ``maps`` is kept.
    """
    B, C, _ = maps.shape
    out = np.full((B, C, k), -np.inf, dtype=maps.dtype)
    for i in range(B):
        valid = maps[i, :, :lengths[i]]                             # (C, n)
        m = min(k, valid.shape[1])
        keep = np.sort(np.argsort(-valid, axis=1, kind="stable")[:, :m], axis=1)
        out[i, :, :m] = np.take_along_axis(valid, keep, axis=1)
    return out


def receptive_field(kernel_sizes: list[int], dilations: list[int]) -> dict:
    """The impulse response of the stack with all-ones filters: ``{"span": its length,
    "seen": its number of non-zero entries}``, both ints."""
    response = np.ones(1)
    for k, d in zip(kernel_sizes, dilations, strict=True):
        taps = np.zeros(d * (k - 1) + 1)
        taps[::d] = 1.0
        response = np.convolve(response, taps)
    return {"span": int(response.size), "seen": int(np.count_nonzero(response))}


def receptive_verdict(field: dict, n: int) -> str:
    """'too_narrow' if the span is below n; else 'gapped' if some token of the span is not
    seen; else 'sees_ngram'."""
    if field["span"] < n:
        return "too_narrow"
    if field["seen"] < field["span"]:
        return "gapped"
    return "sees_ngram"


# --------------------------------------------------------------------------- visible cases


def _case(case_id: str, *args, **kwargs) -> dict:
    return {"id": case_id, "args": list(args), "kwargs": kwargs}


def _conv_args(rng, B, T, E, C, k):
    """``X, W, b`` drawn standard normal."""
    return [rng.normal(size=(B, T, E)), rng.normal(size=(C, E, k)), rng.normal(size=C)]


def _backward_args(rng, B, T, E, C, k):
    """``X, W, b`` and an upstream gradient ``dY`` of the ``T - k + 1`` windows."""
    return [*_conv_args(rng, B, T, E, C, k), rng.normal(size=(B, C, T - k + 1))]


def backward_visible() -> list[dict]:
    rng = np.random.default_rng(801)
    return [
        _case("one sentence (B = 1), k = 2", *_backward_args(rng, 1, 5, 2, 3, 2)),
        _case("kernel width 1 (each window is one token)", *_backward_args(rng, 2, 4, 3, 2, 1)),
        _case("kernel width equal to T (a single window)", *_backward_args(rng, 2, 4, 3, 2, 4)),
        _case("a batch of 3, k = 3 (overlapping windows)", *_backward_args(rng, 3, 7, 4, 5, 3)),
    ]


def dilated_visible() -> list[dict]:
    rng = np.random.default_rng(802)
    return [
        _case("d = 1 is the plain convolution", *_conv_args(rng, 2, 6, 3, 4, 3), 1),
        _case("d = 2, k = 3 (taps at t, t + 2, t + 4)", *_conv_args(rng, 2, 9, 3, 2, 3), 2),
        _case("T just long enough: T = d (k - 1) + 1, one output", *_conv_args(rng, 1, 7, 2, 3, 3), 3),
        _case("k = 1: the dilation changes nothing", *_conv_args(rng, 2, 5, 3, 2, 1), 4),
        _case("d = 3, k = 2, a batch of 3", *_conv_args(rng, 3, 8, 2, 2, 2), 3),
    ]


def kmax_visible() -> list[dict]:
    rng = np.random.default_rng(803)
    ordered = np.array([[[3.0, 1.0, 5.0, 2.0, 4.0], [7.0, 5.0, 9.0, 6.0, 8.0]]])
    return [
        _case("the k largest keep their order", ordered, np.array([5]), 3),
        _case("padding excluded (lengths 5 and 3)",
              np.array([[[0.1, 0.5, 0.2, 0.4, 0.3, 2.0, 3.0]], [[0.3, 0.1, 0.2, 9.0, 9.0, 9.0, 9.0]]]),
              np.array([5, 3]), 2),
        _case("ties: the earlier position first",
              np.array([[[1.0, 2.0, 1.0, 2.0, 1.0], [1.0, 3.0, 0.0, 1.0, 5.0]]]), np.array([5]), 3),
        _case("fewer than k valid positions: -inf after them",
              rng.normal(size=(2, 2, 6)), np.array([6, 2]), 4),
        _case("no valid position at all", rng.normal(size=(2, 1, 3)), np.array([3, 0]), 2),
        {**_case("float32 stays float32", rng.normal(size=(2, 3, 6)).astype(np.float32), np.array([6, 4]), 3),
         "rtol": 1e-4, "atol": 1e-6},
    ]


def field_visible() -> list[dict]:
    return [
        _case("no layer: an output is its own token", [], []),
        _case("one layer of width 5 (Kim's widest filter)", [5], [1]),
        _case("three layers of width 3", [3, 3, 3], [1, 1, 1]),
        _case("width 2, dilations 1, 2, 4, 8 (WaveNet)", [2, 2, 2, 2], [1, 2, 4, 8]),
        _case("width 2, dilations 1 then 4: holes", [2, 2], [1, 4]),
        _case("width 3, dilation 2 from the first layer", [3, 3], [2, 2]),
    ]


def verdict_visible() -> list[dict]:
    return [
        _case("span 5 and n = 5: sees it", {"span": 5, "seen": 5}, 5),
        _case("span 4 and n = 5: too narrow", {"span": 4, "seen": 4}, 5),
        _case("span 6 with a hole, n = 3: gapped", {"span": 6, "seen": 5}, 3),
        _case("span 3 with holes, n = 4: too narrow first", {"span": 3, "seen": 2}, 4),
        _case("span 16, no hole, n = 2", {"span": 16, "seen": 16}, 2),
    ]


# --------------------------------------------------------------------------- hidden cases (seeded, never released)


def backward_hidden() -> list[dict]:
    rng = np.random.default_rng(9801)
    return [
        _case("hidden: k = 4, a batch of 2", *_backward_args(rng, 2, 9, 3, 4, 4)),
        _case("hidden: one embedding dimension", *_backward_args(rng, 3, 6, 1, 2, 2)),
        _case("hidden: k = T, B = 1", *_backward_args(rng, 1, 3, 5, 6, 3)),
        _case("hidden: k = 1, one filter", *_backward_args(rng, 2, 5, 4, 1, 1)),
        _case("hidden: long sentence", *_backward_args(rng, 2, 20, 6, 3, 5)),
    ]


def dilated_hidden() -> list[dict]:
    rng = np.random.default_rng(9802)
    return [
        _case("hidden: d = 2, k = 2", *_conv_args(rng, 2, 7, 4, 3, 2), 2),
        _case("hidden: d = 5, k = 3, just long enough", *_conv_args(rng, 2, 11, 2, 2, 3), 5),
        _case("hidden: d = 1, k = 4", *_conv_args(rng, 1, 8, 3, 5, 4), 1),
        _case("hidden: d = 4, k = 4, long", *_conv_args(rng, 3, 20, 3, 2, 4), 4),
    ]


def kmax_hidden() -> list[dict]:
    rng = np.random.default_rng(9803)
    ties = rng.integers(0, 3, size=(3, 4, 9)).astype(float)
    return [
        _case("hidden: mixed lengths", rng.normal(size=(4, 3, 8)), np.array([8, 5, 1, 3]), 3),
        _case("hidden: many ties", ties, np.array([9, 7, 4]), 4),
        _case("hidden: k = 1 is the max over time", rng.normal(size=(3, 5, 6)), np.array([6, 2, 4]), 1),
        _case("hidden: k equal to the length", rng.normal(size=(2, 2, 5)), np.array([5, 5]), 5),
        _case("hidden: short rows and a zero length", rng.normal(size=(3, 2, 4)), np.array([0, 1, 4]), 3),
    ]


def field_hidden() -> list[dict]:
    return [
        _case("hidden: widths 3, 4, 5", [3, 4, 5], [1, 1, 1]),
        _case("hidden: width 3, dilations 1, 2, 4", [3, 3, 3], [1, 2, 4]),
        _case("hidden: width 2, dilations 1, 3", [2, 2], [1, 3]),
        _case("hidden: width 3, dilations 1, 3, 9", [3, 3, 3], [1, 3, 9]),
        _case("hidden: width 2, dilations 2, 2", [2, 2], [2, 2]),
        _case("hidden: width 1 layers", [1, 1], [3, 5]),
    ]


def verdict_hidden() -> list[dict]:
    return [
        _case("hidden: span n - 1", {"span": 6, "seen": 6}, 7),
        _case("hidden: one hole in a wide span", {"span": 31, "seen": 30}, 5),
        _case("hidden: n = 1", {"span": 1, "seen": 1}, 1),
        _case("hidden: exactly n, with holes", {"span": 4, "seen": 3}, 4),
        _case("hidden: wide and whole", {"span": 9, "seen": 9}, 8),
    ]


# --------------------------------------------------------------------------- oracles beyond the reference


def torch_conv_backward(X, W, b, dY) -> dict:
    """The oracle of the derivation: autograd through ``F.conv1d`` on ``X`` made channels-first."""
    import torch
    import torch.nn.functional as F

    x, w, bias = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (X, W, b))
    y = F.conv1d(x.transpose(1, 2), w, bias)
    gx, gw, gb = torch.autograd.grad(y, (x, w, bias), grad_outputs=torch.tensor(dY, dtype=torch.float64))
    return {"X": gx.numpy(), "W": gw.numpy(), "b": gb.numpy()}


def torch_dilated(X, W, b, d) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    x, w, bias = (torch.tensor(a, dtype=torch.float64) for a in (X, W, b))
    return F.conv1d(x.transpose(1, 2), w, bias, dilation=d).numpy()


def torch_kmax(maps, lengths, k) -> np.ndarray:
    """Positions ranked by (value descending, position ascending) with torch, kept in order."""
    import torch

    x = torch.from_numpy(np.array(maps))
    L = x.shape[-1]
    valid = torch.arange(L)[None, None, :] < torch.as_tensor(lengths)[:, None, None]
    x = x.masked_fill(~valid, float("-inf"))
    rank = torch.sort(x, dim=-1, descending=True, stable=True).indices[..., :k]
    out = torch.gather(x, -1, torch.sort(rank, dim=-1).values)
    if out.shape[-1] < k:
        pad = torch.full((*out.shape[:-1], k - out.shape[-1]), float("-inf"), dtype=out.dtype)
        out = torch.cat([out, pad], dim=-1)
    return out.numpy()  # padding positions come after the valid ones: their -inf ends each row


def torch_field(kernel_sizes, dilations) -> dict:
    """The gradient of one output of an all-ones ``Conv1d`` stack with respect to its input."""
    import torch
    import torch.nn.functional as F

    span = 1 + sum((k - 1) * d for k, d in zip(kernel_sizes, dilations, strict=True))
    x = torch.zeros(1, 1, span, dtype=torch.float64, requires_grad=True)
    y = x
    for k, d in zip(kernel_sizes, dilations, strict=True):
        y = F.conv1d(y, torch.ones(1, 1, k, dtype=torch.float64), dilation=d)
    (g,) = torch.autograd.grad(y[0, 0, 0], x)
    return {"span": span, "seen": int((g != 0).sum())}


TASKS = {
    "conv1d_backward": Task("conv1d_backward", conv1d_backward, backward_visible, backward_hidden,
                            oracle=torch_conv_backward, derivation=True),
    "dilated_conv1d": Task("dilated_conv1d", dilated_conv1d, dilated_visible, dilated_hidden, oracle=torch_dilated),
    "kmax_pooling": Task("kmax_pooling", kmax_pooling, kmax_visible, kmax_hidden, oracle=torch_kmax),
    "receptive_field": Task("receptive_field", receptive_field, field_visible, field_hidden, oracle=torch_field),
    "receptive_verdict": Task("receptive_verdict", receptive_verdict, verdict_visible, verdict_hidden),
}
