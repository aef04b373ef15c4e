"""Record an exercise's visible cases and its mutants' fingerprints into ``expected.json``.

``release`` calls :func:`record_task` for each graded task (the reference on each visible
case, each mutant on the same inputs), :func:`build_expected` for the assignment and
:func:`write_expected` beside the solution notebook; ``generate_assignment`` copies the file
into ``exercises/<id>/``, where :mod:`course_utils.judge.recorded` reads it. Hidden cases
never go into this file. The file holds mutants' outcomes and diagnoses, never their code.

Schema (values are encoded with :func:`course_utils.judge.recorded.to_json`)::

    {
     "format": 1,
     "assignment": "01_neurons",
     "tasks": {                                   # sorted by name
      "softmax": {
       "cases": [                                 # visible cases, in the order given
        {"id": "large logits",                    # unique within the task, shown to students
         "args": [<value>, ...],                  # positional arguments
         "kwargs": {"name": <value>, ...},
         "expected": <value>,                     # the reference's output
         "rtol": null | float, "atol": null | float,   # null: by dtype (float64: 1e-6 and
                                                  # 1e-12; float32 and others: 1e-4 and 1e-6)
         "calls": {"log_softmax": [[<args>, <result>], ...]}}   # helper calls, composites only
       ],
       "helpers": {"log_softmax": {"params": ["z"], "defaults": {}}},   # composites only
       "mutants": {                               # sorted by name
        "axis 0": {"diagnosis": "This looks like the softmax over axis 0: ...",
                   "outcomes": [{"value": <value>} | {"raises": "TypeError"}, ...]}
       }                                          # outcomes: one per case, same order
      }
     }
    }

In ``calls``, ``<args>`` is the encoded list of every parameter of the helper (defaults
filled in) in the order of ``params``, and ``<result>`` the helper's output, for each
distinct call the reference composite made. Outputs and recorded arguments pass through the
judge's codec first, so they have the types the student's side will see.

:func:`write_expected` is deterministic (fixed key order, floats by ``repr``, one space of
indent, lists of plain values and short containers on one line, a trailing newline), so
re-recording gives the same bytes: the freshness check recomputes and compares bytes
(:func:`is_fresh`).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from course_utils.judge.codec import decode, encode
from course_utils.judge.recorded import (
    FORMAT,
    Recorded,
    from_json,
    named_mutants,
    outcome_from_json,
    outcome_to_json,
    quiet,
    same_outcome,
    swapped_globals,
    to_json,
)

__all__ = ["build_expected", "distinguishable", "dumps_expected", "is_fresh", "record_task",
           "write_expected"]

_CASE_KEYS = {"id", "args", "kwargs", "rtol", "atol"}
MAX_FIRST_LINE = 100
INLINE = 60  # containers whose JSON is this short are written on one line


def _data(value: Any) -> Any:
    """``value`` encoded as the student's side would see it (through the judge's codec)."""
    return to_json(decode(encode(value)))


def _checked_cases(cases: Sequence[Mapping]) -> list[dict]:
    checked = []
    for case in cases:
        if case.get("hidden"):
            raise ValueError(f"case {case.get('id')!r} is hidden: hidden cases never go into "
                             "expected.json")
        unknown = set(case) - _CASE_KEYS
        if unknown or not isinstance(case.get("id"), str):
            raise ValueError(f"a case needs a str id and only the keys {sorted(_CASE_KEYS)}: "
                             f"{case!r:.80}")
        checked.append(dict(case))
    ids = [c["id"] for c in checked]
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"cases need distinct ids, and at least one case: {ids}")
    return checked


def _signature(name: str, helper: Callable) -> dict:
    """``{"params": [...], "defaults": <encoded dict>}`` of a helper with named parameters only."""
    params = inspect.signature(helper).parameters.values()
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params):
        raise ValueError(f"helper {name} takes *args or **kwargs: stubs need named parameters")
    defaults = {p.name: p.default for p in params if p.default is not p.empty}
    return {"params": [p.name for p in params], "defaults": _data(defaults)}


def _recorder(helper: Callable, sink: list) -> Callable:
    """``helper``, appending ``[args, result]`` (encoded, if new) to ``sink`` at each call."""
    signature = inspect.signature(helper)

    def recorded_helper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        call_args = _data(list(bound.arguments.values()))
        result = helper(*args, **kwargs)
        entry = [call_args, _data(result)]
        if entry not in sink:
            sink.append(entry)
        return result

    return recorded_helper


def _record_case(name: str, reference: Callable, case: dict,
                 helpers: Mapping[str, Callable]) -> dict:
    args, kwargs = to_json(list(case["args"])), to_json(dict(case.get("kwargs", {})))
    calls: dict[str, list] = {h: [] for h in sorted(helpers)}
    recorders = {h: _recorder(helpers[h], calls[h]) for h in calls}
    try:
        with swapped_globals(reference, recorders):
            result = reference(*from_json(args), **from_json(kwargs))
    except Exception as error:
        raise RuntimeError(f"the reference of {name} raised on the case {case['id']!r}") from error
    return {"id": case["id"], "args": args, "kwargs": kwargs, "expected": _data(result),
            "rtol": case.get("rtol"), "atol": case.get("atol"), "calls": calls}


def _outcome(fn: Callable, case: dict, helpers: Mapping[str, Callable]) -> dict:
    """A mutant's outcome on a recorded case, with the reference helpers in its globals."""
    try:
        with swapped_globals(fn, dict(helpers)), quiet():
            result = fn(*from_json(case["args"]), **from_json(case["kwargs"]))
        return outcome_to_json(("value", decode(encode(result))))
    except Exception as error:  # noqa: BLE001 - a mutant may raise (or return non-data): its fingerprint
        return outcome_to_json(("raises", error))


