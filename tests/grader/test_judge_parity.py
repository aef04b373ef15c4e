"""Validate and the judge agree: the same visible test, run in the student's kernel (as the
Validate button runs it) and by the judge through the channel, fails the same cells with the
same first line, for the solution, the untouched release and every catalogued mistake of
every exercise."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor import check, judged
from course_utils.instructor.grade import split_hidden
from course_utils.instructor.judge import start_kernel_with_channel
from course_utils.instructor.tasks import modules
from course_utils.judge.recorded import load

ROOT = Path(__file__).resolve().parents[2]


def _cells(path: Path) -> tuple[list[str], list[str], dict[str, str]]:
    """(every non-test code cell, the solution cells, {test cell id: its visible source})."""
    nb = nbformat.read(path, as_version=4)
    code, solutions, tests = [], [], {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("grade"):
            tests[meta["grade_id"]] = split_hidden(cell.source)[0]
        else:
            code.append(cell.source)
            if meta.get("solution"):
                solutions.append(cell.source)
    return code, solutions, tests


@pytest.fixture(params=sorted(modules()))
def kernel(request, tmp_path):
    assignment = request.param
    shutil.copy(ROOT / "exercises" / assignment / "expected.json", tmp_path)
    km, kc, student = start_kernel_with_channel(tmp_path, env={"NBGRADER_EXECUTION": "validate"})
    yield assignment, kc, student
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
    assignment, kc, student = kernel
    recorded = load(ROOT / "exercises" / assignment / "expected.json")
    code, solutions, tests = _cells(ROOT / "solutions" / assignment / f"{assignment}.ipynb")
    stub_code, _, _ = _cells(ROOT / "exercises" / assignment / f"{assignment}.ipynb")
    for source in code:  # once: imports, helpers and the experiment cells
        assert _in_kernel(kc, source) is None, f"a code cell of the solution failed: {source[:80]}"
    variants = {"<solution>": solutions, "<release>": stub_code}
    mutants = check.load_mutants(assignment)
    for mutant in mutants:
        variants[mutant.name] = [*solutions, mutant.code]
    disagreements, named = [], 0
    for name, sources in variants.items():
        for source in sources:
            problem = _in_kernel(kc, source)
            assert problem is None or name == "<release>", f"{name}: a code cell failed: {problem}"
        for gid, test in tests.items():
            here, there = _in_kernel(kc, test), _in_judge(student, test, recorded, sources)
            if here != there:
                disagreements.append(f"{name} / {gid}: validate {here!r}, judge {there!r}")
            if name == "<solution>":
                assert here is None, f"the solution fails {gid}: {here}"
            if name == "<release>":
                assert here and "is not implemented yet" in here
        mutant = next((m for m in mutants if m.name == name), None)
        if mutant and mutant.named_by:
            first = _in_judge(student, tests[mutant.named_by], recorded, sources)
            assert first == mutant.diagnosis, f"{name}: the judge says {first!r}"
            named += 1
    assert not disagreements, "\n".join(disagreements)
    assert named >= 6
