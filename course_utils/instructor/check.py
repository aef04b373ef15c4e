"""Checking an exercise: its solution, its stub and its mutants (``python -m course_utils check``).

:func:`check` proves four properties of an exercise, each with nbgrader itself or with a
kernel running the notebook's own test cells:

1. the solution notebook scores full marks (``nbgrader autograde``);
2. the released stub scores zero on every autograded cell (``nbgrader autograde``);
3. every mutant of ``mutants/<id>.py`` fails the test cells it names (the
   solution runs once in one kernel, then each mutant's code is run and the test
   cells re-run directly, which is much faster than one autograde per mutant);
4. ``exercises/<id>/`` equals what ``nbgrader generate_assignment`` makes now.

It also checks that no chapter prints a graded value (:mod:`.printed`) and that a recorded
exercise's ``expected.json`` is fresh. All nbgrader work happens in a scratch course
(:func:`.course.scratch_course`), so the repository's own gradebook is never touched and
checks of different exercises can run in parallel.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import cell_scores, nbgrader, repo_root, scratch_course, venv_environ
from .release import expected_values, release_differences


def autograde(course: Path, assignment_id: str, notebooks: dict[str, Path]) -> dict[str, dict[str, list[float]]]:
    """Autograde one notebook per student in a scratch course.

    Returns:
        ``{student: {grade_id: [score, max_score]}}`` (:func:`.course.cell_scores`).
    """
    from nbgrader.api import Gradebook

    for student, notebook in notebooks.items():
        dest = course / "submitted" / student / assignment_id
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, dest / f"{assignment_id}.ipynb")
    nbgrader(["autograde", assignment_id, "--create", "--force"], course)
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in notebooks:
            scores[student] = cell_scores(gb.find_submission_notebook(assignment_id, assignment_id, student).grades)
    return scores


# --------------------------------------------------------------------------- mutants, run in one kernel


@dataclass
class Mutant:
    """A plausible wrong answer: code that redefines a solution, and the test cells that must catch it."""

    name: str
    code: str
    caught_by: list[str]
    task: str | None = None  # the graded function it redefines (recorded exercises)
    named_by: str | None = None  # the test cell whose visible test must name it
    diagnosis: str | None = None  # what that test prints first


def load_mutants(assignment_id: str, root: Path | None = None) -> list[Mutant]:
    """The catalogue ``mutants/<id>.py`` (a list ``MUTANTS`` of dicts name/code/caught_by)."""
    from . import hidden

    root = root or repo_root()
    path = root / "mutants" / f"{assignment_id}.py"
    if not path.is_file():
        return []
    return [Mutant(**m) for m in hidden.load_mutants(path)]


def _nbgrader_role(cell) -> tuple[str | None, str | None]:
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("solution"):
        return "solution", meta.get("grade_id")
    if meta.get("grade") and cell.cell_type == "code":
        return "test", meta.get("grade_id")
    return None, meta.get("grade_id")


class Kernel:
    """A Python kernel that runs code and reports failure the way nbgrader scores it:
    an error or any output on stderr."""

    def __init__(self, cwd: Path, timeout: float = 120):
        from jupyter_client.manager import start_new_kernel

        env = venv_environ(NBGRADER_EXECUTION="autograde")
        self.timeout = timeout
        self.km, self.kc = start_new_kernel(kernel_name="python3", cwd=str(cwd), env=env)

    def run(self, code: str) -> str | None:
        """Run ``code``; return None if it passed, else what went wrong."""
        problems: list[str] = []

        def hook(msg):
            kind, content = msg["msg_type"], msg["content"]
            if kind == "error":
                problems.append(f"{content['ename']}: {content['evalue']}")
            elif kind == "stream" and content["name"] == "stderr":
                problems.append(f"stderr: {content['text'].strip()[:200]}")

        self.kc.execute_interactive(code, timeout=self.timeout, output_hook=hook, store_history=False)
        return "; ".join(problems) or None

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def run_mutants(notebook: Path, mutants: list[Mutant], timeout: float = 120) -> dict[str, dict[str, str | None]]:
    """Run the notebook once, then each mutant against every test cell.

    Returns:
        ``{"<solution>": {grade_id: problem or None}, mutant.name: {grade_id: problem or None}}``.
    """
    nb = nbformat.read(notebook, as_version=4)
    cells = [(*_nbgrader_role(c), c.source) for c in nb.cells if c.cell_type == "code"]
    tests = [(gid, src) for role, gid, src in cells if role == "test"]
    solutions = [src for role, _, src in cells if role == "solution"]
    kernel = Kernel(notebook.parent, timeout)
    results: dict[str, dict[str, str | None]] = {"<solution>": {}}
    try:
        for role, gid, src in cells:
            problem = kernel.run(src)
            if role == "test":
                results["<solution>"][gid] = problem
        for mutant in mutants:
            setup = kernel.run(mutant.code)
            results[mutant.name] = {gid: kernel.run(src) for gid, src in tests}
            if setup:
                results[mutant.name]["<mutant code>"] = setup
            for src in solutions:  # restore the correct definitions
                kernel.run(src)
    finally:
        kernel.close()
    return results


# --------------------------------------------------------------------------- the check


@dataclass
class Report:
    """Outcome of :func:`check` for one exercise."""

    assignment_id: str
    problems: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        status = "OK" if self.ok else f"FAILED ({len(self.problems)} problems)"
        body = [f"== {self.assignment_id}: {status}", *("   " + line for line in self.lines)]
        body += ["   PROBLEM: " + p for p in self.problems]
        return "\n".join(body)


def check_mutants(report: Report, notebook: Path, mutants: list[Mutant]) -> None:
    """Add to ``report`` what running ``mutants`` against ``notebook``'s test cells shows."""
    if not mutants:
        report.problems.append("no mutants: add a catalogue mutants/<id>.py with a list MUTANTS")
        return
    names = [m.name for m in mutants]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        report.problems.append(f"mutant names must be unique; repeated: {duplicates}")
        return
    start = time.perf_counter()
    results = run_mutants(notebook, mutants)
    report.lines.append(f"{len(mutants)} mutants run in {time.perf_counter() - start:.1f} s")
    for gid, problem in results.pop("<solution>").items():
        if problem:
            report.problems.append(f"the solution fails test cell {gid} when run directly: {problem}")
    for mutant in mutants:
        outcome = results[mutant.name]
        if "<mutant code>" in outcome:
            report.problems.append(f"mutant {mutant.name!r} does not run: {outcome['<mutant code>']}")
            continue
        missed = [gid for gid in mutant.caught_by if gid not in outcome]
        if missed:
            report.problems.append(f"mutant {mutant.name!r} names unknown test cells {missed}")
        escaped = [gid for gid in mutant.caught_by if gid in outcome and outcome[gid] is None]
        if escaped:
            report.problems.append(f"mutant {mutant.name!r} passes {escaped}, which should catch it")
        failed = sorted(gid for gid, p in outcome.items() if p)
        report.lines.append(f"mutant {mutant.name!r}: fails {failed}")
        if mutant.named_by and mutant.diagnosis not in (outcome.get(mutant.named_by) or ""):
            report.problems.append(f"mutant {mutant.name!r} is not named by the visible test of {mutant.named_by}")
    named = sum(1 for m in mutants if m.named_by)
    if named:
        report.lines.append(f"{named} of {len(mutants)} mutants are named by a visible test")


