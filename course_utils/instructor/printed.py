"""What the book prints, and what the exercises grade: the two must never overlap.

The single source is the table "What the book prints, and what the exercises grade" of
``appendix/instructor_guide.md``. :func:`problems` checks one exercise against it: no chapter
prints a graded name, the student-facing library defines none, and the solution defines
exactly the graded names. ``python -m course_utils check`` and the tests use it.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

HEADING = "## What the book prints, and what the exercises grade"


def _names(cell: str) -> set[str]:
    return set(re.findall(r"`([A-Za-z_][\w.]*)`", cell))


def read_table(root: Path) -> tuple[dict[int, set[str]], dict[str, set[str]]]:
    """``({chapter: printed names}, {exercise id: graded names})`` from the guide's table."""
    text = (root / "appendix" / "instructor_guide.md").read_text(encoding="utf-8")
    if HEADING not in text:
        raise ValueError(f"the instructor guide lost its section {HEADING!r}")
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    printed: dict[int, set[str]] = {}
    graded: dict[str, set[str]] = {}
    exercise = None
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) != 6 or not cells[4].isdigit():
            raise ValueError(
                f"a row of the table is not `chapter | printed | exercise | graded | points | teaches`: {row}")
        if cells[0]:
            exercise = cells[2]
            printed[int(cells[0])] = _names(cells[1])
            graded[exercise] = set()
        graded[exercise] |= _names(cells[3])
    return printed, graded


def chapter_prints(path: Path) -> set[str]:
    """Every ``:pyobject:`` target and every function or class defined in a code cell."""
    text = path.read_text(encoding="utf-8")
    names = set(re.findall(r"^:pyobject:\s*(\S+)", text, re.M))
    for block in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S):
        names |= set(re.findall(r"^\s*(?:async\s+)?(?:def|class)\s+(\w+)", block, re.M))
    return names


def chapters(root: Path) -> dict[int, Path]:
    """Chapter number -> its MyST file."""
    return {int(p.name[:2]): p for p in sorted((root / "chapters").glob("[0-9][0-9]_*.md"))}


def student_library_names(root: Path) -> dict[str, str]:
    """Public top-level functions and classes of the student-facing library: name -> module."""
    package = root / "course_utils"
    out = {}
    for path in package.rglob("*.py"):
        if "instructor" in path.relative_to(package).parts:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                out[node.name] = str(path.relative_to(root))
    return out


def solution_defs(root: Path, assignment_id: str) -> set[str]:
    """Names defined at the top of the solution cells of an exercise's source notebook."""
    nb = json.loads((root / "solutions" / assignment_id / f"{assignment_id}.ipynb").read_text())
    names: set[str] = set()
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            names |= set(re.findall(r"^(?:def|class)\s+(\w+)", "".join(cell["source"]), re.M))
    return names


def problems(root: Path, assignment_id: str) -> list[str]:
    """Why the exercise breaks the rule (empty when it keeps it)."""
    _, graded = read_table(root)
    if assignment_id not in graded:
        return [f"{assignment_id} is missing from the instructor guide's printed-vs-graded table"]
    names = graded[assignment_id]
    found = []
    for number, path in chapters(root).items():
        shown = chapter_prints(path)
        overlap = names & (shown | {n.split(".")[-1] for n in shown})
        if overlap:
            found.append(f"Chapter {number} prints {sorted(overlap)}, which {assignment_id} grades")
    library = student_library_names(root)
    clash = {n: library[n] for n in names if n in library}
    if clash:
        found.append(f"the student-facing library defines what {assignment_id} grades: {clash}")
    defs = solution_defs(root, assignment_id)
    if defs != names:
        found.append(f"the solution defines {sorted(defs)}, the table says {sorted(names)}")
    return found
