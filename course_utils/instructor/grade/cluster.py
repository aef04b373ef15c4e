"""Grading on a Dask cluster: ``grade ... --scheduler tcp://HOST:8786``.

Each worker is started from a checkout of the course with its virtualenv::

    .venv/bin/dask worker tcp://HOST:8786 --nthreads 1

At connect the client asks every worker (``client.run``) for its digest (see
:func:`station_digest`: the exercise's source, ``course_utils``, the nbgrader config, the
requirements and the Python, nbgrader and torch versions) and its sandbox's capabilities;
it keeps the workers that match its own digest and have the full sandbox, says why it left
out the others (``--allow-weak-sandbox`` keeps weak ones), and stops with a clear error if
none is left. Workers that join later are checked the same way before they get a job.

Each student is one Dask task, :func:`grade_task`: the job (the notebook's bytes) goes to a
worker, which checks the digest again (a worker with another release refuses the job),
grades it in a worker process of its :class:`~.station.Station` (never in the Dask thread:
grading changes a process's directory and environment), and returns the
:class:`~.jobs.WorkerResult` as data. The client alone writes rows, feedback and the
gradebook. A worker that dies takes its kernels with it; the scheduler runs its tasks again
elsewhere, and each student still gets one row. At most a few tasks per worker are in
flight, so neither the client nor the scheduler holds the whole class's notebooks.
"""

from __future__ import annotations

import atexit
import hashlib
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .. import sandbox
from ..course import repo_root
from ..release import cached_release
from .collect import Submission
from .executors import Outcome
from .jobs import Job, WorkerResult

#: seconds to reach the scheduler before giving up
CONNECT_TIMEOUT = 10.0
#: tasks in flight per usable worker thread
IN_FLIGHT_PER_THREAD = 2
#: seconds without any usable worker before the run stops (the journal keeps what was graded)
NO_WORKER_PATIENCE = 120.0
#: seconds between looks at the cluster while tasks run
POLL_SECONDS = 5.0
#: times a student's task is run again after an exception in it (a lost worker is handled by
#: the scheduler: ``distributed.scheduler.allowed-failures``)
RETRIES = 1


class ClusterError(Exception):
    """The cluster cannot grade this assignment (unreachable, or no usable worker)."""


class WrongRelease(Exception):
    """A worker whose course differs from the client's refuses a job: ``WrongRelease(worker, why)``."""

    @property
    def worker(self) -> str:
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------- on a worker


