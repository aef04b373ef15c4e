"""A grading station: this machine made ready to grade one assignment, and
:meth:`Station.grade_one`, the unit every executor runs: a :class:`~.jobs.Job` in (a student's
notebook, as bytes), a :class:`~.jobs.WorkerResult` out (grades, feedback, autograded
notebook, events, as data). It writes nothing outside its own scratch folder.

A station holds the release (from the cache), the student edition the kernels import, the
sandbox's capabilities and the pool of worker processes. Each job gets a scratch course of
its own, so that no two nbgrader runs ever write the same SQLite gradebook, and a kernel
folder and user id of its own.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from ...judge.events import Event, SandboxEvent, read_events
from .. import sandbox
from ..course import repo_root
from ..release import cached_release, release_cache_dir
from .jobs import Job, WorkerResult, WorkerTask
from .pool import WorkerPool


class Station:
    """This machine, ready to grade ``assignment_id`` with ``jobs`` worker processes.

    Use as a context manager; the workers start at once, so that they import nbgrader while
    the caller prepares. ``hidden``: more paths (the submissions, the output folder, the
    gradebook) that kernels must not see.
    """

    def __init__(self, assignment_id: str, jobs: int, log_dir: Path, *, root: Path | None = None,
                 hidden: list[str] | None = None) -> None:
        self.assignment = assignment_id
        self.root = root or repo_root()
        self.caps = sandbox.probe()
        self.base = Path(tempfile.mkdtemp(prefix="course-grade-", dir=_scratch_parent(self.caps)))  # 0700
        os.chmod(self.base, 0o711)  # kernels may pass through to their own folder, not list it
        self.pool = WorkerPool(jobs, log_dir, self.base)
        self.spool = self.base / "spool"  # the prepared submissions, read one at a time
        self.spool.mkdir(mode=0o700)
        self.threads = max(1, (os.cpu_count() or 1) // jobs)
        self.uid_base = random.SystemRandom().randrange(200_000, 2_000_000_000 - 100_000)
        self.template = self.base / "template"
        shutil.copytree(cached_release(assignment_id, self.root), self.template)
        os.chmod(self.template, 0o700)
        self.library = _kernel_library(self.template, assignment_id, self.root, self.base)
        self.hidden = [str(p) for p in (self.root / "solutions", self.root / "source", self.root / "submitted",
                                        self.root / "autograded", self.root / "feedback", self.root / "gradebook.db",
                                        self.root / "nbgrader_config.py", release_cache_dir(),
                                        self.template, self.root / "mutants", self.root / ".git",
                                        Path(__file__).resolve().parents[1] / "tasks", self.base / "courses",
                                        self.spool)]
        self.hidden += list(hidden or [])

    @property
    def release_notebook(self) -> Path:
        return self.template / "exercises" / self.assignment / f"{self.assignment}.ipynb"

    @property
    def release_gradebook(self) -> str:
        return f"sqlite:///{self.template / 'gradebook.db'}"

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.pool.close()
        shutil.rmtree(self.base, ignore_errors=True)

    def grade_one(self, job: Job) -> WorkerResult:
        """Grade one student: a scratch course, a worker's autograde under the sandbox, the
        processes it left killed, and the outcome read back as data. The scratch course and
        the kernel's folder are removed whatever happens, so the job can be tried again."""
        start = time.perf_counter()
        course = self.base / "courses" / job.student
        kdir = self.base / "kernels" / f"k{job.index}"
        try:
            return self._grade_in(job, self._scratch_course(job), self._kernel_dir(kdir), start)
        finally:
            shutil.rmtree(kdir, ignore_errors=True)
            shutil.rmtree(course, ignore_errors=True)

    def _grade_in(self, job: Job, course: Path, kdir: Path, start: float) -> WorkerResult:
        task = WorkerTask(str(course), job.assignment, job.student, str(self._policy(job, course, kdir)),
                          job.limits.timeout)
        note = self.pool.grade(task.save(course / "task.json"), timeout=job.limits.wall * 1.5 + 120)
        left = sandbox.kill_processes_in(kdir)  # a kernel whose worker died lives on in a session of its own
        if left:
            note += f"\nkilled the kernel processes left behind by the worker: {'; '.join(left)[:300]}"
        result_file = course / "result.json"
        result = WorkerResult.from_json(result_file.read_text()) if result_file.is_file() else WorkerResult(job.student)
        result.events = read_events(course / "events.jsonl")
        _check_canaries(result)
        if note.strip():
            result.log += "\n" + note
        if not result_file.is_file():
            result.log += "\nno result: the worker did not finish this student"
        result.seconds = time.perf_counter() - start
        return result

    def _kernel_dir(self, kdir: Path) -> Path:
        kdir.parent.mkdir(exist_ok=True)
        os.chmod(kdir.parent, 0o711)
        shutil.rmtree(kdir, ignore_errors=True)  # left by an earlier try of the same job
        kdir.mkdir(mode=0o700)
        return kdir

    def _scratch_course(self, job: Job) -> Path:
        """A copy of the release's course (without the student version of the exercise) with
        the student's notebook submitted."""
        (self.base / "courses").mkdir(exist_ok=True, mode=0o700)
        course = self.base / "courses" / job.student
        shutil.rmtree(course, ignore_errors=True)  # left by an earlier try of the same job
        shutil.copytree(self.template, course, ignore=shutil.ignore_patterns("exercises"))
        os.chmod(course, 0o700)
        dest = course / "submitted" / job.student / job.assignment
        dest.mkdir(parents=True)
        (dest / f"{job.assignment}.ipynb").write_bytes(job.notebook)
        return course

    def _policy(self, job: Job, course: Path, kdir: Path) -> Path:
        uid = self.uid_base + job.index if self.caps.switch_user else None
        lib = self.library
        policy = sandbox.Policy(kernel_dir=str(kdir), events=str(course / "events.jsonl"), memory=job.limits.memory,
                                wall=job.limits.wall, uid=uid, gid=uid, hidden=self.hidden,
                                expose=lib["expose"] if uid is not None or lib["cover"] else [],
                                unshare=self.caps.unshare, threads=self.threads,
                                cover=lib["cover"], pythonpath=lib["pythonpath"],
                                private_tmp=["/tmp", "/var/tmp", "/dev/shm"] if self.caps.mountns else [])
        return policy.save(course / "policy.json")


