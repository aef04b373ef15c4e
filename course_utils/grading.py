"""Helpers that the exercises' test cells call.

A test compares the student's function with the course's reference implementation on
the same inputs and, when they differ, says *what* differs in one readable sentence:
the type, the shape, the dtype, which output or key, where the values first disagree,
and, for common slips, a hint ("looks transposed", "N times too large").

While the student's function runs, :func:`forbid` replaces the reference and the
matching library shortcut (``torch.softmax``, ``scipy.special.expit``, ...) with a
function that fails with "implement this yourself".

Every failure is an :class:`AssertionError` raised without a chained traceback, so
nbgrader shows the student one message rather than the internals of this module.
"""

from __future__ import annotations

import copy
import importlib
import warnings
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

try:  # torch is optional for numpy-only exercises
    import torch
except ImportError:  # pragma: no cover - torch is in requirements.txt
    torch = None


class GradingError(AssertionError):
    """A test found a difference; the message is meant for the student."""


class ShortcutError(GradingError):
    """The student's code called a function it is asked to implement itself."""


def _short_traceback(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """Show a GradingError as its message alone: the student needs what is wrong with
    their function, not the frames of this module."""
    stb = [f"\x1b[31m{etype.__name__}\x1b[0m: {value}"]
    shell._showtraceback(etype, value, stb)  # IPython leaves the display to the handler
    return stb


def _install_short_tracebacks() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return
    shell = get_ipython()
    if shell is not None and GradingError not in shell.custom_exceptions:
        shell.set_custom_exc((GradingError,), _short_traceback)


_install_short_tracebacks()


# --------------------------------------------------------------------------- shortcuts

#: Library functions that would do an exercise's work, by task name.
SHORTCUTS: dict[str, list[str]] = {
    "sigmoid": ["torch.sigmoid", "torch.special.expit", "torch.nn.functional.sigmoid", "scipy.special.expit"],
    "softmax": ["torch.softmax", "torch.nn.functional.softmax", "torch.special.softmax", "scipy.special.softmax"],
    "cross_entropy": ["torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss", "sklearn.metrics.log_loss"],
    "dense_forward": ["torch.nn.functional.linear"],
    "mlp_loss_and_grads": ["torch.autograd.grad", "torch.Tensor.backward"],
}


def _resolve(target: str) -> tuple[Any, str] | None:
    """``"torch.nn.functional.softmax"`` -> ``(torch.nn.functional, "softmax")``, or None if absent."""
    parts = target.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            owner = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:-1]:
            owner = getattr(owner, attr, None)
            if owner is None:
                return None
        return (owner, parts[-1]) if hasattr(owner, parts[-1]) else None
    return None


def _locate(targets: Iterable[str | Callable]) -> list[tuple[str, tuple[Any, str]]]:
    """``(dotted name, (owner, attribute))`` of each target that exists."""
    found = []
    for target in targets:
        name = target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"
        where = _resolve(name)
        if where is not None:
            found.append((name, where))
    return found


def _blocked(name: str, task: str) -> Callable:
    def blocked(*args, **kwargs):
        raise ShortcutError(
            f"{task} called {name}, which does the work this exercise asks for: implement this yourself."
        )

    return blocked


@contextmanager
def forbid(targets: Iterable[str | Callable], task: str = "your function", namespaces: Sequence[dict] = ()):
    """Replace functions with ones that fail with "implement this yourself", then restore them.

    Args:
        targets: dotted names (``"torch.softmax"``) or function objects (the reference,
            found through its ``__module__`` and ``__name__``). Missing ones are skipped.
        task: the student's function name, used in the message.
        namespaces: dicts (such as the student function's ``__globals__``) in which any
            name bound to a forbidden object is replaced too, so ``from torch import softmax``
            does not get around the guard.
    """
    replaced: list[tuple[Any, str, Any]] = []
    originals: dict[int, Callable] = {}
    for name, (owner, attr) in _locate(targets):
        original = getattr(owner, attr)
        originals[id(original)] = _blocked(name, task)
        replaced.append((owner, attr, original))
    for namespace in namespaces:
        for key, value in list(namespace.items()):
            if id(value) in originals:
                replaced.append((namespace, key, value))
    try:
        for owner, attr, original in replaced:
            fake = originals[id(original)]
            if isinstance(owner, dict):
                owner[attr] = fake
            else:
                setattr(owner, attr, fake)
        yield
    finally:
        for owner, attr, original in reversed(replaced):
            if isinstance(owner, dict):
                owner[attr] = original
            else:
                setattr(owner, attr, original)


