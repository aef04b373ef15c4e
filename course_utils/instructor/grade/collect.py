"""Stage 1 of grading: find each student's notebook in SUBMISSIONS (a folder or a zip, never
written to), decide what can be graded, and prepare it (deleted test cells put back).

A submission that cannot be graded gets its status here (``missing``, ``empty``,
``not_json``, ``invalid_notebook``, ``wrong_assignment``, ``multiple_notebooks``,
``too_large``); one malformed notebook never stops the class. The prepared notebooks are
spooled to disk when a spool folder is given, so the grader's memory does not grow with
the number of students.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_NOTEBOOK_BYTES = 100 << 20

#: Patterns in a student's code that try to fool a grader (static check, reported only).
SUSPICIOUS: list[tuple[str, str]] = [
    (r"course_utils\.(instructor|sandbox)", "refers to the grader's sandbox"),
    (r"\b(grading|reference|tests|recorded|np|numpy|torch|builtins|__builtins__|course_utils(\.\w+)*)\.\w+\s*=(?!=)",
     "assigns to an attribute of a module the tests use"),
    (r"\bsetattr\s*\(|\bsys\.modules\b", "patches modules"),
    (r"set_custom_exc|showtraceback|excepthook", "changes how errors are shown"),
    (r"input_transformers|ast_transformers|events\.register|run_cell", "changes how cells are run"),
    (r"\bAssertionError\s*=(?!=)|class\s+AssertionError\b", "redefines AssertionError"),
    (r"\bctypes\b|\bgc\.get_(referrers|referents|objects)\b|\bsys\.settrace\b", "reaches into the interpreter"),
    (r"\bseterr\s*\(", "changes numpy's floating-point error handling"),
]


@dataclass
class Submission:
    """One student's submission as found under SUBMISSIONS."""

    student: str
    files: list[str] = field(default_factory=list)  #: every notebook of the student (relative paths)
    chosen: str | None = None  #: the notebook graded
    content: bytes | None = field(default=None, repr=False)  #: the prepared notebook, unless spooled
    spooled: Path | None = None  #: where the prepared notebook was written (then ``content`` is None)
    status: str = "ok"  #: collection status; "ok" means it goes to the autograder
    details: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  #: test cells put back (deleted or edited)
    suspicious: list[str] = field(default_factory=list)  #: patterns of :data:`SUSPICIOUS` found

    def notebook(self) -> bytes:
        """The prepared notebook's bytes."""
        if self.spooled is not None:
            return self.spooled.read_bytes()
        if self.content is None:
            raise ValueError(f"{self.student} has no notebook to grade (status {self.status})")
        return self.content


def safe_id(name: str) -> str:
    """A student id nbgrader can use in paths and globs: letters, digits, ``.``, ``-``, ``_``."""
    name = re.sub(r"_assignsubmission_file_?$", "", name)  # Moodle's folder names
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "student"
    return cleaned[:100]


#: Canvas's bulk download: ``<name>_[late_]<user id>_<submission id>_<file>`` (flat files)
CANVAS_FILE = re.compile(r"^(?P<name>[^_/]+)_(?:(?P<late>late)_)?(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$")
#: Moodle's: ``<Full name>_<participant id>_assignsubmission_<plugin>_`` (a folder, or a flat file's prefix)
MOODLE_NAME = re.compile(r"^(?P<name>.+?)_(?P<user>\d+)_assignsubmission_(?P<plugin>[a-z]+)_?(?P<file>.*)$")


def platform_identity(parts: tuple[str, ...]) -> tuple[str, str, str] | None:
    """``(platform, user id, name)`` when SUBMISSIONS names this entry as Canvas or Moodle
    download it: the student is then keyed on the user (participant) id, never on the name,
    which two students can share."""
    if m := MOODLE_NAME.match(parts[0]):
        return "moodle", m["user"], m["name"]
    if len(parts) == 1 and (m := CANVAS_FILE.match(parts[0])):
        return "canvas", m["user"], m["name"] + (" (marked late by Canvas)" if m["late"] else "")
    return None