def grade_one(job: Job, station: Station) -> WorkerResult:
    """The unit of grading, for any executor: ``station.grade_one(job)``."""
    return station.grade_one(job)


def _check_canaries(result: WorkerResult) -> None:
    """Every canary the kernel acknowledged must have been reported by its audit hook; if not,
    the hook was silenced (the pipe left open): an :data:`Event.AUDIT_BLINDED` event."""
    reported = {e.detail for e in result.events if e.kind == Event.CANARY}
    missing = [c for c in result.canaries if c not in reported]
    if missing:
        result.events.append(SandboxEvent(Event.AUDIT_BLINDED, f"the kernel's audit hook did not report "
                                          f"{len(missing)} of the grader's {len(result.canaries)} probes"))


def _kernel_library(template: Path, assignment_id: str, root: Path, base: Path) -> dict:
    """What the kernels import, as policy fields: the student edition of ``course_utils``,
    copied into the scratch folder, with the repository covered (only the virtualenv bound
    back), so a kernel sees no reference, mutant, solution, test fixture or ``.git``."""
    if not (template / "solutions" / assignment_id / "expected.json").is_file():
        raise ValueError(f"{assignment_id} has no recorded values (solutions/{assignment_id}/expected.json): "
                         f"run `python -m course_utils release {assignment_id}` first")
    from ..pack import student_modules

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
    reachable = (d for d in ("/tmp", "/var/tmp", "/dev/shm")
                 if os.path.isdir(d) and sandbox.blocked_ancestor(d) is None)
    return next(reachable, default)
