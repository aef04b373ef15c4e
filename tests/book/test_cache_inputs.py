"""A cached page runs again when a benchmark result it reads, or the library it runs, changes.

A tiny Sphinx project with MyST-NB in 'cache' mode, as the book builds: its page prints a
number from `benchmarks/results/x.json` (read by `results.load("x")` of a small library,
`mylib`, standing for course_utils) and a constant of the library. Without
`_ext/cache_inputs.py` (the control) a changed x.json leaves the page's old number in the
cache; with it, the page runs again when x.json or mylib changes (not mylib/instructor/),
is taken from the cache when nothing changed, and a missing or corrupt record of the inputs
(`inputs.json` beside the cache) only makes the cached page run again.
"""

import json
import re
from pathlib import Path

import pytest
from tiny_book import FRONT_MATTER, build, make_project

pytestmark = pytest.mark.slow

PAGE = FRONT_MATTER + """# A number

```{toctree}
other
```

```{code-cell} ipython3
from mylib import SCALE, results
print("value:", results.load("x")["value"], "scale:", SCALE)
```
"""

RESULTS = '''import json
from pathlib import Path


def load(name):
    return json.loads((Path(__file__).parents[1] / "benchmarks" / "results" / f"{name}.json").read_text())
'''


def _project(folder: Path, root: Path, with_extension: bool) -> Path:
    files = {
        "index.md": PAGE,
        "other.md": "# Other\n\nA page without code: never in the execution cache.\n",
        "mylib/__init__.py": "SCALE = 10\n",
        "mylib/results.py": RESULTS,
        "mylib/instructor/__init__.py": "# never imported by a page\n",
        "benchmarks/results/x.json": json.dumps({"value": 1}),
        "benchmarks/results/unread.json": json.dumps({"value": 0}),
    }
    return make_project(folder, root / "_ext", ["cache_inputs"] if with_extension else [], files,
                        exclude=("benchmarks", "mylib"), conf_extra='cache_inputs_library = "mylib"\n')


def _build(src: Path) -> tuple[str, str]:
    """Build; return the build log and the page's text."""
    log, out = build(src)
    return log, re.search(r"value: \d+ scale: \d+", (out / "index.html").read_text()).group(0)


def _read(log: str) -> str:
    """The pages Sphinx read."""
    return log.split("reading sources")[-1].split("looking for now-outdated")[0] if "reading sources" in log else ""


def test_without_the_extension_a_changed_result_stays_stale(tmp_path, root):
    src = _project(tmp_path, root, with_extension=False)
    assert _build(src)[1] == "value: 1 scale: 10"
    (src / "benchmarks" / "results" / "x.json").write_text(json.dumps({"value": 2}))
    log, shown = _build(src)
    assert "Executing" not in log
    assert shown == "value: 1 scale: 10", "control: the old number comes from the cache"


def test_a_page_runs_again_when_what_it_reads_or_runs_changes(tmp_path, root):
    src = _project(tmp_path, root, with_extension=True)
    log, shown = _build(src)
    assert "Executing" in log and shown == "value: 1 scale: 10"

    (src / "benchmarks" / "results" / "x.json").write_text(json.dumps({"value": 2}))
    log, shown = _build(src)
    assert shown == "value: 2 scale: 10", "the page ran again with the new result"
    assert "[cache_inputs] index: benchmarks/results/x.json changed: removed from the execution cache" in log
    assert "Executing" in log
    assert "other" not in _read(log), "a page that is not cached is left alone"
    store = src.parent / "_build" / ".jupyter_cache" / "inputs.json"
    (entry,) = json.loads(store.read_text())["records"].values()
    assert entry["page"] == "index" and set(entry["inputs"]) == {"benchmarks/results/x.json", "mylib"}

    for unread in (src / "benchmarks" / "results" / "unread.json", src / "mylib" / "instructor" / "__init__.py"):
        unread.write_text(unread.read_text() + "\n")
    log, shown = _build(src)
    assert "Executing" not in log and "[cache_inputs]" not in log, "nothing it depends on changed"
    assert shown == "value: 2 scale: 10"

    (src / "mylib" / "__init__.py").write_text("SCALE = 30\n")
    log, shown = _build(src)
    assert "[cache_inputs] index: mylib changed" in log
    assert "Executing" in log and shown == "value: 2 scale: 30"

    log, shown = _build(src)
    assert "Executing" not in log and "Using cached notebook" not in log and shown == "value: 2 scale: 30"


def test_a_missing_or_corrupt_record_of_the_inputs_only_runs_the_page_again(tmp_path, root):
    src = _project(tmp_path, root, with_extension=True)
    _build(src)
    store = src.parent / "_build" / ".jupyter_cache" / "inputs.json"
    for damage in (store.unlink, lambda: store.write_text('{"records": [1, ')):
        damage()
        log, shown = _build(src)
        assert "index: no record of the benchmark results and library it ran with" in log, log[-2000:]
        assert "Executing" in log and shown == "value: 1 scale: 10"
        assert json.loads(store.read_text())["records"], "recorded again"
    log, _ = _build(src)
    assert "Executing" not in log and "[cache_inputs]" not in log
