"""A student's self-check, ``python -m course_utils validate NOTEBOOK`` (a pre-commit hook or a
GitHub Classroom check): exit 0 on the solution of every exercise, 1 on its stub, and what
passed and what failed, with the mistake's diagnosis. That the visible tests give the judge's
verdicts is ``tests/grader/test_judge_parity.py``'s job; here, the command's contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor import course

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "grader" / "fixtures"))
import make_class  # noqa: E402


def _validate(notebook: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "course_utils", "validate", str(notebook)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_exit_status_on_every_solution_and_stub():
    ids = course.assignment_ids()
    notebooks = [ROOT / folder / i / f"{i}.ipynb" for i in ids for folder in ("solutions", "exercises")]
    with ThreadPoolExecutor(2) as pool:  # two cores
        runs = dict(zip(notebooks, pool.map(_validate, notebooks), strict=True))
    wrong = {}
    for notebook, run in runs.items():
        want = 0 if notebook.parts[-3] == "solutions" else 1
        if run.returncode != want:
            wrong[str(notebook.relative_to(ROOT))] = (run.returncode, run.stdout[-400:], run.stderr[-400:])
        tests = [c for c in nbformat.read(notebook, as_version=4).cells if c.metadata.get("nbgrader", {}).get("grade")]
        if want == 0:
            assert run.stdout.count("passed: ") == len(tests), run.stdout
        else:
            assert run.stdout.count("FAILED: ") >= 1 and "not implemented yet" in run.stdout, run.stdout
    assert not wrong, wrong


@pytest.mark.slow
def test_the_diagnosis_of_a_catalogued_mistake(tmp_path):
    """A fixture student (alice, every task right) with the sum in place of the mean: four tests
    pass, one fails with the catalogued diagnosis, exit 1; alice herself passes, exit 0."""
    shutil.copy(ROOT / "exercises" / "01_neurons" / "expected.json", tmp_path)
    alice = tmp_path / "01_neurons.ipynb"
    shutil.copy(ROOT / "tests" / "grader" / "fixtures" / "submissions" / "alice" / "01_neurons.ipynb", alice)
    run = _validate(alice)
    assert run.returncode == 0 and "every test passes" in run.stdout, run.stdout + run.stderr
    wrong = ("def bce_with_logits(z, y):\n"
             "    return float(np.sum(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))\n")
    nbformat.write(make_class.notebook({**make_class.correct(), "bce_with_logits": wrong}), alice)
    run = _validate(alice)
    assert run.returncode == 1
    assert run.stdout.count("passed: ") == 4 and "FAILED: test_bce_with_logits" in run.stdout
    assert "the sum over the examples: the loss is their mean" in run.stdout
