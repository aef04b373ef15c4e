"""Central differences against an analytic gradient, for the library's numpy derivations."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, index: tuple, eps: float = 1e-6) -> float:
    """Central difference ``(f(x + eps e_i) - f(x - eps e_i)) / 2 eps`` at one index of ``x``;
    ``f`` reads ``x``, which is modified in place and restored."""
    old = x[index]
    x[index] = old + eps
    up = f()
    x[index] = old - eps
    down = f()
    x[index] = old
    return (up - down) / (2 * eps)


def check_gradient(loss: Callable[[], float], param: np.ndarray, grad: np.ndarray, name: str = "the gradient",
                   n_checks: int = 20, seed: int = 0, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Compare an analytic gradient with central differences at ``n_checks`` random entries.

    Args:
        loss: recomputes the scalar loss from the current value of ``param``.
        param: the parameter, float64, perturbed in place and restored.
        grad: the analytic gradient, same shape as ``param``.
    """
    param_arr, grad_arr = np.asarray(param), np.asarray(grad)
    if grad_arr.shape != param_arr.shape:
        raise AssertionError(f"{name} has shape {grad_arr.shape}, but its parameter has shape {param_arr.shape}.")
    rng = np.random.default_rng(seed)
    for flat in rng.choice(param_arr.size, size=min(n_checks, param_arr.size), replace=False):
        index = np.unravel_index(flat, param_arr.shape)
        numeric = numerical_gradient(loss, param_arr, index)
        if not np.isclose(grad_arr[index], numeric, rtol=rtol, atol=atol):
            raise AssertionError(
                f"{name} at index {tuple(int(i) for i in index)} is {grad_arr[index]:.6g}, but finite "
                f"differences give {numeric:.6g}."
            )
