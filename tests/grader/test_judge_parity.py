"""Validate and the judge agree: the same visible test, run in the student's kernel (as the
Validate button runs it) and by the judge through the channel, fails the same cells with the
same first line, for the solution, the untouched release and every catalogued mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor import exercises, judged
from course_utils.instructor.grade import split_hidden
from course_utils.instructor.judge import start_kernel_with_channel
from course_utils.judge.recorded import load

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "01_neurons"


def _cells(path: Path) -> tuple[list[str], dict[str, str]]:
    """(solution and locked code cells, in order; {test cell id: its visible source})."""
    nb = nbformat.read(path, as_version=4)
    code, tests = [], {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("grade_id") == "experiment":
            continue
        if meta.get("grade"):
            tests[meta["grade_id"]] = split_hidden(cell.source)[0]
        else:
            code.append(cell.source)
    return code, tests


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity")
    shutil.copy(ROOT / "exercises" / ASSIGNMENT / "expected.json", folder)
    km, kc, student = start_kernel_with_channel(folder, env={"NBGRADER_EXECUTION": "validate"})
    yield kc, student
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def _in_kernel(kc, source: str) -> str | None:
    """Run ``source`` in the kernel as Validate does; the first line of its error, or None."""
    errors = []

    def hook(msg):
        if msg["msg_type"] == "error":
            errors.append(f"{msg['content']['evalue']}".splitlines()[0])
        elif msg["msg_type"] == "stream" and msg["content"]["name"] == "stderr":
            errors.append("stderr: " + msg["content"]["text"].splitlines()[0])

    kc.execute_interactive(source, timeout=120, output_hook=hook, store_history=False)
    return errors[0] if errors else None


def _in_judge(student, source: str, recorded, cells: list[str]) -> str | None:
    outputs = judged.run_test_cell(source, student, recorded, cells, timeout=60)
    return outputs[0]["evalue"].splitlines()[0] if outputs[0]["output_type"] == "error" else None


def test_validate_and_the_judge_agree_on_every_mistake(kernel):
    kc, student = kernel
    recorded = load(ROOT / "exercises" / ASSIGNMENT / "expected.json")
    solution_code, tests = _cells(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    stub_code, _ = _cells(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    variants = {"<solution>": (solution_code, ""), "<release>": (stub_code, "")}
    for mutant in exercises.load_mutants(ASSIGNMENT):
        variants[mutant.name] = (solution_code, mutant.code)
    disagreements, named = [], 0
    for name, (code, extra) in variants.items():
        for source in [*code, extra]:
            assert _in_kernel(kc, source) is None, f"{name}: a code cell failed"
        for gid, test in tests.items():
            here, there = _in_kernel(kc, test), _in_judge(student, test, recorded, [*code, extra])
            if here != there:
                disagreements.append(f"{name} / {gid}: validate {here!r}, judge {there!r}")
            if name == "<solution>":
                assert here is None, f"the solution fails {gid}: {here}"
            if name == "<release>":
                assert here and "is not implemented yet" in here
        mutant = next((m for m in exercises.load_mutants(ASSIGNMENT) if m.name == name), None)
        if mutant and mutant.named_by:
            first = _in_judge(student, tests[mutant.named_by], recorded, [*code, extra])
            assert first == mutant.diagnosis, f"{name}: the judge says {first!r}"
            named += 1
    assert not disagreements, "\n".join(disagreements)
    assert named >= 6
