"""Where the course is, and nbgrader run in a scratch copy of it.

The course directory (:func:`repo_root`) holds ``nbgrader_config.py``, ``solutions/<id>/``
(the source of each exercise), ``exercises/<id>/`` (the committed release) and
``mutants/<id>.py``. Every nbgrader command of the instructor's tooling runs through
:func:`nbgrader`, in the interpreter of this virtualenv, inside a temporary course
(:func:`scratch_course`), so the repository's own gradebook is never touched and several
exercises can be worked on in parallel. :func:`cell_scores` reads the per-cell scores out of
an nbgrader gradebook the one way the tooling counts them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

# --------------------------------------------------------------------------- where things are


def repo_root() -> Path:
    """The course directory: the nearest folder up from here (or the current one) with
    ``nbgrader_config.py`` and ``solutions/``."""
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / "nbgrader_config.py").is_file() and (folder / "solutions").is_dir():
                return folder
    raise FileNotFoundError("cannot find the course directory (a folder with nbgrader_config.py and solutions/)")


DEFAULT_CELL_TIMEOUT = 120.0  # seconds, when nbgrader_config.py sets no Execute.timeout


def course_config(root: Path | None = None):
    """The course's ``nbgrader_config.py``, loaded as nbgrader loads it (a traitlets ``Config``)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(root or repo_root())).load_config()


def cell_timeout(root: Path | None = None) -> float:
    """Seconds a cell may run when graded: the course's ``Execute.timeout``."""
    execute = course_config(root).Execute
    return float(execute.timeout) if "timeout" in execute else DEFAULT_CELL_TIMEOUT

def assignment_ids(root: Path | None = None) -> list[str]:
    """Ids of the exercises in ``solutions/`` (folders holding ``<id>.ipynb``), sorted."""
    root = root or repo_root()
    return sorted(p.name for p in (root / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())


def ensure_known(assignment_id: str, root: Path) -> None:
    """Raise ValueError unless ``assignment_id`` is one of :func:`assignment_ids`."""
    if assignment_id not in assignment_ids(root):
        raise ValueError(f"no exercise {assignment_id!r}; known: {', '.join(assignment_ids(root))}")


# --------------------------------------------------------------------------- nbgrader in a scratch course


def venv_first(path: str) -> str:
    """The PATH value ``path`` with this interpreter's ``bin/`` first (nbgrader runs
    ``alembic`` and kernels from PATH); ``path`` itself when it already is."""
    bin_dir = str(Path(sys.executable).parent)
    if path == bin_dir or path.startswith(bin_dir + os.pathsep):
        return path
    return bin_dir + os.pathsep + path


def venv_environ(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: this one with :func:`venv_first` PATH, plus ``extra``."""
    return {**os.environ, "PATH": venv_first(os.environ.get("PATH", "")), **extra}


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
    ensure_known(assignment_id, root)
    with tempfile.TemporaryDirectory(prefix=f"course-{assignment_id}-") as tmp:
        course = Path(tmp)
        shutil.copy(root / "nbgrader_config.py", course)
        shutil.copytree(root / "solutions" / assignment_id, course / "solutions" / assignment_id,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        nbgrader(["generate_assignment", assignment_id, "--force"], course)
        yield course


def cell_scores(grades: Iterable) -> dict[str, list[float]]:
    """``{cell: [score, max_score]}`` for every cell worth points, from grades with ``name``,
    ``score`` (a manual score overriding the automatic one, as nbgrader counts it; None
    counts 0) and ``max_score``: an nbgrader gradebook notebook's ``grades``, or the
    worker's :class:`~.grade.jobs.GradeRecord` copies of them."""
    return {g.name: [float(g.score or 0), float(g.max_score)] for g in grades if g.max_score}
