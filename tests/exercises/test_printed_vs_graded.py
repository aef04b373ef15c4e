"""The book never prints what an exercise grades.

The single source is the table "What the book prints, and what the exercises grade" in
``appendix/instructor_guide.md``. These tests read it and check it against the chapters,
the student-facing library and the solution notebooks.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "appendix" / "instructor_guide.md"
HEADING = "## What the book prints, and what the exercises grade"

def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([A-Za-z_][\w.]*)`", cell))


def read_table() -> tuple[dict[int, set[str]], dict[str, set[str]]]:
    """``({chapter: printed names}, {exercise id: graded names})`` from the guide's table."""
    text = GUIDE.read_text(encoding="utf-8")
    assert HEADING in text, f"{GUIDE.name} lost its section {HEADING!r}"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    printed: dict[int, set[str]] = {}
    graded: dict[str, set[str]] = {}
    chapter = exercise = None
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 6, f"a row of the table has {len(cells)} columns: {row}"
        if cells[0]:
            chapter, exercise = int(cells[0]), cells[2]
            printed[chapter] = _names(cells[1])
            graded[exercise] = set()
        graded[exercise] |= _names(cells[3])
        assert cells[4].isdigit(), f"points missing in: {row}"
    return printed, graded


def chapter_prints(path: Path) -> set[str]:
    """Every ``:pyobject:`` target and every function or class defined in a code cell."""
    text = path.read_text(encoding="utf-8")
    names = set(re.findall(r"^:pyobject:\s*(\S+)", text, re.M))
    for block in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S):
        names |= set(re.findall(r"^\s*(?:async\s+)?(?:def|class)\s+(\w+)", block, re.M))
    return names


def student_library_names() -> dict[str, str]:
    """Public top-level functions and classes of the student-facing library: name -> module."""
    package = ROOT / "course_utils"
    out = {}
    for path in package.rglob("*.py"):
        if "instructor" in path.relative_to(package).parts:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                out[node.name] = str(path.relative_to(ROOT))
    return out


def solution_defs(assignment_id: str) -> set[str]:
    """Names defined in the solution cells of an exercise's source notebook."""
    nb = json.loads((ROOT / "solutions" / assignment_id / f"{assignment_id}.ipynb").read_text())
    names: set[str] = set()
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            names |= set(re.findall(r"^(?:def|class)\s+(\w+)", "".join(cell["source"]), re.M))
    return names


PRINTED, GRADED = read_table()
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
