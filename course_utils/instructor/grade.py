"""Grade a whole class: ``python -m course_utils grade ASSIGNMENT SUBMISSIONS --out DIR``.

SUBMISSIONS is a folder or a ``.zip`` holding, for each student, ``<student>/<id>.ipynb``,
``<student>/<id>/<id>.ipynb`` or (as learning platforms export them)
``<student>_<anything>.ipynb``. The pipeline:

1. **collect** (:func:`collect`): read every notebook under SUBMISSIONS (never writing
   there), decide which one is each student's submission, and give each student a
   status at once when there is nothing to grade (``missing``, ``empty``, ``not_json``,
   ``invalid_notebook``, ``wrong_assignment``, ``multiple_notebooks``). Test cells that a
   student deleted are put back from the release (nbgrader then restores their hidden
   tests from the gradebook, as it restores edited ones).
2. **autograde** in parallel (:func:`grade`): ``--jobs`` long-lived worker processes
   (:class:`WorkerPool`, each running :func:`serve`) are started first, so that they import
   nbgrader while the release is fetched from its cache (:func:`exercises.cached_release`)
   and the submissions are collected. Each student is then graded by a free worker in a
   scratch copy of the course of its own, holding nothing but the assignment, so that no
   two nbgrader runs ever write the same SQLite gradebook. The worker runs nbgrader's
   autograder with a sandboxed kernel (:mod:`course_utils.instructor.sandbox`) that imports
   the student edition; the graded test cells run in the worker itself, the judge
   (:mod:`course_utils.instructor.judged`), which calls the student's functions through a
   data-only channel. It writes the feedback with hidden tests removed
   (:class:`StripHiddenTests`) and student content shown as text only (:class:`SafeFeedback`). A worker that stalls or dies is killed and replaced; its
   student gets the status ``error``.
3. **merge**, sequentially, each worker's grades into ``DIR/gradebook.db`` (or any
   SQLAlchemy URL given with ``--db``), and write ``DIR/grades.csv``
   (``student_id,score,max_score,status``), ``DIR/feedback/<student>.html``,
   ``DIR/autograded/<student>/<id>.ipynb`` (with hidden tests, for the instructor),
   ``DIR/details.csv`` (what happened to each student, and which files were read),
   ``DIR/summary.txt`` / ``summary.json`` (counts, per-test pass rates, the students
   whose status is not ``ok``) and ``DIR/score_histogram.png``.

Grading the same SUBMISSIONS twice gives the same grades: every step is deterministic
and the gradebook is updated in place.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import html
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import exercises, sandbox

#: Every status a student can get, with its meaning (the order is the precedence: when
#: several apply, the first one is the student's status and the others go in details).
STATUSES: dict[str, str] = {
    "missing": "no notebook of this assignment was found for the student",
    "empty": "the notebook file is empty",
    "not_json": "the notebook file is not JSON (not a notebook)",
    "invalid_notebook": "the file is JSON but not a valid notebook",
    "wrong_assignment": "the notebook is not this assignment's (other name, or none of its cells)",
    "multiple_notebooks": "two or more different notebooks for one student; none was graded",
    "too_large": "the notebook file is larger than the grader accepts",
    "error": "the grader failed on this submission (see DIR/logs/<student>.log)",
    "memory_limit": "the notebook ran out of its memory limit (a MemoryError; scored 0 if the kernel then stalled)",
    "wall_limit": "the notebook ran past the wall limit and its kernel was killed; scored 0",
    "kernel_died": "the kernel died while running the notebook; scored 0",
    "hidden_path": "the notebook tried to read the gradebook, the solutions or other submissions",
    "network_blocked": "the notebook tried to use the network, which the sandbox blocks",
    "timeout": "a cell ran past the per-cell timeout and was interrupted",
    "child_process": "the notebook left processes running; they were killed",
    "output_truncated": "the notebook printed more than the grader keeps; the rest was dropped",
    "test_cells_restored": "test cells were deleted or edited; they were restored before grading",
    "suspicious_code": "the code contains patterns used to fool graders, or closed the sandbox's audit "
                       "channel (nothing of it can score); worth a look",
    "ok": "graded",
}
_RUNTIME_EVENTS = {"wall_limit", "kernel_died", "hidden_path", "child_process", "output_truncated"}
_EVENT_STATUS = {"network": "network_blocked", "audit_blinded": "suspicious_code", **{k: k for k in _RUNTIME_EVENTS}}

MAX_NOTEBOOK_BYTES = 100 << 20
#: bytes of kernel output (streams, displays, errors; all types) the grader keeps per notebook
MAX_OUTPUT_BYTES = 4 << 20
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

#: Patterns in a student's code that try to fool a grader (static check, reported only).
SUSPICIOUS: list[tuple[str, str]] = [
    (r"course_utils\.(instructor|sandbox)", "refers to the grader's sandbox"),
    (r"\b(grading|reference|tests|recorded|np|numpy|torch|builtins|__builtins__|course_utils(\.\w+)*)\.\w+\s*=(?!=)",
     "assigns to an attribute of a module the tests use"),
    (r"\bsetattr\s*\(|\bsys\.modules\b", "patches modules"),
    (r"set_custom_exc|showtraceback|excepthook", "changes how errors are shown"),
    (r"input_transformers|ast_transformers|events\.register|run_cell", "changes how cells are run"),
    (r"\bAssertionError\s*=(?!=)|class\s+AssertionError\b", "redefines AssertionError"),
    (r"\bctypes\b|\bgc\.get_(referrers|referents|objects)\b|\bsys\.settrace\b", "reaches into the interpreter"),
    (r"\bseterr\s*\(", "changes numpy's floating-point error handling"),
]


# --------------------------------------------------------------------------- collecting


@dataclass
class Submission:
    """One student's submission as found under SUBMISSIONS."""

    student: str
    files: list[str] = field(default_factory=list)  #: every notebook of the student (relative paths)
    chosen: str | None = None  #: the notebook graded
    content: bytes | None = field(default=None, repr=False)
    status: str = "ok"  #: collection status; "ok" means it goes to the autograder
    details: list[str] = field(default_factory=list)


def safe_id(name: str) -> str:
    """A student id nbgrader can use in paths and globs: letters, digits, ``.``, ``-``, ``_``."""
    name = re.sub(r"_assignsubmission_file_?$", "", name)  # Moodle's folder names
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "student"
    return cleaned[:100]


