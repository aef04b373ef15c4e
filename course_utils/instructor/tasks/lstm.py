"""Exercise 6 (``06_lstm``): the references of its graded tasks, their cases and checks.

Chapter 6 prints the LSTM's forward step and sequence in PyTorch's layout
(``lstm_cell_forward``, ``lstm_forward``), the peephole variant and the parameter shapes of
``nn.LSTM``; it states in words that ``proj_size`` projects ``h`` and never ``c``, and that
the cell path keeps gradients alive when the forget gate is open. The exercise grades what
the chapter does not code:

- ``lstm_proj_forward(X, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr)``: a
  one-layer ``nn.LSTM(proj_size=P, batch_first=True)`` over a batch of sequences, returning
  ``(outputs, (h_T, c_T))`` (``torch.nn.LSTM`` is the oracle);
- ``coupled_lstm_cell(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh)``: one step
  of the LSTM whose forget gate is coupled to its input gate, ``f = 1 - i``; three gate
  blocks i, g, o (the oracle is ``nn.LSTMCell`` with forget weights ``-W_i``, as
  ``1 - σ(a) = σ(-a)``);
- ``lstm_step_backward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh, dc)``:
  a derivation, every gradient of one standard LSTM step from upstream gradients on both
  its outputs (``torch.nn.LSTMCell`` and autograd are the oracle);
- ``forget_bias_measure(X, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, shift)`` and
  ``forget_bias_verdict(measurements)``: an experiment, the share of the initial cell state
  left after ``T`` steps (the mean over units of the product of the forget gates) when the
  forget-gate bias is moved by ``shift``.

Layout (as the chapter and ``torch.nn.LSTM(batch_first=True)``): ``x`` ``(B, D)``, states
``(B, H)``, sequences ``X`` ``(B, T, D)``; ``weight_ih`` ``(4H, D)``, ``weight_hh`` ``(4H, R)``
(``R = P`` with a projection, else ``H``) and biases ``(4H,)``, rows in the gate order
i, f, g, o; ``weight_hr`` ``(P, H)``. The step::

    i, f, g, o = σ, σ, tanh, σ of the four blocks of x W_ih^T + b_ih + h W_hh^T + b_hh
    c' = f ⊙ c + i ⊙ g
    h' = o ⊙ tanh(c')                 (times W_hr^T with a projection)
"""

from __future__ import annotations

import numpy as np

from ..hidden import Task

ASSIGNMENT = "06_lstm"
VERDICTS = ("remembers", "forgets", "fades")
KEYS = ("x", "h_prev", "c_prev", "weight_ih", "weight_hh", "bias_ih", "bias_hh")


# --------------------------------------------------------------------------- references


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -a))


def _gates(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """``(i, f, g, o)`` of one standard LSTM step, each ``(B, H)``."""
    H = weight_ih.shape[0] // 4
    a = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    return (_sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:]))


def lstm_proj_forward(X, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr):
    """``(outputs (B, T, P), (h_T (B, P), c_T (B, H)))`` of a one-layer LSTM with projection."""
    h, c, outputs = h0, c0, []
    for t in range(X.shape[1]):
        i, f, g, o = _gates(X[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)
        c = f * c + i * g
        h = (o * np.tanh(c)) @ weight_hr.T
        outputs.append(h)
    return np.stack(outputs, axis=1), (h, c)


def coupled_lstm_cell(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """``(h, c)`` of one step of the coupled-gate LSTM: blocks i, g, o and ``f = 1 - i``."""
    H = h_prev.shape[1]
    a = x @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh
    i, g, o = _sigmoid(a[:, :H]), np.tanh(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:])
    c = (1 - i) * c_prev + i * g
    return o * np.tanh(c), c


def lstm_step_backward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh, dc) -> dict:
    """Gradients of ``L = Σ dh ⊙ h' + Σ dc ⊙ c'`` for one LSTM step, keys ``KEYS``."""
    i, f, g, o = _gates(x, h_prev, weight_ih, weight_hh, bias_ih, bias_hh)
    c = f * c_prev + i * g
    tc = np.tanh(c)
    dc_total = dc + dh * o * (1 - tc ** 2)        # c' reaches L directly and through h'
    da = np.concatenate([dc_total * g * i * (1 - i),          # input gate
                         dc_total * c_prev * f * (1 - f),     # forget gate
                         dc_total * i * (1 - g ** 2),         # candidate
                         dh * tc * o * (1 - o)], axis=1)      # output gate
    return {"x": da @ weight_ih, "h_prev": da @ weight_hh, "c_prev": dc_total * f,
            "weight_ih": da.T @ x, "weight_hh": da.T @ h_prev,
            "bias_ih": da.sum(axis=0), "bias_hh": da.sum(axis=0)}


