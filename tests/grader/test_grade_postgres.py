"""``grade --db`` with a real PostgreSQL server: the gradebook of a class lives there.

The test starts a throwaway server of its own (Debian's ``postgresql`` binaries: ``initdb``
into a temporary folder, listening on 127.0.0.1 on a free port, its socket in that folder,
run as the ``postgres`` user when the tests run as root, since the server refuses root),
grades a few fixture submissions with the default SQLite gradebook and twice with
``python -m course_utils grade ... --db postgresql+psycopg://...``, and checks that every
run gives the same grades.csv and that the students and their scores really are in
PostgreSQL, once each.
CI installs the server (``.ci/run``); elsewhere the test is skipped when it is missing.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = ROOT / "tests" / "grader" / "fixtures" / "submissions"
ASSIGNMENT = "01_neurons"
COURSE = "neurons-to-attention"
#: the fixture students graded, with the (status, score out of 12) of tests/grader/test_grade.py
STUDENTS = {"alice": ("ok", 12.0), "bob": ("ok", 4.0), "dave": ("not_json", 0.0),
            "ivan": ("test_cells_restored", 8.0)}


def _grade(subset: Path, out: Path, *extra: str) -> list[dict[str, str]]:
    """Run the command line on ``subset``; the rows of its grades.csv."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                                            f"{os.environ.get('PATH', '')}"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "course_utils", "grade", ASSIGNMENT, str(subset), "--out", str(out),
                           "--jobs", "2", "--timeout", "60", "--wall", "300", "--quiet", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"grade {' '.join(extra)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    print(f"grade {' '.join(extra) or '(SQLite)'}: {time.perf_counter() - start:.0f} s")
    with open(out / "grades.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_a_class_graded_into_postgresql_matches_sqlite_and_again_the_same(postgres, tmp_path):
    subset = tmp_path / "class"
    for student in STUDENTS:
        shutil.copytree(SUBMISSIONS / student, subset / student)

    sqlite_rows = _grade(subset, tmp_path / "sqlite")
    pg_rows = _grade(subset, tmp_path / "postgres", "--db", postgres)
    pg_again = _grade(subset, tmp_path / "postgres", "--db", postgres)  # same DIR, same gradebook

    # the same grades.csv either way, every time, and the grades tests/grader/test_grade.py expects
    assert pg_rows == sqlite_rows
    assert pg_again == pg_rows
    got = {r["student_id"]: (r["status"], float(r["score"])) for r in pg_rows}
    assert got == STUDENTS
    assert all(float(r["max_score"]) == 12 for r in pg_rows)
    assert (tmp_path / "sqlite" / "gradebook.db").is_file()
    assert not (tmp_path / "postgres" / "gradebook.db").exists(), "--db replaces the SQLite file"

    # the gradebook is in PostgreSQL, one row per student after two runs: ask the server
    # itself, then read it with nbgrader
    import sqlalchemy as sa

    engine = sa.create_engine(postgres)
    try:
        with engine.connect() as conn:
            assert conn.dialect.name == "postgresql"
            assert conn.execute(sa.text("SHOW server_version")).scalar()
            students = conn.execute(sa.text("SELECT id FROM student ORDER BY id")).scalars().all()
            assert students == sorted(STUDENTS)
            submissions = conn.execute(sa.text("SELECT COUNT(*) FROM submitted_assignment")).scalar()
            scores = dict(conn.execute(sa.text(
                "SELECT sa.student_id, SUM(COALESCE(g.manual_score, g.auto_score, 0)) "
                "FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id "
                "JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
                "JOIN assignment a ON sa.assignment_id = a.id WHERE a.name = :name "
                "GROUP BY sa.student_id"), {"name": ASSIGNMENT}).all())
    finally:
        engine.dispose()
    graded = {s: score for s, (status, score) in STUDENTS.items() if status not in ("not_json",)}
    assert submissions == len(graded), "grading again updates the submissions in place"
    assert {s: float(v) for s, v in scores.items()} == graded

    from nbgrader.api import Gradebook

    with Gradebook(postgres, COURSE) as gb:
        assert gb.find_assignment(ASSIGNMENT).max_score == 12
        for student, score in graded.items():
            assert gb.find_submission(ASSIGNMENT, student).score == pytest.approx(score), student
