"""Exercise 4 (``04_nvsi``): the references of its graded tasks, their cases and checks.

Chapter 4 prints the NVSI cell (``nvsi_cell_forward``, in torch) and its step Jacobian
``∂h_t/∂h_{t-1}``, and measures gradients through time with autograd. The exercise grades
what the chapter states in maths but does not code, in numpy:

- ``nvsi_step_backward(x, h_prev, params, dh)``: a derivation, one NVSI step backward, the
  gradient of every parameter and of ``x`` and ``h_prev`` (autograd is the oracle);
- ``nvsi_bptt(X, h0, params, dH)``: a composite, the step backward chained over T steps with
  an upstream gradient on every state; the student's ``nvsi_step_backward`` is a stub while
  it runs, so its own forward pass is the only other thing it needs;
- ``gate_gradient_measure(X, h0, params, k)`` and ``gate_verdict(norms)``: an experiment on
  the claim that NVSI's gate eases vanishing gradients, the mean input gate and the Frobenius
  norm of ``∂h_T/∂h_{T-k}`` (a product of step Jacobians), and the verdict on the norms.

The course's layout (batch first, ``x @ W``)::

    i_t = σ(x_t W_xi + h_{t-1} W_hi + b_i),   g_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h),
    h_t = i_t ⊙ g_t

Shapes: ``x (B, D)``, ``h (B, H)``, ``W_xi, W_xh (D, H)``, ``W_hi, W_hh (H, H)``,
``b_i, b_h (H,)``; sequences ``X (T, B, D)``, ``dH (T, B, H)`` (time first); the experiment
uses one sequence, ``X (T, 1, D)``, ``h0 (1, H)``.
"""

from __future__ import annotations

import numpy as np

from ..hidden import Task

ASSIGNMENT = "04_nvsi"
PARAM_NAMES = ("W_xi", "W_hi", "b_i", "W_xh", "W_hh", "b_h")
VERDICTS = ("vanishing", "fading", "kept")


# --------------------------------------------------------------------------- references


