"""Run a cached chapter again when the benchmark results it reads or the course's library change.

Jupyter-cache keys a notebook on its code alone, but a chapter's outputs also depend on the
committed benchmark results it reads (`results.load("recall_tuned")` reads
benchmarks/results/recall_tuned.json; the names are found as `notebook_download` finds
them) and on the library it runs (every *.py of course_utils/ but course_utils/instructor/,
which chapters never import). This extension records, for each cache record executed in a
build, the SHA-256 digests of those inputs as they were when it ran, in `inputs.json` beside
the cache (_build/.jupyter_cache/inputs.json), keyed by the record's hash of the code.

- A record is new in a build when it is absent from the cache as it stood before Sphinx read
  any page (jupyter-cache only stores successful executions); at the end of the build its
  digests are recorded, unless an input changed while the book was being built (then none
  are, and the page runs again next time).
- Before Sphinx decides which pages to read (`env-get-outdated`), a record of a page of the
  book whose inputs differ from the recorded ones, or which has no recorded inputs (it ran
  before this extension, or inputs.json is missing or unreadable: unknown counts as stale),
  is removed from the cache, and its page is read, so executed, again. Pages that are not in
  the cache are left alone.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from notebook_download import _benchmark_files
from sphinx.util import logging

logger = logging.getLogger(__name__)
STORE = "inputs.json"


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def library_digest(library: Path, exclude: list[str]) -> str:
    """The digest of the library's *.py files (sorted paths and contents), but those under the
    folders `exclude` names (relative to the library)."""
    skipped = [library / folder for folder in exclude]
    digest = hashlib.sha256()
    if library.is_dir():
        for path in sorted(library.rglob("*.py")):
            if any(path.is_relative_to(folder) for folder in skipped):
                continue
            digest.update(path.relative_to(library).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


class Inputs:
    """The current digests of what a page's code depends on, keyed by path from the book root:
    each benchmark result its code reads, and the library (computed once)."""

    def __init__(self, app):
        self.root = Path(app.confdir)
        self.results = self.root / app.config.cache_inputs_results
        self.library = app.config.cache_inputs_library
        self.exclude = list(app.config.cache_inputs_library_exclude)
        self._library = None

    def of(self, code_cells: list[str]) -> dict[str, str]:
        if self._library is None:
            self._library = library_digest(self.root / self.library, self.exclude)
        digests = {path.relative_to(self.root).as_posix(): file_digest(path)
                   for path in _benchmark_files(code_cells, self.results)}
        return {**digests, self.library: self._library}


def _differences(stored: dict, now: dict) -> list[str]:
    reasons = []
    for name in sorted(stored.keys() | now.keys()):
        if name not in now:
            reasons.append(f"{name} was removed")
        elif name not in stored:
            reasons.append(f"{name} is new")
        elif stored[name] != now[name]:
            reasons.append(f"{name} changed")
    return reasons


def _cache(app):
    """The page's jupyter-cache, when MyST-NB executes through one and it exists."""
    config = getattr(app.env, "mystnb_config", None)
    path = getattr(config, "execution_cache_path", None)
    if getattr(config, "execution_mode", None) != "cache" or not path or not Path(path).is_dir():
        return None
    from jupyter_cache import get_cache

    return get_cache(path)


def _store_path(cache) -> Path:
    return Path(cache.path) / STORE


def load_store(path: Path) -> dict[str, dict]:
    """hashkey -> {"page", "inputs": {name: digest}}; empty when missing or unreadable."""
    if not path.is_file():
        return {}
    try:
        records = json.loads(path.read_text(encoding="utf-8"))["records"]
        if not isinstance(records, dict):
            raise TypeError("records is not an object")
    except (OSError, ValueError, KeyError, TypeError) as err:
        logger.info(f"[cache_inputs] {path} is unreadable ({err!r}): every cached page runs again")
        return {}
    return {key: entry for key, entry in records.items()
            if isinstance(entry, dict) and isinstance(entry.get("inputs"), dict)}


