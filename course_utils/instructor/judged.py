"""Graded test cells run by the judge, in the grader's process, never in the student's kernel.

:func:`run_test_cell` takes a test cell's source as the instructor released it (nbgrader's
``OverwriteCells`` has restored it from the gradebook before anything runs), executes it
here with :mod:`course_utils.judge.tests` switched to a :class:`JudgeBackend`, and returns
the cell's outputs: one stdout stream of the "✓ ..." lines, or one error. The student's
functions are reached only through :class:`~course_utils.instructor.judge.StudentProcess`
(data in, data out); the recorded values are the instructor's ``expected.json``; a
composite's helpers are callbacks to the reference here. Nothing the kernel prints or sends
during the cell becomes an output: the kernel's messages of the cell are dropped.
"""

from __future__ import annotations

import ast
import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..judge import tests
from ..judge.recorded import GradingError, Recorded, load
from .judge import StudentError, StudentProcess, StudentTimeout

#: seconds one call of a student's function may take in the judge
CALL_TIMEOUT = 30.0


class CallTimeout(GradingError):
    """A call of the student's function did not return in time (the cell counts as timed out)."""


class StudentRaised(Exception):
    """An exception of the student's code, carried by name (its class never crosses)."""

    student_line: int | None = None


def _raised(error: StudentError) -> Exception:
    if error.type == "NotImplementedError":
        return NotImplementedError(error.message)
    if error.type in ("NotData", "ProtocolError", "KernelDied"):
        return GradingError(error.message)
    name = error.type if error.type.isidentifier() else "Exception"
    raised = type(name, (StudentRaised,), {})(error.message)
    raised.student_line = error.line
    return raised


class RemoteFunction:
    """A student's function in the kernel, called like a local one.

    ``__globals__`` is this proxy's own dict: :func:`course_utils.judge.recorded.swapped_globals`
    puts a composite's stubs there while a case runs, and each call hands them to the kernel
    as callbacks answered here (the stub, or the reference helper, runs in the judge).
    """

    def __init__(self, student: StudentProcess, name: str, timeout: float) -> None:
        self.student, self.name, self.timeout = student, name, timeout
        self.__globals__: dict[str, Callable] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        callbacks = dict(self.__globals__)
        try:
            return self.student.call(self.name, *args, callbacks=callbacks, timeout=self.timeout, **kwargs)
        except StudentTimeout:
            raise CallTimeout(f"{self.name} did not return within {self.timeout:g} s.") from None
        except StudentError as error:
            raise _raised(error) from None


class JudgeBackend:
    """What a test cell's :mod:`course_utils.judge.tests` calls use while the judge runs it."""

    def __init__(self, student: StudentProcess, recorded: Recorded, cells: list[str], timeout: float) -> None:
        self.student, self._recorded, self.cells, self.timeout = student, recorded, cells, timeout

    def function(self, name: str) -> RemoteFunction:
        return RemoteFunction(self.student, name, self.timeout)

    def recorded(self) -> Recorded:
        return self._recorded

    def solution_source(self, name: str) -> str | None:
        """The source of the student's cell that defines ``name`` (read as text, never run here)."""
        for source in reversed(self.cells):
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            if any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body):
                return source
        return None


def _error(name: str, message: str) -> dict:
    return {"output_type": "error", "ename": name, "evalue": message, "traceback": [f"{name}: {message}"]}


def run_test_cell(source: str, student: StudentProcess, recorded: Recorded, cells: list[str],
                  timeout: float = CALL_TIMEOUT, canary: str | None = None,
                  acknowledged: list[str] | None = None) -> list[dict]:
    """Run one graded test cell here; its outputs (nbformat dicts): a stream, or one error.

    ``canary``: a path the kernel is asked to open once the tests have run (its audit hook
    must report it); appended to ``acknowledged`` when the kernel says it did."""
    backend = JudgeBackend(student, recorded, cells, min(timeout, CALL_TIMEOUT))
    printed = io.StringIO()
    tests.use(backend)
    try:
        student.open_cell()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(io.StringIO()):
            exec(compile(source, "<test cell>", "exec"), {"__name__": "__judge__"})  # the instructor's release
    except (CallTimeout, StudentTimeout) as error:
        return [_error("CellTimeoutError", str(error))]
    except GradingError as error:
        return [_error("GradingError", str(error))]
    except Exception as error:  # noqa: BLE001 - a test that cannot run scores 0, with the reason
        return [_error(type(error).__name__, f"the test could not run: {error}"[:500])]
    finally:
        tests.use(tests.KernelBackend())
        if canary and acknowledged is not None and student.cell_id and not student.stuck and student.canary(canary):
            acknowledged.append(canary)
        with contextlib.suppress(StudentError, StudentTimeout):
            student.close_cell()
    return [{"output_type": "stream", "name": "stdout", "text": printed.getvalue() or "✓ passed\n"}]


def instructor_recorded(course: Path, assignment_id: str) -> Recorded | None:
    """The instructor's ``expected.json`` in a scratch course (None: not a recorded exercise)."""
    path = course / "solutions" / assignment_id / "expected.json"
    return load(path) if path.is_file() else None
