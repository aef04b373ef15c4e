"""Command line of the course: ``python -m course_utils COMMAND``.

Student commands (in every edition of the course):
    validate NOTEBOOK  run a notebook and its visible tests, as JupyterLab's Validate button
                       does; exit 0 when every test passes, 1 with the failures otherwise

Instructor commands (only in the repository, where ``course_utils.instructor`` exists):
    release, check, grade, export, student-pack; ``python -m course_utils --help`` lists them.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

INSTRUCTOR_COMMANDS = ("release", "check", "grade", "export", "student-pack")


def _instructor_cli():
    """``course_utils.instructor.cli``, or None in the student edition, which leaves it out."""
    try:
        from .instructor import cli
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith("course_utils.instructor"):
            return None
        raise
    return cli


def _nbgrader_config(notebook: Path):
    """The nearest ``nbgrader_config.py`` above ``notebook`` (the course's timeouts), if any."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    for folder in notebook.resolve().parents:
        if (folder / "nbgrader_config.py").is_file():
            return PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()
    return Config()


def _test_cells(notebook: Path) -> list[tuple[str, str]]:
    """``(grade_id, source)`` of each graded test cell of ``notebook``."""
    import nbformat

    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception:  # noqa: BLE001 - the Validator reports unreadable notebooks itself
        return []
    return [(c.metadata["nbgrader"].get("grade_id", "?"), c.source.strip()) for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


def cmd_validate(args: argparse.Namespace) -> int:
    """Run nbgrader's Validator on a notebook; print what failed; 0 if nothing did."""
    from nbgrader.validator import Validator

    notebook = Path(args.notebook)
    if not notebook.is_file():
        print(f"validate: no notebook at {notebook}", file=sys.stderr)
        return 2
    results = Validator(config=_nbgrader_config(notebook)).validate(str(notebook))
    failed = {(c.get("source") or "").strip() for c in results.get("failed", [])}
    tests = _test_cells(notebook)
    if not results.get("changed") and not results.get("type_changed"):
        for name, source in tests:
            if source not in failed:
                print(f"passed: {name}")
    if not any(results.values()):
        print(f"{notebook.name}: every test passes ({len(tests)} test cells)")
        return 0
    names = {source: name for name, source in tests}
    for cell in results.get("failed", []):
        source = (cell.get("source") or "").strip()
        first = source.splitlines()[:1]
        print(f"FAILED: {names.get(source) or (first[0] if first else '(a test cell)')}")
        error = re.sub(r"\x1b\[[0-9;]*m", "", cell.get("raw_error") or "").strip()
        print("  " + error.replace("\n", "\n  "))
    if results.get("changed"):
        print(f"{len(results['changed'])} locked cells were changed: restore them (or start from a fresh copy)")
    if results.get("type_changed"):
        print(f"{len(results['type_changed'])} cells changed type (code/markdown): change them back")
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    instructor = _instructor_cli()
    if argv and argv[0] in INSTRUCTOR_COMMANDS and instructor is None:
        print(f"{argv[0]}: an instructor command, not in the student edition of the course", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", help="run a notebook's visible tests (exit 1 if any fails)")
    p.add_argument("notebook", help="the exercise notebook, e.g. exercises/01_neurons/01_neurons.ipynb")
    p.set_defaults(func=cmd_validate)
    if instructor is not None:
        instructor.add_commands(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