# --------------------------------------------------------------------------- comparing outputs


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray) or (torch is not None and isinstance(x, torch.Tensor)):
        return f"{type(x).__module__.split('.')[0]} array of shape {tuple(x.shape)} and dtype {x.dtype}"
    return type(x).__name__


def _as_numpy(x: Any) -> np.ndarray:
    if torch is not None and isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _hint(got: np.ndarray, want: np.ndarray, n_rows: int | None) -> str:
    """Name a common slip that turns ``want`` into ``got``, or return ''."""
    if want.size < 2 or not np.all(np.isfinite(got)):
        return ""
    close = lambda a, b: a.shape == b.shape and np.allclose(a, b, rtol=1e-5, atol=1e-7)  # noqa: E731
    if close(got, -want):
        return " It looks like the sign is flipped."
    if want.ndim == 2 and close(got, want.T):
        return " It looks transposed."
    if n_rows and n_rows > 1:
        if close(got, want * n_rows):
            return f" It is {n_rows} times too large: a sum where a mean over the {n_rows} examples is expected?"
        if close(got, want / n_rows):
            return f" It is {n_rows} times too small: a mean where a sum is expected?"
    nonzero = np.abs(want) > 1e-12
    if nonzero.any():
        ratio = got[nonzero] / want[nonzero]
        if np.allclose(ratio, ratio.flat[0], rtol=1e-5) and not np.isclose(ratio.flat[0], 1):
            return f" It is the expected value times {ratio.flat[0]:.4g}."
    return ""


def compare(got: Any, want: Any, what: str = "the output", rtol: float = 1e-5, atol: float = 1e-7,
            n_rows: int | None = None) -> None:
    """Assert that ``got`` matches ``want``; the message names the first difference.

    Handles tuples/lists (element by element), dicts (keys, then values), numpy arrays and
    torch tensors (type, shape, floating dtype, finiteness, values) and Python numbers.
    ``n_rows`` (the batch size) lets the message recognise a sum written for a mean.
    """
    if isinstance(want, tuple | list):
        if not isinstance(got, tuple | list):
            raise GradingError(f"{what} should be a tuple of {len(want)} values, got {_describe(got)}.")
        if len(got) != len(want):
            raise GradingError(f"{what} should have {len(want)} elements, got {len(got)}.")
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            compare(g, w, f"element {i} of {what}", rtol, atol, n_rows)
        return
    if isinstance(want, str | bool | type(None)):
        if got != want:
            raise GradingError(f"{what} is {got!r}, expected {want!r}.")
        return
    if isinstance(want, dict):
        if not isinstance(got, dict):
            raise GradingError(f"{what} should be a dict with keys {sorted(want)}, got {_describe(got)}.")
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        if missing or extra:
            raise GradingError(f"{what} has the wrong keys: missing {missing}, unexpected {extra}.")
        for key in want:
            compare(got[key], want[key], f"{what}[{key!r}]", rtol, atol, n_rows)
        return
    if torch is not None and isinstance(want, torch.Tensor) and not isinstance(got, torch.Tensor):
        raise GradingError(f"{what} should be a torch.Tensor, got {_describe(got)}.")
    if isinstance(want, np.ndarray) and not isinstance(got, np.ndarray):
        raise GradingError(f"{what} should be a numpy array, got {_describe(got)}.")
    if isinstance(want, float | int | np.floating | np.integer) and not np.isscalar(got) and np.ndim(got) != 0:
        raise GradingError(f"{what} should be a single number, got {_describe(got)}.")
    g, w = _as_numpy(got), _as_numpy(want)
    if g.shape != w.shape:
        hint = " (a transpose?)" if g.shape == w.shape[::-1] else ""
        raise GradingError(f"{what} has shape {g.shape}, expected {w.shape}{hint}.")
    if w.dtype.kind == "f" and g.dtype.kind != "f":
        raise GradingError(f"{what} has dtype {g.dtype}, expected floating point values.")
    if w.dtype.kind == "f" and not np.all(np.isfinite(g)) and np.all(np.isfinite(w)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(g))[0])
        raise GradingError(f"{what} contains nan or inf (first at index {bad}); is a large input overflowing?")
    if not np.allclose(g, w, rtol=rtol, atol=atol, equal_nan=True):
        diff = np.abs(g.astype(float) - w.astype(float))
        where = np.unravel_index(np.nanargmax(diff), diff.shape) if diff.ndim else ()
        where_txt = f" at index {tuple(int(i) for i in where)}" if where else ""
        raise GradingError(
            f"{what} differs from the expected values{where_txt}: got {g[where]:.6g}, "
            f"expected {w[where]:.6g}.{_hint(g, w, n_rows)}"
        )