def _raw_student(parts: tuple[str, ...]) -> str:
    """The student's name as SUBMISSIONS gives it: the folder, or a flat file's prefix."""
    if len(parts) > 1:
        return parts[0]
    stem = Path(parts[0]).stem
    return stem.split("_", 1)[0] if "_" in stem else stem


def unique_ids(names: list[str]) -> dict[str, str]:
    """A :func:`safe_id` for each name, unique: when cleaning makes two names equal
    (``carol`` and ``carol!``), the later ones in sorted order get ``-2``, ``-3``, ...; an
    id that needed no cleaning keeps its name."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(names, key=lambda n: (safe_id(n) != n, n)):  # clean names first
        base = candidate = safe_id(name)
        n = 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        ids[name] = candidate
        taken.add(candidate)
    return ids


def _entries(submissions: Path) -> tuple[list[tuple[tuple[str, ...], object]], list[str]]:
    """``[(path parts, reader)]`` for every file of a folder or zip (read-only), and the
    files skipped as unsafe or junk."""
    skipped: list[str] = []
    junk = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".DS_Store"}
    found = []
    if submissions.is_file() and zipfile.is_zipfile(submissions):
        archive = zipfile.ZipFile(submissions)
        for info in archive.infolist():
            parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p)
            if info.is_dir() or not parts:
                continue
            if info.filename.startswith("/") or ".." in parts or any(p.startswith(".") or p in junk for p in parts):
                skipped.append(info.filename)
                continue
            found.append((parts, (archive, info)))
    elif submissions.is_dir():
        for folder, dirs, files in os.walk(submissions):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in junk)
            for name in sorted(files):
                path = Path(folder) / name
                if name.startswith(".") or name in junk or path.is_symlink():
                    continue
                found.append((path.relative_to(submissions).parts, path))
    else:
        raise FileNotFoundError(f"{submissions} is neither a folder nor a .zip file")
    return found, skipped


def _read(reader, limit: int = MAX_NOTEBOOK_BYTES) -> bytes | None:
    """The bytes of one entry, or None if it is larger than ``limit``."""
    if isinstance(reader, Path):
        if reader.stat().st_size > limit:
            return None
        return reader.read_bytes()
    archive, info = reader
    if info.file_size > limit:
        return None
    with archive.open(info) as handle:
        return handle.read(limit + 1)


def _grade_ids(nb) -> set[str]:
    return {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}


def collect(assignment_id: str, submissions: Path, release: Path) -> tuple[list[Submission], list[str]]:
    """Find each student's notebook under ``submissions`` and check it can be graded.

    Args:
        release: the released notebook ``<id>.ipynb`` (to recognise the assignment's cells).

    Returns:
        the submissions sorted by student id, and notes on skipped files.
    """
    entries, skipped = _entries(submissions)
    notes = [f"skipped unsafe or hidden entry {name}" for name in skipped]
    nb_name = f"{assignment_id}.ipynb"
    # a zip often wraps everything in one folder: look inside it
    while entries and all(len(p) >= 2 for p, _ in entries) and len({p[0] for p, _ in entries}) == 1 \
            and not any(p[1] in (nb_name, assignment_id) for p, _ in entries):
        entries = [(p[1:], r) for p, r in entries]
    candidates: dict[str, list[tuple[int, str, object]]] = {}
    others: dict[str, list[str]] = {}
    ids = unique_ids(sorted({_raw_student(parts) for parts, _ in entries}))
    renamed = {ids[name]: name for name in ids if ids[name] != safe_id(name)}
    for parts, reader in entries:
        rel = "/".join(parts)
        student = ids[_raw_student(parts)]
        if len(parts) == 1:
            stem = Path(parts[0]).stem
            if not parts[0].endswith(".ipynb"):
                notes.append(f"ignored {rel}: not a notebook")
                continue
            rank = 0 if assignment_id in stem else 2
        else:
            if not parts[-1].endswith(".ipynb"):
                others.setdefault(student, []).append(rel)
                continue
            inner = list(parts[1:])
            rank = 0 if inner in ([nb_name], [assignment_id, nb_name]) else 1 if assignment_id in parts[-1] else 2
        candidates.setdefault(student, []).append((rank, rel, reader))
    result = []
    for student in sorted(set(candidates) | set(others)):
        sub = Submission(student)
        if student in renamed:
            sub.details.append(f"id {student} given to {renamed[student]!r}, whose name cleans to an id already taken")
        found = sorted(candidates.get(student, []), key=lambda c: (c[0], c[1]))
        sub.files = [rel for _, rel, _ in found]
        if not found:
            sub.status = "missing"
            sub.details.append(f"no notebook; found only {', '.join(others[student][:5])}")
            result.append(sub)
            continue
        best = [c for c in found if c[0] == found[0][0]]
        if found[0][0] == 2:
            sub.status = "wrong_assignment"
            sub.details.append(f"found {', '.join(sub.files)}; expected {nb_name}")
            result.append(sub)
            continue
        contents = {}
        for _, rel, reader in best:
            contents[rel] = _read(reader)
        if len({hashlib.sha256(c).hexdigest() if c is not None else rel for rel, c in contents.items()}) > 1:
            sub.status = "multiple_notebooks"
            sub.details.append(f"different notebooks {', '.join(contents)}: keep one and grade again")
            result.append(sub)
            continue
        sub.chosen = best[0][1]
        sub.content = contents[sub.chosen]
        if len(best) > 1:
            sub.details.append(f"identical copies {', '.join(contents)}: graded one")
        if best[0][0] == 1:
            sub.details.append(f"graded {sub.chosen} in place of {nb_name}")
        ignored = [rel for rel in sub.files if rel not in contents]
        if ignored:
            sub.details.append(f"ignored other notebooks {', '.join(ignored)}")
        try:
            _check_content(sub, assignment_id, release)
        except Exception as err:  # noqa: BLE001 - one malformed notebook never stops the class
            sub.status = "invalid_notebook"
            sub.details.append(f"{sub.chosen} cannot be read as a notebook: {type(err).__name__}: {str(err)[:120]}")
        result.append(sub)
    return result, notes


def _check_content(sub: Submission, assignment_id: str, release: Path) -> None:
    """Set ``sub.status`` for content that cannot be graded, note edited or deleted test
    cells, and prepare the notebook to grade (deleted test cells put back)."""
    data = sub.content
    if data is None:
        sub.status = "too_large"
        sub.details.append(f"{sub.chosen} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB")
        return
    if not data.strip():
        sub.status = "empty"
        sub.details.append(f"{sub.chosen} is empty ({len(data)} bytes)")
        return
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        sub.status = "not_json"
        sub.details.append(f"{sub.chosen} is not JSON: {str(err)[:120]}")
        return
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - nbformat raises many kinds
        sub.status = "invalid_notebook"
        sub.details.append(f"{sub.chosen} is not a valid notebook: {str(err).splitlines()[0][:120]}")
        return
    bad = [i for i, c in enumerate(nb.cells) if not isinstance(c.get("metadata", {}).get("nbgrader", {}), dict)]
    if bad:
        sub.status = "invalid_notebook"
        sub.details.append(f"{sub.chosen}: cell {bad[0]} has nbgrader metadata that is not a dict")
        return
    ref = nbformat.read(release, as_version=4)
    if not _grade_ids(nb) & _grade_ids(ref):
        sub.status = "wrong_assignment"
        sub.details.append(f"{sub.chosen} has none of the cells of {assignment_id}")
        return
    restored = _restore_test_cells(nb, ref)
    sub.details += restored
    for message in scan_code(nb, ref):
        sub.details.append(f"suspicious code: {message}")
    sub.content = nbformat.writes(nb).encode()


def _restore_test_cells(nb, ref) -> list[str]:
    """Put back locked code cells (test cells, imports) missing from ``nb``; note edited ones.
    nbgrader restores the edited ones (and the hidden tests) from the gradebook."""
    notes = []
    present = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    ref_ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in ref.cells]
    for index, cell in enumerate(ref.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not (meta.get("locked") or meta.get("grade")) or meta.get("solution"):
            continue
        gid = meta["grade_id"]
        mine = present.get(gid)
        if mine is None:
            before = next((i for i in range(index - 1, -1, -1) if ref_ids[i] in present), None)
            where = 0 if before is None else nb.cells.index(present[ref_ids[before]]) + 1
            nb.cells.insert(where, nbformat.from_dict(json.loads(json.dumps(cell))))
            present[gid] = nb.cells[where]
            notes.append(f"restored deleted {'test ' if meta.get('grade') else ''}cell {gid}")
        elif mine.source.strip() != cell.source.strip() or not mine.metadata.get("nbgrader", {}).get("locked"):
            notes.append(f"restored edited {'test ' if meta.get('grade') else ''}cell {gid}")
    return notes


def scan_code(nb, ref) -> list[str]:
    """Patterns of :data:`SUSPICIOUS` found in the student's own code cells."""
    locked = {c.metadata.get("nbgrader", {}).get("grade_id") for c in ref.cells
              if c.metadata.get("nbgrader", {}).get("locked")}
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade_id") in locked:
            continue
        for pattern, message in SUSPICIOUS:
            match = re.search(pattern, cell.source)
            if match and message not in [f.split(" (")[0] for f in found]:
                found.append(f"{message} ({match.group(0).strip()[:40]!r})")
    return found


# --------------------------------------------------------------------------- nbgrader pieces (used in the worker)


def _preprocessor_classes():
    """The nbgrader preprocessors of the worker, defined lazily (nbgrader is slow to import)."""
    from nbclient.util import run_sync
    from nbgrader.preprocessors import Execute, NbGraderPreprocessor
    from nbgrader.utils import is_grade

    class JudgedExecute(Execute):
        """nbgrader's ``Execute`` whose graded test cells never reach the kernel: the judge
        runs each one here (:mod:`course_utils.instructor.judged`), from the instructor's
        release, and calls the student's functions through a socketpair handed to the
        kernel when it starts. Every other cell runs in the (sandboxed) kernel as usual."""

        recorded = None  # the instructor's expected.json, set by the worker for each job
        output_budget = MAX_OUTPUT_BYTES  # bytes of outputs (rich ones included) kept per notebook
        truncated: list[str] = []  # the cells whose outputs were cut

        def output(self, outs, msg, display_id, cell_index):
            """Keep a kernel's output only while the notebook's budget lasts: enforced here, in
            the grader, whatever the kernel's own cap was made to say."""
            size = len(json.dumps(msg.get("content", {}), default=str))
            if size > self.output_budget:
                self.output_budget = 0
                if cell_index not in JudgedExecute.truncated:
                    JudgedExecute.truncated.append(cell_index)
                return None
            self.output_budget -= size
            return super().output(outs, msg, display_id, cell_index)

        async def async_start_new_kernel(self, **kwargs):
            import socket

            from ..judge.agent import FD_ENV

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
            import asyncio

            from . import judged

            loop = asyncio.get_running_loop()
            student = await self._student(loop)
            cells = [c.source for c in self.nb.cells if c.cell_type == "code" and not is_grade(c)]
            outputs = await loop.run_in_executor(None, judged.run_test_cell, cell.source, student, self.recorded,
                                                 cells, float(self.timeout or judged.CALL_TIMEOUT))
            cell.outputs = [nbformat.from_dict(o) for o in outputs]
            return cell

        async def _student(self, loop):
            """The judge's view of this kernel, made at the first test cell."""
            if getattr(self, "student", None) is None or self._student_km is not self.km:
                from jupyter_client import BlockingKernelClient

                from ..judge.channel import Channel
                from .judge import StudentProcess

                kc = BlockingKernelClient()
                kc.load_connection_info(self.km.get_connection_info())
                kc.start_channels()

                class Interrupter:  # the judge's thread asks the event loop to interrupt the kernel
                    km = self.km

                    def interrupt_kernel(self):
                        asyncio_future = __import__("asyncio").run_coroutine_threadsafe(self.km.interrupt_kernel(), loop)
                        asyncio_future.result(30)

                self.student = StudentProcess(Channel(self.judge_end), kc, Interrupter())
                self._student_km = self.km
            return self.student

    class StripHiddenTests(NbGraderPreprocessor):
        """Remove hidden tests from the feedback: from the test cells' source, and from every
        output (a failed hidden test's traceback quotes its line; test cells' tracebacks are
        cut to their last line, the message written for the student)."""

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
        """Nothing of the student's can run in the reader's browser: student-written markdown
        is shown as escaped text in a code fence, outputs keep only plain text and PNG/JPEG
        images (no HTML, JavaScript, SVG, Markdown or LaTeX), and attachments are dropped."""

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

    return JudgedExecute, StripHiddenTests, SafeFeedback


#: the output types a feedback page shows (none of them can run code in a browser)
SAFE_MIMETYPES = ("text/plain", "image/png", "image/jpeg")


def as_text_block(text: str) -> str:
    """Markdown that shows ``text`` verbatim (escaped) in a code fence it cannot close."""
    longest = max((len(run) for run in re.findall(r"`+|~+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def split_hidden(source: str) -> tuple[str, list[str]]:
    """``source`` without its hidden-test blocks, and the stripped lines that were removed."""
    kept, removed, inside = [], [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN_BEGIN:
            inside = True
            kept.append("# (hidden tests, run when grading, are not shown)")
        elif line.strip() == HIDDEN_END:
            inside = False
        elif inside:
            removed.append(line.strip())
        else:
            kept.append(line)
    return "\n".join(kept), removed


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def scrub(text: str, hidden: set[str]) -> str:
    """Replace every line of ``text`` that quotes a hidden line."""
    if not hidden or not text:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        plain = _ANSI.sub("", line)
        if any(h in plain for h in hidden):
            lines[i] = "    (a line of a hidden test)"
    return "\n".join(lines)


def _nbgrader_config(course: Path, timeout: float):
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    cfg.merge(Config())
    cfg.CourseDirectory.root = str(course)
    cfg.Execute.timeout = int(timeout)
    cfg.Execute.interrupt_on_timeout = True
    cfg.Execute.raise_on_iopub_timeout = False  # a starved kernel must not fail the whole notebook
    cfg.Execute.iopub_timeout = 10
    cfg.Execute.kernel_manager_class = "course_utils.instructor.sandbox.SandboxKernelManager"
    cfg.OverwriteCells.add_missing_cells = True
    cfg.LimitOutput.max_lines = 1000
    return cfg


def worker(job_path: Path) -> int:
    """Autograde one student in its scratch course and write ``result.json`` beside ``job``."""
    job = json.loads(job_path.read_text())
    course, assignment_id, student = Path(job["course"]), job["assignment"], job["student"]
    result: dict = {"student": student, "success": False, "cells": {}, "log": ""}
    os.chdir(course)
    os.environ[sandbox.POLICY_ENV] = job["policy"]
    import logging

    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        GetGrades,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    judged_execute, strip_hidden, safe_feedback = _preprocessor_classes()
    from . import judged

    judged_execute.recorded = judged.instructor_recorded(course, assignment_id)
    log_lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            if len(log_lines) < 400:
                log_lines.append(f"[{record.levelname}] {record.getMessage()[:4000]}")

    cfg = _nbgrader_config(course, job["timeout"])
    cfg.Autograde.autograde_preprocessors = [judged_execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                             SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    cfg.GenerateFeedback.preprocessors = [strip_hidden, safe_feedback, GetGrades, CSSHTMLHeaderPreprocessor]
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id, coursedir.student_id = assignment_id, student
    handler = Collect()
    loggers = []  # the loggers given the handler, which is removed at the end (a worker grades many)
    try:
        app = Autograde(coursedir=coursedir, config=cfg)
        app.log.addHandler(handler)
        loggers.append(app.log)
        app.force = True
        app.start()
        result["success"] = True
    except BaseException as err:  # noqa: BLE001 - one student's failure is reported, not raised
        log_lines.append(f"[ERROR] autograde failed: {type(err).__name__}: {str(err)[:500]}")
    autograded = course / "autograded" / student / assignment_id / f"{assignment_id}.ipynb"
    if result["success"] and autograded.is_file():
        with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
            nb = gb.find_submission_notebook(assignment_id, assignment_id, student)
            result["cells"] = {g.name: [float(g.score or 0), float(g.max_score)] for g in nb.grades if g.max_score}
        executed = nbformat.read(autograded, as_version=4)
        result["outputs"] = _output_flags(executed)
        if judged_execute.truncated:
            result["outputs"]["output_truncated"] = [f"cell {i}" for i in judged_execute.truncated]
        result["messages"] = _failure_lines(executed)
        try:
            feedback = GenerateFeedback(coursedir=coursedir, config=cfg)
            feedback.log.addHandler(handler)
            loggers.append(feedback.log)
            feedback.force = True
            feedback.start()
        except BaseException as err:  # noqa: BLE001
            log_lines.append(f"[ERROR] feedback failed: {type(err).__name__}: {str(err)[:500]}")
    for logger in loggers:
        logger.removeHandler(handler)
    result["log"] = "\n".join(log_lines)
    (job_path.parent / "result.json").write_text(json.dumps(result))
    return 0


#: Students a worker process grades before it is replaced by a fresh one.
JOBS_PER_WORKER = 50


def serve() -> int:
    """A long-lived worker process (``python -m course_utils grade-worker``): grade each job
    file named on stdin, one path a line, and answer each with ``done`` on the original
    stdout. Everything else that is printed goes to stderr, so that nothing stray can
    garble the answers. Importing nbgrader costs seconds; a worker pays it once, while the
    grader collects the submissions, rather than once per student."""
    import gc

    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _preprocessor_classes()  # the imports of worker(), done before the first job arrives
    import nbgrader.converters  # noqa: F401

    answers.write("ready\n")
    for line in sys.stdin:
        job = line.strip()
        if not job:
            continue
        try:
            worker(Path(job))
        except Exception as err:  # noqa: BLE001 - a broken job file: the grader reports no result
            print(f"job {job} failed: {err!r}", file=sys.stderr)
        gc.collect()  # close the SQLite files of the finished student's gradebook
        answers.write("done\n")
    return 0


class WorkerProcess:
    """One long-lived :func:`serve` process, used by one grading thread at a time.

    :meth:`grade` hands it a job and waits for its answer; a worker that does not answer in
    time, or dies, is killed and replaced, and the job is reported as not graded.
    """

    def __init__(self, index: int, log_dir: Path, cwd: Path):
        self.index, self.log_path, self.cwd = index, log_dir / f"worker{index}.log", cwd
        self.proc: subprocess.Popen | None = None
        self.jobs = 0
        self.start()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "course_utils", "grade-worker"], cwd=self.cwd,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                         env=exercises.venv_environ(PYTHONWARNINGS="ignore"), start_new_session=True)
        self.jobs = 0
        self._buffer = b""

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, 9)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        self.proc = None

    def _answer(self, deadline: float) -> bytes | None:
        """The next line the worker answers (``ready`` skipped); None at the deadline, b"" at its end."""
        import select

        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                if line != b"ready":
                    return line
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:  # end of file: the worker has exited
                return b""
            self._buffer += chunk

    def grade(self, job: Path, timeout: float) -> str:
        """Grade ``job``; return "" when the worker finished it, else what went wrong."""
        if self.proc is None or self.proc.poll() is not None or self.jobs >= JOBS_PER_WORKER:
            self.stop()
            self.start()
        start = time.monotonic()
        try:
            self.proc.stdin.write(f"{job}\n".encode())
            self.proc.stdin.flush()
        except OSError:
            self.stop()
            return "the worker process had exited"
        answer = self._answer(start + timeout)
        if answer == b"done":
            self.jobs += 1
            return ""
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-1500:] if self.log_path.is_file() else ""
        if answer is None:
            return f"worker stopped after {time.monotonic() - start:.0f} s\n{tail}"
        if answer:
            return f"the worker answered {answer[:100]!r}, not done; it was replaced\n{tail}"
        return f"the worker process died\n{tail}"


class WorkerPool:
    """``size`` :class:`WorkerProcess` es, started at once so that they import while the
    grader prepares; :meth:`grade` runs a job on whichever is free."""

    def __init__(self, size: int, log_dir: Path, cwd: Path):
        import queue

        self._free: queue.Queue[WorkerProcess] = queue.Queue()
        self.workers = [WorkerProcess(i, log_dir, cwd) for i in range(size)]
        for w in self.workers:
            self._free.put(w)

    def grade(self, job: Path, timeout: float) -> str:
        worker = self._free.get()
        try:
            return worker.grade(job, timeout)
        finally:
            self._free.put(worker)

    def close(self) -> None:
        for w in self.workers:
            if w.proc is not None and w.proc.poll() is None:
                with contextlib.suppress(OSError):
                    w.proc.stdin.close()  # end of jobs: it exits
                with contextlib.suppress(subprocess.TimeoutExpired):
                    w.proc.wait(timeout=10)
            w.stop()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _failure_lines(nb) -> dict[str, str]:
    """The first line of each failed graded test cell's error (the judge's message)."""
    lines = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
            if errors:
                lines[gid] = (str(errors[0].get("evalue", "")).splitlines() or [""])[0][:300]
    return lines


def _output_flags(nb) -> dict[str, list[str]]:
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
            elif out.ename == "MemoryError" or re.search(r"Unable to allocate|can't allocate memory|Cannot allocate", text):
                flags["memory_limit"].append(name)
            elif re.search(r"Network is unreachable|name resolution|Name or service not known|Errno 101", text):
                flags["network_error"].append(name)
    return flags


# --------------------------------------------------------------------------- the gradebook


def copy_assignment(src_url: str, dst, assignment_id: str) -> float:
    """Create ``assignment_id`` in the gradebook ``dst`` as it is in ``src_url``; return its max score."""
    from nbgrader.api import Gradebook

    with Gradebook(src_url) as src:
        assignment = src.find_assignment(assignment_id)
        dst.update_or_create_assignment(assignment_id, duedate=assignment.duedate)
        for nb in assignment.notebooks:
            dst.update_or_create_notebook(nb.name, assignment_id)
            for cell in nb.grade_cells:
                dst.update_or_create_grade_cell(cell.name, nb.name, assignment_id, max_score=cell.max_score,
                                                cell_type=cell.cell_type)
            for cell in nb.solution_cells:
                dst.update_or_create_solution_cell(cell.name, nb.name, assignment_id)
            for cell in nb.task_cells:
                dst.update_or_create_task_cell(cell.name, nb.name, assignment_id, max_score=cell.max_score,
                                               cell_type=cell.cell_type)
            for cell in nb.source_cells:
                dst.update_or_create_source_cell(cell.name, nb.name, assignment_id, cell_type=cell.cell_type,
                                                 locked=cell.locked, source=cell.source, checksum=cell.checksum)
        return float(assignment.max_score)


def merge_student(dst, scratch_url: str | None, assignment_id: str, student: str) -> None:
    """Copy one student's grades from a worker's scratch gradebook into ``dst`` (None: no
    graded submission; any earlier one of this student is removed)."""
    from nbgrader.api import Gradebook, MissingEntry

    dst.update_or_create_student(student)
    if scratch_url is None:
        with contextlib.suppress(MissingEntry):
            dst.remove_submission(assignment_id, student)
        return
    with Gradebook(scratch_url) as src, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes from nbgrader's own code
        submitted = src.find_submission(assignment_id, student)
        dst.update_or_create_submission(assignment_id, student, timestamp=submitted.timestamp)
        for nb in submitted.notebooks:
            for grade in nb.grades:
                target = dst.find_grade(grade.name, nb.name, assignment_id, student)
                target.auto_score = grade.auto_score
                target.manual_score = grade.manual_score
                target.needs_manual_grade = grade.needs_manual_grade
            for comment in nb.comments:
                with contextlib.suppress(MissingEntry):
                    dst.find_comment(comment.name, nb.name, assignment_id, student).auto_comment = comment.auto_comment
        dst.db.commit()


# --------------------------------------------------------------------------- grading a class


@dataclass
class Row:
    """One line of grades.csv and details.csv."""

    student_id: str
    score: float
    max_score: float
    status: str
    details: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    cells: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    messages: dict[str, str] = field(default_factory=dict)  #: test cell -> first line of its failure


def _status(statuses: set[str]) -> str:
    return next((s for s in STATUSES if s in statuses), "ok")


def _fully_graded(result: dict | None) -> bool:
    """The worker graded every cell of the notebook (autograde finished, scores recorded)."""
    return bool(result and result.get("success") and result.get("cells"))


def _result_row(sub: Submission, result: dict | None, events: list[dict], max_score: float, seconds: float) -> Row:
    row = Row(sub.student, 0.0, max_score, "error", list(sub.details), sub.files, seconds=round(seconds, 1))
    statuses: set[str] = set()
    if any(d.startswith("restored ") for d in sub.details):
        statuses.add("test_cells_restored")
    if any(d.startswith("suspicious code") for d in sub.details):
        statuses.add("suspicious_code")
    kinds = Counter(e.get("kind") for e in events)
    for event in events:
        kind = event.get("kind")
        if kind in _EVENT_STATUS or kind in ("process", "sandbox"):
            text = f"{kind}: {event.get('detail', '')}"
            if text not in row.details:
                row.details.append(text)
        if kind in _EVENT_STATUS and not (kind == "kernel_died" and _fully_graded(result)):
            statuses.add(_EVENT_STATUS[kind])  # a kernel that dies once every cell has run (an abort
            # at exit on a loaded machine) costs nothing: its death stays in the details
    if result is None:
        statuses.add("error")
    else:
        flags = result.get("outputs", {})
        for flag, cells in flags.items():
            if cells:
                row.details.append(f"{flag.replace('_', ' ')} in {', '.join(cells[:6])}")
                statuses.add("network_blocked" if flag == "network_error" else flag)
        if result.get("success") and result.get("cells"):
            row.cells = result["cells"]
            row.messages = dict(result.get("messages", {}))
            row.score = round(sum(s for s, _ in row.cells.values()), 4)
            row.max_score = round(sum(m for _, m in row.cells.values()), 4)
        elif "wall_limit" not in statuses:
            statuses.add("kernel_died" if kinds.get("kernel_exit") and "DeadKernel" in result.get("log", "")
                         else "error")
    row.status = _status(statuses)
    return row


def grade(assignment_id: str, submissions: Path, out: Path, *, db: str | None = None, jobs: int | None = None,
          memory: int = 2 << 30, timeout: float | None = None, wall: float = 600.0, progress: bool = True,
          root: Path | None = None) -> list[Row]:
    """Grade every submission of ``assignment_id`` under ``submissions`` into ``out``.

    Args:
        db: SQLAlchemy URL of the gradebook (default ``sqlite:///<out>/gradebook.db``).
        jobs: worker processes (default: the number of cores).
        memory: bytes of memory per kernel; timeout: seconds per cell (default: the
            course's ``Execute.timeout``); wall: seconds per notebook.

    Returns:
        one :class:`Row` per student, sorted by student id.
    """
    from nbgrader.api import Gradebook

    root = root or exercises.repo_root()
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):  # nbgrader runs `alembic` from PATH
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if out == submissions or submissions in out.parents:
        raise ValueError("--out must not be inside SUBMISSIONS, which is never written to")
    jobs = max(1, jobs or os.cpu_count() or 1)
    caps = sandbox.probe()
    for warning in caps.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    default_db = f"sqlite:///{out / 'gradebook.db'}"
    db = db or default_db
    timeout = timeout or _course_timeout(root)
    started = time.perf_counter()
    rows: list[Row] = []
    base = tempfile.mkdtemp(prefix="course-grade-", dir=_scratch_parent(caps))  # 0700: only we can enter
    os.chmod(base, 0o711)  # kernels may pass through to their own folder, not list it
    try:
        with WorkerPool(jobs, out / "logs", Path(base)) as workers:  # they import while we prepare
            template = Path(base) / "template"
            shutil.copytree(exercises.cached_release(assignment_id, root), template)
            os.chmod(template, 0o700)
            release = template / "exercises" / assignment_id / f"{assignment_id}.ipynb"
            diagnoses = release_diagnoses(template, assignment_id)
            subs, notes = collect(assignment_id, submissions, release)
            for note in notes:
                print(f"note: {note}", file=sys.stderr)
            if db == default_db and not (out / "gradebook.db").exists():
                shutil.copy(template / "gradebook.db", out / "gradebook.db")  # skips nbgrader's `alembic` run
            with Gradebook(db, "neurons-to-attention") as gb:
                max_score = copy_assignment(f"sqlite:///{template / 'gradebook.db'}", gb, assignment_id)
            graded = [s for s in subs if s.status == "ok"]
            for sub in subs:
                if sub.status != "ok":
                    rows.append(Row(sub.student, 0.0, max_score, sub.status, sub.details, sub.files))
            hidden = [str(p) for p in (submissions, out, root / "solutions", root / "source", root / "submitted",
                                       root / "autograded", root / "feedback", root / "gradebook.db",
                                       root / "nbgrader_config.py", exercises.release_cache_dir(), template,
                                       root / "mutants", root / ".git", Path(__file__).resolve().parent / "tasks")]
            if db.startswith("sqlite:///"):
                hidden.append(db[len("sqlite:///"):])
            context = dict(template=template, base=Path(base), caps=caps, memory=memory, timeout=timeout, wall=wall,
                           hidden=hidden, assignment=assignment_id, **_kernel_library(template, assignment_id, root, Path(base)),
                           max_score=max_score, pool=workers,
                           threads=max(1, (os.cpu_count() or 1) // jobs), uid_base=random.SystemRandom().randrange(
                               200_000, 2_000_000_000 - 100_000))
            bar = _progress(len(graded), progress)
            with ThreadPoolExecutor(max_workers=jobs) as pool, Gradebook(db, "neurons-to-attention") as gb:
                futures = {pool.submit(_grade_one, sub, i, context): sub for i, sub in enumerate(graded)}
                for sub in subs:
                    if sub.status != "ok":
                        merge_student(gb, None, assignment_id, sub.student)
                for future in as_completed(futures):
                    sub = futures[future]
                    try:
                        row, scratch, files = future.result()
                    except Exception as err:  # noqa: BLE001 - one student's fault never stops the others
                        row = Row(sub.student, 0.0, max_score, "error", [*sub.details, f"grader error: {err!r}"[:300]],
                                  sub.files)
                        scratch, files = None, {"course": Path(base), "log": repr(err), "events": []}
                    merge_student(gb, scratch, assignment_id, sub.student)  # one writer: this thread
                    _keep_outputs(out, assignment_id, sub.student, files)
                    if str(files["course"]) != base:
                        shutil.rmtree(files["course"], ignore_errors=True)
                    rows.append(row)
                    bar.update(1)
                    bar.set_postfix_str(f"{sub.student}: {row.status}")
            bar.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    rows.sort(key=lambda r: r.student_id)
    write_reports(out, assignment_id, rows, time.perf_counter() - started, caps.warnings, diagnoses)
    return rows


def _kernel_library(template: Path, assignment_id: str, root: Path, base: Path) -> dict:
    """What the kernels import, as policy fields: the student edition of ``course_utils``,
    copied into the scratch folder, with the repository covered (only the virtualenv bound
    back), so a kernel sees no reference, mutant, solution, test fixture or ``.git``."""
    if not (template / "solutions" / assignment_id / "expected.json").is_file():
        raise ValueError(f"{assignment_id} has no recorded values (solutions/{assignment_id}/expected.json): "
                         f"run `python -m course_utils release {assignment_id}` first")
    from .pack import student_modules

    edition = base / "edition"
    for path in student_modules(root):
        target = edition / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    for folder in [edition, *edition.rglob("*")]:
        os.chmod(folder, 0o755 if folder.is_dir() else 0o644)
    return {"cover": [str(root)], "pythonpath": [str(edition)],
            "expose": [*sandbox.needed_paths(package=False), str(edition)]}


def _scratch_parent(caps: sandbox.Capabilities) -> str:
    """Where the scratch folder goes: the temporary folder, unless kernels with a user id of
    their own could not reach into it (a private ``TMPDIR`` of mode 0700), then ``/tmp``."""
    default = tempfile.gettempdir()
    if not caps.switch_user or sandbox.blocked_ancestor(default) is None:
        return default
    return next((d for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d) and sandbox.blocked_ancestor(d) is None),
                default)


