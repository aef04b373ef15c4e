"""A worker process of the grader: ``python -m course_utils.instructor.grade.worker``.

It reads one :class:`~course_utils.instructor.grade.jobs.WorkerTask` file path a line on
stdin, autogrades that student with nbgrader in the task's scratch course, writes
``result.json`` (a :class:`~course_utils.instructor.grade.jobs.WorkerResult` without the
sandbox's events) beside the task, and answers ``done``. Importing nbgrader costs seconds;
a worker pays it once, while the grader collects the submissions, rather than once per
student. Only this process imports nbgrader's preprocessors, so they are plain classes.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import re
import secrets
import socket
import sys
from pathlib import Path

import nbformat
from jupyter_client import BlockingKernelClient
from nbclient.util import run_sync
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde, GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    Execute,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    NbGraderPreprocessor,
    SaveAutoGrades,
)
from nbgrader.utils import is_grade

from ...judge.agent import FD_ENV
from ...judge.channel import Channel
from ...judge.events import CANARY_PREFIX
from .. import judged
from ..course import course_config
from ..judge import StudentProcess
from ..sandbox import POLICY_ENV
from .jobs import GradeRecord, WorkerResult, WorkerTask
from .scrub import SAFE_MIMETYPES, as_text_block, scrub, split_hidden

#: bytes of kernel output (streams, displays, errors; all types) the grader keeps per notebook
MAX_OUTPUT_BYTES = 4 << 20
#: log lines kept per student
MAX_LOG_LINES = 400


class JudgedExecute(Execute):
    """nbgrader's ``Execute`` whose graded test cells never reach the kernel: the judge runs
    each one here (:mod:`course_utils.instructor.judged`), from the instructor's release, and
    calls the student's functions through a socketpair handed to the kernel when it starts.
    Every other cell runs in the (sandboxed) kernel as usual. After each test cell the kernel
    is asked to open a canary path, which its audit hook must report (checked outside)."""

    recorded = None  # the instructor's expected.json, set by the worker for each job
    output_budget = MAX_OUTPUT_BYTES  # bytes of outputs (rich ones included) kept per notebook
    truncated: list[str] = []  # the cells whose outputs were cut
    canaries: list[str] = []  # the canary paths the kernel acknowledged

    @classmethod
    def reset(cls, recorded) -> None:
        """Before each student: the recorded values, a full output budget, no canaries."""
        cls.recorded, cls.output_budget, cls.truncated, cls.canaries = recorded, MAX_OUTPUT_BYTES, [], []

    def output(self, outs, msg, display_id, cell_index):
        """Keep a kernel's output only while the notebook's budget lasts: enforced here, in
        the grader, whatever the kernel's own cap was made to say."""
        size = len(json.dumps(msg.get("content", {}), default=str))
        if size > JudgedExecute.output_budget:
            JudgedExecute.output_budget = 0
            if cell_index not in JudgedExecute.truncated:
                JudgedExecute.truncated.append(cell_index)
            return None
        JudgedExecute.output_budget -= size
        return super().output(outs, msg, display_id, cell_index)

    async def async_start_new_kernel(self, **kwargs):
        judge_end, kernel_end = socket.socketpair()
        kwargs["env"] = {**(kwargs.get("env") or os.environ), FD_ENV: str(kernel_end.fileno())}
        kwargs["pass_fds"] = (kernel_end.fileno(),)
        try:
            await super().async_start_new_kernel(**kwargs)
        finally:
            kernel_end.close()
        self.judge_end = judge_end

    start_new_kernel = run_sync(async_start_new_kernel)  # setup_kernel calls the sync one

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type == "code" and is_grade(cell):
            return await self._judge(cell)
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    execute_cell = run_sync(async_execute_cell)  # nbclient binds the base method otherwise

    async def _judge(self, cell):
        """Run a graded test cell in the judge (this process); the kernel only answers calls."""
        loop = asyncio.get_running_loop()
        student = self._student(loop)
        cells = [c.source for c in self.nb.cells if c.cell_type == "code" and not is_grade(c)]
        canary = CANARY_PREFIX + secrets.token_hex(8)
        outputs = await loop.run_in_executor(None, judged.run_test_cell, cell.source, student, self.recorded,
                                             cells, float(self.timeout or judged.CALL_TIMEOUT), canary,
                                             JudgedExecute.canaries)
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        return cell

    def _student(self, loop) -> StudentProcess:
        """The judge's view of this kernel, made at the first test cell."""
        if getattr(self, "student", None) is None or self._student_km is not self.km:
            kc = BlockingKernelClient()
            kc.load_connection_info(self.km.get_connection_info())
            kc.start_channels()
            self.student = StudentProcess(Channel(self.judge_end), kc, _Interrupter(self.km, loop))
            self._student_km = self.km
        return self.student


