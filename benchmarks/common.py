"""What every benchmark records beside its figures: the command, the date and the machine."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
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