def _course_timeout(root: Path) -> float:
    match = re.search(r"c\.Execute\.timeout\s*=\s*(\d+)", (root / "nbgrader_config.py").read_text())
    return float(match.group(1)) if match else 120.0


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="grading", unit="student", disable=not enabled, file=sys.stderr)


def _grade_one(sub: Submission, index: int, ctx: dict) -> tuple[Row, str | None, dict]:
    """Prepare a scratch course for one student, run the worker, and read what it found."""
    start = time.perf_counter()
    assignment_id = ctx["assignment"]
    base: Path = ctx["base"]
    course = base / "courses" / sub.student
    (base / "courses").mkdir(exist_ok=True, mode=0o700)
    shutil.copytree(ctx["template"], course, ignore=shutil.ignore_patterns("exercises"))
    os.chmod(course, 0o700)
    dest = course / "submitted" / sub.student / assignment_id
    dest.mkdir(parents=True)
    (dest / f"{assignment_id}.ipynb").write_bytes(sub.content)
    kernels = base / "kernels"
    kernels.mkdir(exist_ok=True, mode=0o711)
    kdir = kernels / f"k{index}"
    kdir.mkdir(mode=0o700)
    caps: sandbox.Capabilities = ctx["caps"]
    uid = ctx["uid_base"] + index if caps.switch_user else None
    policy = sandbox.Policy(kernel_dir=str(kdir), events=str(course / "events.jsonl"), memory=ctx["memory"],
                            wall=ctx["wall"], uid=uid, gid=uid, hidden=ctx["hidden"] + [str(base / "courses")],
                            expose=ctx["expose"] if uid is not None or ctx["cover"] else [], unshare=caps.unshare,
                            threads=ctx["threads"], cover=ctx["cover"], pythonpath=ctx["pythonpath"],
                            private_tmp=["/tmp", "/var/tmp", "/dev/shm"] if caps.mountns else [])
    policy_path = policy.save(course / "policy.json")
    job = course / "job.json"
    job.write_text(json.dumps({"course": str(course), "assignment": assignment_id, "student": sub.student,
                               "policy": str(policy_path), "timeout": ctx["timeout"]}))
    log = ctx["pool"].grade(job, timeout=ctx["wall"] * 1.5 + 120)
    left = sandbox.kill_processes_in(kdir)  # a kernel whose worker died lives on in a session of its own
    if left:
        log += f"\nkilled the kernel processes left behind by the worker: {'; '.join(left)[:300]}"
    result_file = course / "result.json"
    result = json.loads(result_file.read_text()) if result_file.is_file() else None
    events_file = course / "events.jsonl"
    events = []
    if events_file.is_file():
        for line in events_file.read_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    shutil.rmtree(kdir, ignore_errors=True)
    row = _result_row(sub, result, events, ctx.get("max_score", 0.0), time.perf_counter() - start)
    if not row.max_score:
        row.max_score = _max_score(course, assignment_id)
    scratch = f"sqlite:///{course / 'gradebook.db'}" if result and result.get("success") else None
    files = {"course": course, "log": (result or {}).get("log", "") + ("\n" + log if log.strip() else ""),
             "events": events}
    return row, scratch, files