def check_recorded(report: Report, assignment_id: str, root: Path) -> None:
    """``expected.json`` is fresh (byte for byte), and its mutants can be told apart."""
    from . import recording

    data = expected_values(assignment_id, root)
    if data is None:
        return
    path = root / "solutions" / assignment_id / "expected.json"
    if not recording.is_fresh(path, data):
        report.problems.append(
            f"{path.relative_to(root)} is stale: run `python -m course_utils release {assignment_id}`")
    for name, task in data["tasks"].items():
        report.problems += [f"{name}: {p}" for p in recording.distinguishable(task)]
    report.lines.append(f"expected.json: {len(data['tasks'])} tasks recorded, fresh and distinguishable")


def check(assignment_id: str, root: Path | None = None) -> Report:
    """Check one exercise: full marks, zero for the stub, mutants caught, release in sync."""
    root = root or repo_root()
    report = Report(assignment_id)
    source = root / "solutions" / assignment_id / f"{assignment_id}.ipynb"
    with scratch_course(assignment_id, root) as course:
        generated = course / "exercises" / assignment_id
        for diff in release_differences(generated, root / "exercises" / assignment_id):
            report.problems.append(
                f"exercises/ is out of sync ({diff}); run `python -m course_utils release {assignment_id}`")
        start = time.perf_counter()
        scores = autograde(course, assignment_id, {"solution": source, "release": generated / f"{assignment_id}.ipynb"})
        report.lines.append(f"autograded solution and release in {time.perf_counter() - start:.1f} s")
    solution, stub = scores["solution"], scores["release"]
    total, maximum = sum(s for s, _ in solution.values()), sum(m for _, m in solution.values())
    report.lines.append(f"solution scores {total:g}/{maximum:g} over {len(solution)} graded cells")
    if not solution:
        report.problems.append("no graded cells")
    for gid, (score, max_score) in sorted(solution.items()):
        if score != max_score:
            report.problems.append(f"solution scores {score:g}/{max_score:g} on {gid}")
    earned = {gid: s for gid, (s, _) in stub.items() if s}
    report.lines.append(f"release scores {sum(s for s, _ in stub.values()):g}/{maximum:g}")
    if earned:
        report.problems.append(f"the release earns points before any work: {earned}")
    from . import printed

    report.problems += printed.problems(root, assignment_id)
    check_recorded(report, assignment_id, root)
    check_mutants(report, source, load_mutants(assignment_id, root))
    return report
