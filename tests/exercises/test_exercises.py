"""Every exercise is proven end to end, and the proof itself can fail."""

import json
import subprocess
import sys

import nbformat
import pytest

from course_utils.instructor import exercises

IDS = exercises.assignment_ids()


def test_there_are_exercises():
    assert "01_neurons" in IDS


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", IDS)
def test_exercise_passes_its_check(assignment_id):
    report = exercises.check(assignment_id)
    print(report)
    assert report.ok, str(report)
    assert any("release scores 0/" in line for line in report.lines)


@pytest.mark.parametrize("assignment_id", IDS)
def test_mutant_catalogue_is_large_enough(assignment_id):
    mutants = exercises.load_mutants(assignment_id)
    assert len(mutants) >= 6
    assert all(m.caught_by for m in mutants)


@pytest.mark.parametrize("assignment_id", IDS)
def test_release_hides_solutions_and_hidden_tests(root, assignment_id):
    release = (root / "exercises" / assignment_id / f"{assignment_id}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in release and "BEGIN HIDDEN TESTS" not in release
    assert "raise NotImplementedError()" in release
    source = nbformat.read(root / "solutions" / assignment_id / f"{assignment_id}.ipynb", as_version=4)
    graded = [c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) >= 4 and sum(c.metadata["nbgrader"]["points"] for c in graded) >= 10
    for cell in graded:
        assert "### BEGIN HIDDEN TESTS" in cell.source, cell.metadata["nbgrader"]["grade_id"]


def test_no_notebook_outputs_are_committed(root):
    for path in [*root.glob("solutions/*/*.ipynb"), *root.glob("exercises/*/*.ipynb"), *root.glob("chapters/*.ipynb")]:
        nb = json.loads(path.read_text())
        outputs = sum(len(c.get("outputs", [])) for c in nb["cells"] if c["cell_type"] == "code")
        assert outputs == 0, f"{path} carries {outputs} outputs"


def test_solutions_folder_holds_nothing_but_the_notebook(root):
    # nbgrader releases every file of solutions/<id>/ to students
    for folder in (root / "solutions").iterdir():
        files = sorted(p.name for p in folder.iterdir() if p.name not in (".ipynb_checkpoints", "__pycache__"))
        assert files == [f"{folder.name}.ipynb"], f"{folder} would release {files}"


def test_an_uncaught_mutant_is_reported(root):
    harmless = exercises.Mutant("a correct softmax", "def softmax(z):\n"
                                "    e = np.exp(z - z.max(axis=-1, keepdims=True))\n"
                                "    return e / e.sum(axis=-1, keepdims=True)\n", ["test_softmax"])
    broken = exercises.Mutant("code that does not run", "def softmax(z) return 1", ["test_softmax"])
    report = exercises.Report("01_neurons")
    exercises.check_mutants(report, root / "solutions" / "01_neurons" / "01_neurons.ipynb", [harmless, broken])
    assert not report.ok
    assert any("'a correct softmax' passes ['test_softmax']" in p for p in report.problems)
    assert any("'code that does not run' does not run: SyntaxError" in p for p in report.problems)


def test_release_differences_are_reported(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "old").mkdir()
    (tmp_path / "new" / "a.ipynb").write_text(json.dumps({"cells": [1]}))
    (tmp_path / "old" / "a.ipynb").write_text(json.dumps({"cells": [2]}))
    (tmp_path / "new" / "data.csv").write_text("x")
    diffs = exercises.release_differences(tmp_path / "new", tmp_path / "old")
    assert diffs == ["only in the new release: data.csv", "differs: a.ipynb"]
    assert "is missing" in exercises.release_differences(tmp_path / "new", tmp_path / "nothing")[0]


def test_cli_rejects_an_unknown_exercise(root):
    proc = subprocess.run([sys.executable, "-m", "course_utils", "check", "99_nothing"],
                          cwd=root, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "unknown exercise(s) 99_nothing; known: 01_neurons" in proc.stderr


def test_students_validate_button(root):
    """nbgrader's Validator, which JupyterLab's Validate button calls: the solution passes,
    the untouched release fails with the messages a student reads."""
    from nbgrader.validator import Validator

    validator = Validator()
    passed = validator.validate(str(root / "solutions" / "01_neurons" / "01_neurons.ipynb"))
    assert passed == {}, passed  # nothing failed, nothing changed
    failed = validator.validate(str(root / "exercises" / "01_neurons" / "01_neurons.ipynb"))
    messages = json.dumps(failed)
    assert failed.get("failed"), failed
    assert len(failed["failed"]) == 6
    for name in ("sigmoid", "softmax", "cross_entropy", "dense_forward", "mlp_loss_and_grads"):
        assert f"{name} is not implemented yet (it raises NotImplementedError)" in messages
    assert "grading.py" not in messages  # one readable line, not the grader's internals


def test_validate_command_exit_status(root):
    """``python -m course_utils validate``: 0 for the solution, 1 and the failures for the stub."""
    run = [sys.executable, "-m", "course_utils", "validate"]
    good = subprocess.run([*run, "solutions/01_neurons/01_neurons.ipynb"], cwd=root, capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "every test passes" in good.stdout
    stub = subprocess.run([*run, "exercises/01_neurons/01_neurons.ipynb"], cwd=root, capture_output=True, text=True)
    assert stub.returncode == 1
    assert stub.stdout.count("FAILED") == 6
    assert "sigmoid is not implemented yet" in stub.stdout
    assert "\x1b[" not in stub.stdout  # no terminal colour codes in what a script reads
    missing = subprocess.run([*run, "nothing.ipynb"], cwd=root, capture_output=True, text=True)
    assert missing.returncode == 2 and "no notebook at nothing.ipynb" in missing.stderr


def test_student_edition_cli_without_the_instructor_wing(monkeypatch, capsys):
    """Without ``course_utils.instructor`` (the student edition) the instructor commands say so."""
    from course_utils import cli

    monkeypatch.setattr(cli, "_instructor_cli", lambda: None)
    assert cli.main(["grade", "01_neurons", "x", "--out", "y"]) == 2
    assert "an instructor command, not in the student edition" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "release" not in capsys.readouterr().out.split("validate")[-1]