# --------------------------------------------------------------------------- running the student's function


def call_student(fn: Callable, args: Sequence, task: str | None = None, forbidden: Iterable = ()) -> Any:
    """Call ``fn(*args)`` on copies of ``args``, with shortcuts forbidden and warnings as errors.

    A student's exception becomes one readable :class:`GradingError`; so does a warning
    (such as numpy's overflow warning) and a change made to the inputs in place.
    """
    task = task or getattr(fn, "__name__", "your function")
    if not callable(fn):
        raise GradingError(f"{task} should be a function, got {_describe(fn)}.")
    forbidden = list(forbidden)
    for name, (owner, attr) in _locate(forbidden):
        if fn is getattr(owner, attr):
            raise GradingError(f"{task} is {name}, which does the work this exercise asks for: "
                               "implement this yourself.")
    call_args = copy.deepcopy(list(args))
    shapes = ", ".join(_describe(a) for a in args)
    try:
        with warnings.catch_warnings(), forbid(forbidden, task, [getattr(fn, "__globals__", {})]):
            warnings.simplefilter("error")  # numpy's overflow warnings become errors here
            result = fn(*call_args)
    except ShortcutError as err:
        raise GradingError(str(err)) from None
    except NotImplementedError:
        raise GradingError(f"{task} is not implemented yet (it raises NotImplementedError).") from None
    except Warning as err:
        raise GradingError(f"{task} raised a numerical warning on inputs ({shapes}): {err}.") from None
    except Exception as err:  # the student's bug, reported without our traceback
        raise GradingError(f"{task} raised {type(err).__name__} on inputs ({shapes}): {err}") from None
    for i, (before, after) in enumerate(zip(args, call_args, strict=True)):
        if isinstance(before, np.ndarray) and not np.array_equal(before, after, equal_nan=True):
            raise GradingError(f"{task} changed its argument {i} in place; work on a copy instead.")
    return result


def check_function(student: Callable, reference: Callable, cases: Iterable[Sequence], *,
                   forbidden: Iterable = (), rtol: float = 1e-5, atol: float = 1e-7,
                   batch_axis_size: Callable[[Sequence], int] | None = None) -> None:
    """Compare ``student(*args)`` with ``reference(*args)`` for every ``args`` in ``cases``.

    While the student's function runs, ``reference`` and ``forbidden`` are replaced by
    functions that fail with "implement this yourself". Returns None, so that a test cell
    ending with this call gives nbgrader no partial-credit value; an empty ``cases``
    raises ValueError rather than passing without checking anything.
    """
    task = getattr(student, "__name__", "your function")
    n = 0
    for args in cases:
        want = reference(*copy.deepcopy(list(args)))
        got = call_student(student, args, task, [reference, *forbidden])
        rows = batch_axis_size(args) if batch_axis_size else None
        described = ", ".join(str(tuple(np.shape(a))) if hasattr(a, "shape") else type(a).__name__ for a in args)
        compare(got, want, f"{task}(inputs of shapes {described})", rtol, atol, rows)
        n += 1
    if n == 0:
        raise ValueError("check_function was given no cases")


def random_arrays(shapes: Iterable[tuple[int, ...]], seed: int = 0, scale: float = 1.0) -> list[tuple[np.ndarray]]:
    """One-argument cases: a standard-normal array (times ``scale``) per shape."""
    rng = np.random.default_rng(seed)
    return [(scale * rng.standard_normal(shape),) for shape in shapes]


# --------------------------------------------------------------------------- gradients


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
        raise GradingError(f"{name} has shape {grad_arr.shape}, but its parameter has shape {param_arr.shape}.")
    rng = np.random.default_rng(seed)
    for flat in rng.choice(param_arr.size, size=min(n_checks, param_arr.size), replace=False):
        index = np.unravel_index(flat, param_arr.shape)
        numeric = numerical_gradient(loss, param_arr, index)
        if not np.isclose(grad_arr[index], numeric, rtol=rtol, atol=atol):
            raise GradingError(
                f"{name} at index {tuple(int(i) for i in index)} is {grad_arr[index]:.6g}, but finite "
                f"differences give {numeric:.6g}."
            )