def save_store(path: Path, records: dict) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps({"version": 1, "records": records}, indent=1, sort_keys=True),
                         encoding="utf-8")
    os.replace(temporary, path)


def _code(cache, record) -> list[str] | None:
    try:
        notebook = cache.get_cache_bundle(record.pk).nb
    except KeyError:  # a record without its notebook file, or removed meanwhile
        return None
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def _page(env, record) -> str | None:
    docname = env.path2doc(record.uri) if record.uri else None
    return docname if docname in env.found_docs else None


def clear_stale_records(app, env, added, changed, removed) -> list[str]:
    """Sphinx's env-get-outdated: drop the records run with other inputs; return their pages."""
    cache = _cache(app)
    if cache is None:
        return []
    store = _store_path(cache)
    known = load_store(store)
    inputs = Inputs(app)
    reasons: dict[str, list[str]] = {}
    for record in cache.list_cache_records():
        page = _page(env, record)
        code = _code(cache, record) if page else None
        if code is None:
            continue
        entry = known.get(record.hashkey)
        found = (_differences(entry["inputs"], inputs.of(code)) if entry
                 else ["no record of the benchmark results and library it ran with"])
        if not found:
            continue
        try:
            cache.remove_cache(record.pk)
        except KeyError:
            continue
        known.pop(record.hashkey, None)
        reasons.setdefault(page, [])
        reasons[page] += [reason for reason in found if reason not in reasons[page]]
    for page, found in reasons.items():
        logger.info(f"[cache_inputs] {page}: {'; '.join(found)}: "
                    "removed from the execution cache, to run again")
    if reasons:
        try:
            save_store(store, known)
        except OSError as err:
            logger.info(f"[cache_inputs] could not write {store}: {err!r}")
    return [page for page in reasons if page not in added | changed | removed]


def note_cache_before_reading(app, env, docnames) -> None:
    """Sphinx's env-before-read-docs: the records in the cache, and the digests of every input,
    before any page executes."""
    cache = _cache(app)
    inputs = Inputs(app)
    app._cache_inputs_before = {
        "hashkeys": {record.hashkey for record in cache.list_cache_records()} if cache else set(),
        "results": {path.relative_to(inputs.root).as_posix(): file_digest(path)
                    for path in sorted(inputs.results.glob("*.json"))},
        "library": inputs.of([])[inputs.library],
    }


def record_executions(app, exception) -> None:
    """Sphinx's build-finished: record the inputs of the pages executed in this build."""
    before = getattr(app, "_cache_inputs_before", None)
    cache = _cache(app)
    if before is None or cache is None:
        return
    store = _store_path(cache)
    known = load_store(store)
    inputs = Inputs(app)
    then = {**before["results"], inputs.library: before["library"]}
    records = cache.list_cache_records()
    for record in records:
        if record.hashkey in before["hashkeys"]:
            continue
        page = _page(app.env, record)
        code = _code(cache, record) if page else None
        if code is None:
            continue
        now = inputs.of(code)
        moved = [name for name, digest in now.items() if then.get(name) != digest]
        if moved:
            known.pop(record.hashkey, None)
            logger.info(f"[cache_inputs] {page}: {', '.join(moved)} changed while the book was "
                        "built: it runs again next time")
            continue
        known[record.hashkey] = {"page": page, "inputs": now}
    present = {record.hashkey for record in records}
    try:
        save_store(store, {key: entry for key, entry in known.items() if key in present})
    except OSError as err:
        logger.info(f"[cache_inputs] could not write {store}: {err!r}")


def setup(app):
    app.add_config_value("cache_inputs_results", "benchmarks/results", "")
    app.add_config_value("cache_inputs_library", "course_utils", "")
    app.add_config_value("cache_inputs_library_exclude", ["instructor"], "")
    app.connect("env-get-outdated", clear_stale_records)
    app.connect("env-before-read-docs", note_cache_before_reading)
    app.connect("build-finished", record_executions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