def _raw_student(parts: tuple[str, ...]) -> str:
    """The student as SUBMISSIONS gives it: the Canvas user id or Moodle participant id of a
    platform's download, else the folder, or a flat file's prefix."""
    identity = platform_identity(parts)
    if identity is not None:
        return identity[1]
    if len(parts) > 1:
        return parts[0]
    stem = Path(parts[0]).stem
    return stem.split("_", 1)[0] if "_" in stem else stem


def student_ids(submissions: Path, assignment_id: str) -> list[str]:
    """The ids :func:`collect` gives the students of ``submissions`` (cheap: reads no notebook)."""
    entries, _ = _entries(Path(submissions))
    entries = _unwrap(entries, assignment_id)
    return sorted(unique_ids(sorted({_raw_student(parts) for parts, _ in entries})).values())


def _unwrap(entries: list, assignment_id: str) -> list:
    """A zip often wraps everything in one folder: look inside it."""
    nb_name = f"{assignment_id}.ipynb"
    while (entries and all(len(p) >= 2 for p, _ in entries) and len({p[0] for p, _ in entries}) == 1
           and not any(p[1] in (nb_name, assignment_id) for p, _ in entries)
           and not MOODLE_NAME.match(entries[0][0][0])):
        entries = [(p[1:], r) for p, r in entries]
    return entries