def _max_score(course: Path, assignment_id: str) -> float:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return float(gb.find_assignment(assignment_id).max_score)


def _keep_outputs(out: Path, assignment_id: str, student: str, files: dict) -> None:
    course: Path = files["course"]
    feedback = course / "feedback" / student / assignment_id / f"{assignment_id}.html"
    (out / "feedback").mkdir(exist_ok=True)
    if feedback.is_file():
        shutil.copy(feedback, out / "feedback" / f"{student}.html")
    else:
        (out / "feedback" / f"{student}.html").unlink(missing_ok=True)
    autograded = course / "autograded" / student / assignment_id / f"{assignment_id}.ipynb"
    if autograded.is_file():
        (out / "autograded" / student).mkdir(parents=True, exist_ok=True)
        shutil.copy(autograded, out / "autograded" / student / f"{assignment_id}.ipynb")
    (out / "logs").mkdir(exist_ok=True)
    events = "\n".join(json.dumps(e) for e in files["events"])
    (out / "logs" / f"{student}.log").write_text(f"{files['log']}\n\n== sandbox events\n{events}\n")


# --------------------------------------------------------------------------- reports


def pass_rates(rows: list[Row]) -> dict[str, float]:
    """Fraction of the graded students who earned full marks on each test cell."""
    counts: dict[str, list[int]] = {}
    for row in rows:
        for cell, (score, max_score) in row.cells.items():
            passed, total = counts.setdefault(cell, [0, 0])
            counts[cell] = [passed + (score >= max_score), total + 1]
    return {cell: round(p / t, 4) for cell, (p, t) in sorted(counts.items())}


