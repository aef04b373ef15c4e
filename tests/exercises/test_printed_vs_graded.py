"""The book never prints what an exercise grades.

The single source is the table "What the book prints, and what the exercises grade" in
``appendix/instructor_guide.md``. These tests read it and check it against the chapters,
the student-facing library and the solution notebooks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.instructor import printed

ROOT = Path(__file__).resolve().parents[2]
chapter_prints, student_library_names = printed.chapter_prints, lambda: printed.student_library_names(ROOT)


def solution_defs(assignment_id: str) -> set[str]:
    return printed.solution_defs(ROOT, assignment_id)


PRINTED, GRADED = printed.read_table(ROOT)
CHAPTERS = {int(p.name[:2]): p for p in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))}


def test_the_table_covers_every_chapter_and_exercise():
    assert set(CHAPTERS) <= set(PRINTED), f"chapters missing from the table: {set(CHAPTERS) - set(PRINTED)}"
    exercises = {p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()}
    assert exercises <= set(GRADED), f"exercises missing from the table: {exercises - set(GRADED)}"
    assert all(GRADED.values()), "an exercise of the table grades nothing"


@pytest.mark.parametrize("number", sorted(CHAPTERS))
def test_printed_column_is_what_the_chapter_prints(number):
    shown = chapter_prints(CHAPTERS[number])
    assert PRINTED[number] == shown, (
        f"Chapter {number}: the table's printed column is out of date; "
        f"printed but not listed: {sorted(shown - PRINTED[number])}, "
        f"listed but not printed: {sorted(PRINTED[number] - shown)}"
    )


@pytest.mark.parametrize("assignment_id", sorted(GRADED))
def test_no_chapter_prints_a_graded_name(assignment_id):
    for number, path in CHAPTERS.items():
        shown = {name.split(".")[-1] for name in chapter_prints(path)} | chapter_prints(path)
        overlap = GRADED[assignment_id] & shown
        assert not overlap, f"Chapter {number} prints {sorted(overlap)}, which {assignment_id} grades"


def test_the_student_library_defines_no_graded_name():
    library = student_library_names()
    for assignment_id, names in GRADED.items():
        clash = {name: library[name] for name in names if name in library}
        assert not clash, f"the student-facing library defines what {assignment_id} grades: {clash}"


@pytest.mark.parametrize("assignment_id", sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()))
def test_each_exercise_grades_what_the_table_says(assignment_id):
    defs = solution_defs(assignment_id)
    assert defs == GRADED[assignment_id], (
        f"{assignment_id}'s solution defines {sorted(defs)}, the table says {sorted(GRADED[assignment_id])}"
    )


@pytest.mark.parametrize("assignment_id", sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()))
def test_check_reports_the_same(assignment_id, monkeypatch):
    """``check`` uses the same rule: clean today, and it names a chapter that prints a graded name."""
    assert printed.problems(ROOT, assignment_id) == []
    name = sorted(GRADED[assignment_id])[0]
    original = printed.chapter_prints
    monkeypatch.setattr(printed, "chapter_prints", lambda path: original(path) | {name})
    assert any(f"prints ['{name}']" in p for p in printed.problems(ROOT, assignment_id))
