"""``grade --scheduler``: a real ``dask scheduler`` and two ``dask worker`` processes on loopback
grade a 6-student subset of the fixture class, as local grading does; a worker killed mid-run
loses nothing and leaves nothing running; a worker of another release is left out and
refuses jobs; an unreachable scheduler is a clear error; an interrupted run resumes."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from course_utils.instructor import grade
from course_utils.instructor.grade.cluster import (
    ClusterError,
    DaskExecutor,
    WrongRelease,
    grade_task,
    station_digest,
)
from course_utils.instructor.grade.jobs import Job

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "tests" / "grader" / "fixtures" / "submissions"
ASSIGNMENT = "01_neurons"
#: the subset, with the (status, score) of tests/grader/test_grade.py
STUDENTS = {"alice": ("ok", 12.0), "bob": ("ok", 4.0), "ivan": ("test_cells_restored", 8.0),
            "walter": ("ok", 0.0), "xena": ("ok", 10.0), "yuri": ("ok", 0.0)}
OPTIONS = dict(timeout=30, wall=120, memory=1 << 30, progress=False)
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask")]  # one scheduler and its workers per run


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}


class Cluster:
    """A scheduler and its workers, started as an instructor would start them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.procs: list[subprocess.Popen] = []
        self.scheduler = self._start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                                      self.address.rsplit(":", 1)[1], "--dashboard-address", "127.0.0.1:0",
                                      "--no-show"], "scheduler")
        self.workers: dict[str, subprocess.Popen] = {}

    def _start(self, cmd: list[str], name: str, cwd: Path = ROOT, **env: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - kept open for the process
        proc = subprocess.Popen(cmd, cwd=cwd, env=_env(**env), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def add_worker(self, name: str, cwd: Path = ROOT, **env: str) -> subprocess.Popen:
        proc = self._start([str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--no-nanny", "--name", name,
                            "--local-directory", str(self.tmp / name)], name, cwd, **env)
        self.workers[name] = proc
        return proc

    def wait_for(self, n: int, timeout: float = 120) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout=timeout, set_as_default=False) as client:
            while len(client.scheduler_info(n_workers=-1)["workers"]) < n:
                assert time.monotonic() < deadline, f"{n} workers did not connect:\n" + self.logs()
                time.sleep(0.5)

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in self.tmp.glob("*.log"))

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        running.add_worker("w1")
        running.add_worker("w2")
        running.wait_for(2)
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def subset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("class")
    for student in STUDENTS:
        shutil.copytree(SUBMISSIONS / student, folder / student)
    return folder


def _rows(out: Path) -> dict[str, tuple[str, float]]:
    with open(out / "grades.csv", newline="") as handle:
        return {r["student_id"]: (r["status"], float(r["score"])) for r in csv.DictReader(handle)}


def _journal(out: Path) -> list[str]:
    return [json.loads(line)["student_id"] for line in (out / "journal.jsonl").read_text().splitlines()]


def test_a_scheduler_grades_as_this_machine_does(cluster, subset, tmp_path, postgres):
    local = grade.grade(ASSIGNMENT, subset, tmp_path / "local", jobs=2, **OPTIONS)
    remote = grade.grade(ASSIGNMENT, subset, tmp_path / "dask", scheduler=cluster.address, db=postgres, **OPTIONS)
    assert {r.student_id: (r.status, r.score) for r in remote} == STUDENTS, cluster.logs()
    assert [(r.student_id, r.status, r.score, r.cells) for r in remote] == \
           [(r.student_id, r.status, r.score, r.cells) for r in local]
    for student in STUDENTS:  # the client wrote each student's feedback and notebook
        assert (tmp_path / "dask" / "feedback" / f"{student}.html").is_file()
        assert (tmp_path / "dask" / "autograded" / student / f"{ASSIGNMENT}.ipynb").is_file()
    assert sorted(_journal(tmp_path / "dask")) == sorted(STUDENTS)

    from nbgrader.api import Gradebook

    with Gradebook(postgres, grade.COURSE_ID) as gb:  # the gradebook the client wrote, in PostgreSQL
        for row in remote:
            assert gb.find_submission(ASSIGNMENT, row.student_id).score == pytest.approx(row.score)