def csv_cell(value: str) -> str:
    """``value`` made safe for a spreadsheet: a text that starts like a formula (``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return) gets a leading apostrophe, so it stays text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def mistake_counts(rows: list[Row], diagnoses: dict[str, str]) -> dict[str, dict]:
    """How many students made each catalogued mistake: ``{mistake: {"test", "diagnosis",
    "students"}}``, most frequent first, from the first line of each failed test (the judge
    puts a recognised mistake's diagnosis there). ``diagnoses``: diagnosis text -> mistake."""
    counts: Counter = Counter()
    where: dict[str, str] = {}
    for row in rows:
        for cell, line in row.messages.items():
            if line in diagnoses:
                counts[diagnoses[line]] += 1
                where[diagnoses[line]] = cell
    reverse = {name: text for text, name in diagnoses.items()}
    return {name: {"test": where[name], "diagnosis": reverse[name], "students": n} for name, n in counts.most_common()}


def release_diagnoses(template: Path, assignment_id: str) -> dict[str, str]:
    """Diagnosis text -> mistake name, from the release's ``expected.json``."""
    path = template / "solutions" / assignment_id / "expected.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {m["diagnosis"]: name for task in data["tasks"].values() for name, m in task.get("mutants", {}).items()}


def write_reports(out: Path, assignment_id: str, rows: list[Row], seconds: float, warnings: list[str],
                  diagnoses: dict[str, str] | None = None) -> str:
    """Write grades.csv, details.csv, summary.json, summary.txt and score_histogram.png; return the summary text."""
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "score", "max_score", "status"])
        for row in rows:
            writer.writerow([csv_cell(row.student_id), f"{row.score:g}", f"{row.max_score:g}", row.status])
    with open(out / "details.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "status", "score", "details", "files"])
        for row in rows:
            writer.writerow([csv_cell(row.student_id), row.status, f"{row.score:g}",
                             csv_cell(" | ".join(row.details)), csv_cell(" | ".join(row.files))])
    rates = pass_rates(rows)
    counts = Counter(r.status for r in rows)
    scores = [r.score for r in rows]
    summary = {
        "assignment": assignment_id, "students": len(rows), "seconds": round(seconds, 1),
        "statuses": dict(sorted(counts.items())), "mean_score": round(sum(scores) / len(scores), 3) if scores else 0,
        "max_score": rows[0].max_score if rows else 0, "pass_rates": rates, "warnings": warnings,
        "not_ok": {r.student_id: {"status": r.status, "details": r.details} for r in rows if r.status != "ok"},
        "mistakes": mistake_counts(rows, diagnoses or {}),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    lines = [f"{assignment_id}: {len(rows)} students graded in {seconds:.0f} s; mean score "
             f"{summary['mean_score']:g}/{summary['max_score']:g}",
             "statuses: " + ", ".join(f"{s} {n}" for s, n in sorted(counts.items())), "",
             "share of graded students with full marks, per test:"]
    lines += [f"  {cell:<28} {rate:6.1%}" for cell, rate in rates.items()]
    if summary["mistakes"]:
        lines += ["", "mistakes the tests recognised (students, test: diagnosis):"]
        lines += [f"  {m['students']:>4}  {m['test']}: {m['diagnosis']}" for m in summary["mistakes"].values()]
    not_ok = [r for r in rows if r.status != "ok"]
    if not_ok:
        lines += ["", "students to look at:"]
        lines += [f"  {r.student_id:<20} {r.status:<20} {r.score:g}/{r.max_score:g}  {'; '.join(r.details)[:150]}"
                  for r in not_ok]
    lines += ["", f"grades: {out / 'grades.csv'}   feedback: {out / 'feedback'}/   histogram: "
              f"{out / 'score_histogram.png'}"]
    text = "\n".join(lines)
    (out / "summary.txt").write_text(text + "\n")
    _histogram(out / "score_histogram.png", assignment_id, scores, summary["max_score"])
    return text


def _histogram(path: Path, assignment_id: str, scores: list[float], max_score: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import viz

    viz.use_style()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = max(max_score, max(scores, default=0), 1)
    ax.hist(scores, bins=[b - 0.5 for b in range(int(top) + 2)], color="#4c72b0", edgecolor="white")
    ax.set_xlabel("score")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment_id}: scores of {len(scores)} students")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def file_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (or of the file itself): to prove nothing changed."""
    folder = Path(folder)
    paths = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder) if p != folder else p.name): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in paths}


