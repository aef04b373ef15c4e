"""What every benchmark records beside its figures: the command, the date and the machine."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def provenance() -> dict:
    """The command line, UTC date and machine that produced a result."""
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
    }


def write_result(name: str, figures: dict, out: Path | None = None) -> Path:
    """Write ``{provenance..., "results": figures}`` to ``out`` or ``results/NAME.json``."""
    path = out or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**provenance(), "results": figures}, indent=2, ensure_ascii=False) + "\n")
    return path


def write_json_atomic(path: Path, data: dict) -> Path:
    """Write ``data`` as JSON to ``path`` through a temporary file in the same folder and
    ``os.replace``, so that a process killed mid-write leaves the old file or the new one,
    never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_result_atomic(name: str, figures: dict, out: Path | None = None) -> Path:
    """:func:`write_result`, written atomically (see :func:`write_json_atomic`): for results
    that are rewritten after every finished run, so that a resumable benchmark can be killed
    at any moment."""
    return write_json_atomic(out or RESULTS / f"{name}.json", {**provenance(), "results": figures})
