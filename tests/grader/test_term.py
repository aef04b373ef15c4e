"""Running a term on the term class (``tests/grader/fixtures/term/``, written by
``tests/grader/fixtures/make_class.py``): six Canvas submissions of Exercise 1, two of them
by students both called John Smith, each correct student in a style of their own, one
near-copy (1003 of 1001); the times in ``times.csv``, one extension, and Canvas's gradebook
export as the roster.

One ``grade`` run (module-scoped: about a minute) with ``--due``, ``--late-policy`` and
``--extensions`` serves every assertion; a second, resumed run with another policy grades
no one and prices everyone again.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from course_utils import cli
from course_utils.instructor import grade

ROOT = Path(__file__).resolve().parents[2]
TERM = ROOT / "tests" / "grader" / "fixtures" / "term"
DUE = "2027-03-01T23:59+01:00"
POLICY = "10%/day, max 30%, grace 15m"

#: student -> (score, late_by hours, penalty, final score) that the policy implies
EXPECTED = {
    "1001": (12, 0, 0, 12),  # on time
    "1002": (12, 26, 2.4, 9.6),  # 26 h late: 2 started days x 10% of 12
    "1003": (12, 0, 0, 12),  # 22:00Z is 23:00+01:00: on time
    "1004": (12, 0, 0, 12),  # 2 h late, but an extension to 4 March
    "1005": (4, 0.17, 0, 4),  # 10 minutes late: within the 15-minute grace
    "1006": (12, 108.02, 3.6, 8.4),  # 4.5 days late: 50%, capped at 30%
}


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("term") / "out"
    code = cli.main(["grade", "01_neurons", str(TERM / "canvas"), "--out", str(out), "--jobs", "2", "--quiet",
                     "--timeout", "20", "--wall", "60", "--due", DUE, "--timestamps", str(TERM / "times.csv"),
                     "--extensions", str(TERM / "extensions.csv"), "--late-policy", POLICY])
    assert code == 0
    return out


@pytest.mark.slow
def test_the_policy_gives_the_penalties_it_implies(graded):
    rows = {r["student_id"]: r for r in _csv(graded / "grades.csv")}
    got = {s: (float(r["score"]), float(r["late_by"]), float(r["penalty"]), float(r["final_score"]))
           for s, r in rows.items()}
    assert got == {s: tuple(float(v) for v in e) for s, e in EXPECTED.items()}
    assert rows["1002"]["submitted_at"] == "2027-03-03T01:59+01:00"
    assert all(r["status"] == "ok" for r in rows.values())
    assert "late: 3 students; the late policy took 6 points" in (graded / "summary.txt").read_text()


@pytest.mark.slow
def test_the_gradebook_holds_the_same_penalties(graded):
    """formgrader reads nbgrader's gradebook: its due date, times, extensions and late penalties agree."""
    import datetime as dt

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded / 'gradebook.db'}", "neurons-to-attention") as gb:
        assert gb.find_assignment("01_neurons").duedate == dt.datetime(2027, 3, 1, 22, 59)  # UTC, as nbgrader keeps it
        for student, (_, _, penalty, _) in EXPECTED.items():
            submission = gb.find_submission("01_neurons", student)
            assert submission.late_submission_penalty == pytest.approx(penalty), student
        extended = gb.find_submission("01_neurons", "1004")
        assert extended.extension == dt.timedelta(days=3) and extended.total_seconds_late == 0
        assert gb.find_submission("01_neurons", "1006").total_seconds_late > 0


@pytest.mark.slow
def test_the_near_copy_ranks_first(graded):
    pairs = _csv(graded / "similarity.csv")
    assert {pairs[0]["a"], pairs[0]["b"]} == {"1001", "1003"}
    assert float(pairs[0]["score"]) > 0.8 and len(pairs[0]["cells"].split()) == 5
    # the honest students, each in a style of their own, share far less
    assert all(float(p["score"]) < float(pairs[0]["score"]) / 2 for p in pairs[1:])
    assert _csv(graded / "mistakes.csv") == []  # nobody made a catalogued mistake


@pytest.mark.slow
def test_export_to_canvas_from_the_graded_run(graded, tmp_path, capsys):
    out = tmp_path / "canvas.csv"
    assert cli.main(["export", "01_neurons", "--grades", str(graded), "--roster", str(TERM / "canvas_gradebook.csv"),
                     "--format", "canvas", "--to", str(out)]) == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0][-1] == "Exercise 1: 01_neurons (4242)"
    assert {r[1]: r[-1] for r in rows[2:]} == {"1001": "12", "1002": "9.6", "1003": "12", "1004": "12", "1005": "4",
                                               "1006": "8.4", "1007": "0"}
    assert "1 on the roster without a submission (score 0, status missing): 1007" in capsys.readouterr().err


@pytest.mark.slow
def test_a_resumed_run_prices_everyone_again(graded, tmp_path):
    """Penalties are not journalled: a resumed run (here, of a finished run: nobody to grade)
    under another policy recomputes every one of them, and the gradebook follows."""
    out = tmp_path / "out"
    shutil.copytree(graded, out)
    rows = grade.grade("01_neurons", TERM / "canvas", out, jobs=1, progress=False, mode="resume",
                       deadlines=grade.late.load(DUE, "zero", TERM / "times.csv", None, None,
                                                 set(grade.student_ids(TERM / "canvas", "01_neurons"))))
    finals = {r.student_id: r.final_score for r in rows}
    # without the extension and the grace, every late submission loses everything
    assert finals == {"1001": 12, "1002": 0, "1003": 12, "1004": 0, "1005": 0, "1006": 0}
    assert not (out / "history").exists()  # resumed, not regraded
