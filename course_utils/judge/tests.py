"""The test cells' API, the same in the three places a test cell runs.

A graded test cell of a recorded exercise reads::

    from course_utils.judge import tests
    tests.visible("softmax")
    ### BEGIN HIDDEN TESTS
    tests.hidden("NN_exercise", "softmax")
    ### END HIDDEN TESTS

- **Validate** (JupyterLab's button, ``python -m course_utils validate``): the cell runs in
  the student's kernel; the student's function is looked up in the notebook's namespace and
  compared with ``expected.json`` beside the notebook. (The release carries no hidden block.)
- **Plain ``nbgrader autograde``** in the repository: the same, and the hidden block imports
  the instructor's references in the kernel (no protection against a determined student).
- **The judge** (``python -m course_utils grade``): the cell never reaches the kernel. The
  grader runs it in its own process with :func:`use` set to a backend whose functions call
  the student's code through the data-only channel, and whose ``expected.json`` is the
  instructor's copy, never the submission's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .recorded import FILENAME, GradingError, Recorded, load


class KernelBackend:
    """Where a test cell finds the student's functions and the recorded values in a kernel."""

    def function(self, name: str) -> Any:
        space = _user_namespace()
        if name not in space:
            raise GradingError(f"{name} is not defined: run the cell that defines it, then this test.")
        return space[name]

    def recorded(self) -> Recorded:
        return load(Path.cwd() / FILENAME)

    def solution_source(self, name: str) -> str | None:
        import inspect

        try:
            return inspect.getsource(self.function(name))
        except (OSError, TypeError, GradingError):
            return None


def _user_namespace() -> dict:
    try:
        shell = get_ipython()  # type: ignore[name-defined]  # defined in IPython
        return shell.user_ns
    except NameError:
        return vars(sys.modules["__main__"])


_backend: Any = KernelBackend()


def use(backend: Any) -> None:
    """Install ``backend`` (the judge's, in the grader's process) for the next test cells."""
    global _backend
    _backend = backend


def student(name: str) -> Callable:
    """The student's function ``name`` as the current backend reaches it."""
    return _backend.function(name)


def visible(name: str) -> None:
    """Run the visible cases of ``name`` against the recorded values; print one line if they pass."""
    print(_backend.recorded().check(name, student(name)))


def hidden(assignment_id: str, name: str) -> None:
    """Run the hidden cases of ``name`` (instructor code: only where the instructor wing is)."""
    from ..instructor import hidden as hidden_tests
    from ..instructor.tasks import tasks_of

    task = tasks_of(assignment_id)[name]
    if task.derivation:
        source = _backend.solution_source(name)
        reasons = hidden_tests.scan(source) if source else []
        if reasons:
            raise GradingError(f"{name} is not graded: {reasons[0]}.")
    path = _mutants_path(assignment_id)
    mutants = hidden_tests.load_mutants(path) if path.is_file() else []
    stubs = getattr(_backend, "hidden_stubs", lambda task: None)(task)
    print(hidden_tests.run_hidden(task, student(name), mutants, stubs))


def _mutants_path(assignment_id: str) -> Path:
    """``mutants/<id>.py`` of the repository that holds this package (not of the current
    folder, which is a scratch course when nbgrader autogrades)."""
    return Path(__file__).resolve().parents[2] / "mutants" / f"{assignment_id}.py"