def html_text(page: str) -> str:
    """The visible text of an HTML page, whitespace collapsed (to search feedback for hidden tests)."""
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", page)))


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", metavar="ASSIGNMENT", help="exercise id, such as 01_neurons")
    parser.add_argument("submissions", metavar="SUBMISSIONS", type=Path, help="a folder or a .zip of submissions")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="where grades, feedback and the gradebook go")
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy URL of the gradebook (default: sqlite:///DIR/gradebook.db)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: the number of cores)")
    parser.add_argument("--memory", default="2GiB", help="memory limit per kernel, e.g. 2GiB or 512MiB (default 2GiB)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per cell (default: the course's Execute.timeout)")
    parser.add_argument("--wall", type=float, default=600.0, help="seconds per notebook (default 600)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def parse_size(text: str) -> int:
    """``"2GiB"`` -> 2147483648; plain numbers are bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 2GiB or 512MiB)")
    power = " KMGT".index(match.group(2).upper() or " ")
    return int(float(match.group(1)) * 1024**power)


def run(args: argparse.Namespace) -> int:
    rows = grade(args.assignment, args.submissions, args.out, db=args.db, jobs=args.jobs,
                 memory=parse_size(args.memory), timeout=args.timeout, wall=args.wall, progress=not args.quiet)
    print((Path(args.out) / "summary.txt").read_text())
    return 0 if rows else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) == 2 and argv[0] == "worker":
        return worker(Path(argv[1]))
    parser = argparse.ArgumentParser(prog="python -m course_utils grade", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
