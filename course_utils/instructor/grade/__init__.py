"""Grade a whole class: ``python -m course_utils grade ASSIGNMENT SUBMISSIONS --out DIR``.

SUBMISSIONS is a folder or a ``.zip`` holding, for each student, ``<student>/<id>.ipynb``,
``<student>/<id>/<id>.ipynb`` or (as learning platforms export them)
``<student>_<anything>.ipynb``. The pipeline:

1. **collect** (:mod:`.collect`): read every notebook under SUBMISSIONS (never writing
   there), decide which one is each student's submission, and give each student a
   status at once when there is nothing to grade (``missing``, ``empty``, ``not_json``,
   ``invalid_notebook``, ``wrong_assignment``, ``multiple_notebooks``). Test cells that a
   student deleted are put back from the release (nbgrader then restores their hidden
   tests from the gradebook, as it restores edited ones).
2. **grade** in parallel: a :class:`~.station.Station` starts ``--jobs`` long-lived worker
   processes (:mod:`.pool`, each running :mod:`.worker`) first, so that they import
   nbgrader while the release is fetched from its cache (:func:`.release.cached_release`)
   and the submissions are collected. Each student is then graded by a free worker in a
   scratch copy of the course of its own, holding nothing but the assignment, so that no
   two nbgrader runs ever write the same SQLite gradebook. The worker runs nbgrader's
   autograder with a sandboxed kernel (:mod:`course_utils.instructor.sandbox`) that imports
   the student edition; the graded test cells run in the worker itself, the judge
   (:mod:`course_utils.instructor.judged`), which calls the student's functions through a
   data-only channel. It writes the feedback with hidden tests removed
   (:class:`~.worker.StripHiddenTests`) and student content shown as text only
   (:class:`~.worker.SafeFeedback`). A worker that stalls or dies is killed and replaced;
   its student gets the status ``error``. Each student is one call of
   :meth:`Station.grade_one <.station.Station.grade_one>`: a :class:`~.jobs.Job` (data) in, a
   :class:`~.jobs.WorkerResult` (data) out.
3. **merge**, in this process only (:mod:`.gradebook`, :mod:`.outcome`, :mod:`.reports`),
   each result into ``DIR/gradebook.db`` (or any
   SQLAlchemy URL given with ``--db``), and write ``DIR/grades.csv``
   (``student_id,score,max_score,status``), ``DIR/feedback/<student>.html``,
   ``DIR/autograded/<student>/<id>.ipynb`` (with hidden tests, for the instructor),
   ``DIR/details.csv`` (what happened to each student, and which files were read),
   ``DIR/summary.txt`` / ``summary.json`` (counts, per-test pass rates, the students
   whose status is not ``ok``), ``DIR/score_histogram.png``, ``DIR/mistakes.csv`` (how
   many students made each catalogued mistake) and ``DIR/similarity.csv`` (pairs of
   submissions for a person to look at, :mod:`.similarity`).

With ``--due`` (and ``--timestamps``, ``--late-policy``, ``--extensions``: :mod:`.late`),
``grades.csv`` also gives each student's ``submitted_at``, ``late_by``, ``penalty`` and
``final_score``, recomputed on every run and written to the gradebook's late penalties.
Canvas and Moodle downloads are keyed on the platform's user (participant) id, never on
the name (:func:`.collect.platform_identity`).

Grading the same SUBMISSIONS twice gives the same grades: every step is deterministic
and the gradebook is updated in place.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

from ..course import cell_timeout, repo_root, venv_first
from ..release import release_digest
from . import late
from .collect import (
    MAX_NOTEBOOK_BYTES,
    SUSPICIOUS,
    Submission,
    collect,
    safe_id,
    scan_code,
    student_ids,
    unique_ids,
)
from .executors import LocalExecutor
from .gradebook import copy_assignment, merge_student
from .jobs import Job, Limits, WorkerResult
from .late import Deadlines, LateError
from .outcome import STATUSES, Row, collection_row, result_row
from .reports import (
    csv_cell,
    keep_outputs,
    mistake_counts,
    pass_rates,
    release_diagnoses,
    write_reports,
)
from .runs import Run, RunError
from .scrub import as_text_block, scrub, split_hidden
from .similarity import all_kgrams, similar_pairs, solution_cells, write_similarity
from .station import Station, grade_one

__all__ = ["MAX_NOTEBOOK_BYTES", "STATUSES", "SUSPICIOUS", "Deadlines", "Job", "LateError", "Limits", "Row", "Station",
           "Submission", "RunError", "WorkerResult", "add_arguments", "as_text_block", "collect", "csv_cell", "grade",
           "grade_one", "mistake_counts", "parse_size", "pass_rates", "release_diagnoses", "run",
           "safe_id", "scan_code", "scrub", "split_hidden", "student_ids", "unique_ids", "write_reports"]

COURSE_ID = "neurons-to-attention"
SIMILAR_PAIRS = 500  #: the most similar pairs written to similarity.csv


def grade(assignment_id: str, submissions: Path, out: Path, *, db: str | None = None, jobs: int | None = None,
          memory: int = 2 << 30, timeout: float | None = None, wall: float = 600.0, progress: bool = True,
          root: Path | None = None, scheduler: str | None = None, allow_weak_sandbox: bool = False,
          mode: str = "auto", deadlines: Deadlines | None = None) -> list[Row]:
    """Grade every submission of ``assignment_id`` under ``submissions`` into ``out``.

    Args:
        db: SQLAlchemy URL of the gradebook (default ``sqlite:///<out>/gradebook.db``).
        jobs: worker processes (default: the number of cores); ignored with ``scheduler``.
        memory: bytes of memory per kernel; timeout: seconds per cell (default: the
            course's ``Execute.timeout``); wall: seconds per notebook.
        scheduler: a Dask scheduler's address (``tcp://HOST:8786``): grade on its workers
            (:mod:`.cluster`); ``allow_weak_sandbox`` keeps workers without the full sandbox.
        mode: ``auto``, ``resume`` or ``regrade`` (see :mod:`.runs`).
        deadlines: the due date, late policy, times and extensions (:mod:`.late`); the
            penalties are recomputed on every run, a resumed one included.

    Returns:
        one :class:`Row` per student, sorted by student id.
    """
    root = root or repo_root()
    os.environ["PATH"] = venv_first(os.environ.get("PATH", ""))  # nbgrader runs `alembic` from PATH
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if out == submissions or submissions in out.parents:
        raise ValueError("--out must not be inside SUBMISSIONS, which is never written to")
    if not submissions.exists():
        raise FileNotFoundError(f"{submissions} is neither a folder nor a .zip file")
    jobs = max(1, jobs or os.cpu_count() or 1)
    limits = Limits(memory=memory, timeout=timeout or cell_timeout(root), wall=wall)
    cluster = None
    if scheduler:  # connect first: a scheduler that cannot be reached stops us before anything is written
        from .cluster import DaskExecutor

        cluster = DaskExecutor(scheduler, assignment_id, root=root, allow_weak_sandbox=allow_weak_sandbox)
    try:
        run = Run(out, assignment_id, release_digest(assignment_id, root), mode)
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    try:
        (out / "logs").mkdir(exist_ok=True)
        with cluster or _local_executor(assignment_id, jobs, out, db, submissions, root) as executor:
            rows = _grade_with(executor, run, assignment_id, submissions, out, db, limits, progress,
                               deadlines or Deadlines())
    finally:
        run.close()
    run.finish(rows)
    return rows


def _local_executor(assignment_id: str, jobs: int, out: Path, db: str | None, submissions: Path,
                    root: Path) -> LocalExecutor:
    hidden = [str(submissions), str(out)]
    if db and db.startswith("sqlite:///"):
        hidden.append(db[len("sqlite:///"):])
    return LocalExecutor(assignment_id, jobs, out / "logs", root=root, hidden=hidden)


def _grade_with(executor, run: Run, assignment_id: str, submissions: Path, out: Path, db: str | None,
                limits: Limits, progress: bool, deadlines: Deadlines) -> list[Row]:
    """Collect, grade what the run has not graded yet, merge and journal each student as it
    finishes (this thread alone writes), and write the reports."""
    from nbgrader.api import Gradebook

    started = time.perf_counter()
    release = executor.release
    for warning in executor.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    diagnoses = release_diagnoses(release, assignment_id)
    subs, notes = collect(assignment_id, submissions, release / "exercises" / assignment_id / f"{assignment_id}.ipynb",
                          spool=executor.spool)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    default_db = f"sqlite:///{out / 'gradebook.db'}"
    db = db or default_db
    if db == default_db and not (out / "gradebook.db").exists():
        shutil.copy(release / "gradebook.db", out / "gradebook.db")  # skips nbgrader's `alembic` run
    rows: list[Row] = []
    with Gradebook(db, COURSE_ID) as gb:
        max_score = copy_assignment(f"sqlite:///{release / 'gradebook.db'}", gb, assignment_id)
        for sub in subs:
            if sub.status != "ok":
                rows.append(collection_row(sub, max_score))
                merge_student(gb, assignment_id, sub.student, None)
        kept = [run.done[s.student] for s in subs if s.status == "ok" and s.student in run.done]
        rows += kept
        todo = [s for s in subs if s.status == "ok" and s.student not in run.done]
        if run.resuming:
            print(f"resuming: {len(kept)} students already graded, {len(todo)} to grade", file=sys.stderr)
        indices = {sub.student: i for i, sub in enumerate(todo)}
        bar = _progress(len(todo), progress)
        for sub, result, note in executor.run(todo, lambda s: Job(assignment_id, s.student, s.notebook(),
                                                                   indices[s.student], limits)):
            row = result_row(sub, result, max_score)
            if note:
                row.details.append(note)
            merge_student(gb, assignment_id, sub.student, result)
            keep_outputs(out, assignment_id, sub.student, result, note)
            run.record(row)
            rows.append(row)
            bar.update(1)
            bar.set_postfix_str(f"{sub.student}: {row.status}")
        bar.close()
        rows.sort(key=lambda r: r.student_id)
        for row in rows:  # priced on every run: a resumed student's journalled row too
            deadlines.price(row)
        late.write_gradebook(gb, assignment_id, deadlines, rows)
    ok = [s for s in subs if s.status == "ok"]
    write_similarity(out / "similarity.csv", _similar(release, assignment_id, ok))
    write_reports(out, assignment_id, rows, time.perf_counter() - started, executor.warnings, diagnoses)
    return rows


def _similar(release: Path, assignment_id: str, subs: list[Submission]) -> list:
    """The similarity pairs of the graded submissions (the release's stub and reference ignored)."""
    import json

    ignore: set[int] = set()
    for path in (release / "exercises" / assignment_id / f"{assignment_id}.ipynb",
                 release / "solutions" / assignment_id / f"{assignment_id}.ipynb"):
        if path.is_file():
            ignore |= all_kgrams(solution_cells(json.loads(path.read_text())))
    students = {}
    for sub in subs:
        try:
            students[sub.student] = solution_cells(json.loads(sub.notebook()))
        except (ValueError, KeyError, TypeError):
            continue
    return similar_pairs(students, ignore, limit=SIMILAR_PAIRS)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="grading", unit="student", disable=not enabled, file=sys.stderr)


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", metavar="ASSIGNMENT", help="exercise id, such as 01_neurons")
    parser.add_argument("submissions", metavar="SUBMISSIONS", type=Path, help="a folder or a .zip of submissions")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="where grades, feedback and the gradebook go")
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy URL of the gradebook (default: sqlite:///DIR/gradebook.db)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: the number of cores)")
    parser.add_argument("--memory", default="2GiB", help="memory limit per kernel, e.g. 2GiB or 512MiB (default 2GiB)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per cell (default: the course's Execute.timeout)")
    parser.add_argument("--wall", type=float, default=600.0, help="seconds per notebook (default 600)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="grade on the workers of this Dask scheduler (tcp://HOST:8786 or tls://...)")
    parser.add_argument("--allow-weak-sandbox", action="store_true",
                        help="with --scheduler: also use workers whose sandbox is incomplete")
    again = parser.add_mutually_exclusive_group()
    again.add_argument("--resume", dest="mode", action="store_const", const="resume",
                       help="finish the run in DIR (default when DIR holds an unfinished run of the same release)")
    again.add_argument("--regrade", dest="mode", action="store_const", const="regrade",
                       help="grade everyone again; the previous outputs move to DIR/history/")
    parser.set_defaults(mode="auto")
    term = parser.add_argument_group("deadlines (see course_utils.instructor.grade.late)")
    term.add_argument("--due", metavar="TIME", help="the deadline, ISO 8601 with an offset: 2027-03-01T23:59+01:00")
    term.add_argument("--timestamps", type=Path, metavar="FILE",
                      help="student_id,submitted_at (ISO 8601 with an offset), or Moodle's grading worksheet")
    term.add_argument("--late-policy", metavar="POLICY",
                      help="RATE%%/(day|hour)[, max P%%][, grace Nm], zero or none (default none)")
    term.add_argument("--extensions", type=Path, metavar="FILE", help="student_id,due: individual deadlines")
    term.add_argument("--missing-time", choices=["on-time"],
                      help="a submission without a time counts as on time (default: an error naming the student)")
    term.add_argument("--timezone", metavar="ZONE",
                      help="the zone of times written without one (Moodle's worksheet), e.g. Europe/Berlin")


def parse_size(text: str) -> int:
    """``"2GiB"`` -> 2147483648; plain numbers are bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 2GiB or 512MiB)")
    power = " KMGT".index(match.group(2).upper() or " ")
    return int(float(match.group(1)) * 1024**power)


def run(args: argparse.Namespace) -> int:
    from .cluster import ClusterError

    try:
        deadlines = None
        if args.due or args.timestamps or args.extensions or args.late_policy:
            deadlines = late.load(args.due, args.late_policy, args.timestamps, args.extensions, args.missing_time,
                                  set(student_ids(args.submissions, args.assignment)), args.timezone)
        rows = grade(args.assignment, args.submissions, args.out, db=args.db, jobs=args.jobs,
                     memory=parse_size(args.memory), timeout=args.timeout, wall=args.wall, progress=not args.quiet,
                     scheduler=args.scheduler, allow_weak_sandbox=args.allow_weak_sandbox, mode=args.mode,
                     deadlines=deadlines)
    except (ClusterError, RunError, FileNotFoundError, ValueError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    print((Path(args.out) / "summary.txt").read_text())
    return 0 if rows else 1