def test_a_worker_killed_mid_run_loses_nothing_and_leaves_nothing(cluster, subset, tmp_path):
    cluster.add_worker("w3")
    cluster.wait_for(3)
    victim = cluster.workers["w3"]
    seen: dict[str, set[int]] = {"kernels": set()}

    def kill_w3_while_it_grades():
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and victim.poll() is None:
            try:
                below = psutil.Process(victim.pid).children(recursive=True)
            except psutil.Error:
                return
            kernels = {p.pid for p in _descendants_named(below, "course_utils.judge.kernel")}
            if kernels:
                seen["kernels"] = kernels | {p.pid for p in below}
                time.sleep(2)
                os.kill(victim.pid, signal.SIGKILL)
                return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_w3_while_it_grades)
    killer.start()
    rows = grade.grade(ASSIGNMENT, subset, tmp_path / "out", scheduler=cluster.address, **OPTIONS)
    killer.join()
    assert seen["kernels"], "w3 was never seen grading"
    assert victim.poll() is not None
    assert {r.student_id: (r.status, r.score) for r in rows} == STUDENTS, cluster.logs()
    journal = _journal(tmp_path / "out")
    assert sorted(journal) == sorted(STUDENTS), "each student journalled once"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(psutil.pid_exists(p) and _alive(p) for p in seen["kernels"]):
        time.sleep(0.5)
    left = [p for p in seen["kernels"] if psutil.pid_exists(p) and _alive(p)]
    assert not left, f"processes of the killed worker still run: {left}"


def _descendants_named(procs: list[psutil.Process], needle: str) -> list[psutil.Process]:
    found = []
    for proc in procs:
        try:
            if needle in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_a_worker_of_another_release_is_left_out_and_refuses_jobs(cluster, tmp_path):
    other = tmp_path / "other-checkout"
    for name in ("course_utils", "solutions", "exercises"):
        shutil.copytree(ROOT / name, other / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("nbgrader_config.py", "requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, other / name)
    notebook = other / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    notebook.write_text(notebook.read_text().replace("Exercise", "Exercise (edited)", 1))
    assert station_digest(ASSIGNMENT, other) != station_digest(ASSIGNMENT, ROOT)

    (tmp_path / "lone").mkdir()
    lone = Cluster(tmp_path / "lone")
    try:
        lone.add_worker("stale", cwd=other, PYTHONPATH=str(other))
        lone.wait_for(1)
        with pytest.raises(ClusterError, match="course differs"):
            DaskExecutor(lone.address, ASSIGNMENT)
        from distributed import Client

        job = Job(ASSIGNMENT, "alice", (SUBMISSIONS / "alice" / f"{ASSIGNMENT}.ipynb").read_bytes(), 0)
        with Client(lone.address, set_as_default=False) as client:
            future = client.submit(grade_task, job, station_digest(ASSIGNMENT, ROOT), pure=False)
            with pytest.raises(WrongRelease, match="differs from the client's"):
                future.result(timeout=120)
    finally:
        lone.close()


def test_an_unreachable_scheduler_is_a_clear_error_and_writes_nothing(subset, tmp_path):
    start = time.monotonic()
    with pytest.raises(ClusterError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:\d+"):
        grade.grade(ASSIGNMENT, subset, tmp_path / "out", scheduler=f"tcp://127.0.0.1:{_free_port()}", **OPTIONS)
    assert time.monotonic() - start < 30
    assert not (tmp_path / "out").exists()


def test_an_interrupted_run_resumes_and_a_finished_one_regrades(subset, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "course_utils", "grade", ASSIGNMENT, str(subset), "--out", str(out), "--jobs", "1",
           "--timeout", "30", "--wall", "120", "--quiet"]
    first = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        if (out / "journal.jsonl").is_file() and len(_journal(out)) >= 2:
            break
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # interrupted, as by a lost connection
    first.wait()
    done = _journal(out)
    assert 2 <= len(done) < len(STUDENTS)
    assert json.loads((out / "run.json").read_text())["finished"] is None
    logs = {s: (out / "logs" / f"{s}.log").stat().st_mtime_ns for s in done}

    second = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resuming: {len(done)} students already graded, {len(STUDENTS) - len(done)} to grade" in second.stderr
    assert _rows(out) == STUDENTS
    assert sorted(_journal(out)) == sorted(STUDENTS), "nothing graded twice"
    assert {s: (out / "logs" / f"{s}.log").stat().st_mtime_ns for s in done} == logs, "the journalled kept"
    assert json.loads((out / "run.json").read_text())["finished"]

    third = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)  # finished: regrade
    assert third.returncode == 0, third.stderr[-3000:]
    (history,) = (out / "history").iterdir()
    assert (history / "grades.csv").is_file() and (history / "feedback").is_dir()
    with open(out / "regrade.csv", newline="") as handle:
        changes = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert set(changes) == set(STUDENTS)
    assert all(r["old_score"] == r["new_score"] and r["cells_changed"] == "" for r in changes.values())


def test_a_student_whose_grading_fails_on_every_try_gets_error_with_the_reason(cluster):
    from course_utils.instructor.grade.collect import Submission

    with DaskExecutor(cluster.address, ASSIGNMENT) as executor:  # a job that breaks the task itself
        outcomes = list(executor.run([Submission("broken")], lambda sub: Job(ASSIGNMENT, sub.student, None, 0)))
    ((sub, result, note),) = outcomes
    assert sub.student == "broken" and result is None
    assert note.startswith("grading failed on every try: TypeError"), note
