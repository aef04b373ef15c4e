"""What every benchmark records beside its figures (the command, the date and the machine), and
what the resumable ones share: writing a result atomically, reading back the runs of an earlier
session (:func:`resumed`), and running the missing jobs one by one or in worker processes
(:func:`run_jobs`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def provenance() -> dict:
    """The command line, UTC date and machine that produced a result."""
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
    }


def write_result(name: str, figures: dict, out: Path | None = None) -> Path:
    """Write ``{provenance..., "results": figures}`` to ``out`` or ``results/NAME.json``."""
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**provenance(), "results": figures}, indent=2, ensure_ascii=False) + "\n")
    return path


def write_json_atomic(path: Path, data: dict) -> Path:
    """Write ``data`` as JSON to ``path`` through a temporary file in the same folder and
    ``os.replace``, so that a process killed mid-write leaves the old file or the new one,
    never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_result_atomic(name: str, figures: dict, out: Path | None = None) -> Path:
    """:func:`write_result`, written atomically (see :func:`write_json_atomic`): for results
    that are rewritten after every finished run, so that a resumable benchmark can be killed
    at any moment."""
    return write_json_atomic(out or RESULTS / f"{name}.json", {**provenance(), "results": figures})


def resumed(out: Path, settings: dict, resume: bool, keys: Iterable[str] | None = None) -> dict:
    """The ``"results"`` of the earlier sessions stored in ``out`` when ``resume`` is set and the
    file exists, else ``{}``. Exits when they were made with other ``settings`` (all of them, or
    only ``keys`` where given): runs of other settings cannot be mixed into one file."""
    if not (resume and out.exists()):
        return {}
    old = json.loads(out.read_text())["results"]
    stored, wanted = old["settings"], settings
    if keys is not None:
        stored, wanted = {k: stored[k] for k in keys}, {k: settings[k] for k in keys}
    if stored != wanted:
        raise SystemExit(f"{out} was made with other settings ({stored}); "
                         "choose another --out or leave out --resume")
    return old


def run_jobs(todo: Callable[[], list], run: Callable[..., dict], report: Callable[[dict], None], jobs: int,
             key: Callable[..., Hashable]) -> None:
    """Run the jobs that ``todo()`` lists until it lists none, handing each result to ``report``
    as it comes (``report`` records it, so that ``todo()`` no longer lists that job). ``key(job)``
    identifies a job; ``run(job)`` must be picklable for the workers: a function of a module's
    top level, or a ``functools.partial`` of one.

    With ``jobs == 1`` every run is in this process, the first job that ``todo()`` lists at a
    time: nothing is left behind when it is killed. Otherwise ``jobs`` worker processes take the
    jobs in ``todo()``'s order, and ``todo()`` is asked again after every result (a result can
    add jobs, as when tuning chooses the learning rate of a sweep); a job already running is
    not started twice."""
    if jobs == 1:
        while waiting := todo():
            report(run(waiting[0]))
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        running: dict = {}
        while True:
            busy = {key(job) for job in running.values()}
            waiting = [job for job in todo() if key(job) not in busy]
            while waiting and len(running) < jobs:
                job = waiting.pop(0)
                running[pool.submit(run, job)] = job
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                del running[future]
                report(future.result())