def station_digest(assignment_id: str, root: Path | None = None) -> str:
    """A hash of what makes two machines grade alike: ``solutions/<id>/``, ``course_utils/``,
    ``nbgrader_config.py``, ``requirements.txt`` and the Python, nbgrader and torch versions."""
    import nbgrader
    import torch

    root = root or repo_root()
    digest = hashlib.sha256(f"python {platform.python_version()}\nnbgrader {nbgrader.__version__}\n"
                            f"torch {torch.__version__}\n".encode())
    files = [root / "nbgrader_config.py", root / "requirements.txt"]
    for folder in (root / "solutions" / assignment_id, root / "course_utils"):
        files += sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                        and ".ipynb_checkpoints" not in p.parts and p.suffix != ".pyc")
    for path in files:
        digest.update(f"\n{path.relative_to(root)}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def describe_worker(assignment_id: str) -> dict:
    """What the client asks each worker at connect: its digest and its sandbox."""
    caps = sandbox.probe()
    return {"digest": station_digest(assignment_id), "full_sandbox": not caps.warnings,
            "warnings": list(caps.warnings), "python": sys.executable}


_stations: dict[str, object] = {}
_lock = threading.Lock()


def _station(assignment_id: str):
    """This worker process's station for ``assignment_id`` (made at its first job; closed at exit)."""
    from .station import Station

    with _lock:
        station = _stations.get(assignment_id)
        if station is None:
            threads = 1
            try:
                from distributed import get_worker

                threads = max(1, get_worker().state.nthreads)
            except (ImportError, ValueError):
                pass
            logs = Path(tempfile.mkdtemp(prefix="course-grade-logs-"))
            station = Station(assignment_id, threads, logs)
            atexit.register(station.close)
            _stations[assignment_id] = station
        return station


def grade_task(job: Job, digest: str) -> WorkerResult:
    """The Dask task of one student: refuse a job of another release, else grade it here."""
    mine = station_digest(job.assignment)
    if mine != digest:
        from distributed import get_worker

        raise WrongRelease(get_worker().address, f"this worker's course differs from the client's (digest {mine}, "
                           f"expected {digest}): update its checkout and restart it")
    return _station(job.assignment).grade_one(job)


# --------------------------------------------------------------------------- the client


class DaskExecutor:
    """Grade on the workers of the Dask scheduler at ``address`` that match this checkout."""

    name = "dask"

    def __init__(self, address: str, assignment_id: str, *, root: Path | None = None,
                 allow_weak_sandbox: bool = False, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        try:
            from distributed import Client
        except ImportError as err:  # pragma: no cover - pinned in requirements.txt
            raise ClusterError(f"--scheduler needs dask's `distributed` package: {err}") from None
        self.assignment, self.root = assignment_id, root or repo_root()
        self.allow_weak = allow_weak_sandbox
        self.digest = station_digest(assignment_id, self.root)
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ClusterError(f"cannot reach the Dask scheduler at {address} within {connect_timeout:g} s: "
                               f"{err}") from None
        self.good: set[str] = set()
        self.bad: dict[str, str] = {}
        self.warnings: list[str] = []
        try:
            self._check_workers()
            if not self.good:
                reasons = "; ".join(f"{w}: {why}" for w, why in sorted(self.bad.items())) or "no worker is connected"
                raise ClusterError(f"no worker of {address} can grade {assignment_id}: {reasons}")
        except BaseException:
            self.client.close()
            raise
        dashboard = self.client.dashboard_link
        print(f"grading on {address}: {len(self.good)} worker(s); dashboard: {dashboard}", file=sys.stderr)
        self.release = cached_release(assignment_id, self.root)
        self._spool = tempfile.TemporaryDirectory(prefix="course-grade-spool-")
        self.spool = Path(self._spool.name)

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()
        if hasattr(self, "_spool"):
            self._spool.cleanup()

    def _check_workers(self) -> None:
        """Ask each worker not yet checked for its digest and sandbox; sort it into good or bad."""
        workers = set(self.client.scheduler_info(n_workers=-1)["workers"])
        new = sorted(workers - self.good - set(self.bad))
        self.good &= workers
        if not new:
            return
        try:
            answers = self.client.run(describe_worker, self.assignment, workers=new, on_error="return")
        except Exception as err:  # noqa: BLE001 - a worker that cannot answer cannot grade
            answers = {w: err for w in new}
        for worker in new:
            answer = answers.get(worker)
            if isinstance(answer, BaseException) or not isinstance(answer, dict):
                self._drop(worker, f"did not answer ({answer!r})"[:200])
            elif answer["digest"] != self.digest:
                self._drop(worker, f"its course differs from this one (digest {answer['digest']}, here {self.digest})")
            elif not answer["full_sandbox"] and not self.allow_weak:
                self._drop(worker, "its sandbox is incomplete (" + "; ".join(answer["warnings"]) +
                           "); --allow-weak-sandbox keeps it")
            else:
                self.good.add(worker)
                if not answer["full_sandbox"]:
                    self.warnings.append(f"worker {worker}: " + "; ".join(answer["warnings"]))

    def _drop(self, worker: str, why: str) -> None:
        self.bad[worker] = why
        print(f"warning: worker {worker} left out: {why}", file=sys.stderr)

    def _threads(self) -> int:
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return sum(info[w].get("nthreads", 1) for w in self.good if w in info) or 1

    def run(self, subs: list[Submission], make_job: Callable[[Submission], Job]) -> Iterator[Outcome]:
        """Submit the students a few at a time to the good workers; yield each outcome once."""
        import queue

        finished: queue.Queue = queue.Queue()  # futures as they end (done callbacks)
        todo = list(reversed(subs))
        flying: dict = {}  # future -> (submission, the workers it may run on)
        alone_since: float | None = None
        while todo or flying:
            self._check_workers()
            if not self.good:
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since > NO_WORKER_PATIENCE:
                    raise ClusterError(f"no usable worker for {NO_WORKER_PATIENCE:g} s; "
                                       f"{len(todo) + len(flying)} students not graded (grade again to resume)")
            else:
                alone_since = None
            self._rescue(flying, todo)
            while self.good and todo and len(flying) < IN_FLIGHT_PER_THREAD * self._threads():
                sub = todo.pop()
                allowed = sorted(self.good)
                future = self.client.submit(grade_task, make_job(sub), self.digest,
                                            key=f"grade-{sub.student}-{time.monotonic_ns()}", workers=allowed,
                                            allow_other_workers=False, retries=RETRIES, pure=False)
                flying[future] = (sub, set(allowed))
                future.add_done_callback(finished.put)
            if not flying:
                time.sleep(1)
                continue
            try:
                ended = [finished.get(timeout=POLL_SECONDS)]
            except queue.Empty:
                continue
            while not finished.empty():
                ended.append(finished.get())
            for future in ended:
                if future not in flying:  # cancelled by _rescue, already submitted again
                    continue
                sub, _ = flying.pop(future)
                if future.status == "finished":
                    yield sub, future.result(), ""
                    continue
                error = future.exception() if future.status == "error" else None
                if isinstance(error, WrongRelease):  # a worker changed under us: left out from now on
                    self.good.discard(error.worker)
                    self._drop(error.worker, str(error.args[-1]))
                    todo.append(sub)
                elif future.status == "cancelled":
                    todo.append(sub)
                else:
                    yield sub, None, f"grading failed on every try: {type(error).__name__}: {error}"[:300]
                future.release()

    def _rescue(self, flying: dict, todo: list[Submission]) -> None:
        """A task that may run only on workers which have all left would wait for ever: cancel
        it (it never ran) and submit it again to the workers there are now."""
        live = set(self.client.scheduler_info(n_workers=-1)["workers"])
        for future, (sub, allowed) in list(flying.items()):
            if future.status == "pending" and not allowed & live:
                future.cancel()
                del flying[future]
                todo.append(sub)
