"""The paste check: nothing the book prints or the student-facing library exports passes a
graded task's visible tests, under the task's name. (A chapter's code may be *used* by a
solution; it must not *be* one.)"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import signal
from pathlib import Path

import pytest

import course_utils
from course_utils.instructor.tasks import modules, tasks_of
from course_utils.judge.recorded import GradingError, load

ROOT = Path(__file__).resolve().parents[2]


def library_functions() -> dict[str, object]:
    """Every public function of the student-facing library, by qualified name."""
    found = {}
    for info in pkgutil.walk_packages(course_utils.__path__, "course_utils."):
        if ".instructor" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isfunction(value) and not name.startswith("_") and value.__module__ == info.name:
                found[f"{info.name}.{name}"] = value
    return found


def _fits(function, case: dict) -> bool:
    """Can ``function`` be called with this case's arguments (positionally, as the tests do)?"""
    try:
        inspect.signature(function).bind(*case["args"], **case.get("kwargs", {}))
    except (TypeError, ValueError):
        return False
    return True


class _Slow(Exception):
    pass


def _alarm(signum, frame):
    raise _Slow()


LIBRARY = library_functions()


@pytest.mark.parametrize("assignment_id", sorted(modules()))
def test_no_printed_or_library_function_passes_a_graded_task(assignment_id):
    recorded = load(ROOT / "solutions" / assignment_id / "expected.json")
    tried, passed = 0, []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for task in tasks_of(assignment_id):
            first = recorded.cases(task)[0]
            for qualified, function in LIBRARY.items():
                if not _fits(function, first):
                    continue
                tried += 1
                signal.alarm(5)  # a library function that trains for minutes is no answer either
                try:
                    recorded.check(task, function, stubs={})
                    passed.append(f"{qualified} passes {task}")
                except (GradingError, _Slow, Exception, SystemExit):  # noqa: B014 - any failure is what we want
                    pass  # (SystemExit: the CLI's main(argv) exits when argparse gets a list of numbers)
                finally:
                    signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert tried > 0, "no library function has a compatible signature: the check checked nothing"
    assert not passed, passed


def test_the_paste_check_catches_a_copy(monkeypatch):
    """A library function that computes a graded task (here the instructor's own reference
    under another name) makes the check fail."""
    from course_utils.instructor.tasks import neurons

    monkeypatch.setitem(LIBRARY, "course_utils.models.neurons.stable_log_probs", neurons.log_softmax)
    with pytest.raises(AssertionError, match="stable_log_probs passes log_softmax"):
        test_no_printed_or_library_function_passes_a_graded_task("01_neurons")
