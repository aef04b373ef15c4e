"""A regrade after the instructor changes a test: ``regrade.csv`` lists exactly the students
whose outcome changed, the previous outputs move to ``history/``, the gradebook follows."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from course_utils.instructor import grade

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "tests" / "grader" / "fixtures" / "submissions"
ASSIGNMENT = "01_neurons"
OPTIONS = dict(jobs=2, timeout=30, wall=120, memory=1 << 30, progress=False)

pytestmark = pytest.mark.slow


def _course_copy(folder: Path) -> Path:
    """The parts of the course a grader reads, copied, so that a test can be changed."""
    for name in ("solutions", "exercises", "chapters", "course_utils"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    for name in ("nbgrader_config.py", "requirements.txt"):
        shutil.copy(ROOT / name, folder / name)
    return folder


def _set_points(course: Path, grade_id: str, points: float) -> None:
    path = course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    notebook = json.loads(path.read_text())
    (cell,) = [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id]
    cell["metadata"]["nbgrader"]["points"] = points
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def test_a_regrade_after_a_test_change_lists_exactly_the_students_it_changed(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RELEASE_CACHE", str(tmp_path / "release-cache"))
    course = _course_copy(tmp_path / "course")
    subset = tmp_path / "class"
    for student in ("alice", "bob", "yuri"):  # 12/12; log_softmax and bce right (4); all wrong (0)
        shutil.copytree(SUBMISSIONS / student, subset / student)
    out = tmp_path / "out"
    before = {r.student_id: r.score for r in grade.grade(ASSIGNMENT, subset, out, root=course, **OPTIONS)}
    assert before == {"alice": 12, "bob": 4, "yuri": 0}

    _set_points(course, "test_smoothed_cross_entropy", 5)  # only alice passes it
    after = {r.student_id: r.score for r in grade.grade(ASSIGNMENT, subset, out, root=course, **OPTIONS)}
    assert after == {"alice": 13, "bob": 4, "yuri": 0}

    with open(out / "regrade.csv", newline="") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    changed = {s for s, r in rows.items() if r["old_score"] != r["new_score"] or r["cells_changed"]}
    assert changed == {"alice"}
    assert rows["alice"]["cells_changed"] == "test_smoothed_cross_entropy"
    assert (rows["alice"]["old_score"], rows["alice"]["new_score"]) == ("12", "13")
    (history,) = (out / "history").iterdir()
    with open(history / "grades.csv", newline="") as handle:
        assert {r["student_id"]: float(r["score"]) for r in csv.DictReader(handle)} == before

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", grade.COURSE_ID) as gb:
        assert gb.find_submission(ASSIGNMENT, "alice").score == pytest.approx(13)
