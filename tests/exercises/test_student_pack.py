"""The student edition (``python -m course_utils student-pack DIR``) holds no answer and works
on its own: its visible tests run from its own files, with its own ``course_utils``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor.grade import split_hidden
from course_utils.instructor.pack import student_pack
from course_utils.instructor.tasks import modules

ROOT = Path(__file__).resolve().parents[2]
RECORDED = sorted(modules())

#: drops the repository's editable install from the import system, so that only the pack's
#: course_utils can be imported (a student's machine has no repository)
SITECUSTOMIZE = """import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()
                    and "editable" not in getattr(f, "__name__", "").lower()]
"""


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    return student_pack(tmp_path_factory.mktemp("edition") / "pack")


def _env(pack: Path, tmp: Path) -> dict:
    import os

    (tmp / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {**os.environ, "PYTHONPATH": f"{pack}:{tmp}"}


def _json_strings(value) -> list[str]:
    """Every string in a JSON tree (a notebook's cells as whole texts)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ["".join(value)]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [s for item in items for s in _json_strings(item)]


def _normalised(line: str) -> str:
    return re.sub(r"\s+", " ", line).strip()


def test_the_pack_holds_no_instructor_code(pack):
    files = {str(p.relative_to(pack)) for p in pack.rglob("*") if p.is_file()}
    assert not [f for f in files if f.startswith(("course_utils/instructor", "mutants", "solutions"))]
    assert {"README.md", "Makefile", "requirements.txt", "pyproject.toml", "nbgrader_config.py",
            "student_lab/labconfig/page_config.json"} <= files
    assert "JUPYTER_CONFIG_PATH=$(CURDIR)/student_lab" in (pack / "Makefile").read_text()
    assert "course_utils/judge/tests.py" in files and "course_utils/cli.py" in files
    requirements = (pack / "requirements.txt").read_text()
    assert "torch==2.13.0" in requirements and "jupyter-book" not in requirements and "pytest" not in requirements
    readme = (pack / "README.md").read_text()
    assert "make lab" in readme and "Windows" in readme and "Validate" in readme and "CPU" in readme


@pytest.mark.parametrize("assignment_id", RECORDED)
def test_the_pack_holds_no_solution_and_no_hidden_test(pack, assignment_id):
    """No line of a solution block (>= 25 characters) that the stub lacks and the book does
    not print (a solution may re-derive a chapter's forward pass); no hidden-test line
    (>= 8 characters) that the visible tests do not also show."""
    lines = {_normalised(line) for p in pack.rglob("*") if p.is_file() and p.suffix in (".py", ".md")
             for line in p.read_text(errors="replace").splitlines()}
    for p in [*pack.rglob("*.ipynb"), *pack.rglob("*.json")]:  # JSON strings: one line of code each
        lines |= {_normalised(line) for cell in _json_strings(json.loads(p.read_text())) for line in cell.splitlines()}
    source = nbformat.read(ROOT / "solutions" / assignment_id / f"{assignment_id}.ipynb", as_version=4)
    release = (ROOT / "exercises" / assignment_id / f"{assignment_id}.ipynb").read_text()
    stub = {_normalised(line) for cell in json.loads(release)["cells"] for line in "".join(cell["source"]).splitlines()}
    public = {_normalised(line) for path in [*ROOT.glob("chapters/*.md"), *ROOT.glob("course_utils/**/*.py")]
              if "instructor" not in path.parts for line in path.read_text().splitlines()}
    solution_lines, hidden_lines = [], []
    for cell in source.cells:
        inside = False
        for line in cell.source.splitlines():
            if "### BEGIN SOLUTION" in line:
                inside = True
            elif "### END SOLUTION" in line:
                inside = False
            elif inside and len(_normalised(line)) >= 25 and _normalised(line) not in stub | public:
                solution_lines.append(_normalised(line))
        if cell.metadata.get("nbgrader", {}).get("grade"):
            hidden_lines += [_normalised(x) for x in split_hidden(cell.source)[1] if len(x) >= 8 and x not in release]
    assert solution_lines and hidden_lines, "the check needs something to look for"
    assert not [line for line in solution_lines if line in lines]
    assert not [line for line in hidden_lines if line in lines]


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", RECORDED)
def test_the_packs_visible_tests_run_from_its_own_files(pack, assignment_id, tmp_path):
    env = _env(pack, tmp_path)
    probe = subprocess.run([sys.executable, "-c", "import course_utils, sys; print(course_utils.__file__); "
                            "import importlib.util; print(importlib.util.find_spec('course_utils.instructor'))"],
                           cwd=pack, env=env, capture_output=True, text=True)
    lines = probe.stdout.split("\n")
    assert lines[0].startswith(str(pack)) and lines[1] == "None", probe.stdout + probe.stderr
    notebook = pack / "exercises" / assignment_id / f"{assignment_id}.ipynb"
    validate = [sys.executable, "-m", "course_utils", "validate"]
    stub = subprocess.run([*validate, str(notebook)], cwd=pack, env=env, capture_output=True, text=True)
    assert stub.returncode == 1 and "is not implemented yet" in stub.stdout, stub.stdout + stub.stderr
    # a student's finished notebook: the release with the solution's code in its solution cells
    solved = nbformat.read(notebook, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in
               nbformat.read(ROOT / "solutions" / assignment_id / f"{assignment_id}.ipynb", as_version=4).cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in solved.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    nbformat.write(solved, notebook.with_name("finished.ipynb"))
    good = subprocess.run([*validate, str(notebook.with_name("finished.ipynb"))], cwd=pack, env=env,
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    check = subprocess.run([sys.executable, "-m", "course_utils", "check", assignment_id], cwd=pack, env=env,
                           capture_output=True, text=True)
    assert check.returncode == 2 and "not in the student edition" in check.stderr, check.stdout + check.stderr
