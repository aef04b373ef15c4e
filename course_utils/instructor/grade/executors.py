"""Where the students are graded: on this machine (:class:`LocalExecutor`, a
:class:`~.station.Station` with ``--jobs`` worker processes) or on a Dask cluster
(:class:`~.cluster.DaskExecutor`). Both take :class:`~.jobs.Job` s and give back, as each
finishes, ``(submission, WorkerResult or None, note)``; the caller alone writes anything."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .collect import Submission
from .jobs import Job, WorkerResult
from .station import Station

#: (submission, result (None: not graded), a note on what went wrong)
Outcome = tuple[Submission, WorkerResult | None, str]


class LocalExecutor:
    """``jobs`` students at a time on this machine."""

    name = "local"

    def __init__(self, assignment_id: str, jobs: int, log_dir: Path, *, root: Path, hidden: list[str]) -> None:
        self.jobs = jobs
        self.station = Station(assignment_id, jobs, log_dir, root=root, hidden=hidden)
        self.warnings = list(self.station.caps.warnings)
        self.release = self.station.template  #: the release's course folder (exercises/, solutions/, gradebook.db)
        self.spool = self.station.spool

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.station.close()

    def run(self, subs: list[Submission], make_job: Callable[[Submission], Job]) -> Iterator[Outcome]:
        """Grade ``subs``; yield each outcome as it finishes. A job is made (its notebook read
        from the spool) only when a worker is free for it."""
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futures = {pool.submit(lambda s: self.station.grade_one(make_job(s)), sub): sub for sub in subs}
            for future in as_completed(futures):
                sub = futures.pop(future)
                try:
                    yield sub, future.result(), ""
                except Exception as err:  # noqa: BLE001 - one student's fault never stops the others
                    yield sub, None, f"grader error: {err!r}"[:300]
