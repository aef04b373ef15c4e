"""The class-grading pipeline: ``python -m course_utils grade`` on a fixture class.

``tests/grader/fixtures/submissions/`` is a class of Exercise 1 submissions with every kind of
bad input the grader must survive (modelled on nbgrader's own test fixtures such as
``submitted-cheat-attempt`` and ``infinite-loop``). One grade run of the whole class is
checked against :data:`EXPECTED` (status and score of every student); the other tests are
fast checks of the pieces, a proof that the cheating fixtures do fool an unguarded kernel,
and checks of the worker pool and the release cache. ``tests/grader/test_grade_postgres.py``
grades into a real PostgreSQL server, twice.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

from course_utils.instructor import grade, sandbox
from course_utils.instructor.check import run_mutants
from course_utils.instructor.release import cached_release, release_differences

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "tests" / "grader" / "fixtures" / "submissions"
ASSIGNMENT = "01_neurons"


def file_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (or of the file itself): to prove nothing changed."""
    paths = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder) if p != folder else p.name): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in paths}


def html_text(page: str) -> str:
    """The text a reader sees on an HTML page (scripts and styles left out), whitespace collapsed."""
    soup = BeautifulSoup(page, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return " ".join(soup.get_text(" ").split())

#: student -> (status, score out of 12): what each fixture is and what it must get
#: (tests/grader/fixtures/make_class.py writes them from the release of Exercise 1)
EXPECTED = {
    "alice": ("ok", 12),  # alice/01_neurons.ipynb, every task right
    "bob": ("ok", 4),  # bob/01_neurons/01_neurons.ipynb, log_softmax and bce_with_logits right
    "12345": ("ok", 12),  # carol_12345_67890_01_neurons.ipynb, as Canvas names it: keyed on the user id 12345
    # (issue 18: never on the name, which two students can share)
    "dave": ("not_json", 0),  # a text file named .ipynb
    "erin": ("empty", 0),  # an empty file
    "frank": ("wrong_assignment", 0),  # frank/02_words.ipynb
    "grace": ("wrong_assignment", 0),  # named 01_neurons.ipynb, holds another notebook
    "heidi": ("multiple_notebooks", 0),  # two different notebooks
    "ivan": ("test_cells_restored", 8),  # deleted test_log_softmax, emptied test_bce_with_logits; both
    # functions wrong (smoothed_cross_entropy, right, calls the wrong log_softmax: a stub replaces it)
    "judy": ("timeout", 10),  # log_softmax loops forever
    "mallory": ("memory_limit", 12),  # allocates 2 GB (more than --memory)
    "niaj": ("network_blocked", 12),  # opens a URL
    "oscar": ("child_process", 12),  # leaves `sleep 600` running
    "peggy": ("output_truncated", 12),  # prints 30 MB
    "quinn": ("suspicious_code", 12),  # right answers; switches the audit hook off, its pipe left open
    "rupert": ("hidden_path", 0),  # looks for the solutions, the mutants, .git and the references
    "sybil": ("suspicious_code", 0),  # replaces the test-cell API, recorded.check and np.allclose
    "trent": ("suspicious_code", 10),  # its log_softmax replaces tests.visible while the test runs
    "ursula": ("ok", 12),  # right answers; hashes every file it can read near the virtualenv
    "victor": ("wall_limit", 0),  # a loop that ignores the interrupt
    "walter": ("ok", 0),  # wrong answers that publish an execute_result (nbgrader's partial credit)
    "xena": ("ok", 10),  # log_softmax looks for the expected value in its callers' frames
    "yuri": ("ok", 0),  # wrong answers; patches Session.send to drop the kernel's error messages
    "zara": ("suspicious_code", 12),  # right answers; closes the sandbox's audit pipe
    "zoe": ("output_truncated", 12),  # right answers; a 12 MB rich output, cut by the grader
}
OPTIONS = dict(jobs=2, timeout=20, wall=60, memory=1 << 30, progress=False)


def hidden_lines() -> list[str]:
    """Substantial lines found only in the hidden tests of Exercise 1 (none may reach a
    student; lines that the visible tests also show are left out)."""
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    release = nbformat.read(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    visible = "\n".join(cell.source for cell in release.cells)
    lines = []
    for cell in source.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            lines += [line for line in grade.split_hidden(cell.source)[1] if len(line) >= 20 and line not in visible]
    assert len(lines) >= 5
    return lines


def read_grades(out: Path) -> dict[str, tuple[str, float, float]]:
    with open(out / "grades.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["student_id", "score", "max_score", "status", "submitted_at", "late_by",
                                     "penalty", "final_score"]  # issue 18 added the last four
        return {r["student_id"]: (r["status"], float(r["score"]), float(r["max_score"])) for r in reader}


# --------------------------------------------------------------------------- the whole class, graded once


@pytest.mark.slow
def test_grading_the_fixture_class(tmp_path):
    before = file_checksums(SUBMISSIONS)
    out = tmp_path / "out"
    rows = grade.grade(ASSIGNMENT, SUBMISSIONS, out, **OPTIONS)
    print((out / "summary.txt").read_text())

    # nothing under SUBMISSIONS was written, added or removed
    assert file_checksums(SUBMISSIONS) == before

    # every student has a row with the expected status and score
    got = read_grades(out)
    assert sorted(got) == sorted(EXPECTED), "one row per student found, no more"
    wrong = {s: (got[s][0], got[s][1]) for s in EXPECTED if (got[s][0], got[s][1]) != EXPECTED[s]}
    details = {r.student_id: r.details for r in rows}
    assert not wrong, f"unexpected (status, score): {wrong}; expected {[EXPECTED[s] for s in wrong]}; " \
                      f"details {[details[s] for s in wrong]}"
    assert all(max_score == 12 for _, _, max_score in got.values())

    # the reasons are readable
    assert any("test_log_softmax" in d and "deleted" in d for d in details["ivan"])
    assert any("test_bce_with_logits" in d and "edited" in d for d in details["ivan"])
    assert any("different notebooks" in d for d in details["heidi"])
    assert any("left running" in d for d in details["oscar"]) and any("sleep" in d for d in details["oscar"])
    assert any("solutions" in d for d in details["rupert"])
    assert any(".git" in d for d in details["rupert"]) and any("mutants" in d for d in details["rupert"])
    assert any("assigns to an attribute of a module the tests use" in d for d in details["sybil"])
    assert any("tests.visible" in d for d in details["trent"])
    assert any("audit channel" in d for d in details["zara"])
    # quinn's silenced hook is seen from outside (the grader's probes went unreported), not by the scan
    assert any("did not report" in d and "probes" in d for d in details["quinn"]), details["quinn"]
    assert not any(d.startswith("suspicious code") for d in details["quinn"]), "the static scan must not see it"

    # the kernel reads no file of the solutions, mutants, references, instructor code or .git
    autograded = nbformat.read(out / "autograded" / "ursula" / f"{ASSIGNMENT}.ipynb", as_version=4)
    printed = " ".join(o.get("text", "") for c in autograded.cells for o in c.get("outputs", []))
    seen = set(printed.split("HASHES", 1)[1].split()[1:]) if "HASHES" in printed else None
    assert seen is not None, "ursula's exploration did not run"
    secret = {hashlib.sha256(path.read_bytes()).hexdigest()
              for folder in ("solutions", "mutants", "course_utils/instructor", ".git", "tests")
              for path in (ROOT / folder).rglob("*") if path.is_file() and path.stat().st_size}
    assert secret and not seen & secret, f"a kernel read {len(seen & secret)} instructor files"

    # feedback for every graded student, without a line of the hidden tests
    not_graded = {"not_json", "empty", "wrong_assignment", "multiple_notebooks", "wall_limit"}
    graded = [s for s, (status, _) in EXPECTED.items() if status not in not_graded]
    hidden = hidden_lines()
    for student in graded:
        page = out / "feedback" / f"{student}.html"
        assert page.is_file(), f"no feedback for {student}"
        text = html_text(page.read_text())
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"feedback of {student} shows hidden tests: {leaked[:2]}"
        assert page.stat().st_size < 3_000_000, f"feedback of {student} is {page.stat().st_size:,} bytes"
    assert "hidden tests, run when grading, are not shown" in html_text((out / "feedback" / "bob.html").read_text())
    assert not (out / "feedback" / "dave.html").exists()
    # the instructor's copy keeps the hidden tests (so the check above can fail)
    autograded = nbformat.read(out / "autograded" / "alice" / f"{ASSIGNMENT}.ipynb", as_version=4)
    executed = "\n".join(cell.source for cell in autograded.cells)
    assert all(line in executed for line in hidden)

    # the gradebook holds every student, and the graded ones with their scores
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "neurons-to-attention") as gb:
        assert sorted(s.id for s in gb.students) == sorted(EXPECTED)
        for student, (_, score) in EXPECTED.items():
            if student in graded:
                assert gb.find_submission(ASSIGNMENT, student).score == pytest.approx(score), student

    # the summary: statuses, per-test pass rates, the students to look at, a histogram
    summary = json.loads((out / "summary.json").read_text())
    assert summary["students"] == len(EXPECTED)
    assert set(summary["not_ok"]) == {s for s, (status, _) in EXPECTED.items() if status != "ok"}
    assert set(summary["pass_rates"]) == {"test_log_softmax", "test_bce_with_logits", "test_smoothed_cross_entropy",
                                          "test_mean_sigmoid_slope", "test_saturation_verdict"}
    assert 0 < summary["pass_rates"]["test_log_softmax"] < 1
    # the teaching signal: ivan's bce_with_logits sums the losses, a catalogued mistake
    assert summary["mistakes"]["sum instead of mean"]["students"] >= 1
    assert "mistakes the tests recognised" in (out / "summary.txt").read_text()
    with open(out / "mistakes.csv", newline="") as handle:  # the same counts, for a spreadsheet
        assert {r["mistake"]: int(r["students"]) for r in csv.DictReader(handle)}["sum instead of mean"] >= 1
    assert (out / "score_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "students to look at" in (out / "summary.txt").read_text()


# --------------------------------------------------------------------------- the cheats are real


def _with_hidden_tests(notebook: Path, tmp_path: Path) -> Path:
    """The fixture notebook with its test cells as the grader runs them (hidden tests included)."""
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in tests:
            cell.source = tests[gid]
    path = tmp_path / notebook.parent.name / notebook.name
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    shutil.copy(ROOT / "exercises" / ASSIGNMENT / "expected.json", path.parent)  # the release's recorded values
    return path


@pytest.mark.slow
@pytest.mark.parametrize("student", ["sybil", "rupert"])
def test_the_cheats_fool_a_kernel_without_the_sandbox(student, tmp_path):
    """Run in a plain kernel (as plain nbgrader would), the cheating fixtures pass every
    test cell: so their 0 in the graded class is the judge's and the sandbox's doing."""
    notebook = _with_hidden_tests(SUBMISSIONS / student / f"{ASSIGNMENT}.ipynb", tmp_path)
    results = run_mutants(notebook, [])["<solution>"]
    assert results and all(problem is None for problem in results.values()), results


# --------------------------------------------------------------------------- fast checks of the pieces


def test_collect_reads_a_zip_as_the_folder(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(SUBMISSIONS.rglob("*")):
            if path.is_file():
                zf.write(path, f"class-export/{path.relative_to(SUBMISSIONS)}")
        zf.writestr("class-export/__MACOSX/alice/._01_neurons.ipynb", "junk")
        zf.writestr("../evil/01_neurons.ipynb", "{}")
    before = file_checksums(archive)
    release = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    from_zip, notes = grade.collect(ASSIGNMENT, archive, release)
    from_folder, _ = grade.collect(ASSIGNMENT, SUBMISSIONS, release)
    assert file_checksums(archive) == before
    assert [(s.student, s.status, s.chosen) for s in from_zip] == [(s.student, s.status, s.chosen) for s in from_folder]
    assert {s.student for s in from_zip} == set(EXPECTED)
    assert any("../evil" in n for n in notes) and any("README.txt" in n for n in notes)
    collected = {s.student: s.status for s in from_folder}
    for student, (status, _) in EXPECTED.items():
        if status in ("not_json", "empty", "wrong_assignment", "multiple_notebooks"):
            assert collected[student] == status, student
        else:
            assert collected[student] == "ok", student


def test_deleted_test_cells_are_put_back_in_place():
    release = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    subs, _ = grade.collect(ASSIGNMENT, SUBMISSIONS, release)
    ivan = next(s for s in subs if s.student == "ivan")
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nbformat.reads(ivan.content, as_version=4).cells]
    ref = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nbformat.read(release, as_version=4).cells]
    assert ids == ref


def test_hidden_tests_are_split_and_scrubbed():
    source = "a = 1\n### BEGIN HIDDEN TESTS\nassert secret_check(a) == 42\n### END HIDDEN TESTS\nb = 2"
    shown, removed = grade.split_hidden(source)
    assert "secret_check" not in shown and shown.startswith("a = 1") and shown.endswith("b = 2")
    assert removed == ["assert secret_check(a) == 42"]
    traceback = "----> 3 \x1b[0massert secret_check(a) == 42\nAssertionError"
    assert grade.scrub(traceback, set(removed)) == "    (a line of a hidden test)\nAssertionError"


def test_student_ids_and_sizes():
    assert grade.safe_id("Alice Smith_123_assignsubmission_file_") == "Alice_Smith_123"
    assert grade.safe_id("../../etc") == "etc"
    assert grade.parse_size("2GiB") == 2 << 30 and grade.parse_size("512MiB") == 512 << 20
    with pytest.raises(Exception, match="not a size"):
        grade.parse_size("lots")


def test_statuses_are_documented():
    assert set(s for s, _ in EXPECTED.values()) <= set(grade.STATUSES)
    assert list(grade.STATUSES)[-1] == "ok"


def test_the_sandbox_reports_what_it_cannot_do():
    caps = sandbox.probe()
    assert isinstance(caps.warnings, list)
    if not caps.netns:
        assert any("network" in w for w in caps.warnings)
    if os.geteuid() != 0:
        assert any("root" in w for w in caps.warnings)


def test_grade_command_is_on_the_cli():
    proc = subprocess.run([sys.executable, "-m", "course_utils", "grade", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0
    for option in ("--out", "--db", "--jobs", "--memory", "--timeout", "--wall"):
        assert option in proc.stdout


def test_out_inside_submissions_is_refused(tmp_path):
    (tmp_path / "subs").mkdir()
    with pytest.raises(ValueError, match="never written"):
        grade.grade(ASSIGNMENT, tmp_path / "subs", tmp_path / "subs" / "out", progress=False)


# --------------------------------------------------------------------------- the worker pool and the release cache


def test_a_worker_that_stalls_or_dies_is_replaced(tmp_path):
    """A long-lived worker that stops answering (here: stopped with SIGSTOP) or dies while
    grading is killed and replaced: its job is reported as not graded, the next is graded."""
    import signal
    import threading

    job = tmp_path / "job.json"
    job.write_text("not a job")  # the worker answers, having graded nothing (the student's row: error)
    from course_utils.instructor.grade.pool import WorkerPool

    with WorkerPool(1, tmp_path, tmp_path) as pool:
        worker = pool.workers[0]
        assert pool.grade(job, timeout=120) == ""
        assert "job.json failed" in (tmp_path / "worker0.log").read_text(), "stray output goes to the log"

        stalled = worker.proc.pid
        os.kill(stalled, signal.SIGSTOP)
        assert pool.grade(job, timeout=3).startswith("worker stopped after 3 s")
        assert worker.proc is None
        assert pool.grade(job, timeout=120) == "" and worker.proc.pid != stalled

        dying = worker.proc.pid
        os.kill(dying, signal.SIGSTOP)
        threading.Timer(1.0, os.kill, (dying, signal.SIGKILL)).start()
        assert pool.grade(job, timeout=60).startswith("the worker process died")
        assert pool.grade(job, timeout=120) == "" and worker.proc.pid != dying
        assert worker.jobs == 1
    assert worker.proc is None, "closing the pool ends its workers"


def test_the_release_is_cached_by_the_content_of_its_source(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RELEASE_CACHE", str(tmp_path / "cache"))
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)

    first = cached_release(ASSIGNMENT, course)
    assert first.parent == tmp_path / "cache"
    assert release_differences(first / "exercises" / ASSIGNMENT, ROOT / "exercises" / ASSIGNMENT) == []
    made = (first / "gradebook.db").stat().st_mtime_ns
    assert cached_release(ASSIGNMENT, course) == first
    assert (first / "gradebook.db").stat().st_mtime_ns == made, "a cached release is not generated again"

    notebook = course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[0].source += "\n\nA new sentence in the introduction."
    nbformat.write(nb, notebook)
    second = cached_release(ASSIGNMENT, course)
    assert second != first, "a changed source gives a new release"
    released = nbformat.read(second / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    assert "A new sentence" in released.cells[0].source


def test_an_unwritable_release_cache_is_named_in_the_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("COURSE_RELEASE_CACHE", str(blocker / "cache"))
    with pytest.raises(RuntimeError, match="cannot write the release cache .*COURSE_RELEASE_CACHE"):
        cached_release(ASSIGNMENT, ROOT)


def _processes(text: str) -> dict[int, str]:
    """``{pid: command line}`` of the processes whose command line contains ``text``."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                line = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in line:
                found[int(entry)] = line
    return found


def _parent(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def _ancestors(pid: int) -> list[int]:
    found = []
    while (pid := _parent(pid)) not in (None, 0, 1):
        found.append(pid)
    return found


@pytest.mark.slow
def test_a_worker_killed_while_grading_takes_its_kernel_with_it(tmp_path, monkeypatch):
    """The worker grading a student dies (killed) while the student's kernel runs: the
    student gets ``error``, the kernel does not live on, and the other student is graded."""
    import signal
    import tempfile
    import threading
    import time

    # the grader puts its scratch folder in /tmp rather than under tmp_path, whose 0700 parents
    # would lock the kernels' own user ids out
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    subs = tmp_path / "class"
    shutil.copytree(SUBMISSIONS / "alice", subs / "alice")
    nb = nbformat.read(SUBMISSIONS / "alice" / f"{ASSIGNMENT}.ipynb", as_version=4)
    solution = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "log_softmax")
    solution.source = "import time\ntime.sleep(300)\n" + solution.source
    (subs / "zed").mkdir()
    nbformat.write(nb, subs / "zed" / f"{ASSIGNMENT}.ipynb")
    killed: list[int] = []

    def kill_the_worker_during_zeds_sleep():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            workers = [pid for pid in _processes("course_utils.instructor.grade.worker") if _parent(pid) == os.getpid()]
            # students are graded in order: zed, second, gets the kernel folder k1
            kernels = [pid for pid, line in _processes("course_utils.judge.kernel").items()
                       if "/kernels/k1/" in line and set(_ancestors(pid)) & set(workers)]
            if kernels:
                time.sleep(3)  # into its sleep
                for worker in workers:
                    os.kill(worker, signal.SIGKILL)
                killed.extend(kernels)
                return
            time.sleep(0.2)

    thread = threading.Thread(target=kill_the_worker_during_zeds_sleep)
    thread.start()
    rows = grade.grade(ASSIGNMENT, subs, tmp_path / "out", **{**OPTIONS, "jobs": 1, "timeout": 600, "wall": 600})
    thread.join()
    assert killed, "the test never saw zed's kernel running"
    assert {r.student_id: (r.status, r.score) for r in rows} == {"alice": ("ok", 12), "zed": ("error", 0)}
    log = (tmp_path / "out" / "logs" / "zed.log").read_text()
    assert "the worker process died" in log, log[-1500:]
    assert "killed the kernel processes left behind by the worker" in log, log[-1500:]
    time.sleep(1)
    assert not set(killed) & set(_processes("course_utils.instructor.sandbox")), "zed's kernel lived on"


def test_kernels_have_private_temporary_folders(tmp_path):
    """What one student's kernel writes to /tmp, /var/tmp or /dev/shm is seen by no other
    kernel and does not outlive the kernel; each kernel can still write there."""
    if not sandbox.probe().mountns:
        pytest.skip("no mount namespace on this machine")
    good = nbformat.read(SUBMISSIONS / "alice" / f"{ASSIGNMENT}.ipynb", as_version=4)
    marker = f"left-by-writer-{os.getpid()}"
    write = (f"import os\nfor d in ('/tmp', '/var/tmp', '/dev/shm'):\n"
             f"    open(os.path.join(d, '{marker}'), 'w').write('x' * 1000)\n")
    read = ("import os\nprint('SEEN', sorted(n for d in ('/tmp', '/var/tmp', '/dev/shm') for n in os.listdir(d)))\n"
            "open('/tmp/mine', 'w').write('ok')\n")
    for student, code in (("a_writer", write), ("b_reader", read)):
        nb = nbformat.from_dict(json.loads(json.dumps(good)))
        nb.cells.insert(2, nbformat.v4.new_code_cell(code))
        (tmp_path / "class" / student).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "class" / student / f"{ASSIGNMENT}.ipynb")
    rows = grade.grade(ASSIGNMENT, tmp_path / "class", tmp_path / "out", **{**OPTIONS, "jobs": 1})
    assert {r.student_id: (r.status, r.score) for r in rows} == {"a_writer": ("ok", 12), "b_reader": ("ok", 12)}
    reader = nbformat.read(tmp_path / "out" / "autograded" / "b_reader" / f"{ASSIGNMENT}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in reader.cells[2].outputs)
    assert "SEEN" in printed and marker not in printed, printed
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not os.path.exists(os.path.join(folder, marker)), f"{folder} kept what a kernel wrote"
