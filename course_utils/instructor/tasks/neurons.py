"""Exercise 1 (``01_neurons``): the references of its graded tasks, their cases and checks.

Chapter 1 prints ``sigmoid``, ``softmax``, ``cross_entropy`` (on probabilities) and the MLP's
backward pass; the exercise grades what the chapter states in maths but does not code:

- ``log_softmax(z)``: the log-sum-exp shift, stable for logits of any size;
- ``bce_with_logits(z, y)``: binary cross-entropy from logits, in its softplus form;
- ``smoothed_cross_entropy(z, y, eps)``: a derivation, the loss and gradient of
  label-smoothed cross-entropy with respect to the logits (``F.cross_entropy`` with
  ``label_smoothing=eps`` is the oracle); it may use the student's ``log_softmax``, which is
  a stub while it runs;
- ``mean_sigmoid_slope(X, W, b)`` and ``saturation_verdict(slopes)``: an experiment, how the
  slope of a sigmoid layer falls as its weights grow, and the verdict on a measurement.

Shapes: ``z`` is ``(..., C)`` logits (``(N, C)`` for the cross-entropy), ``y`` integer
labels ``(N,)`` or binary targets ``(N,)``, ``X`` ``(N, D)``, ``W`` ``(D, H)``, ``b`` ``(H,)``.
"""

from __future__ import annotations

import numpy as np

from ..hidden import Task

ASSIGNMENT = "01_neurons"
VERDICTS = ("vanishing", "shrinking", "stable")


# --------------------------------------------------------------------------- references


def log_softmax(z: np.ndarray) -> np.ndarray:
    """``z - logsumexp(z)`` along the last axis, same shape and float dtype as ``z``."""
    z = np.asarray(z)
    z = z if z.dtype.kind == "f" else z.astype(np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def bce_with_logits(z: np.ndarray, y: np.ndarray) -> float:
    """Mean of ``max(z, 0) - z y + log(1 + exp(-|z|))`` over the ``N`` examples."""
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def smoothed_cross_entropy(z: np.ndarray, y: np.ndarray, eps: float) -> tuple[float, np.ndarray]:
    """Loss and ``dL/dz`` of cross-entropy against ``q = (1 - eps) onehot(y) + eps / C``."""
    n, c = z.shape
    q = np.full((n, c), eps / c)
    q[np.arange(n), y] += 1.0 - eps
    logp = log_softmax(z)
    return float(-(q * logp).sum() / n), (np.exp(logp) - q) / n


def mean_sigmoid_slope(X: np.ndarray, W: np.ndarray, b: np.ndarray) -> float:
    """Mean of ``σ'(a) = σ(a)(1 - σ(a))`` over every unit and example of ``a = X W + b``."""
    a = X @ W + b
    s = np.where(a >= 0, 1 / (1 + np.exp(-np.abs(a))), np.exp(-np.abs(a)) / (1 + np.exp(-np.abs(a))))
    return float(np.mean(s * (1 - s)))


def saturation_verdict(slopes: list[float]) -> str:
    """``slopes`` measured at growing weight scales: 'vanishing' if the last is below a
    tenth of the first, 'shrinking' if below a half, else 'stable'."""
    ratio = slopes[-1] / slopes[0]
    return "vanishing" if ratio < 0.1 else "shrinking" if ratio < 0.5 else "stable"


# --------------------------------------------------------------------------- visible cases


def _case(case_id: str, *args, **kwargs) -> dict:
    return {"id": case_id, "args": list(args), "kwargs": kwargs}


def log_softmax_visible() -> list[dict]:
    rng = np.random.default_rng(101)
    return [
        _case("two rows of small logits", np.array([[1.0, 2.0, 3.0], [0.5, -0.5, 0.0]])),
        _case("large logits (exp overflows)", np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0]])),
        _case("far-apart logits (softmax underflows to 0)", np.array([[-1e4, 0.0, 1e4]])),
        _case("a 3-D batch, classes on the last axis", rng.normal(size=(2, 3, 4))),
        {**_case("float32 stays float32", rng.normal(size=(3, 5)).astype(np.float32)), "rtol": 1e-4, "atol": 1e-5},
    ]


def bce_visible() -> list[dict]:
    return [
        _case("moderate logits", np.array([0.5, -1.0, 2.0, 0.0]), np.array([1.0, 0.0, 1.0, 0.0])),
        _case("confidently wrong (z = 800, y = 0)", np.array([800.0, -3.0]), np.array([0.0, 0.0])),
        _case("confidently right and wrong (z = -800)", np.array([-800.0, -800.0]), np.array([0.0, 1.0])),
        _case("soft targets", np.array([1.5, -0.5, 0.25]), np.array([0.3, 0.9, 0.5])),
    ]


def smoothed_visible() -> list[dict]:
    rng = np.random.default_rng(102)
    return [
        _case("no smoothing (eps = 0)", np.array([[2.0, 0.5, -1.0], [0.0, 0.0, 3.0]]), np.array([0, 2]), 0.0),
        _case("eps = 0.1, four classes", rng.normal(size=(5, 4)), rng.integers(0, 4, size=5), 0.1),
        _case("large logits", np.array([[900.0, 0.0, -900.0]]), np.array([1]), 0.2),
        _case("full smoothing (eps = 1)", rng.normal(size=(3, 3)), np.array([0, 1, 2]), 1.0),
    ]