def forget_bias_measure(X, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, shift) -> float:
    """Mean over examples and units of ``Π_t f_t``, the LSTM run over ``X`` (B, T, D) from
    ``(h0, c0)`` with ``shift`` added to ``b_if`` (rows H:2H of ``bias_ih``): the factor by
    which ``c0`` is still present in ``c_T``."""
    H = c0.shape[1]
    b = np.array(bias_ih, dtype=float)
    b[H:2 * H] += shift
    h, c, kept = h0, c0, np.ones_like(c0)
    for t in range(X.shape[1]):
        i, f, g, o = _gates(X[:, t], h, weight_ih, weight_hh, b, bias_hh)
        c = f * c + i * g
        h = o * np.tanh(c)
        kept = kept * f
    return float(np.mean(kept))


def forget_bias_verdict(measurements) -> str:
    """``measurements``: ``(shift, fraction)`` pairs in any order. At the largest shift:
    'remembers' if fraction > 0.5, 'forgets' if fraction < 0.05, else 'fades'."""
    _, fraction = max(measurements, key=lambda pair: pair[0])
    return "remembers" if fraction > 0.5 else "forgets" if fraction < 0.05 else "fades"


# --------------------------------------------------------------------------- visible cases


def _case(case_id: str, *args, **kwargs) -> dict:
    return {"id": case_id, "args": list(args), "kwargs": kwargs}


def _weights(rng, D, H, R=None, blocks=4, scale=1.0):
    """``weight_ih (kH, D), weight_hh (kH, R), bias_ih, bias_hh (kH,)``, standard normal times scale."""
    R = H if R is None else R
    k = blocks * H
    return [scale * rng.normal(size=shape) for shape in ((k, D), (k, R), (k,), (k,))]


def _set(args, index, rows, value):
    """``args`` with ``args[index][rows] = value`` (a copy)."""
    args = list(args)
    args[index] = args[index].copy()
    args[index][rows] = value
    return args


def _proj_args(rng, B, T, D, H, P, scale=0.7, weight_hr=None):
    """``X, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr``."""
    weight_hr = rng.normal(size=(P, H)) if weight_hr is None else weight_hr
    return [rng.normal(size=(B, T, D)), rng.normal(size=(B, P)), rng.normal(size=(B, H)),
            *_weights(rng, D, H, P, scale=scale), weight_hr]


def proj_visible() -> list[dict]:
    rng = np.random.default_rng(601)
    zero_states = _proj_args(rng, 3, 4, 2, 3, 1)
    zero_states[1], zero_states[2] = np.zeros((3, 1)), np.zeros((3, 3))
    return [
        _case("one step (T = 1), B = 1, H = 4, P = 2", *_proj_args(rng, 1, 1, 3, 4, 2)),
        _case("B = 2, T = 3, H = 4 projected to P = 2: h has 2 values, c keeps 4",
              *_proj_args(rng, 2, 3, 3, 4, 2)),
        _case("square projection (P = H = 3): a W_hr that is not the identity",
              *_proj_args(rng, 2, 4, 2, 3, 3)),
        _case("W_hr = identity (P = H = 3): the plain LSTM of the chapter",
              *_proj_args(rng, 2, 3, 2, 3, 3, weight_hr=np.eye(3))),
        _case("zero initial states, P = 1, T = 4", *zero_states),
        _case("B = 4, T = 6, D = 5, H = 6, P = 3", *_proj_args(rng, 4, 6, 5, 6, 3)),
    ]


