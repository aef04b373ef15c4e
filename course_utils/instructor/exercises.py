"""Instructor tooling for the exercises: regenerate the release, and check an exercise.

``check`` proves four properties of an exercise, each with nbgrader itself or with a
kernel running the notebook's own test cells:

1. the solution notebook scores full marks (``nbgrader autograde``);
2. the released stub scores zero on every autograded cell (``nbgrader autograde``);
3. every mutant of ``mutants/<id>.py`` fails the test cells it names (the
   solution runs once in one kernel, then each mutant's code is run and the test
   cells re-run directly, which is much faster than one autograde per mutant);
4. ``exercises/<id>/`` equals what ``nbgrader generate_assignment`` makes now.

All nbgrader work happens in a temporary course directory, so the repository's own
gradebook is never touched and checks of different exercises can run in parallel.
"""

from __future__ import annotations

import contextlib
import filecmp
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

# --------------------------------------------------------------------------- where things are


def repo_root() -> Path:
    """The course directory: the nearest folder up from here (or the current one) with
    ``nbgrader_config.py`` and ``solutions/``."""
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
                return folder
    raise FileNotFoundError("cannot find the course directory (a folder with nbgrader_config.py and solutions/)")


def assignment_ids(root: Path | None = None) -> list[str]:
    """Ids of the exercises in ``solutions/`` (folders holding ``<id>.ipynb``), sorted."""
    root = root or repo_root()
    return sorted(p.name for p in (root / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())


def _check_id(assignment_id: str, root: Path) -> None:
    if assignment_id not in assignment_ids(root):
        raise ValueError(f"no exercise {assignment_id!r}; known: {', '.join(assignment_ids(root))}")


# --------------------------------------------------------------------------- nbgrader in a scratch course


def venv_environ(**extra: str) -> dict[str, str]:
    """The environment with this interpreter's ``bin/`` first on PATH (nbgrader runs
    ``alembic`` and kernels from PATH), plus ``extra``."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), **extra}


#: ``python -m nbgrader``, without the slow optional import (see ``skip_slow_optional_imports``)
NBGRADER_MAIN = ("import course_utils; course_utils.skip_slow_optional_imports(); "
                 "from nbgrader.apps.nbgraderapp import main; main()")


def nbgrader(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``cwd``; raise RuntimeError with its log if it fails."""
    env = venv_environ(PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-c", NBGRADER_MAIN, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@contextlib.contextmanager
def scratch_course(assignment_id: str, root: Path | None = None) -> Iterator[Path]:
    """A temporary course directory with the config and ``solutions/<id>``, release generated."""
    root = root or repo_root()
    _check_id(assignment_id, root)
    with tempfile.TemporaryDirectory(prefix=f"course-{assignment_id}-") as tmp:
        course = Path(tmp)
        shutil.copy(root / "nbgrader_config.py", course)
        shutil.copytree(root / "solutions" / assignment_id, course / "solutions" / assignment_id,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        nbgrader(["generate_assignment", assignment_id, "--force"], course)
        yield course


def release_cache_dir() -> Path:
    """Where :func:`cached_release` keeps generated releases: ``$COURSE_RELEASE_CACHE``, else
    the user's cache folder as platformdirs finds it (``$XDG_CACHE_HOME`` or ``~/.cache`` on
    Linux, ``~/Library/Caches`` on macOS), under ``neurons-to-attention/releases``."""
    if os.environ.get("COURSE_RELEASE_CACHE"):
        return Path(os.environ["COURSE_RELEASE_CACHE"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("neurons-to-attention", appauthor=False)) / "releases"


def release_digest(assignment_id: str, root: Path | None = None) -> str:
    """A hash of everything ``generate_assignment`` reads: ``solutions/<id>/``, the config
    and the nbgrader version. A different digest means a different release."""
    import hashlib

    import nbgrader

    root = root or repo_root()
    _check_id(assignment_id, root)
    digest = hashlib.sha256(f"nbgrader {nbgrader.__version__}\n".encode())
    digest.update((root / "nbgrader_config.py").read_bytes())
    source = root / "solutions" / assignment_id
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source)
        if ".ipynb_checkpoints" in rel.parts or "__pycache__" in rel.parts:
            continue
        digest.update(f"\n{rel}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def cached_release(assignment_id: str, root: Path | None = None) -> Path:
    """A course directory with ``solutions/<id>``, its generated release and gradebook,
    made once per :func:`release_digest` and kept in :func:`release_cache_dir`.

    The folder is shared and must be treated as read-only: copy it before use. It is
    written to a temporary name and renamed into place, so concurrent callers never see
    half of one; releases of older sources left unused for a week are removed.
    """
    root = root or repo_root()
    cache = release_cache_dir()
    target = cache / f"{assignment_id}-{release_digest(assignment_id, root)}"
    if (target / "gradebook.db").is_file():
        with contextlib.suppress(OSError):
            os.utime(target)  # in use: keep it
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        staging = Path(tempfile.mkdtemp(prefix=f".{assignment_id}-", dir=cache))
    except OSError as err:
        raise RuntimeError(f"cannot write the release cache {cache} ({err.strerror}): set COURSE_RELEASE_CACHE "
                           "to a folder you can write") from None
    try:
        with scratch_course(assignment_id, root) as course:
            shutil.copytree(course, staging, dirs_exist_ok=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        os.rename(staging, target)
    except OSError:  # another process got there first: keep its copy
        shutil.rmtree(staging, ignore_errors=True)
    week_ago = time.time() - 7 * 86400
    for old in cache.glob(f"{assignment_id}-*"):  # releases of older sources, unused for a week
        if old != target and old.is_dir() and old.stat().st_mtime < week_ago:
            shutil.rmtree(old, ignore_errors=True)
    return target


def expected_values(assignment_id: str, root: Path | None = None) -> dict | None:
    """``expected.json`` of a recorded exercise, computed now from the references and the
    mutant catalogue (None for an exercise without recorded values)."""
    from . import hidden, recording
    from .tasks import tasks_of

    tasks = tasks_of(assignment_id)
    if not tasks:
        return None
    root = root or repo_root()
    mutants = hidden.load_mutants(root / "mutants" / f"{assignment_id}.py")
    records = {}
    for name, task in tasks.items():
        wrong = {m["name"]: (hidden.mutant_function(m, name), m["diagnosis"])
                 for m in mutants if m.get("task") == name and m.get("named_by")}
        records[name] = recording.record_task(name, task.reference, task.visible(), wrong, helpers=dict(task.helpers))
    return recording.build_expected(assignment_id, records)


def record(assignment_id: str, root: Path | None = None) -> Path | None:
    """Write ``solutions/<id>/expected.json`` from the references (None: nothing to record)."""
    from . import recording

    root = root or repo_root()
    data = expected_values(assignment_id, root)
    if data is None:
        return None
    return recording.write_expected(root / "solutions" / assignment_id / "expected.json", data)


def release(assignment_id: str, root: Path | None = None) -> Path:
    """Record the visible values, then regenerate ``exercises/<id>/`` from ``solutions/<id>/``."""
    root = root or repo_root()
    record(assignment_id, root)
    target = root / "exercises" / assignment_id
    with scratch_course(assignment_id, root) as course:
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(course / "exercises" / assignment_id, target)
    return target


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def release_differences(generated: Path, committed: Path) -> list[str]:
    """Files that differ between a freshly generated release and the committed one."""
    if not committed.is_dir():
        return [f"{committed} is missing: run `python -m course_utils release`"]
    new, old = _files(generated), _files(committed)
    diffs = [f"only in the new release: {f}" for f in sorted(new - old)]
    diffs += [f"only in exercises/: {f}" for f in sorted(old - new)]
    for name in sorted(new & old):
        a, b = generated / name, committed / name
        same = json.loads(a.read_text()) == json.loads(b.read_text()) if name.endswith(".ipynb") else filecmp.cmp(a, b, shallow=False)
        if not same:
            diffs.append(f"differs: {name}")
    return diffs


def autograde(course: Path, assignment_id: str, notebooks: dict[str, Path]) -> dict[str, dict[str, tuple[float, float]]]:
    """Autograde one notebook per student in a scratch course.

    Returns:
        ``{student: {grade_id: (score, max_score)}}``.
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
            nb = gb.find_submission_notebook(assignment_id, assignment_id, student)
            scores[student] = {g.name: (float(g.score or 0), float(g.max_score)) for g in nb.grades if g.max_score}
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
    root = root or repo_root()
    path = root / "mutants" / f"{assignment_id}.py"
    if not path.is_file():
        return []
    spec = importlib.util.spec_from_file_location(f"mutants_{assignment_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [Mutant(**m) for m in module.MUTANTS]


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
        report.problems.append(f"{path.relative_to(root)} is stale: run `python -m course_utils release {assignment_id}`")
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
            report.problems.append(f"exercises/ is out of sync ({diff}); run `python -m course_utils release {assignment_id}`")
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
