"""Every exercise is proven end to end, and the proof itself can fail."""

import json
import subprocess
import sys

import nbformat
import pytest

from course_utils.instructor import check, course

IDS = course.assignment_ids()


def test_there_are_exercises():
    assert "01_neurons" in IDS


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", IDS)
def test_exercise_passes_its_check(assignment_id):
    report = check.check(assignment_id)
    print(report)
    assert report.ok, str(report)
    assert any("release scores 0/" in line for line in report.lines)


@pytest.mark.parametrize("assignment_id", IDS)
def test_mutant_catalogue_is_large_enough(assignment_id):
    mutants = check.load_mutants(assignment_id)
    assert len(mutants) >= 8
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
    # nbgrader releases every file of solutions/<id>/ to students: the notebook, and for a
    # recorded exercise its expected.json (visible cases, outputs and mutant fingerprints)
    for folder in (root / "solutions").iterdir():
        files = sorted(p.name for p in folder.iterdir() if p.name not in (".ipynb_checkpoints", "__pycache__"))
        allowed = [f"{folder.name}.ipynb", "expected.json"] if (folder / "expected.json").exists() else [f"{folder.name}.ipynb"]
        assert files == allowed, f"{folder} would release {files}"


def test_recorded_values_hold_no_code_and_no_hidden_case(root):
    """expected.json carries values and diagnoses only: no mutant code, no hidden case."""
    from course_utils.instructor.hidden import load_mutants
    from course_utils.instructor.tasks import tasks_of

    for path in root.glob("solutions/*/expected.json"):
        assignment_id = path.parent.name
        data = json.loads(path.read_text())
        text = path.read_text()
        for task in data["tasks"].values():
            assert all(set(m) == {"diagnosis", "outcomes"} for m in task["mutants"].values())
            assert not any(case["id"].startswith("hidden") for case in task["cases"])
        for mutant in load_mutants(root / "mutants" / f"{assignment_id}.py"):
            body = [line.strip() for line in mutant["code"].splitlines() if len(line.strip()) >= 25]
            assert not any(line in text for line in body), f"code of mutant {mutant['name']!r} in {path}"
        for name, task in tasks_of(assignment_id).items():
            assert not any(case["id"] in text for case in task.hidden()), f"a hidden case of {name} in {path}"


def test_an_uncaught_mutant_is_reported(root):
    harmless = check.Mutant("a correct log_softmax", "def log_softmax(z):\n"
                                "    m = z.max(axis=-1, keepdims=True)\n"
                                "    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))\n",
                                ["test_log_softmax"])
    broken = check.Mutant("code that does not run", "def log_softmax(z) return 1", ["test_log_softmax"])
    unnamed = check.Mutant("named by no one", "def log_softmax(z):\n    return z\n", ["test_log_softmax"],
                               task="log_softmax", named_by="test_log_softmax", diagnosis="A diagnosis nobody gives.")
    report = check.Report("01_neurons")
    check.check_mutants(report, root / "solutions" / "01_neurons" / "01_neurons.ipynb", [harmless, broken, unnamed])
    assert not report.ok
    assert any("'a correct log_softmax' passes ['test_log_softmax']" in p for p in report.problems)
    assert any("'code that does not run' does not run: SyntaxError" in p for p in report.problems)
    assert any("'named by no one' is not named by the visible test of test_log_softmax" in p for p in report.problems)
    twice = check.Report("01_neurons")
    check.check_mutants(twice, root / "solutions" / "01_neurons" / "01_neurons.ipynb", [broken, broken])
    assert twice.problems == ["mutant names must be unique; repeated: ['code that does not run']"]


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
    assert len(failed["failed"]) == 5
    for name in ("log_softmax", "bce_with_logits", "smoothed_cross_entropy", "mean_sigmoid_slope",
                 "saturation_verdict"):
        assert f"{name} is not implemented yet (it raises NotImplementedError)" in messages
    assert "recorded.py" not in messages and "grading.py" not in messages  # one readable line, no internals


def test_validate_command_exit_status(root):
    """``python -m course_utils validate``: 0 for the solution, 1 and the failures for the stub."""
    run = [sys.executable, "-m", "course_utils", "validate"]
    good = subprocess.run([*run, "solutions/01_neurons/01_neurons.ipynb"], cwd=root, capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "every test passes" in good.stdout
    stub = subprocess.run([*run, "exercises/01_neurons/01_neurons.ipynb"], cwd=root, capture_output=True, text=True)
    assert stub.returncode == 1
    assert stub.stdout.count("FAILED") == 5
    assert "log_softmax is not implemented yet" in stub.stdout
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
