"""A tiny Sphinx project with MyST-NB in 'cache' mode, as the book builds, for the tests of the
book's extensions in _ext/ (test_cjk_cache, test_cached_outputs, test_cache_inputs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent

#: the front matter that makes MyST-NB execute a markdown page
FRONT_MATTER = """---
kernelspec:
  name: python3
  display_name: Python 3
jupytext:
  text_representation:
    format_name: myst
---
"""

CONF = """
import sys
sys.path.insert(0, {ext!r})
extensions = {extensions!r}
nb_execution_mode = "cache"
nb_execution_timeout = 120
exclude_patterns = {exclude!r}
"""


def make_project(folder: Path, ext: Path, extensions: list[str], files: dict[str, str], *,
                 exclude: tuple[str, ...] = (), conf_extra: str = "") -> Path:
    """Write ``folder/src`` with a ``conf.py`` loading MyST-NB and ``extensions`` (found in
    ``ext``) and ``files`` (relative path -> text; the pages' front matter included by the
    caller, see :data:`FRONT_MATTER`); return ``src``."""
    src = folder / "src"
    conf = CONF.format(ext=str(ext), extensions=["myst_nb", *extensions], exclude=["_build", *exclude])
    for name, text in {"conf.py": conf + conf_extra, **files}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return src


def build(src: Path, *, warnings_are_errors: bool = True) -> tuple[str, Path]:
    """Build ``src`` into ``src/../_build/html`` (asserting success); return the log and that folder."""
    out = src.parent / "_build" / "html"
    proc = subprocess.run([str(BIN / "sphinx-build"), "-b", "html", *(["-W"] if warnings_are_errors else []),
                           str(src), str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout + proc.stderr, out