class _Interrupter:
    """Lets the judge's thread ask the event loop to interrupt the kernel."""

    def __init__(self, km, loop) -> None:
        self.km, self.loop = km, loop

    def interrupt_kernel(self) -> None:
        asyncio.run_coroutine_threadsafe(self.km.interrupt_kernel(), self.loop).result(30)


class StripHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests from the feedback: from the test cells' source, and from every
    output (a failed hidden test's traceback quotes its line; test cells' tracebacks are cut
    to their last line, the message written for the student)."""

    def preprocess(self, nb, resources):
        hidden: set[str] = set()
        for cell in nb.cells:
            if cell.cell_type == "code" and is_grade(cell):
                cell.source, lines = split_hidden(cell.source)
                hidden |= {line for line in lines if len(line) >= 8 and not line.startswith("#")}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.evalue = scrub(output.evalue, hidden)
                    if is_grade(cell):
                        output.traceback = [f"{output.ename}: {output.evalue}"]
                    else:
                        output.traceback = [scrub(line, hidden) for line in output.traceback]
                elif output.output_type == "stream":
                    output.text = scrub(output.text, hidden)
                elif "data" in output and "text/plain" in output.data:
                    output.data["text/plain"] = scrub(output.data["text/plain"], hidden)
        return nb, resources


class SafeFeedback(NbGraderPreprocessor):
    """Nothing of the student's can run in the reader's browser: student-written markdown is
    shown as escaped text in a code fence, outputs keep only plain text and PNG/JPEG images
    (no HTML, JavaScript, SVG, Markdown or LaTeX), and attachments are dropped."""

    def preprocess(self, nb, resources):
        for cell in nb.cells:
            cell.pop("attachments", None)
            locked = cell.metadata.get("nbgrader", {}).get("locked")
            if cell.cell_type == "markdown" and not locked:
                cell.source = as_text_block(cell.source)
            elif cell.cell_type == "raw":
                cell.cell_type, cell.source = "markdown", as_text_block(cell.source)
                cell.pop("outputs", None)
            for output in cell.get("outputs", []):
                if "data" in output:
                    output.data = {k: v for k, v in output.data.items() if k in SAFE_MIMETYPES}
            if cell.cell_type == "code":
                cell.outputs = [o for o in cell.outputs if "data" not in o or o.data]
        return nb, resources


def nbgrader_config(course: Path, timeout: float):
    """nbgrader's configuration for one scratch course: the course's file, our kernel manager,
    per-cell timeout, and the preprocessors of this module."""
    cfg = course_config(course)
    cfg.CourseDirectory.root = str(course)
    cfg.Execute.timeout = int(timeout)
    cfg.Execute.interrupt_on_timeout = True
    cfg.Execute.raise_on_iopub_timeout = False  # a starved kernel must not fail the whole notebook
    cfg.Execute.iopub_timeout = 10
    cfg.Execute.kernel_manager_class = "course_utils.instructor.sandbox.manager.SandboxKernelManager"
    cfg.OverwriteCells.add_missing_cells = True
    cfg.LimitOutput.max_lines = 1000
    cfg.Autograde.autograde_preprocessors = [JudgedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                             SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    cfg.GenerateFeedback.preprocessors = [StripHiddenTests, SafeFeedback, GetGrades, CSSHTMLHeaderPreprocessor]
    return cfg


class _Log(logging.Handler):
    """Collects nbgrader's log lines for the student's log file."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record) -> None:
        if len(self.lines) < MAX_LOG_LINES:
            self.lines.append(f"[{record.levelname}] {record.getMessage()[:4000]}")


