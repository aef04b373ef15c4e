"""The instructor's commands of ``python -m course_utils``.

    release [ID ...]   regenerate exercises/ID from solutions/ID (all exercises by default)
    check [ID ...]     prove each exercise: full marks, zero for the stub, mutants caught,
                       release in sync; exits 1 with a report if anything fails
    grade ID SUBMISSIONS --out DIR
                       grade a folder or .zip of submissions in sandboxed, parallel workers:
                       DIR/grades.csv, DIR/feedback/, DIR/gradebook.db, a summary
    export ID --grades DIR --roster FILE --format canvas|moodle|csv [--to FILE]
                       the grades as the learning platform's import reads them
    student-pack DIR   write the student edition (exercises, the student-facing library,
                       requirements, Makefile, README) into a new folder DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import check, course, release


def _ids(given: list[str]) -> list[str]:
    known = course.assignment_ids()
    unknown = [i for i in given if i not in known]
    if unknown:
        raise SystemExit(f"unknown exercise(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return given or known


def cmd_release(args: argparse.Namespace) -> int:
    for assignment_id in _ids(args.ids):
        path = release.release(assignment_id)
        print(f"released {assignment_id} -> {path.relative_to(course.repo_root())}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    reports = []
    for assignment_id in _ids(args.ids):
        report = check.check(assignment_id)
        print(report, flush=True)
        reports.append(report)
    failed = [r.assignment_id for r in reports if not r.ok]
    failing = f"; failing: {', '.join(failed)}" if failed else ""
    print(f"\n{len(reports) - len(failed)}/{len(reports)} exercises pass" + failing)
    return 1 if failed else 0


def cmd_student_pack(args: argparse.Namespace) -> int:
    from .pack import student_pack

    try:
        dest = student_pack(args.dir)
    except FileExistsError as error:
        print(f"student-pack: {error}", file=sys.stderr)
        return 2
    files = sum(1 for p in dest.rglob("*") if p.is_file())
    print(f"student edition written to {dest} ({files} files); see {dest / 'README.md'}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``release``, ``check``, ``student-pack``, ``grade`` and ``export`` to the parser of
    ``python -m course_utils``."""
    p = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    p.add_argument("ids", nargs="*", metavar="ID", help="exercise ids such as 01_neurons (default: all)")
    p.set_defaults(func=cmd_release)
    p = sub.add_parser("check", help="check exercises end to end")
    p.add_argument("ids", nargs="*", metavar="ID", help="exercise ids (default: all)")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("student-pack", help="write the student edition into a new folder")
    p.add_argument("dir", type=Path, metavar="DIR", help="a new (or empty) folder")
    p.set_defaults(func=cmd_student_pack)
    p = sub.add_parser("grade", help="grade a folder or .zip of submissions (sandboxed, parallel)")
    from . import grade

    grade.add_arguments(p)
    p.set_defaults(func=grade.run)
    p = sub.add_parser("export", help="grades in the format of Canvas's or Moodle's import, or a plain CSV")
    from . import lms

    lms.add_arguments(p)
    p.set_defaults(func=lms.run)