def _sigmoid(a: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gate_and_candidate(x: np.ndarray, h_prev: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray]:
    i = _sigmoid(x @ params["W_xi"] + h_prev @ params["W_hi"] + params["b_i"])
    g = np.tanh(x @ params["W_xh"] + h_prev @ params["W_hh"] + params["b_h"])
    return i, g


def nvsi_step_backward(x: np.ndarray, h_prev: np.ndarray, params: dict, dh: np.ndarray) -> dict:
    """Gradients of ``L`` with ``dL/dh_t = dh`` through one step ``h_t = i ⊙ g``.

    ``da = dh ⊙ g ⊙ i(1 - i)`` (the gate's pre-activation), ``dc = dh ⊙ i ⊙ (1 - g²)``
    (the candidate's); each weight gets ``inputᵀ @ d(pre-activation)``, each bias the sum over
    the batch, and ``x``, ``h_prev`` the two paths ``da Wᵀ + dc Wᵀ``.
    """
    i, g = _gate_and_candidate(x, h_prev, params)
    da = dh * g * i * (1.0 - i)
    dc = dh * i * (1.0 - g**2)
    return {
        "W_xi": x.T @ da, "W_hi": h_prev.T @ da, "b_i": da.sum(axis=0),
        "W_xh": x.T @ dc, "W_hh": h_prev.T @ dc, "b_h": dc.sum(axis=0),
        "x": da @ params["W_xi"].T + dc @ params["W_xh"].T,
        "h_prev": da @ params["W_hi"].T + dc @ params["W_hh"].T,
    }


def nvsi_bptt(X: np.ndarray, h0: np.ndarray, params: dict, dH: np.ndarray) -> dict:
    """Backpropagation through T steps: ``dH[t]`` is the upstream gradient on state ``h_{t+1}``.

    Runs the forward pass, then the steps backward from the last, adding to each state's
    upstream gradient what flows back from the next step; returns the parameter gradients
    summed over the steps and ``"h0"``. Calls ``nvsi_step_backward`` (a stub while tested).
    """
    states = [h0]
    for x in X:
        i, g = _gate_and_candidate(x, states[-1], params)
        states.append(i * g)
    grads = {name: np.zeros_like(params[name]) for name in PARAM_NAMES}
    carried = np.zeros_like(h0)
    for t in reversed(range(len(X))):
        step = nvsi_step_backward(X[t], states[t], params, dH[t] + carried)
        for name in PARAM_NAMES:
            grads[name] = grads[name] + step[name]
        carried = step["h_prev"]
    grads["h0"] = carried
    return grads


def gate_gradient_measure(X: np.ndarray, h0: np.ndarray, params: dict, k: int) -> tuple[float, float]:
    """``(mean gate, ‖∂h_T/∂h_{T-k}‖_F)`` along one sequence ``X (T, 1, D)`` from ``h0 (1, H)``.

    The mean gate is over all T steps and H units. The step Jacobian is
    ``J_t = diag(g ⊙ i(1 - i)) W_hiᵀ + diag(i ⊙ (1 - g²)) W_hhᵀ`` and
    ``∂h_T/∂h_{T-k} = J_T J_{T-1} ⋯ J_{T-k+1}`` (the identity for k = 0).
    """
    h, gates, jacobians = h0, [], []
    for x in X:
        i, g = _gate_and_candidate(x, h, params)
        gates.append(i)
        jacobians.append((g * i * (1 - i))[0][:, None] * params["W_hi"].T
                         + (i * (1 - g**2))[0][:, None] * params["W_hh"].T)
        h = i * g
    product = np.eye(h0.shape[1])
    for jacobian in jacobians[len(jacobians) - k:]:  # J_{T-k+1}, ..., J_T
        product = jacobian @ product
    return float(np.mean(gates)), float(np.linalg.norm(product))


def gate_verdict(norms: list[float]) -> str:
    """``norms`` at k = 1, 2, ..., K: 'vanishing' if the last is below 1e-3 of the first,
    'fading' if below a tenth, else 'kept'."""
    ratio = norms[-1] / norms[0]
    return "vanishing" if ratio < 1e-3 else "fading" if ratio < 0.1 else "kept"


# --------------------------------------------------------------------------- cases


def _case(case_id: str, *args, **kwargs) -> dict:
    return {"id": case_id, "args": list(args), "kwargs": kwargs}


def _params(rng: np.random.Generator, D: int, H: int, scale: float = 1.0, b_i: float | None = None) -> dict:
    """Parameters ``N(0, scale² / H)`` (biases ``N(0, 0.25)``); ``b_i`` fixed if given."""
    w = lambda *shape: scale * rng.normal(size=shape) / np.sqrt(H)  # noqa: E731
    params = {"W_xi": w(D, H), "W_hi": w(H, H), "b_i": 0.5 * rng.normal(size=H),
              "W_xh": w(D, H), "W_hh": w(H, H), "b_h": 0.5 * rng.normal(size=H)}
    if b_i is not None:
        params["b_i"] = np.full(H, float(b_i))
    return params


def _step_case(case_id: str, rng: np.random.Generator, B: int, D: int, H: int, **kw) -> dict:
    params = _params(rng, D, H, **kw)
    return _case(case_id, rng.normal(size=(B, D)), rng.normal(size=(B, H)), params, rng.normal(size=(B, H)))


def _bptt_case(case_id: str, rng: np.random.Generator, T: int, B: int, D: int, H: int,
               last_only: bool = False, zero_h0: bool = False, **kw) -> dict:
    params = _params(rng, D, H, **kw)
    X, h0, dH = rng.normal(size=(T, B, D)), rng.normal(size=(B, H)), rng.normal(size=(T, B, H))
    if last_only:
        dH[:-1] = 0.0
    if zero_h0:
        h0 = np.zeros((B, H))
    return _case(case_id, X, h0, params, dH)


def _measure_case(case_id: str, rng: np.random.Generator, T: int, D: int, H: int, k: int,
                  zero_h0: bool = False, **kw) -> dict:
    params = _params(rng, D, H, **kw)
    X, h0 = rng.normal(size=(T, 1, D)), (np.zeros((1, H)) if zero_h0 else 0.5 * rng.normal(size=(1, H)))
    return {**_case(case_id, X, h0, params, k), "atol": 0.0}  # norms can be tiny: compare relatively


def step_visible() -> list[dict]:
    rng = np.random.default_rng(401)
    return [
        _step_case("a batch of 3, D = 3, H = 4", rng, 3, 3, 4, scale=1.5),
        _step_case("one example (B = 1)", rng, 1, 3, 4, scale=1.5),
        _step_case("saturated gate (b_i = 12): i is almost 1", rng, 2, 3, 4, b_i=12.0),
        _step_case("gate almost shut (b_i = -12)", rng, 2, 3, 4, b_i=-12.0),
        _step_case("large weights: tanh and sigmoid saturate in places", rng, 4, 2, 5, scale=4.0),
    ]


def bptt_visible() -> list[dict]:
    rng = np.random.default_rng(402)
    return [
        _bptt_case("T = 4, a batch of 2", rng, 4, 2, 3, 4, scale=1.5),
        _bptt_case("one step (T = 1): the step backward itself", rng, 1, 2, 3, 4, scale=1.5),
        _bptt_case("upstream gradient on the last state only", rng, 5, 2, 3, 4, scale=1.5, last_only=True),
        _bptt_case("one example (B = 1), h0 = 0", rng, 4, 1, 2, 3, scale=1.5, zero_h0=True),
        _bptt_case("saturated gate (b_i = 12)", rng, 3, 2, 3, 4, scale=1.5, b_i=12.0),
    ]


def measure_visible() -> list[dict]:
    rng = np.random.default_rng(403)
    return [
        _measure_case("k = 1: one step's Jacobian", rng, 6, 3, 4, 1, scale=2.0),
        _measure_case("k = 3 of T = 6", rng, 6, 3, 4, 3, scale=2.0),
        _measure_case("k = T: back to h0", rng, 5, 3, 4, 5, scale=2.0),
        _measure_case("k = 0: the identity, norm sqrt(H)", rng, 4, 3, 4, 0, scale=2.0),
        _measure_case("gate open (b_i = 12): NVSI is the plain RNN", rng, 6, 3, 4, 4, scale=2.0, b_i=12.0),
        _measure_case("gate almost shut (b_i = -6)", rng, 6, 2, 3, 2, scale=2.0, b_i=-6.0, zero_h0=True),
    ]


def verdict_visible() -> list[dict]:
    return [
        _case("falls a millionfold", [2.0, 0.3, 1e-4, 2e-6]),
        _case("falls to a hundredth", [2.0, 1.0, 0.02]),
        _case("stays put", [2.0, 1.9, 1.8]),
        _case("falls fast, then levels off", [1.0, 0.2, 0.05, 0.045]),
        _case("grows", [0.5, 0.8, 3.0]),
        _case("just below 1e-3 of the first", [50.0, 0.04]),
        _case("just above 1e-3 of the first", [50.0, 0.06]),
        _case("just below a tenth", [4.0, 0.39]),
        _case("just above a tenth", [4.0, 0.41]),
    ]


def step_hidden() -> list[dict]:
    rng = np.random.default_rng(9401)
    return [
        _step_case("hidden: B = 5, D = 4, H = 6", rng, 5, 4, 6, scale=1.2),
        _step_case("hidden: B = 1, D = 1, H = 1", rng, 1, 1, 1, scale=2.0),
        _step_case("hidden: gate shut (b_i = -15)", rng, 3, 2, 5, b_i=-15.0),
        _step_case("hidden: gate open (b_i = 15), large weights", rng, 3, 5, 2, scale=3.0, b_i=15.0),
    ]


def bptt_hidden() -> list[dict]:
    rng = np.random.default_rng(9402)
    return [
        _bptt_case("hidden: T = 7, B = 3", rng, 7, 3, 2, 5, scale=1.3),
        _bptt_case("hidden: T = 2, B = 1, D = 1, H = 1", rng, 2, 1, 1, 1, scale=2.0),
        _bptt_case("hidden: last state only, h0 = 0", rng, 6, 2, 4, 3, scale=1.0, last_only=True, zero_h0=True),
        _bptt_case("hidden: gate shut (b_i = -10)", rng, 4, 2, 3, 3, b_i=-10.0),
    ]


def measure_hidden() -> list[dict]:
    rng = np.random.default_rng(9403)
    return [
        _measure_case("hidden: k = 2 of T = 9, H = 6", rng, 9, 4, 6, 2, scale=1.5),
        _measure_case("hidden: k = T = 7", rng, 7, 2, 5, 7, scale=2.5),
        _measure_case("hidden: k = 0, H = 3", rng, 3, 2, 3, 0),
        _measure_case("hidden: T = 1, k = 1, H = 1", rng, 1, 2, 1, 1, scale=2.0),
        _measure_case("hidden: gate open (b_i = 9), k = 6", rng, 10, 3, 4, 6, scale=1.5, b_i=9.0),
        _measure_case("hidden: gate shut (b_i = -4), k = 4", rng, 8, 3, 4, 4, scale=2.0, b_i=-4.0),
    ]


def verdict_hidden() -> list[dict]:
    return [
        _case("hidden: exactly 1e-3 of the first", [1.0, 0.5, 0.001]),
        _case("hidden: exactly a tenth", [0.5, 0.05]),
        _case("hidden: just below 1e-3", [3.0, 1.0, 0.00299]),
        _case("hidden: just above a tenth, many k", [1.0, 0.9, 0.5, 0.3, 0.1001]),
        _case("hidden: a single jump up", [1e-3, 1.0]),
        _case("hidden: tiny values, kept", [1e-12, 5e-13]),
        _case("hidden: tiny values, vanishing", [1e-8, 1e-12]),
    ]


# --------------------------------------------------------------------------- oracles (autograd, float64)


def _torch_params(params: dict):
    import torch

    return {name: torch.tensor(np.asarray(params[name]), dtype=torch.float64, requires_grad=True)
            for name in PARAM_NAMES}


def torch_step_backward(x: np.ndarray, h_prev: np.ndarray, params: dict, dh: np.ndarray) -> dict:
    """The oracle of the derivation: autograd through the course's ``nvsi_cell_forward``."""
    import torch

    from course_utils.models.nvsi import nvsi_cell_forward

    p = _torch_params(params)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ht = torch.tensor(h_prev, dtype=torch.float64, requires_grad=True)
    out = nvsi_cell_forward(xt, ht, p)
    grads = torch.autograd.grad((out * torch.from_numpy(np.asarray(dh, dtype=np.float64))).sum(),
                                [*p.values(), xt, ht])
    return {name: grad.numpy() for name, grad in zip([*PARAM_NAMES, "x", "h_prev"], grads, strict=True)}


def torch_bptt(X: np.ndarray, h0: np.ndarray, params: dict, dH: np.ndarray) -> dict:
    """Autograd through T steps of ``nvsi_cell_forward``, loss ``Σ_t ⟨dH[t], h_{t+1}⟩``."""
    import torch

    from course_utils.models.nvsi import nvsi_cell_forward

    p = _torch_params(params)
    h = h0_t = torch.tensor(h0, dtype=torch.float64, requires_grad=True)
    loss = torch.zeros((), dtype=torch.float64)
    for x, d in zip(torch.from_numpy(np.asarray(X, dtype=np.float64)),
                    torch.from_numpy(np.asarray(dH, dtype=np.float64)), strict=True):
        h = nvsi_cell_forward(x, h, p)
        loss = loss + (h * d).sum()
    grads = torch.autograd.grad(loss, [*p.values(), h0_t])
    return {name: grad.numpy() for name, grad in zip([*PARAM_NAMES, "h0"], grads, strict=True)}


def torch_measure(X: np.ndarray, h0: np.ndarray, params: dict, k: int) -> tuple[float, float]:
    """The mean gate from the course's ``nvsi_cell_forward``, and ``∂h_T/∂h_{T-k}`` by autograd."""
    import torch

    from course_utils.models.nvsi import nvsi_cell_forward

    p = {name: torch.tensor(np.asarray(params[name]), dtype=torch.float64) for name in PARAM_NAMES}
    xs = torch.from_numpy(np.asarray(X, dtype=np.float64))
    h, states, gates = torch.tensor(h0, dtype=torch.float64), [], []
    for x in xs:
        states.append(h)
        gates.append(torch.sigmoid(x @ p["W_xi"] + h @ p["W_hi"] + p["b_i"]))
        h = nvsi_cell_forward(x, h, p)
    T = len(xs)

    def last_state(h_start):
        h_run = h_start[None]
        for x in xs[T - k:]:
            h_run = nvsi_cell_forward(x, h_run, p)
        return h_run[0]

    start = h[0] if k == 0 else states[T - k][0]
    jac = torch.autograd.functional.jacobian(last_state, start)
    return float(torch.stack(gates).mean()), float(torch.linalg.norm(jac))


TASKS = {
    "nvsi_step_backward": Task("nvsi_step_backward", nvsi_step_backward, step_visible, step_hidden,
                               oracle=torch_step_backward, derivation=True),
    "nvsi_bptt": Task("nvsi_bptt", nvsi_bptt, bptt_visible, bptt_hidden, oracle=torch_bptt,
                      helpers={"nvsi_step_backward": nvsi_step_backward}, derivation=True),
    "gate_gradient_measure": Task("gate_gradient_measure", gate_gradient_measure, measure_visible,
                                  measure_hidden, oracle=torch_measure),
    "gate_verdict": Task("gate_verdict", gate_verdict, verdict_visible, verdict_hidden),
}