def _cell_args(rng, B, D, H, blocks, scale=1.0):
    """``x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh``."""
    return [rng.normal(size=(B, D)), rng.normal(size=(B, H)), rng.normal(size=(B, H)),
            *_weights(rng, D, H, blocks=blocks, scale=scale)]


def coupled_visible() -> list[dict]:
    rng = np.random.default_rng(602)
    H = 3
    zero = _cell_args(rng, 2, 3, H, 3)
    zero[1], zero[2] = np.zeros((2, H)), np.zeros((2, H))
    return [
        _case("one example, D = 2, H = 3", *_cell_args(rng, 1, 2, 3, 3)),
        _case("a batch of 4, D = 3, H = 5", *_cell_args(rng, 4, 3, 5, 3)),
        _case("input gate shut (b_ii = -60): f = 1, the cell is copied",
              *_set(_cell_args(rng, 3, 2, H, 3), 5, slice(0, H), -60.0)),
        _case("input gate open (b_ii = +60): f = 0, the cell becomes g",
              *_set(_cell_args(rng, 3, 2, H, 3), 5, slice(0, H), 60.0)),
        _case("h_prev = c_prev = 0", *zero),
    ]


def _step_args(rng, B, D, H, scale=1.0):
    """``x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh, dc``."""
    return [*_cell_args(rng, B, D, H, 4, scale), rng.normal(size=(B, H)), rng.normal(size=(B, H))]


def step_visible() -> list[dict]:
    rng = np.random.default_rng(603)
    H = 3
    no_dc = _step_args(rng, 2, 3, H)
    no_dc[8] = np.zeros((2, H))
    no_dh = _step_args(rng, 2, 3, H)
    no_dh[7] = np.zeros((2, H))
    carry = _set(_step_args(rng, 2, 2, H), 5, slice(0, 2 * H), np.r_[-60.0 * np.ones(H), 60.0 * np.ones(H)])
    return [
        _case("one example (B = 1)", *_step_args(rng, 1, 2, 3)),
        _case("a batch of 3, D = 4, H = 2", *_step_args(rng, 3, 4, 2)),
        _case("dc = 0: the gradient arrives through h only", *no_dc),
        _case("dh = 0: the gradient arrives through the cell only", *no_dh),
        _case("input gate shut, forget gate open (b_ii = -60, b_if = +60): c' = c_prev", *carry),
    ]


def _measure_args(rng, T, D, H, shift, B=1, scale=1.0):
    """``X (B, T, D), h0 (B, H), c0 (B, H), weights / sqrt(H) times scale, shift``."""
    return [rng.normal(size=(B, T, D)), rng.normal(size=(B, H)), rng.normal(size=(B, H)),
            *_weights(rng, D, H, scale=scale / np.sqrt(H)), shift]


def measure_visible() -> list[dict]:
    rng = np.random.default_rng(604)
    return [
        _case("no shift, T = 10", *_measure_args(rng, 10, 3, 4, 0.0)),
        _case("shift +6: f near 1", *_measure_args(rng, 10, 3, 4, 6.0)),
        _case("shift -3, one step", *_measure_args(rng, 1, 2, 5, -3.0)),
        _case("shift +3, T = 25, D = 5, H = 8", *_measure_args(rng, 25, 5, 8, 3.0)),
        _case("shift +1, two sequences (B = 2)", *_measure_args(rng, 6, 3, 4, 1.0, B=2)),
    ]


def verdict_visible() -> list[dict]:
    return [
        _case("0.9 at the largest shift", [(-2.0, 0.0), (0.0, 0.001), (3.0, 0.4), (6.0, 0.9)]),
        _case("0.01 at the largest shift", [(-4.0, 0.0), (0.0, 0.01)]),
        _case("shifts not in order", [(6.0, 0.04), (-2.0, 0.8), (2.0, 0.3)]),
        _case("a middle shift keeps the most", [(-3.0, 0.01), (5.0, 0.2), (1.0, 0.7)]),
        _case("just above 0.5", [(-1.0, 0.0), (4.0, 0.501)]),
        _case("just below 0.5", [(4.0, 0.499), (1.0, 0.02)]),
        _case("just below 0.05", [(3.0, 0.0499)]),
        _case("just above 0.05", [(0.0, 0.0), (3.0, 0.0501)]),
    ]


