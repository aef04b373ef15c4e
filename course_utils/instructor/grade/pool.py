"""The pool of long-lived worker processes (:mod:`.worker`) on this machine.

A worker is started before the grader collects the submissions, so that it imports
nbgrader meanwhile; a worker that does not answer in time, or dies, is killed and replaced,
and its student is reported as not graded. A worker is recycled after
:data:`JOBS_PER_WORKER` students.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from ..course import venv_environ

#: Students a worker process grades before it is replaced by a fresh one.
JOBS_PER_WORKER = 50


class WorkerProcess:
    """One long-lived :func:`.worker.serve` process, used by one grading thread at a time.

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
            self.proc = subprocess.Popen([sys.executable, "-m", "course_utils.instructor.grade.worker"], cwd=self.cwd,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                         env=venv_environ(PYTHONWARNINGS="ignore"), start_new_session=True)
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
        """Grade the task file ``job``; return "" when the worker finished it, else what went wrong."""
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