def unique_ids(names: list[str]) -> dict[str, str]:
    """A :func:`safe_id` for each name, unique: when cleaning makes two names equal
    (``carol`` and ``carol!``), the later ones in sorted order get ``-2``, ``-3``, ...; an
    id that needed no cleaning keeps its name."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(names, key=lambda n: (safe_id(n) != n, n)):  # clean names first
        base = candidate = safe_id(name)
        n = 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        ids[name] = candidate
        taken.add(candidate)
    return ids


def _entries(submissions: Path) -> tuple[list[tuple[tuple[str, ...], object]], list[str]]:
    """``[(path parts, reader)]`` for every file of a folder or zip (read-only), and the
    files skipped as unsafe or junk."""
    skipped: list[str] = []
    junk = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".DS_Store"}
    found = []
    if submissions.is_file() and zipfile.is_zipfile(submissions):
        archive = zipfile.ZipFile(submissions)
        for info in archive.infolist():
            parts = tuple(p for p in info.filename.replace("\\", "/").split("/") if p)
            if info.is_dir() or not parts:
                continue
            if info.filename.startswith("/") or ".." in parts or any(p.startswith(".") or p in junk for p in parts):
                skipped.append(info.filename)
                continue
            found.append((parts, (archive, info)))
    elif submissions.is_dir():
        for folder, dirs, files in os.walk(submissions):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in junk)
            for name in sorted(files):
                path = Path(folder) / name
                if name.startswith(".") or name in junk or path.is_symlink():
                    continue
                found.append((path.relative_to(submissions).parts, path))
    else:
        raise FileNotFoundError(f"{submissions} is neither a folder nor a .zip file")
    return found, skipped


def _read(reader, limit: int = MAX_NOTEBOOK_BYTES) -> bytes | None:
    """The bytes of one entry, or None if it is larger than ``limit``."""
    if isinstance(reader, Path):
        if reader.stat().st_size > limit:
            return None
        return reader.read_bytes()
    archive, info = reader
    if info.file_size > limit:
        return None
    with archive.open(info) as handle:
        return handle.read(limit + 1)


def _digest(reader) -> str | None:
    """sha256 of one entry, read in blocks (None if it is larger than the grader accepts)."""
    if isinstance(reader, Path):
        if reader.stat().st_size > MAX_NOTEBOOK_BYTES:
            return None
        handle = open(reader, "rb")  # noqa: SIM115 - closed below
    else:
        archive, info = reader
        if info.file_size > MAX_NOTEBOOK_BYTES:
            return None
        handle = archive.open(info)
    digest = hashlib.sha256()
    with handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _grade_ids(nb) -> set[str]:
    return {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}


def collect(assignment_id: str, submissions: Path, release: Path,
            spool: Path | None = None) -> tuple[list[Submission], list[str]]:
    """Find each student's notebook under ``submissions`` and check it can be graded.

    Args:
        release: the released notebook ``<id>.ipynb`` (to recognise the assignment's cells).
        spool: a folder where each prepared notebook is written (``Submission.spooled``);
            without it they are kept in memory (``Submission.content``).

    Returns:
        the submissions sorted by student id, and notes on skipped files.
    """
    entries, skipped = _entries(submissions)
    notes = [f"skipped unsafe or hidden entry {name}" for name in skipped]
    nb_name = f"{assignment_id}.ipynb"
    entries = _unwrap(entries, assignment_id)
    ref = nbformat.read(release, as_version=4)
    candidates: dict[str, list[tuple[int, str, object]]] = {}
    others: dict[str, list[str]] = {}
    ids = unique_ids(sorted({_raw_student(parts) for parts, _ in entries}))
    renamed = {ids[name]: name for name in ids if ids[name] != safe_id(name)}
    names: dict[str, set[str]] = {}
    for parts, reader in entries:
        rel = "/".join(parts)
        student = ids[_raw_student(parts)]
        identity = platform_identity(parts)
        if identity is not None:
            names.setdefault(student, set()).add(f"{identity[0]} user {identity[1]}: {identity[2]}")
        if identity is not None and identity[0] == "moodle" and len(parts) == 1:
            parts = (parts[0], MOODLE_NAME.match(parts[0])["file"] or parts[0])  # a flat Moodle file
        if len(parts) == 1:
            stem = Path(parts[0]).stem
            if not parts[0].endswith(".ipynb"):
                notes.append(f"ignored {rel}: not a notebook")
                continue
            rank = 0 if assignment_id in stem else 2
        else:
            if not parts[-1].endswith(".ipynb"):
                others.setdefault(student, []).append(rel)
                continue
            inner = list(parts[1:])
            rank = 0 if inner in ([nb_name], [assignment_id, nb_name]) else 1 if assignment_id in parts[-1] else 2
        candidates.setdefault(student, []).append((rank, rel, reader))
    result = []
    for student in sorted(set(candidates) | set(others)):
        sub = Submission(student)
        sub.details += sorted(names.get(student, ()))
        if student in renamed:
            sub.details.append(f"id {student} given to {renamed[student]!r}, whose name cleans to an id already taken")
        found = sorted(candidates.get(student, []), key=lambda c: (c[0], c[1]))
        sub.files = [rel for _, rel, _ in found]
        if not found:
            sub.status = "missing"
            sub.details.append(f"no notebook; found only {', '.join(others[student][:5])}")
            result.append(sub)
            continue
        best = [c for c in found if c[0] == found[0][0]]
        if found[0][0] == 2:
            sub.status = "wrong_assignment"
            sub.details.append(f"found {', '.join(sub.files)}; expected {nb_name}")
            result.append(sub)
            continue
        digests = {rel: _digest(reader) for _, rel, reader in best}
        if len({d or rel for rel, d in digests.items()}) > 1:
            sub.status = "multiple_notebooks"
            sub.details.append(f"different notebooks {', '.join(digests)}: keep one and grade again")
            result.append(sub)
            continue
        sub.chosen = best[0][1]
        sub.content = _read(best[0][2])
        if len(best) > 1:
            sub.details.append(f"identical copies {', '.join(digests)}: graded one")
        if best[0][0] == 1:
            sub.details.append(f"graded {sub.chosen} in place of {nb_name}")
        ignored = [rel for rel in sub.files if rel not in digests]
        if ignored:
            sub.details.append(f"ignored other notebooks {', '.join(ignored)}")
        try:
            _check_content(sub, assignment_id, ref)
        except Exception as err:  # noqa: BLE001 - one malformed notebook never stops the class
            sub.status = "invalid_notebook"
            sub.details.append(f"{sub.chosen} cannot be read as a notebook: {type(err).__name__}: {str(err)[:120]}")
        if sub.status != "ok":
            sub.content = None
        elif spool is not None:
            sub.spooled = spool / f"{sub.student}.ipynb"
            sub.spooled.write_bytes(sub.content)
            sub.content = None
        result.append(sub)
    return result, notes


def _check_content(sub: Submission, assignment_id: str, ref) -> None:
    """Set ``sub.status`` for content that cannot be graded, note edited or deleted test
    cells, and prepare the notebook to grade (deleted test cells put back)."""
    data = sub.content
    if data is None:
        sub.status = "too_large"
        sub.details.append(f"{sub.chosen} is larger than {MAX_NOTEBOOK_BYTES >> 20} MB")
        return
    if not data.strip():
        sub.status = "empty"
        sub.details.append(f"{sub.chosen} is empty ({len(data)} bytes)")
        return
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        sub.status = "not_json"
        sub.details.append(f"{sub.chosen} is not JSON: {str(err)[:120]}")
        return
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - nbformat raises many kinds
        sub.status = "invalid_notebook"
        sub.details.append(f"{sub.chosen} is not a valid notebook: {str(err).splitlines()[0][:120]}")
        return
    bad = [i for i, c in enumerate(nb.cells) if not isinstance(c.get("metadata", {}).get("nbgrader", {}), dict)]
    if bad:
        sub.status = "invalid_notebook"
        sub.details.append(f"{sub.chosen}: cell {bad[0]} has nbgrader metadata that is not a dict")
        return
    if not _grade_ids(nb) & _grade_ids(ref):
        sub.status = "wrong_assignment"
        sub.details.append(f"{sub.chosen} has none of the cells of {assignment_id}")
        return
    sub.restored = _restore_test_cells(nb, ref)
    sub.details += sub.restored
    sub.suspicious = scan_code(nb, ref)
    sub.details += [f"suspicious code: {message}" for message in sub.suspicious]
    sub.content = nbformat.writes(nb).encode()


def _restore_test_cells(nb, ref) -> list[str]:
    """Put back locked code cells (test cells, imports) missing from ``nb``; note edited ones.
    nbgrader restores the edited ones (and the hidden tests) from the gradebook."""
    notes = []
    present = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    ref_ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in ref.cells]
    for index, cell in enumerate(ref.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not (meta.get("locked") or meta.get("grade")) or meta.get("solution"):
            continue
        gid = meta["grade_id"]
        mine = present.get(gid)
        if mine is None:
            before = next((i for i in range(index - 1, -1, -1) if ref_ids[i] in present), None)
            where = 0 if before is None else nb.cells.index(present[ref_ids[before]]) + 1
            nb.cells.insert(where, copy.deepcopy(cell))
            present[gid] = nb.cells[where]
            notes.append(f"restored deleted {'test ' if meta.get('grade') else ''}cell {gid}")
        elif mine.source.strip() != cell.source.strip() or not mine.metadata.get("nbgrader", {}).get("locked"):
            notes.append(f"restored edited {'test ' if meta.get('grade') else ''}cell {gid}")
    return notes


def scan_code(nb, ref) -> list[str]:
    """Patterns of :data:`SUSPICIOUS` found in the student's own code cells."""
    locked = {c.metadata.get("nbgrader", {}).get("grade_id") for c in ref.cells
              if c.metadata.get("nbgrader", {}).get("locked")}
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade_id") in locked:
            continue
        for pattern, message in SUSPICIOUS:
            match = re.search(pattern, cell.source)
            if match and message not in [f.split(" (")[0] for f in found]:
                found.append(f"{message} ({match.group(0).strip()[:40]!r})")
    return found