# --------------------------------------------------------------------------- hidden cases (seeded, never released)


def proj_hidden() -> list[dict]:
    rng = np.random.default_rng(9601)
    saturated = _proj_args(rng, 2, 5, 3, 5, 2)
    saturated = _set(saturated, 5, slice(5, 10), 60.0)  # forget gate open: the cell accumulates
    return [
        _case("hidden: B = 3, T = 7, D = 4, H = 5, P = 2", *_proj_args(rng, 3, 7, 4, 5, 2)),
        _case("hidden: one unit projected to one value", *_proj_args(rng, 2, 4, 1, 2, 1)),
        _case("hidden: large weights", *_proj_args(rng, 2, 3, 3, 4, 3, scale=2.5)),
        _case("hidden: forget gate saturated", *saturated),
        _case("hidden: long sequence", *_proj_args(rng, 1, 20, 2, 6, 4, scale=0.5)),
    ]


def coupled_hidden() -> list[dict]:
    rng = np.random.default_rng(9602)
    H = 4
    mixed = _set(_cell_args(rng, 3, 3, H, 3), 5, slice(0, H), np.array([60.0, -60.0, 0.0, 2.0]))
    return [
        _case("hidden: B = 6, D = 5, H = 4", *_cell_args(rng, 6, 5, 4, 3)),
        _case("hidden: one unit, one input", *_cell_args(rng, 1, 1, 1, 3)),
        _case("hidden: large weights", *_cell_args(rng, 2, 3, 3, 3, scale=3.0)),
        _case("hidden: some input gates saturated", *mixed),
        _case("hidden: output gate shut", *_set(_cell_args(rng, 2, 2, H, 3), 6, slice(2 * H, 3 * H), -60.0)),
    ]


def step_hidden() -> list[dict]:
    rng = np.random.default_rng(9603)
    H = 4
    zero = _step_args(rng, 3, 2, H)
    zero[1], zero[2] = np.zeros((3, H)), np.zeros((3, H))
    return [
        _case("hidden: B = 5, D = 6, H = 4", *_step_args(rng, 5, 6, 4)),
        _case("hidden: one unit, one input", *_step_args(rng, 1, 1, 1)),
        _case("hidden: large weights", *_step_args(rng, 2, 3, 5, scale=2.5)),
        _case("hidden: zero states", *zero),
        _case("hidden: output gate shut", *_set(_step_args(rng, 2, 3, H), 6, slice(3 * H, 4 * H), -60.0)),
        _case("hidden: forget gate shut", *_set(_step_args(rng, 2, 3, H), 5, slice(H, 2 * H), -60.0)),
    ]


def measure_hidden() -> list[dict]:
    rng = np.random.default_rng(9604)
    return [_case(f"hidden: shift {s}", *_measure_args(rng, T, D, H, s, B=B))
            for s, T, D, H, B in ((-2.0, 12, 4, 5, 1), (0.5, 30, 3, 8, 1), (4.0, 20, 6, 3, 2), (9.0, 40, 2, 10, 1))]


def verdict_hidden() -> list[dict]:
    return [
        _case("hidden: exactly 0.5", [(0.0, 0.1), (5.0, 0.5)]),
        _case("hidden: exactly 0.05", [(0.0, 0.01), (2.0, 0.05)]),
        _case("hidden: one measurement, remembers", [(7.0, 0.93)]),
        _case("hidden: unordered, forgets", [(3.0, 0.0499), (-3.0, 0.95), (1.0, 0.5)]),
        _case("hidden: unordered, fades", [(10.0, 0.4999), (2.0, 0.99), (-10.0, 0.0)]),
        _case("hidden: just above 0.05", [(-1.0, 0.0), (4.0, 0.0500001)]),
    ]


# --------------------------------------------------------------------------- oracles beyond the reference


def _copy_into(params, arrays):
    import torch

    with torch.no_grad():
        for p, w in zip(params, arrays, strict=True):
            p.copy_(torch.from_numpy(np.asarray(w, dtype=np.float64)))


