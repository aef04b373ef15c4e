"""Throughput of grading a class: ``grade --jobs 1``, ``grade --jobs 2`` and plain ``nbgrader autograde``.

    python benchmarks/grading.py                          # the committed result (12 copies)
    python benchmarks/grading.py --copies 2 --out /tmp/grading.json

The class is N copies (``--copies``) of a realistic submission of Exercise 1: by default
the fixture ``tests/grader/fixtures/submissions/alice/01_neurons.ipynb``, the released notebook
with every task done right (12/12), as a student hands it in. The same class is graded
three ways in one run:

- plain ``nbgrader autograde 01_neurons`` (the ``nbgrader`` command itself) in an nbgrader
  course directory (made with ``course_utils.instructor.course.scratch_course``, with the copies
  collected by ``course_utils.instructor.grade.collect`` into ``submitted/<student>/01_neurons/``):
  only the autograde command is timed, as an instructor who has already released the
  assignment would run it. ``nbgrader generate_feedback`` is timed after it and reported
  beside it (``grade`` writes feedback too), but the ratios compare with autograde alone;
- ``python -m course_utils grade 01_neurons CLASS --out DIR --jobs 1`` and ``--jobs 2``,
  timed from the command's start to its end: collecting, the sandboxed workers, the merge
  into the gradebook, feedback with hidden tests removed, and the reports. As for
  nbgrader, the release is made before the clock starts (``grade`` keeps it in its release
  cache, ``course_utils.instructor.release.cached_release``);
- ``grade --jobs 2`` once more with an empty release cache, as on a new machine: the
  clock then includes generating the release (reported, not used in the ratios).

Then the protocol of the course's design (``--rounds``, default 3): the baseline ``nbgrader
autograde`` + ``generate_feedback`` and ``grade --jobs 2`` run in turn, round after round
(interleaved, so a busy moment of a shared machine hits both); the verdict compares the
medians: a wall-clock ratio of at least 2x, and no more CPU seconds per submission than
the baseline.

Every mode must give every copy full marks, or the run stops without writing a result.
Prints the seconds, CPU seconds of the child processes and submissions per minute of each
mode, and the ratios of throughput (the issue's target: ``grade --jobs 2`` at least 1.6x
plain nbgrader on a 2-core machine), and writes benchmarks/results/grading.json. The load
average is recorded before each mode: on a shared machine, wall-clock times depend on what
else runs.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import write_result
from course_utils.instructor import grade
from course_utils.instructor.course import scratch_course, venv_environ
from course_utils.instructor.release import cached_release

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_neurons"
SUBMISSION = ROOT / "tests" / "grader" / "fixtures" / "submissions" / "alice" / f"{ASSIGNMENT}.ipynb"
TARGET = 1.6
PROTOCOL_TARGET = 2.0  # the design's: median wall ratio of grade --jobs 2 over autograde + feedback
COLD = "grade --jobs 2, empty release cache"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def make_class(folder: Path, submission: Path, copies: int) -> list[str]:
    """``folder/<student>/01_neurons.ipynb`` for ``copies`` students; their ids."""
    students = [f"student{i:03d}" for i in range(1, copies + 1)]
    for student in students:
        (folder / student).mkdir(parents=True)
        shutil.copy(submission, folder / student / f"{ASSIGNMENT}.ipynb")
    return students


def timed(label: str, action) -> tuple[dict, object]:
    """Run ``action()``; its wall-clock and children's CPU seconds, with the load before it."""
    load = round(os.getloadavg()[0], 2)
    cpu, start = children_cpu(), time.perf_counter()
    value = action()
    seconds, cpu = time.perf_counter() - start, children_cpu() - cpu
    return {"mode": label, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "load_before": load}, value


