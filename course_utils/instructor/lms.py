"""Grades out to a learning platform: ``python -m course_utils export ASSIGNMENT --grades DIR
--roster FILE --format canvas|moodle|csv [--to FILE] [--column HEADER]``.

The roster is what the platform gave the instructor, and the export keeps its identity
columns exactly, so that the platform's import recognises every row:

- ``canvas``: the Canvas gradebook export (Grades > Export). Its identity columns
  (``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Integration ID`` when present,
  ``Section``) are copied, followed by one assignment column whose header is the roster's
  exact ``Name (id)`` header (Canvas matches the column on the number in brackets). A
  ``Points Possible`` row is kept, with the assignment's maximum. Students are matched on
  ``ID`` (the Canvas user id, which the grader keys Canvas files on), then on
  ``SIS User ID`` and ``SIS Login ID``.
- ``moodle``: the assignment's grading worksheet (View all submissions > Download grading
  worksheet). Every column is kept as it is, and ``Grade`` is filled in; students are
  matched on ``Identifier`` (``Participant 12345``, the participant id the grader keys
  Moodle folders on).
- ``csv``: ``student_id,name,email`` in; ``student_id,name,email,score,max_score,status`` out.

The score written is ``final_score`` (the score after any late penalty). A student on the
roster without a submission gets 0 and the status ``missing`` (the status column exists only
in ``csv``; the other formats list those students on stderr). Graded students absent from
the roster are listed on stderr and left out.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Section")
CANVAS_ASSIGNMENT = re.compile(r"^(?P<name>.*\S)\s*\((?P<id>\d+)\)$")
MOODLE_REQUIRED = ("Identifier", "Grade")
FORMATS = ("canvas", "moodle", "csv")


class ExportError(ValueError):
    """A roster or grades folder the export cannot use (the message says why)."""


@dataclass
class Grade:
    student_id: str
    score: float
    max_score: float
    status: str


def csv_cell(value: str) -> str:
    from .grade.reports import csv_cell as safe

    return safe(value)


def read_grades(folder: Path) -> dict[str, Grade]:
    """``DIR/grades.csv`` -> student -> :class:`Grade` (``final_score`` when the run priced lateness)."""
    path = Path(folder) / "grades.csv"
    if not path.is_file():
        raise ExportError(f"{path} does not exist: run grade --out {folder} first")
    grades = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            student = row["student_id"].removeprefix("'")
            score = row.get("final_score") or row["score"]
            grades[student] = Grade(student, float(score), float(row["max_score"]), row["status"])
    return grades


def _fmt(value: float) -> str:
    return f"{value:g}"


def _read_roster(path: Path) -> tuple[list[str], list[list[str]]]:
    text = Path(path).read_text(encoding="utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if not rows:
        raise ExportError(f"{path} is empty")
    return rows[0], rows[1:]


def roster_kind(header: list[str]) -> str:
    """``canvas``, ``moodle`` or ``csv`` from the roster's header."""
    names = [h.strip() for h in header]
    if names[:2] == ["Student", "ID"]:
        return "canvas"
    if "Identifier" in names:
        return "moodle"
    if "student_id" in names:
        return "csv"
    raise ExportError(f"cannot tell the roster's kind from its header {','.join(names[:6])}: expected Canvas's "
                      "gradebook export (Student,ID,...), Moodle's grading worksheet (Identifier,...) or "
                      "student_id,name,email")


def _canvas_column(header: list[str], assignment: str, column: str | None) -> str:
    candidates = [h for h in header if CANVAS_ASSIGNMENT.match(h.strip())]
    if column is not None:
        if column not in header:
            raise ExportError(f"--column {column!r} is not a column of the roster; its assignments: "
                              f"{'; '.join(candidates) or 'none'}")
        return column
    matching = [h for h in candidates if assignment.lower() in h.lower()]
    if len(matching) == 1:
        return matching[0]
    raise ExportError(f"{'no' if not matching else 'more than one'} assignment column of the roster names "
                      f"{assignment}; pick one with --column (the exact 'Name (id)' header): "
                      f"{'; '.join(matching or candidates) or 'the roster has none: create the assignment in Canvas'}")