def autograde(task: WorkerTask) -> WorkerResult:
    """Autograde one student in its scratch course, and write the feedback."""
    course, assignment_id, student = Path(task.course), task.assignment, task.student
    result = WorkerResult(student)
    os.chdir(course)
    os.environ[POLICY_ENV] = task.policy
    JudgedExecute.reset(judged.instructor_recorded(course, assignment_id))
    log = _Log()
    cfg = nbgrader_config(course, task.timeout)
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id, coursedir.student_id = assignment_id, student
    try:
        _run(Autograde(coursedir=coursedir, config=cfg), log)
        result.success = True
    except BaseException as err:  # noqa: BLE001 - one student's failure is reported, not raised
        log.lines.append(f"[ERROR] autograde failed: {type(err).__name__}: {str(err)[:500]}")
    result.canaries = list(JudgedExecute.canaries)
    autograded = course / "autograded" / student / assignment_id / f"{assignment_id}.ipynb"
    if result.success and autograded.is_file():
        _read_gradebook(result, coursedir.db_url, coursedir.course_id, assignment_id)
        result.autograded = autograded.read_text()
        executed = nbformat.reads(result.autograded, as_version=4)
        result.flags = output_flags(executed)
        if JudgedExecute.truncated:
            result.flags["output_truncated"] = [f"cell {i}" for i in JudgedExecute.truncated]
        result.messages = failure_lines(executed)
        try:
            _run(GenerateFeedback(coursedir=coursedir, config=cfg), log)
        except BaseException as err:  # noqa: BLE001
            log.lines.append(f"[ERROR] feedback failed: {type(err).__name__}: {str(err)[:500]}")
        feedback = course / "feedback" / student / assignment_id / f"{assignment_id}.html"
        if feedback.is_file():
            result.feedback_html = feedback.read_text()
    result.log = "\n".join(log.lines)
    return result


def _run(app, log: _Log) -> None:
    """Start an nbgrader app with its log collected (the handler is removed afterwards: a
    worker grades many students)."""
    app.log.addHandler(log)
    try:
        app.force = True
        app.start()
    finally:
        app.log.removeHandler(log)


def _read_gradebook(result: WorkerResult, db_url: str, course_id: str, assignment_id: str) -> None:
    """The student's grades, comments and timestamp from the scratch gradebook, as data."""
    with Gradebook(db_url, course_id) as gb:
        submission = gb.find_submission(assignment_id, result.student)
        result.timestamp = submission.timestamp.isoformat() if submission.timestamp else None
        for nb in submission.notebooks:
            result.grades += [GradeRecord(g.name, nb.name, g.auto_score, g.manual_score, bool(g.needs_manual_grade),
                                          float(g.max_score or 0)) for g in nb.grades]
            result.comments.update({c.name: c.auto_comment for c in nb.comments})


def failure_lines(nb) -> dict[str, str]:
    """The first line of each failed graded test cell's error (the judge's message)."""
    lines = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                lines[gid] = (str(errors[0].get("evalue", "")).splitlines() or [""])[0][:300]
    return lines


def output_flags(nb) -> dict[str, list[str]]:
    """What the executed notebook's outputs show: timeouts and memory errors, by cell."""
    flags: dict[str, list[str]] = {"timeout": [], "memory_limit": [], "network_error": []}
    for i, cell in enumerate(nb.cells):
        name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {i}"
        for out in cell.get("outputs", []):
            if out.output_type != "error":
                continue
            text = f"{out.ename}: {out.evalue}"
            if out.ename == "CellTimeoutError":
                flags["timeout"].append(name)
            elif (out.ename == "MemoryError"
                  or re.search(r"Unable to allocate|can't allocate memory|Cannot allocate", text)):
                flags["memory_limit"].append(name)
            elif re.search(r"Network is unreachable|name resolution|Name or service not known|Errno 101", text):
                flags["network_error"].append(name)
    return flags


def work(task_path: Path) -> None:
    """Grade the task in ``task_path`` and write ``result.json`` beside it."""
    result = autograde(WorkerTask.load(task_path))
    (task_path.parent / "result.json").write_text(result.to_json())


def serve() -> int:
    """Grade each task file named on stdin, one path a line, and answer each with ``done`` on
    the original stdout. Everything else printed goes to stderr, so that nothing stray can
    garble the answers."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _die_with_parent(Path.cwd() / "kernels")
    answers.write("ready\n")
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        try:
            work(Path(path))
        except Exception as err:  # noqa: BLE001 - a broken task file: the grader reports no result
            print(f"task {path} failed: {err!r}", file=sys.stderr)
        gc.collect()  # close the SQLite files of the finished student's gradebook
        answers.write("done\n")
    return 0


def _die_with_parent(kernels: Path) -> None:
    """When the process that started us dies (a grader interrupted, a Dask worker killed), kill
    the kernels we started (found by their working folder, under ``kernels``) and exit: nothing
    of a dead grader runs on."""
    import threading
    import time

    from ..sandbox import kill_processes_in

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        kill_processes_in(kernels)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    sys.exit(serve())
