"""Exercise 5 (``05_gru``): the references of its graded tasks, their cases and checks.

Chapter 5 prints the GRU's forward step in PyTorch's layout (``gru_cell_gates``,
``gru_cell_forward``, ``gru_forward``) and measures its Jacobians with autograd; the
exercise grades what the chapter does not code:

- ``gru_step_backward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh)``: a
  derivation, every gradient of one step from the upstream gradient ``dh`` on its new
  state (``torch.nn.GRUCell`` and autograd are the oracle);
- ``gru_bptt(X, h0, weight_ih, weight_hh, bias_ih, bias_hh, dH)``: backpropagation through
  time, the step backward chained over ``T`` steps with an upstream gradient on every
  state; the student's ``gru_step_backward`` is a stub while it runs;
- ``update_gate_measure(X, h0, weight_ih, weight_hh, bias_ih, bias_hh, shift)`` and
  ``update_gate_verdict(measurements)``: an experiment, how much of the initial state a GRU
  keeps after ``T`` steps when the bias of its update gate is moved by ``shift``.

Layout (as ``torch.nn.GRUCell``): ``x`` ``(B, D)``, ``h_prev`` ``(B, H)``, ``weight_ih``
``(3H, D)`` and ``weight_hh`` ``(3H, H)`` with rows in the gate order r, z, n, biases
``(3H,)``; sequences ``X`` ``(T, B, D)`` (time first), upstream gradients ``dH`` ``(T, B, H)``.
The step::

    r = σ(x W_ir^T + b_ir + h W_hr^T + b_hr)
    z = σ(x W_iz^T + b_iz + h W_hz^T + b_hz)
    n = tanh(x W_in^T + b_in + r ⊙ (h W_hn^T + b_hn))
    h' = (1 - z) ⊙ n + z ⊙ h

The gradients are those of ``L = Σ dh ⊙ h'`` (a vector-Jacobian product).
"""

from __future__ import annotations

import numpy as np

from ..hidden import Task

ASSIGNMENT = "05_gru"
VERDICTS = ("copies", "overwrites", "mixed")
KEYS = ("x", "h_prev", "weight_ih", "weight_hh", "bias_ih", "bias_hh")


# --------------------------------------------------------------------------- references


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -a))