def slope_visible() -> list[dict]:
    rng = np.random.default_rng(103)
    X = rng.normal(size=(6, 4))
    return [
        _case("zero weights: every slope is 1/4", X, np.zeros((4, 3)), np.zeros(3)),
        _case("small weights", X, 0.1 * rng.normal(size=(4, 3)), np.zeros(3)),
        _case("large weights and a bias", X, 20.0 * rng.normal(size=(4, 3)), np.array([5.0, -5.0, 0.0])),
        _case("pre-activations of 1000 (no overflow)", np.ones((2, 1)), np.array([[1000.0, -1000.0]]), np.zeros(2)),
    ]


def verdict_visible() -> list[dict]:
    return [
        _case("falls to a twentieth", [0.2, 0.1, 0.01]),
        _case("falls to a third", [0.24, 0.2, 0.08]),
        _case("barely moves", [0.25, 0.24, 0.2]),
        _case("just above a tenth", [0.2, 0.021]),
        _case("just below a half", [0.2, 0.099]),
    ]


# --------------------------------------------------------------------------- hidden cases (seeded, never released)


def log_softmax_hidden() -> list[dict]:
    rng = np.random.default_rng(9101)
    return [
        _case("hidden: wide rows", 30 * rng.normal(size=(4, 7))),
        _case("hidden: huge and tiny", np.array([[3e3, -3e3, 0.0, 1.0], [-7e2, -7e2 + 1, -7e2 + 2, -7e2 + 3]])),
        _case("hidden: one class", rng.normal(size=(3, 1))),
        _case("hidden: 4-D", rng.normal(size=(2, 2, 2, 5))),
        {**_case("hidden: float32", (10 * rng.normal(size=(4, 6))).astype(np.float32)), "rtol": 1e-4, "atol": 1e-5},
    ]


def bce_hidden() -> list[dict]:
    rng = np.random.default_rng(9102)
    z = np.concatenate([20 * rng.normal(size=20), [745.0, -745.0, 1e4, -1e4]])
    return [
        _case("hidden: wide logits, hard targets", z, rng.integers(0, 2, size=z.size).astype(float)),
        _case("hidden: soft targets", rng.normal(size=9), rng.uniform(size=9)),
        _case("hidden: one example", np.array([-2.5]), np.array([1.0])),
    ]


def smoothed_hidden() -> list[dict]:
    rng = np.random.default_rng(9103)
    return [
        _case("hidden: ten classes", 3 * rng.normal(size=(8, 10)), rng.integers(0, 10, size=8), 0.05),
        _case("hidden: two classes", rng.normal(size=(6, 2)), rng.integers(0, 2, size=6), 0.3),
        _case("hidden: extreme logits", np.array([[1e3, -1e3, 0.0], [-5e2, 5e2, 5e2]]), np.array([2, 0]), 0.15),
    ]


def slope_hidden() -> list[dict]:
    rng = np.random.default_rng(9104)
    X = rng.normal(size=(10, 5))
    return [_case(f"hidden: scale {s}", X, s * rng.normal(size=(5, 4)), s * rng.normal(size=4))
            for s in (0.3, 3.0, 30.0)]


def verdict_hidden() -> list[dict]:
    return [
        _case("hidden: rises", [0.1, 0.2]),
        _case("hidden: just below a tenth", [0.25, 0.0249]),
        _case("hidden: exactly a half", [0.2, 0.1]),
        _case("hidden: four scales", [0.25, 0.23, 0.15, 0.11]),
    ]


# --------------------------------------------------------------------------- oracles beyond the reference


def torch_log_softmax(z: np.ndarray) -> np.ndarray:
    import torch

    return torch.log_softmax(torch.from_numpy(np.array(z)), dim=-1).numpy()


def torch_bce(z: np.ndarray, y: np.ndarray) -> float:
    import torch
    import torch.nn.functional as F

    return float(F.binary_cross_entropy_with_logits(torch.tensor(z, dtype=torch.float64),
                                                    torch.tensor(y, dtype=torch.float64)))


def torch_smoothed(z: np.ndarray, y: np.ndarray, eps: float) -> tuple[float, np.ndarray]:
    """The oracle of the derivation: ``F.cross_entropy(label_smoothing=eps)`` and autograd."""
    import torch
    import torch.nn.functional as F

    logits = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    loss = F.cross_entropy(logits, torch.as_tensor(y), label_smoothing=eps)
    (grad,) = torch.autograd.grad(loss, logits)
    return float(loss.detach()), grad.numpy()


TASKS = {
    "log_softmax": Task("log_softmax", log_softmax, log_softmax_visible, log_softmax_hidden, oracle=torch_log_softmax),
    "bce_with_logits": Task("bce_with_logits", bce_with_logits, bce_visible, bce_hidden, oracle=torch_bce),
    "smoothed_cross_entropy": Task("smoothed_cross_entropy", smoothed_cross_entropy, smoothed_visible,
                                   smoothed_hidden, oracle=torch_smoothed, helpers={"log_softmax": log_softmax},
                                   derivation=True),
    "mean_sigmoid_slope": Task("mean_sigmoid_slope", mean_sigmoid_slope, slope_visible, slope_hidden),
    "saturation_verdict": Task("saturation_verdict", saturation_verdict, verdict_visible, verdict_hidden),
}
