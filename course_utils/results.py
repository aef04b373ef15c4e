"""The committed benchmark results the chapters plot: ``load("recall")`` is the whole of
``benchmarks/results/recall.json`` (``command``, ``date``, ``machine``, ``results``), which
``benchmarks/<script>.py`` writes.

``load`` looks for ``benchmarks/results/<name>.json``, and takes the first it finds, in:

1. the working folder (the repository's root, or the folder of a notebook downloaded from
   the book's site, whose first code cell writes the results it embeds there);
2. each folder above the working folder, nearest first (the repository when a chapter runs
   from ``chapters/``, as the book builds it, or a notebook runs from a subfolder);
3. the repository this ``course_utils`` was imported from (a clone, whatever the working
   folder).

Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

KEYS = ("command", "date", "machine", "results")
_REPOSITORY = Path(__file__).resolve().parents[1]


def candidates(name: str) -> list[Path]:
    """The paths ``load(name)`` tries, in order."""
    relative = Path("benchmarks", "results", f"{name}.json")
    cwd = Path.cwd()
    folders = [cwd, *cwd.parents, _REPOSITORY]
    return list(dict.fromkeys(folder / relative for folder in folders))


def _command(name: str) -> str:
    """How to produce ``<name>.json``: its benchmark script (``recall_tuned`` -> ``recall.py``)."""
    parts = name.split("_")
    scripts = [f"{'_'.join(parts[:i])}.py" for i in range(len(parts), 0, -1)]
    script = next((s for s in scripts if (_REPOSITORY / "benchmarks" / s).is_file()), f"{name}.py")
    options = "" if script == f"{name}.py" else f" with the options that write {name}.json (see --help)"
    return f"python benchmarks/{script}{options}"


def load(name: str) -> dict:
    """The committed benchmark result ``benchmarks/results/<name>.json``, found as the module
    says. FileNotFoundError when no such file exists, ValueError when the file is not a
    result (not JSON, or without command, date, machine or results); both say how to
    produce it."""
    paths = candidates(name)
    path = next((p for p in paths if p.is_file()), None)
    if path is None:
        looked = "\n".join(f"  {p}" for p in paths)
        raise FileNotFoundError(
            f"no benchmark result {name}.json; looked at:\n{looked}\n"
            f"Produce it in the course repository with `{_command(name)}`, or run the notebook "
            "from a folder that holds benchmarks/results/ (a downloaded chapter writes it there "
            "in its first code cell).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a JSON benchmark result ({err}); regenerate it with "
                         f"`{_command(name)}`") from err
    missing = [key for key in KEYS if not isinstance(data, dict) or key not in data]
    if missing:
        command = data.get("command") if isinstance(data, dict) and isinstance(data.get("command"), str) else None
        raise ValueError(f"{path} is not a complete benchmark result: it has no {', '.join(missing)}; "
                         f"regenerate it with `{command or _command(name)}`")
    return data