def _gates(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """``(r, z, n, g_n)`` of one step; ``g_n = h W_hn^T + b_hn`` is what the reset gate scales."""
    H = h_prev.shape[1]
    gi = x @ weight_ih.T + bias_ih
    gh = h_prev @ weight_hh.T + bias_hh
    r = _sigmoid(gi[:, :H] + gh[:, :H])
    z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    g_n = gh[:, 2 * H:]
    n = np.tanh(gi[:, 2 * H:] + r * g_n)
    return r, z, n, g_n


def _step(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    _, z, n, _ = _gates(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    return (1 - z) * n + z * h_prev


def gru_step_backward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh) -> dict:
    """Gradients of ``L = Σ dh ⊙ h'`` for one GRU step, keys ``KEYS``, shapes of the inputs."""
    r, z, n, g_n = _gates(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    da_n = dh * (1 - z) * (1 - n ** 2)          # pre-activation of the candidate
    da_z = dh * (h_prev - n) * z * (1 - z)      # pre-activation of the update gate
    da_r = da_n * g_n * r * (1 - r)             # pre-activation of the reset gate (b_hn in g_n)
    d_gi = np.concatenate([da_r, da_z, da_n], axis=1)       # (B, 3H): x W_ih^T + b_ih
    d_gh = np.concatenate([da_r, da_z, da_n * r], axis=1)   # (B, 3H): h W_hh^T + b_hh
    return {"x": d_gi @ weight_ih, "h_prev": dh * z + d_gh @ weight_hh,
            "weight_ih": d_gi.T @ x, "weight_hh": d_gh.T @ h_prev,
            "bias_ih": d_gi.sum(axis=0), "bias_hh": d_gh.sum(axis=0)}


def gru_bptt(X, h0, weight_ih, weight_hh, bias_ih, bias_hh, dH) -> dict:
    """Backpropagation through time: the weight gradients summed over the steps, and ``"h0"``."""
    states = [h0]
    for x in X:
        states.append(_step(x, states[-1], weight_ih, weight_hh, bias_ih, bias_hh))
    grads = {k: np.zeros_like(w) for k, w in
             (("weight_ih", weight_ih), ("weight_hh", weight_hh), ("bias_ih", bias_ih), ("bias_hh", bias_hh))}
    dh = np.zeros_like(h0)
    for t in reversed(range(len(X))):
        g = gru_step_backward(X[t], states[t], weight_ih, weight_hh, bias_ih, bias_hh, dH[t] + dh)
        for k in grads:
            grads[k] = grads[k] + g[k]
        dh = g["h_prev"]
    return {**grads, "h0": dh}


def update_gate_measure(X, h0, weight_ih, weight_hh, bias_ih, bias_hh, shift) -> tuple[float, float]:
    """``(mean z, kept)`` of the GRU run over ``X`` from ``h0`` with ``shift`` added to ``b_iz``.

    ``mean z`` averages the update gate over every step and unit; ``kept = h_T·h0 / h0·h0``
    is the share of the initial state still present (along its own direction) after T steps.
    """
    H = h0.shape[1]
    b = np.array(bias_ih, dtype=float)
    b[H:2 * H] += shift
    h, zs = h0, []
    for x in X:
        _, z, n, _ = _gates(x, h, weight_ih, weight_hh, b, bias_hh)
        h = (1 - z) * n + z * h
        zs.append(z)
    return float(np.mean(zs)), float(np.sum(h * h0) / np.sum(h0 * h0))


def update_gate_verdict(measurements) -> str:
    """``measurements``: ``(shift, kept)`` pairs in any order. At the largest shift:
    'copies' if kept > 0.9, 'overwrites' if kept < 0.1, else 'mixed'."""
    _, kept = max(measurements, key=lambda pair: pair[0])
    return "copies" if kept > 0.9 else "overwrites" if kept < 0.1 else "mixed"


# --------------------------------------------------------------------------- visible cases


def _case(case_id: str, *args, **kwargs) -> dict:
    return {"id": case_id, "args": list(args), "kwargs": kwargs}


def _weights(rng, D, H, scale=1.0):
    """``weight_ih, weight_hh, bias_ih, bias_hh`` drawn standard normal times ``scale``."""
    return [scale * rng.normal(size=shape) for shape in ((3 * H, D), (3 * H, H), (3 * H,), (3 * H,))]


def _step_args(rng, B, D, H, scale=1.0):
    """``x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh``."""
    return [rng.normal(size=(B, D)), rng.normal(size=(B, H)), *_weights(rng, D, H, scale), rng.normal(size=(B, H))]


def _set(args, index, rows, value):
    """``args`` with ``args[index][rows] = value`` (a copy)."""
    args = list(args)
    args[index] = args[index].copy()
    args[index][rows] = value
    return args


def step_visible() -> list[dict]:
    rng = np.random.default_rng(501)
    H = 3
    b_hn = _set(_step_args(rng, 2, 3, H), 1, slice(None), 0.0)       # h_prev = 0
    b_hn = _set(b_hn, 5, slice(2 * H, 3 * H), np.array([2.0, -1.5, 1.0]))  # a large b_hn
    return [
        _case("one example (B = 1)", *_step_args(rng, 1, 2, 3)),
        _case("a batch of 4, D = 3, H = 5", *_step_args(rng, 4, 3, 5)),
        _case("h_prev = 0: the reset gate scales b_hn alone", *b_hn),
        _case("update gate saturated at 1 (b_iz = 60): the step copies h_prev",
              *_set(_step_args(rng, 3, 2, H), 4, slice(H, 2 * H), 60.0)),
        _case("reset and update gates shut (b_ir = b_iz = -60)",
              *_set(_step_args(rng, 2, 4, H), 4, slice(0, 2 * H), -60.0)),
    ]


def _seq_args(rng, T, B, D, H, scale=1.0):
    """``X, h0, weight_ih, weight_hh, bias_ih, bias_hh, dH``."""
    return [rng.normal(size=(T, B, D)), rng.normal(size=(B, H)), *_weights(rng, D, H, scale),
            rng.normal(size=(T, B, H))]


def bptt_visible() -> list[dict]:
    rng = np.random.default_rng(502)
    last = _seq_args(rng, 5, 2, 3, 2, 0.8)
    last[6][:-1] = 0.0
    first = _seq_args(rng, 3, 1, 2, 3, 0.8)
    first[6][1:] = 0.0
    return [
        _case("one step (T = 1)", *_seq_args(rng, 1, 2, 3, 2, 0.8)),
        _case("T = 4, upstream gradient on every state", *_seq_args(rng, 4, 2, 3, 3, 0.8)),
        _case("upstream gradient on the last state only", *last),
        _case("upstream gradient on the first state only", *first),
        _case("update gate saturated at 1: dh0 is the sum of dH",
              *_set(_seq_args(rng, 4, 2, 2, 3, 0.8), 4, slice(3, 6), 60.0)),
    ]


def _measure_args(rng, T, D, H, shift, scale=1.0):
    """``X (T, 1, D), h0 (1, H), weights / sqrt(H) times scale, shift``."""
    return [rng.normal(size=(T, 1, D)), rng.normal(size=(1, H)),
            *_weights(rng, D, H, scale / np.sqrt(H)), shift]


def measure_visible() -> list[dict]:
    rng = np.random.default_rng(503)
    return [
        _case("no shift, T = 10", *_measure_args(rng, 10, 3, 4, 0.0)),
        _case("shift +8: z near 1", *_measure_args(rng, 10, 3, 4, 8.0)),
        _case("shift -8: z near 0", *_measure_args(rng, 10, 3, 4, -8.0)),
        _case("shift +2, one step, H = 6", *_measure_args(rng, 1, 2, 6, 2.0)),
        _case("shift +3, T = 25, D = 5, H = 8", *_measure_args(rng, 25, 5, 8, 3.0)),
    ]


def verdict_visible() -> list[dict]:
    return [
        _case("kept 0.98 at the largest shift", [(-4.0, 0.0), (0.0, 0.01), (4.0, 0.6), (8.0, 0.98)]),
        _case("kept 0.02 at the largest shift", [(-8.0, 0.0), (-4.0, 0.001), (0.0, 0.02)]),
        _case("kept 0.5 at the largest shift", [(0.0, 0.03), (3.0, 0.5)]),
        _case("shifts not in order", [(8.0, 0.95), (0.0, 0.02), (4.0, 0.05)]),
        _case("just above 0.9", [(-2.0, 0.05), (6.0, 0.901)]),
        _case("just below 0.1, kept falls as the shift grows", [(-6.0, 0.3), (-3.0, 0.099)]),
        _case("negative kept at the largest shift", [(-5.0, 0.95), (0.0, 0.3), (5.0, -0.2)]),
    ]


# --------------------------------------------------------------------------- hidden cases (seeded, never released)


def step_hidden() -> list[dict]:
    rng = np.random.default_rng(9501)
    H = 4
    mixed = _step_args(rng, 3, 3, H)
    mixed = _set(mixed, 4, slice(H, 2 * H), np.array([60.0, -60.0, 0.0, 3.0]))  # some units copy
    zero = _set(_step_args(rng, 5, 2, H), 1, slice(None), 0.0)
    return [
        _case("hidden: one unit, one input", *_step_args(rng, 1, 1, 1)),
        _case("hidden: B = 7, D = 6, H = 4", *_step_args(rng, 7, 6, 4)),
        _case("hidden: large weights", *_step_args(rng, 3, 4, 5, scale=3.0)),
        _case("hidden: some update gates saturated", *mixed),
        _case("hidden: h_prev = 0", *zero),
        _case("hidden: reset gate shut", *_set(_step_args(rng, 2, 3, H), 5, slice(0, H), -60.0)),
    ]


def bptt_hidden() -> list[dict]:
    rng = np.random.default_rng(9502)
    sparse = _seq_args(rng, 6, 3, 2, 4, 0.7)
    sparse[6][[0, 2, 3]] = 0.0
    return [
        _case("hidden: T = 8, B = 3, D = 4, H = 5", *_seq_args(rng, 8, 3, 4, 5, 0.7)),
        _case("hidden: one unit", *_seq_args(rng, 5, 1, 1, 1)),
        _case("hidden: upstream on some states", *sparse),
        _case("hidden: T = 2, large weights", *_seq_args(rng, 2, 2, 3, 3, 2.0)),
        _case("hidden: update gate shut", *_set(_seq_args(rng, 4, 2, 3, 2, 0.7), 4, slice(2, 4), -60.0)),
    ]


def measure_hidden() -> list[dict]:
    rng = np.random.default_rng(9503)
    return [_case(f"hidden: shift {s}", *_measure_args(rng, T, D, H, s))
            for s, T, D, H in ((-3.0, 12, 4, 5), (0.5, 30, 3, 8), (5.0, 20, 6, 3), (12.0, 40, 2, 10))]


def verdict_hidden() -> list[dict]:
    return [
        _case("hidden: exactly 0.9", [(0.0, 0.1), (5.0, 0.9)]),
        _case("hidden: exactly 0.1", [(0.0, 0.05), (2.0, 0.1)]),
        _case("hidden: one measurement, copies", [(7.0, 0.93)]),
        _case("hidden: unordered, overwrites", [(3.0, 0.0999), (-3.0, 0.95), (1.0, 0.5)]),
        _case("hidden: unordered, mixed", [(10.0, 0.899), (2.0, 0.99), (-10.0, 0.0)]),
        _case("hidden: just above 0.1", [(-1.0, 0.0), (4.0, 0.1001)]),
    ]


# --------------------------------------------------------------------------- oracles beyond the reference


def _cell(weight_ih, weight_hh, bias_ih, bias_hh):
    import torch

    D, H = weight_ih.shape[1], weight_hh.shape[1]
    cell = torch.nn.GRUCell(D, H).double()
    with torch.no_grad():
        for p, w in zip((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh),
                        (weight_ih, weight_hh, bias_ih, bias_hh), strict=True):
            p.copy_(torch.from_numpy(np.asarray(w, dtype=np.float64)))
    return cell


def torch_step_backward(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh) -> dict:
    """The oracle of the derivation: ``nn.GRUCell`` with the weights copied in, and autograd."""
    import torch

    cell = _cell(weight_ih, weight_hh, bias_ih, bias_hh)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ht = torch.tensor(h_prev, dtype=torch.float64, requires_grad=True)
    out = cell(xt, ht)
    params = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    grads = torch.autograd.grad(out, [xt, ht, *params], grad_outputs=torch.tensor(dh, dtype=torch.float64))
    return {k: g.numpy() for k, g in zip(KEYS, grads, strict=True)}


def torch_bptt(X, h0, weight_ih, weight_hh, bias_ih, bias_hh, dH) -> dict:
    """Autograd through a one-layer ``nn.GRU`` (time first) with the weights copied in."""
    import torch

    T, B, D = X.shape
    H = h0.shape[1]
    gru = torch.nn.GRU(D, H).double()
    with torch.no_grad():
        for p, w in zip((gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0),
                        (weight_ih, weight_hh, bias_ih, bias_hh), strict=True):
            p.copy_(torch.from_numpy(np.asarray(w, dtype=np.float64)))
    h0t = torch.tensor(h0, dtype=torch.float64, requires_grad=True)
    out, _ = gru(torch.tensor(X, dtype=torch.float64), h0t[None])
    params = [gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0]
    grads = torch.autograd.grad(out, [*params, h0t], grad_outputs=torch.tensor(dH, dtype=torch.float64))
    return {k: g.numpy() for k, g in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh", "h0"), grads, strict=True)}


def torch_measure(X, h0, weight_ih, weight_hh, bias_ih, bias_hh, shift) -> tuple[float, float]:
    """The same run with ``nn.GRUCell``; the update gate from its own bias rows."""
    import torch

    H = h0.shape[1]
    b = np.array(bias_ih, dtype=float)
    b[H:2 * H] += shift
    cell = _cell(weight_ih, weight_hh, b, bias_hh)
    h0t = h = torch.tensor(h0, dtype=torch.float64)
    zs = []
    with torch.no_grad():
        for x in torch.tensor(X, dtype=torch.float64):
            zs.append(torch.sigmoid(x @ cell.weight_ih[H:2 * H].T + cell.bias_ih[H:2 * H]
                                    + h @ cell.weight_hh[H:2 * H].T + cell.bias_hh[H:2 * H]))
            h = cell(x, h)
    return float(torch.stack(zs).mean()), float((h * h0t).sum() / (h0t * h0t).sum())


TASKS = {
    "gru_step_backward": Task("gru_step_backward", gru_step_backward, step_visible, step_hidden,
                              oracle=torch_step_backward, derivation=True),
    "gru_bptt": Task("gru_bptt", gru_bptt, bptt_visible, bptt_hidden, oracle=torch_bptt,
                     helpers={"gru_step_backward": gru_step_backward}, derivation=True),
    "update_gate_measure": Task("update_gate_measure", update_gate_measure, measure_visible, measure_hidden,
                                oracle=torch_measure),
    "update_gate_verdict": Task("update_gate_verdict", update_gate_verdict, verdict_visible, verdict_hidden),
}