def _mutant_table(mutants: Mapping[str, Any], diagnoses: Mapping[str, str] | None) -> dict:
    table = {}
    for name, entry in mutants.items():
        fn, diagnosis = entry if isinstance(entry, tuple) else (entry, (diagnoses or {}).get(name))
        if not callable(fn) or not isinstance(diagnosis, str) or not diagnosis.strip():
            raise ValueError(f"mutant {name!r} needs a function and a diagnosis text")
        table[name] = (fn, diagnosis)
    return table


def record_task(name: str, reference: Callable, cases: Sequence[Mapping],
                mutants: Mapping[str, Any], *,
                diagnoses: Mapping[str, str] | None = None,
                helpers: Mapping[str, Callable] | None = None) -> dict:
    """Run the reference and the mutants on the visible cases of one task; return its record.

    Args:
        name: the graded name (used in error messages only).
        reference: the reference function, called as ``reference(*args, **kwargs)``.
        cases: visible cases, dicts ``id`` (str, unique), ``args`` (sequence), ``kwargs``
            (dict, optional), ``rtol`` / ``atol`` (optional floats). A case with ``hidden``
            set is refused: hidden cases never go into ``expected.json``.
        mutants: name -> function, or name -> ``(function, diagnosis)``.
        diagnoses: name -> diagnosis text (first line shown by Validate, at most ~100
            characters), for mutants given as bare functions.
        helpers: for a composite, helper name -> reference helper. While the reference runs,
            each helper is wrapped in the reference's globals to record its calls (for the
            stubs); while a mutant runs, the reference helper is bound in its globals.

    Returns:
        The task's entry of ``expected.json`` (schema in the module docstring).
    """
    helpers = dict(helpers or {})
    table = _mutant_table(mutants, diagnoses)
    recorded = [_record_case(name, reference, c, helpers) for c in _checked_cases(cases)]
    record: dict[str, Any] = {"cases": recorded}
    if helpers:
        record["helpers"] = {h: _signature(h, helpers[h]) for h in sorted(helpers)}
    record["mutants"] = {}
    for m in sorted(table):
        fn, diagnosis = table[m]
        record["mutants"][m] = {"diagnosis": diagnosis,
                                "outcomes": [_outcome(fn, c, helpers) for c in recorded]}
    return record