def _cell(weight_ih, weight_hh, bias_ih, bias_hh):
    import torch

    cell = torch.nn.LSTMCell(weight_ih.shape[1], weight_hh.shape[1]).double()
    _copy_into((cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), (weight_ih, weight_hh, bias_ih, bias_hh))
    return cell


def torch_proj_forward(X, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr):
    """``nn.LSTM(D, H, proj_size=P, batch_first=True)`` with the weights copied in (needs P < H)."""
    import warnings

    import torch

    (P, H), D = weight_hr.shape, X.shape[2]
    lstm = torch.nn.LSTM(D, H, proj_size=P, batch_first=True).double()
    _copy_into((lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0, lstm.weight_hr_l0),
               (weight_ih, weight_hh, bias_ih, bias_hh, weight_hr))
    with torch.no_grad(), warnings.catch_warnings():  # "projections not supported with oneDNN"
        warnings.simplefilter("ignore")
        out, (h_n, c_n) = lstm(torch.from_numpy(np.array(X, dtype=np.float64)),
                               (torch.from_numpy(np.array(h0))[None], torch.from_numpy(np.array(c0))[None]))
    return out.numpy(), (h_n[0].numpy(), c_n[0].numpy())


def torch_coupled(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    """``nn.LSTMCell`` whose forget block is the negated input block: σ(-a_i) = 1 - σ(a_i)."""
    import torch

    H = h_prev.shape[1]

    def four(w):
        return np.concatenate([w[:H], -w[:H], w[H:2 * H], w[2 * H:]])

    cell = _cell(four(weight_ih), four(weight_hh), four(bias_ih), four(bias_hh))
    with torch.no_grad():
        h, c = cell(torch.from_numpy(np.array(x)), (torch.from_numpy(np.array(h_prev)),
                                                    torch.from_numpy(np.array(c_prev))))
    return h.numpy(), c.numpy()


def torch_step_backward(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, dh, dc) -> dict:
    """The oracle of the derivation: ``nn.LSTMCell`` with the weights copied in, and autograd."""
    import torch

    cell = _cell(weight_ih, weight_hh, bias_ih, bias_hh)
    xt, ht, ct = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, h_prev, c_prev))
    h, c = cell(xt, (ht, ct))
    params = [cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]
    upstream = (torch.tensor(dh, dtype=torch.float64), torch.tensor(dc, dtype=torch.float64))
    grads = torch.autograd.grad((h, c), [xt, ht, ct, *params], grad_outputs=upstream)
    return {k: g.numpy() for k, g in zip(KEYS, grads, strict=True)}


def torch_measure(X, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, shift) -> float:
    """The same run with ``nn.LSTMCell``; the forget gate from its own rows."""
    import torch

    H = c0.shape[1]
    b = np.array(bias_ih, dtype=float)
    b[H:2 * H] += shift
    cell = _cell(weight_ih, weight_hh, b, bias_hh)
    h, c = torch.from_numpy(np.array(h0)), torch.from_numpy(np.array(c0))
    kept = torch.ones_like(c)
    with torch.no_grad():
        for x in torch.from_numpy(np.array(X)).unbind(1):
            kept = kept * torch.sigmoid(x @ cell.weight_ih[H:2 * H].T + cell.bias_ih[H:2 * H]
                                        + h @ cell.weight_hh[H:2 * H].T + cell.bias_hh[H:2 * H])
            h, c = cell(x, (h, c))
    return float(kept.mean())


TASKS = {
    "lstm_proj_forward": Task("lstm_proj_forward", lstm_proj_forward, proj_visible, proj_hidden,
                              oracle=torch_proj_forward),
    "coupled_lstm_cell": Task("coupled_lstm_cell", coupled_lstm_cell, coupled_visible, coupled_hidden,
                              oracle=torch_coupled),
    "lstm_step_backward": Task("lstm_step_backward", lstm_step_backward, step_visible, step_hidden,
                               oracle=torch_step_backward, derivation=True),
    "forget_bias_measure": Task("forget_bias_measure", forget_bias_measure, measure_visible, measure_hidden,
                                oracle=torch_measure),
    "forget_bias_verdict": Task("forget_bias_verdict", forget_bias_verdict, verdict_visible, verdict_hidden),
}