def run_grade(class_dir: Path, out: Path, jobs: int, *extra: str, **env: str) -> dict[str, float]:
    """``python -m course_utils grade`` on the class; ``{student: score}`` of the rows with status ok."""
    proc = subprocess.run([sys.executable, "-m", "course_utils", "grade", ASSIGNMENT, str(class_dir), "--out",
                           str(out), "--jobs", str(jobs), "--quiet", *extra], cwd=ROOT, capture_output=True, text=True,
                          env=venv_environ(**env), timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"grade --jobs {jobs} {' '.join(extra)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    with open(out / "grades.csv", newline="") as handle:
        return {r["student_id"]: float(r["score"]) for r in csv.DictReader(handle) if r["status"] == "ok"}


class LocalDask:
    """A ``dask scheduler`` and ``workers`` fresh ``dask worker --nthreads 1`` processes on this
    machine, started (not timed) as an instructor's cluster already runs before grading."""

    def __init__(self, tmp: Path, workers: int) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.address = f"tcp://127.0.0.1:{port}"
        dask = str(Path(sys.executable).parent / "dask")
        env = venv_environ()
        self.procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                        "--dashboard-address", "127.0.0.1:0", "--no-show"], cwd=ROOT, env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
        for i in range(workers):
            self.procs.append(subprocess.Popen([dask, "worker", self.address, "--nthreads", "1", "--no-nanny",
                                                "--local-directory", str(tmp / f"dask-worker{i}")], cwd=ROOT, env=env,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                               start_new_session=True))
        from distributed import Client

        with Client(self.address, timeout=120, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=300)

    def __enter__(self) -> LocalDask:
        return self

    def __exit__(self, *exc) -> None:
        import signal

        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def plain_nbgrader(args: list[str], course: Path) -> None:
    """The ``nbgrader`` command of this environment, as an instructor types it."""
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    proc = subprocess.run(command, cwd=course, capture_output=True, text=True, env=venv_environ(),
                          timeout=7200)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def run_nbgrader(class_dir: Path) -> tuple[dict, dict, dict[str, float]]:
    """Plain ``nbgrader autograde`` (then ``generate_feedback``) of the class in an nbgrader
    course directory; the timings of both and ``{student: score}``."""
    from nbgrader.api import Gradebook

    with scratch_course(ASSIGNMENT, ROOT) as course:  # release and gradebook: not timed
        release = course / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        subs, _ = grade.collect(ASSIGNMENT, class_dir, release)
        for sub in subs:
            if sub.status == "ok":
                dest = course / "submitted" / sub.student / ASSIGNMENT
                dest.mkdir(parents=True)
                shutil.copy(class_dir / sub.chosen, dest / f"{ASSIGNMENT}.ipynb")
        students = [s.student for s in subs if s.status == "ok"]
        autograde, _ = timed("nbgrader autograde",
                             lambda: plain_nbgrader(["autograde", ASSIGNMENT, "--create", "--force"], course))
        feedback, _ = timed("nbgrader generate_feedback",
                            lambda: plain_nbgrader(["generate_feedback", ASSIGNMENT, "--force"], course))
        missing = [s for s in students if not (course / "feedback" / s / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()]
        if missing:
            raise SystemExit(f"nbgrader generate_feedback wrote no feedback for {missing}")
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            totals = {s: float(gb.find_submission(ASSIGNMENT, s).score) for s in students}
    return autograde, feedback, totals


def run_protocol(class_dir: Path, tmp: Path, students: list[str], rounds: int, full: float,
                 first: tuple[dict, dict, dict]) -> dict:
    """The design's throughput protocol: ``rounds`` interleaved runs of the baseline (plain
    ``nbgrader autograde`` + ``generate_feedback``) and of ``grade --jobs 2`` (the first round
    reuses the runs already made); their medians, the wall ratio and the CPU per submission."""
    import statistics

    autograde, feedback, grade2 = first
    baseline = [{"seconds": autograde["seconds"] + feedback["seconds"],
                 "cpu_seconds": autograde["cpu_seconds"] + feedback["cpu_seconds"]}]
    graded = [{"seconds": grade2["seconds"], "cpu_seconds": grade2["cpu_seconds"]}]
    for n in range(1, rounds):
        auto, back, scores = run_nbgrader(class_dir)
        baseline.append({"seconds": auto["seconds"] + back["seconds"],
                         "cpu_seconds": auto["cpu_seconds"] + back["cpu_seconds"]})
        row, mine = timed("grade --jobs 2", lambda n=n: run_grade(class_dir, tmp / f"protocol{n}", 2))
        if any(mine.get(s) != full or scores.get(s) != full for s in students):
            raise SystemExit(f"round {n + 1}: not every copy got full marks: no result written")
        graded.append({"seconds": row["seconds"], "cpu_seconds": row["cpu_seconds"]})
    median = {name: round(statistics.median(r["seconds"] for r in runs), 1)
              for name, runs in (("baseline", baseline), ("grade", graded))}
    cpu = {name: round(statistics.median(r["cpu_seconds"] for r in runs) / len(students), 2)
           for name, runs in (("baseline", baseline), ("grade", graded))}
    ratio = round(median["baseline"] / median["grade"], 2)
    return {"rounds": rounds, "baseline_runs": baseline, "grade_runs": graded, "median_seconds": median,
            "cpu_per_submission": cpu, "wall_ratio": ratio, "target": PROTOCOL_TARGET,
            "met": ratio >= PROTOCOL_TARGET and cpu["grade"] <= cpu["baseline"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=12, help="submissions in the class (default 12)")
    parser.add_argument("--submission", type=Path, default=SUBMISSION,
                        help="the notebook copied for every student (default: the fixture alice, 12/12)")
    parser.add_argument("--out", type=Path, help="result file (default: benchmarks/results/grading.json)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the protocol (default 3)")
    parser.add_argument("--scheduler-rows", action="store_true",
                        help="also grade through a Dask scheduler with 1 and 2 workers on this machine")
    args = parser.parse_args()
    if args.copies < 1:
        parser.error("--copies must be at least 1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread per kernel in every mode
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    submission = args.submission.resolve()
    shown = submission.relative_to(ROOT) if submission.is_relative_to(ROOT) else submission
    print(f"grading {args.copies} copies of {shown} ({ASSIGNMENT}) on {os.cpu_count()} cores", flush=True)

    rows, full = [], 12.0
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        class_dir = Path(tmp) / "class"
        students = make_class(class_dir, submission, args.copies)
        autograde, feedback, scores = run_nbgrader(class_dir)
        runs = [(autograde, scores)]
        cached_release(ASSIGNMENT, ROOT)  # made before the clock starts, as nbgrader's release is
        for jobs in (1, 2):
            row, scores = timed(f"grade --jobs {jobs}", lambda j=jobs: run_grade(class_dir, Path(tmp) / f"out{j}", j))
            runs.append((row, scores))
        row, scores = timed(COLD, lambda: run_grade(class_dir, Path(tmp) / "out-cold", 2,
                                                    COURSE_RELEASE_CACHE=str(Path(tmp) / "empty-cache")))
        runs.append((row, scores))
        if args.scheduler_rows:
            for workers in (1, 2):
                with LocalDask(Path(tmp), workers) as cluster:
                    row, scores = timed(f"grade --scheduler, {workers} worker{'s' * (workers > 1)}",
                                        lambda c=cluster, w=workers: run_grade(class_dir, Path(tmp) / f"dask{w}", w,
                                                                               "--scheduler", c.address))
                runs.append((row, scores))
        for row, scores in runs:
            row["full_marks"] = sum(scores.get(s) == full for s in students)
            row["per_minute"] = round(60 * args.copies / row["seconds"], 2)
            rows.append(row)
        protocol = run_protocol(class_dir, Path(tmp), students, args.rounds, full,
                                first=(autograde, feedback, runs[2][0]))
        feedback["per_minute"] = round(60 * args.copies / feedback["seconds"], 2)
        both = autograde["seconds"] + feedback["seconds"]
        with_feedback = {"mode": "nbgrader autograde + generate_feedback", "seconds": round(both, 1),
                         "cpu_seconds": round(autograde["cpu_seconds"] + feedback["cpu_seconds"], 1),
                         "load_before": autograde["load_before"], "per_minute": round(60 * args.copies / both, 2)}

    print(f"{'mode':40s} {'seconds':>8s} {'CPU s':>7s} {'load':>5s} {'subs/min':>9s} {'12/12':>6s}")
    for row in [*rows, with_feedback]:
        print(f"{row['mode']:40s} {row['seconds']:8.1f} {row['cpu_seconds']:7.1f} "
              f"{row['load_before']:5.2f} {row['per_minute']:9.2f} "
              f"{row.get('full_marks', ''):>6}")
    bad = [r["mode"] for r in rows if r["full_marks"] != args.copies]
    if bad:
        raise SystemExit(f"not every copy got full marks with {', '.join(bad)}: no result written")
    by_mode = {r["mode"]: r for r in rows}
    base = by_mode["nbgrader autograde"]["per_minute"]
    ratios = {
        "jobs2_over_nbgrader": round(by_mode["grade --jobs 2"]["per_minute"] / base, 2),
        "jobs1_over_nbgrader": round(by_mode["grade --jobs 1"]["per_minute"] / base, 2),
        "jobs2_over_jobs1": round(by_mode["grade --jobs 2"]["per_minute"] / by_mode["grade --jobs 1"]["per_minute"], 2),
        "jobs2_over_nbgrader_with_feedback": round(by_mode["grade --jobs 2"]["per_minute"]
                                                   / with_feedback["per_minute"], 2),
        "jobs2_cold_over_nbgrader": round(by_mode[COLD]["per_minute"] / base, 2),
    }
    dask = {}
    for workers in (1, 2):
        mode = f"grade --scheduler, {workers} worker{'s' * (workers > 1)}"
        if mode in by_mode:
            local = by_mode[f"grade --jobs {workers}"]
            overhead = (by_mode[mode]["seconds"] - local["seconds"]) / args.copies
            dask[f"{workers}_workers"] = {
                "seconds": by_mode[mode]["seconds"], "local_seconds": local["seconds"],
                "overhead_seconds_per_submission": round(overhead, 2)}
            print(f"dask, {workers} worker(s): {by_mode[mode]['seconds']:.1f} s against --jobs {workers} "
                  f"{local['seconds']:.1f} s: {dask[f'{workers}_workers']['overhead_seconds_per_submission']:+.2f} s "
                  "per submission")
    met = ratios["jobs2_over_nbgrader"] >= TARGET
    print(f"throughput: grade --jobs 2 / nbgrader autograde = {ratios['jobs2_over_nbgrader']:.2f}x "
          f"(target {TARGET}x: {'met' if met else 'NOT met'}); grade --jobs 1 / nbgrader autograde = "
          f"{ratios['jobs1_over_nbgrader']:.2f}x; --jobs 2 / --jobs 1 = {ratios['jobs2_over_jobs1']:.2f}x; "
          f"--jobs 2 / nbgrader autograde + generate_feedback = {ratios['jobs2_over_nbgrader_with_feedback']:.2f}x; "
          f"--jobs 2 with an empty release cache / nbgrader autograde = {ratios['jobs2_cold_over_nbgrader']:.2f}x")
    print(f"protocol ({protocol['rounds']} interleaved rounds, medians): grade --jobs 2 "
          f"{protocol['median_seconds']['grade']:.1f} s against nbgrader autograde + generate_feedback "
          f"{protocol['median_seconds']['baseline']:.1f} s = {protocol['wall_ratio']:.2f}x "
          f"(target {PROTOCOL_TARGET}x); "
          f"CPU s per submission {protocol['cpu_per_submission']['grade']:.2f} against "
          f"{protocol['cpu_per_submission']['baseline']:.2f}: {'met' if protocol['met'] else 'NOT met'}")
    figures = {"assignment": ASSIGNMENT, "copies": args.copies, "submission": str(shown), "modes": rows,
               "nbgrader_generate_feedback": feedback, "nbgrader_with_feedback": with_feedback, "ratios": ratios,
               "target_jobs2_over_nbgrader": TARGET, "target_met": met, "protocol": protocol, "dask": dask}
    path = write_result("grading", figures, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