def export(assignment: str, grades: dict[str, Grade], roster: Path, fmt: str,
           column: str | None = None) -> tuple[str, list[str], list[str]]:
    """The file for ``fmt``'s import, the roster students with no submission, and the graded
    students missing from the roster."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    header, rows = _read_roster(roster)
    kind = roster_kind(header)
    if fmt in ("canvas", "moodle") and kind != fmt:
        wanted = "the gradebook export" if fmt == "canvas" else "the grading worksheet"
        raise ExportError(f"--format {fmt} needs the {fmt} roster ({wanted}); {roster} is a {kind} roster")
    max_score = next(iter(grades.values())).max_score if grades else 0.0
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    missing: list[str] = []
    seen: set[str] = set()

    def lookup(*keys: str) -> Grade | None:
        for key in keys:
            key = key.strip()
            if key and key in grades:
                seen.add(key)
                return grades[key]
        return None

    idx = {h.strip(): i for i, h in enumerate(header)}

    def cell(row: list[str], name: str) -> str:
        i = idx.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    if fmt == "canvas":
        target = _canvas_column(header, assignment, column)
        identity = [h for h in CANVAS_IDENTITY if h in idx]
        writer.writerow([*identity, target.strip()])
        for row in rows:
            first = cell(row, "Student")
            if first.endswith("Points Possible"):  # Canvas's second row, kept with this assignment's maximum
                writer.writerow(["    Points Possible"] + [""] * (len(identity) - 1) + [_fmt(max_score)])
                continue
            if not cell(row, "ID"):  # another read-only row of the export (e.g. posting policies)
                continue
            grade = lookup(cell(row, "ID"), cell(row, "SIS User ID"), cell(row, "SIS Login ID"))
            if grade is None:
                missing.append(cell(row, "ID") or first)
            writer.writerow([cell(row, h) for h in identity] + [_fmt(grade.score if grade else 0.0)])
    elif fmt == "moodle":
        from .grade.late import moodle_participant

        for required in MOODLE_REQUIRED:
            if required not in idx:
                raise ExportError(f"{roster}: Moodle's worksheet needs the column {required!r}")
        writer.writerow(header)
        for row in rows:
            row = row + [""] * (len(header) - len(row))
            participant = moodle_participant(cell(row, "Identifier"))
            grade = lookup(participant)
            if grade is None:
                missing.append(participant)
            row[idx["Grade"]] = _fmt(grade.score if grade else 0.0)
            if "Maximum Grade" in idx and not cell(row, "Maximum Grade"):
                row[idx["Maximum Grade"]] = _fmt(max_score)
            writer.writerow(row)
    else:
        writer.writerow(["student_id", "name", "email", "score", "max_score", "status"])
        for row in rows:
            if kind == "canvas":
                if cell(row, "Student").endswith("Points Possible") or not cell(row, "ID"):
                    continue
                student, name, email = cell(row, "ID"), cell(row, "Student"), cell(row, "SIS Login ID")
                grade = lookup(student, cell(row, "SIS User ID"), email)
            elif kind == "moodle":
                student = moodle_participant(cell(row, "Identifier"))
                name, email = cell(row, "Full name"), cell(row, "Email address")
                grade = lookup(student)
            else:
                student, name, email = cell(row, "student_id"), cell(row, "name"), cell(row, "email")
                grade = lookup(student)
            if grade is None:
                missing.append(student)
            writer.writerow([csv_cell(student), csv_cell(name), csv_cell(email), _fmt(grade.score if grade else 0.0),
                             _fmt(grade.max_score if grade else max_score), grade.status if grade else "missing"])
    unknown = sorted(set(grades) - seen)
    return out.getvalue(), missing, unknown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", metavar="ASSIGNMENT", help="exercise id, such as 01_neurons")
    parser.add_argument("--grades", required=True, type=Path, metavar="DIR", help="the --out folder of grade")
    parser.add_argument("--roster", required=True, type=Path, metavar="FILE",
                        help="Canvas's gradebook export, Moodle's grading worksheet, or student_id,name,email")
    parser.add_argument("--format", required=True, choices=FORMATS, help="the gradebook to import into")
    parser.add_argument("--to", type=Path, metavar="FILE", help="where to write (default: standard output)")
    parser.add_argument("--column", metavar="HEADER", help="Canvas: the exact 'Name (id)' header of the assignment")


def run(args: argparse.Namespace) -> int:
    try:
        text, missing, unknown = export(args.assignment, read_grades(args.grades), args.roster, args.format,
                                        args.column)
    except (ExportError, OSError, KeyError) as error:
        print(f"export: {error}", file=sys.stderr)
        return 2
    if args.to:
        Path(args.to).write_text(text, encoding="utf-8")
        print(f"wrote {args.to} ({args.format})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if missing:
        print(f"{len(missing)} on the roster without a submission (score 0, status missing): "
              f"{', '.join(missing[:20])}", file=sys.stderr)
    if unknown:
        print(f"{len(unknown)} graded students are not on the roster (left out): {', '.join(unknown[:20])}",
              file=sys.stderr)
    return 0
