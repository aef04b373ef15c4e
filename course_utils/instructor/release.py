"""Making the release of an exercise, and keeping generated releases in a cache.

:func:`release` records the visible values of a recorded exercise (``expected.json``, from
the reference tasks and the mutant catalogue) and regenerates the committed
``exercises/<id>/`` from ``solutions/<id>/`` with ``nbgrader generate_assignment``;
:func:`release_differences` says how a freshly generated release differs from the committed
one. The grader needs a generated release with its gradebook for every run:
:func:`cached_release` makes it once per :func:`release_digest` (everything
``generate_assignment`` reads) and keeps it in :func:`release_cache_dir` (platformdirs).
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from .course import ensure_known, repo_root, scratch_course


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
    ensure_known(assignment_id, root)
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
        if name.endswith(".ipynb"):
            same = json.loads(a.read_text()) == json.loads(b.read_text())
        else:
            same = filecmp.cmp(a, b, shallow=False)
        if not same:
            diffs.append(f"differs: {name}")
    return diffs