def build_expected(assignment_id: str, tasks: Mapping[str, dict]) -> dict:
    """The whole ``expected.json`` tree of an assignment from its task records (name -> record).

    Raises:
        ValueError: a record does not follow the schema.
    """
    data = {"format": FORMAT, "assignment": assignment_id,
            "tasks": {t: tasks[t] for t in sorted(tasks)}}
    try:
        Recorded(data, "expected.json")
    except AssertionError as error:
        raise ValueError(str(error)) from None
    return data


def _plain(obj: Any) -> bool:
    """Whether ``obj`` holds no dict at any depth (such lists are written on one line)."""
    return not isinstance(obj, dict) and (not isinstance(obj, list) or all(_plain(v) for v in obj))


def _dumps(obj: Any, depth: int) -> str:
    pad, end = " " * (depth + 1), " " * depth
    short = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    if len(short) <= INLINE:
        return short
    if isinstance(obj, dict) and obj:
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {_dumps(v, depth + 1)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(obj, list) and obj and not _plain(obj):
        return "[\n" + ",\n".join(pad + _dumps(v, depth + 1) for v in obj) + "\n" + end + "]"
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)


def dumps_expected(data: dict) -> str:
    """The text of ``expected.json``: deterministic, indent 1; lists of plain values and short
    containers on one line."""
    return _dumps(data, 0) + "\n"


def write_expected(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` (from :func:`build_expected`) to ``path`` as UTF-8; return the path."""
    path = Path(path)
    path.write_bytes(dumps_expected(data).encode("utf-8"))
    return path


def is_fresh(path: str | os.PathLike, data: dict) -> bool:
    """Whether the file at ``path`` holds exactly the bytes :func:`write_expected` would write."""
    path = Path(path)
    return path.is_file() and path.read_bytes() == dumps_expected(data).encode("utf-8")


def _differs(task: dict, mutant: str) -> bool:
    pairs = zip(task["cases"], task["mutants"][mutant]["outcomes"], strict=True)
    return any(not same_outcome(outcome_from_json(o), ("value", from_json(c["expected"])),
                                rtol=c.get("rtol"), atol=c.get("atol")) for c, o in pairs)


def _diagnosis_problems(name: str, diagnosis: str) -> Iterable[str]:
    if "\n" in diagnosis or len(diagnosis) > MAX_FIRST_LINE:
        yield f"the diagnosis of {name!r} should be one line of at most {MAX_FIRST_LINE} characters"


def distinguishable(task_record: dict) -> list[str]:
    """Problems that keep the visible tests from naming a task's mutants (empty list: none).

    Reports a mutant whose outcomes never differ from the expected outputs, two mutants with
    the same outcomes on every visible case, a mutant whose outcomes also match another
    mutant's fingerprint (a student making that mistake would not be told which), and a
    diagnosis longer than one short line.
    """
    mutants = sorted(task_record["mutants"])
    diagnoses = {m: task_record["mutants"][m]["diagnosis"] for m in mutants}
    problems = [p for m in mutants for p in _diagnosis_problems(m, diagnoses[m])]
    differing = [m for m in mutants if _differs(task_record, m)]
    problems += [f"mutant {m!r} never differs from the expected outputs on the visible cases"
                 for m in mutants if m not in differing]
    matches = {m: set(named_mutants(task_record, [outcome_from_json(o) for o in
                                                  task_record["mutants"][m]["outcomes"]])) - {m}
               for m in differing}
    for a, b in combinations(differing, 2):
        if b in matches[a] and a in matches[b]:
            problems.append(f"mutants {a!r} and {b!r} have the same outcomes on every visible case")
        elif b in matches[a] or a in matches[b]:
            first, second = (a, b) if b in matches[a] else (b, a)
            problems.append(f"a student making mistake {first!r} also matches {second!r}, "
                            "so neither is named")
    return problems
