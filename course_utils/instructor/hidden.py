"""Hidden tests: the student's function against the reference on inputs no student has seen.

A failed hidden case reports only its category (A3 of the work orders): an exception (type
and the student's line), the wrong structure or shape, a non-finite value, wrong values, or
the named mistake when the student's outcome equals one catalogued mutant's on that input.
Neither the inputs nor the expected numbers appear in the message.

Also here: the static scan of derivation tasks (no ``torch``, ``autograd``, ``backward``,
``jacobian``, ``func`` and no dynamic access in the student's code) and the mutant
catalogue's loader as functions (``mutants/<id>.py``).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..judge.recorded import GradingError, from_json, quiet, same_outcome, swapped_globals, to_json

#: names a derivation task's code may not mention, and why
FORBIDDEN = {
    "torch": "a derivation is written in numpy: torch computes the gradient for you",
    "autograd": "a derivation may not call automatic differentiation",
    "backward": "a derivation may not call automatic differentiation",
    "jacobian": "a derivation may not call automatic differentiation",
    "func": "a derivation may not use torch.func",
    "importlib": "no dynamic imports in graded code",
    "__import__": "no dynamic imports in graded code",
    "exec": "no exec or eval in graded code",
    "eval": "no exec or eval in graded code",
}


@dataclass(frozen=True)
class Task:
    """One graded function: its reference, visible and hidden cases, and how it is checked.

    ``visible()`` and ``hidden()`` return cases (dicts ``id``, ``args``, ``kwargs``, optional
    ``rtol``/``atol``); ``oracle`` (if any) is a second, independent answer (a ``torch.nn``
    function or autograd) that hidden cases are also checked against; ``helpers`` names the
    functions a composite calls, replaced by stubs while it runs; ``derivation`` turns on the
    static scan.
    """

    name: str
    reference: Callable
    visible: Callable[[], list[dict]]
    hidden: Callable[[], list[dict]]
    oracle: Callable | None = None
    helpers: Mapping[str, Callable] = field(default_factory=dict)
    derivation: bool = False


def scan(source: str) -> list[str]:
    """Reasons the code of a derivation task is refused (empty when it is fine)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [part for alias in node.names for part in alias.name.split(".")]
            names += (node.module or "").split(".") if isinstance(node, ast.ImportFrom) else []
        for name in names:
            if name in FORBIDDEN and FORBIDDEN[name] not in found:
                found.append(FORBIDDEN[name])
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
                and len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant)):
            found.append("no getattr with a computed name in graded code")
    return found


def load_mutants(path: Path) -> list[dict]:
    """The catalogue ``MUTANTS`` of ``mutants/<id>.py``: dicts name, code, caught_by, and for
    recorded exercises ``task``, ``named_by`` and ``diagnosis``."""
    spec = importlib.util.spec_from_file_location(f"mutants_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.MUTANTS)


def mutant_function(mutant: Mapping, task: str) -> Callable:
    """The wrong ``task`` function a mutant's code defines (numpy as ``np`` in scope)."""
    space: dict[str, Any] = {"np": np}
    exec(compile(mutant["code"], f"<mutant {mutant['name']}>", "exec"), space)  # instructor's own code
    return space[task]


def _fresh(case: dict) -> tuple[list, dict]:
    return from_json(to_json(case["args"])), from_json(to_json(case.get("kwargs", {})))


def _outcome(fn: Callable, case: dict, stubs: Mapping[str, Callable]) -> tuple:
    args, kwargs = _fresh(case)
    try:
        with swapped_globals(fn, stubs), quiet():
            return ("value", fn(*args, **kwargs))
    except GradingError:
        raise
    except NotImplementedError:
        raise GradingError("not implemented yet (it raises NotImplementedError).") from None
    except Exception as error:  # noqa: BLE001 - the student's bug, reported by category
        return ("raises", error)


def _leaves(value: Any) -> list:
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in _leaves(value[key])]
    return [value]


def category(got: Any, want: Any, rtol: float, atol: float) -> str | None:
    """What is wrong with ``got`` against ``want``, in words that reveal no value; None if right."""
    both_sequences = type(got) in (list, tuple) and type(want) in (list, tuple)
    if both_sequences and (type(got) is not type(want) or len(got) != len(want)):
        return (f"returned {type(got).__name__} of {len(got)} items "
                f"(a {type(want).__name__} of {len(want)} was asked for)")
    g_leaves, w_leaves = _leaves(got), _leaves(want)
    if len(g_leaves) != len(w_leaves):
        return "returned a different structure than asked for"
    for g, w in zip(g_leaves, w_leaves, strict=True):
        if isinstance(w, str) or isinstance(g, str):
            if g != w:
                return "returned the wrong answer"
            continue
        try:
            g_arr, w_arr = np.asarray(g), np.asarray(w)
        except Exception:  # noqa: BLE001 - not data at all
            return f"returned an object of type {type(g).__name__}"
        if g_arr.dtype.kind not in "biuf" or g_arr.shape != w_arr.shape:
            return f"returned the wrong shape or type (shape {g_arr.shape}, dtype {g_arr.dtype})"
        if np.isfinite(w_arr).all() and not np.isfinite(g_arr).all():
            return "returned nan or inf"
        if not np.allclose(g_arr, w_arr, rtol=rtol, atol=atol, equal_nan=True):
            return "returned wrong values"
    return None


def _tolerance(case: dict) -> tuple[float, float]:
    return case.get("rtol", 1e-6), case.get("atol", 1e-9)


def run_hidden(task: Task, student: Callable, mutants: list[dict] | None = None,
               stubs: Mapping[str, Callable] | None = None) -> str:
    """Check ``student`` on every hidden case of ``task``; a short success line, or GradingError.

    ``stubs`` (helper name -> function) replace the composite's helpers while it runs; by
    default the reference helpers (in the judge, a stub is a callback to the judge instead).
    """
    stubs = dict(task.helpers) if stubs is None else dict(stubs)
    wrong = {m["name"]: m for m in (mutants or []) if m.get("task") == task.name}
    for case in task.hidden():
        rtol, atol = _tolerance(case)
        kind, got = _outcome(student, case, stubs)
        args, kwargs = _fresh(case)
        want = task.reference(*args, **kwargs)
        if kind == "raises":
            raise GradingError(f"{task.name} raised {type(got).__name__} on a hidden case.")
        problem = category(got, want, rtol, atol)
        if problem is None and task.oracle is not None:
            problem = category(got, task.oracle(*_fresh(case)[0], **_fresh(case)[1]), max(rtol, 1e-8), max(atol, 1e-10))
        if problem is None:
            continue
        named = [name for name, m in wrong.items()
                 if same_outcome((kind, got), _outcome(mutant_function(m, task.name), case, dict(task.helpers)),
                                 rtol=rtol, atol=atol)]
        lead = wrong[named[0]]["diagnosis"] + "\n" if len(named) == 1 else ""
        raise GradingError(f"{lead}{task.name} {problem} on a hidden case.")
    return f"✓ {task.name}: the hidden cases pass"
