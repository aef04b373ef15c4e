"""A page read again but taken from the execution cache keeps its outputs in its notebook.

A tiny Sphinx project with MyST-NB in 'cache' mode, as the book builds: one page prints a line,
glues a value (not shown) and `{literalinclude}`s a file. The first build executes it. Then
the included file changes, so Sphinx reads the page again, and its unchanged code is taken
from the cache. Without `_ext/cached_outputs.py` (the control) MyST-NB 1.4 writes
`_build/jupyter_execute/index.ipynb` without outputs, and the download built from it has none;
with it, both have the outputs of the first build's execution.
"""

from pathlib import Path

import nbformat
import pytest
from tiny_book import FRONT_MATTER, build, make_project

pytestmark = pytest.mark.slow

PAGE = FRONT_MATTER + """# A page

```{literalinclude} snippet.py
```

```{code-cell} ipython3
from myst_nb import glue
print("printed", 6 * 7)
glue("answer", 42, display=False)
```

The answer is {glue:text}`answer`.

```{code-cell} ipython3
# no output
x = 1
```
"""


def _project(folder: Path, root: Path, with_extension: bool) -> Path:
    extensions = ["notebook_download"] + (["cached_outputs"] if with_extension else [])
    return make_project(folder, root / "_ext", extensions, {"index.md": PAGE, "snippet.py": "x = 1\n"})


def _build(src: Path) -> str:
    return build(src)[0]


def _outputs(src: Path) -> tuple[list, list]:
    """The code cells' outputs of the executed notebook and of the download."""
    built = src.parent / "_build"
    executed = nbformat.read(built / "jupyter_execute" / "index.ipynb", as_version=4)
    download = nbformat.read(built / "html" / "_sources" / "index.ipynb", as_version=4)
    return ([c.outputs for c in executed.cells if c.cell_type == "code"],
            [c.outputs for c in download.cells if c.cell_type == "code"])


def _rebuild_from_the_cache(src: Path) -> tuple[list, list, list]:
    log = _build(src)
    assert "Executing" in log
    first, _ = _outputs(src)
    assert any("printed 42" in o.get("text", "") for o in first[0]), first
    (src / "snippet.py").write_text("x = 2\n")
    log = _build(src)
    assert "index" in log.split("reading sources")[-1], "the page is read again"
    assert "Executing" not in log and "Using cached notebook" in log, log[-2000:]
    return first, *_outputs(src)


def test_without_the_extension_a_cached_page_loses_its_outputs(tmp_path, root):
    _, executed, download = _rebuild_from_the_cache(_project(tmp_path, root, with_extension=False))
    assert executed == [[], []] and download == [[], []], "control: MyST-NB 1.4 writes no outputs"


def test_a_page_taken_from_the_cache_keeps_its_outputs(tmp_path, root):
    first, executed, download = _rebuild_from_the_cache(_project(tmp_path, root, with_extension=True))
    assert executed == first, "the outputs of the execution, the glued value left out as then"
    assert not any("scrapbook" in o.get("metadata", {}) for o in executed[0])
    assert any("printed 42" in o.get("text", "") for o in download[0])


def test_a_failed_or_fresh_execution_is_left_alone(root, monkeypatch):
    monkeypatch.syspath_prepend(str(root / "_ext"))
    from cached_outputs import taken_from_cache

    unexecuted = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    executed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", execution_count=1)])
    hit = {"method": "cache", "succeeded": True}
    assert taken_from_cache(hit, unexecuted)
    assert not taken_from_cache({"method": "cache", "succeeded": False}, unexecuted), "failed"
    assert not taken_from_cache(hit, executed), "executed in this build"
    assert not taken_from_cache({"method": "force", "succeeded": True}, unexecuted)
    assert not taken_from_cache(None, unexecuted)
