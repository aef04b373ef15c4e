"""The chapter notebook a reader downloads (the page's .ipynb button) reads on its own and runs
outside the repository.

Every chapter's download, from the built site (`SITE_HTML`, or _build/html built as `make
book` does): a first cell that says what it needs; no MyST that JupyterLab would show raw (no
directive fence, no role such as `{glue:text}`); each `{literalinclude}` of the chapter as the
code it shows; each benchmark result the code reads embedded, and read from the working
folder; no `myst_nb` import. Then one chapter's download runs in a temporary folder, with a
copy of `course_utils` (no instructor wing) as the only course code importable.
"""

import os
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from test_site import site  # noqa: F401 - the built site, as test_site.py finds it

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.md"))
RUN = "04_nvsi"  # short (about 10 s), and it plots a committed benchmark


def _outside_code(markdown: str) -> str:
    """Markdown without its fenced code blocks and inline code spans."""
    markdown = re.sub(r"^(`{3,})[^\n]*\n.*?^\1\s*$", "", markdown, flags=re.M | re.S)
    return re.sub(r"(`+)[^`]+?\1", "", markdown)


def _download(site, stem):  # noqa: F811
    path = site / "_sources" / "chapters" / f"{stem}.ipynb"
    assert path.is_file(), f"no download for {stem}"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    return notebook


@pytest.mark.parametrize("stem", CHAPTERS)
def test_a_downloaded_chapter_reads_on_its_own(site, stem):  # noqa: F811
    notebook = _download(site, stem)
    first = notebook.cells[0]
    assert first.cell_type == "markdown", "the first cell says what the notebook is"
    for words in ("course_utils", "clone", "student edition"):
        assert words in first.source, f"{stem}: the first cell does not mention {words}"
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    prose = _outside_code(markdown)
    assert not re.findall(r"^\s*(?:`{3,}|:{3,})\{", markdown, re.M), f"{stem}: a raw MyST directive"
    roles = re.findall(r"\{[a-z][\w:-]*\}`", prose)
    assert not roles, f"{stem}: raw MyST roles {roles[:5]}"
    assert ":pyobject:" not in markdown and "{glue" not in markdown, stem
    # Every literalinclude of the chapter is there as code.
    source = (ROOT / "chapters" / f"{stem}.md").read_text(encoding="utf-8")
    for name in re.findall(r":pyobject:\s*(\S+)", source):
        defined = name.split(".")[-1]
        assert re.search(rf"^```python\n(?:@.*\n)*\s*(?:def|class) {re.escape(defined)}\b", markdown, re.M), \
            f"{stem}: {name} is not shown as code"
    # Benchmark results: each one the code names is embedded and read from the working folder.
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    chapter_code = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", source, re.S))
    named = {p.name for p in (ROOT / "benchmarks" / "results").glob("*.json")
             if re.search(rf"""["'/]{re.escape(p.name)}["']""", chapter_code)}
    data_cells = [c for c in notebook.cells if "benchmark-data" in c.metadata.get("tags", [])]
    if named:
        assert len(data_cells) == 1 and notebook.cells.index(data_cells[0]) == 1, f"{stem}: no data cell"
        for name in named:
            assert f'\\"{name}\\"' in data_cells[0].source, f"{stem}: {name} is not embedded"
    else:
        assert not data_cells
    assert "../" not in code and "__file__" not in code, f"{stem}: code that reads the repository"
    assert not re.search(r"^\s*(from|import) myst_nb", code, re.M), f"{stem}: imports myst_nb (not in the student edition)"
    # Outputs as the page shows them: no stderr, no glue records.
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs, f"{stem}: the executed outputs"
    assert not [o for o in outputs if o.get("name") == "stderr" or "scrapbook" in o.get("metadata", {})]


def test_a_downloaded_chapter_runs_in_a_folder_of_its_own(site, tmp_path, monkeypatch):  # noqa: F811
    from nbclient import NotebookClient

    notebook = _download(site, RUN)
    library = tmp_path / "library"
    shutil.copytree(ROOT / "course_utils", library / "course_utils",
                    ignore=shutil.ignore_patterns("instructor", "__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    # The copy comes first on the path; the check cell proves it was the one imported.
    monkeypatch.setenv("PYTHONPATH", str(library))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook.cells.insert(1, nbformat.v4.new_code_cell(
        "import course_utils, pathlib\n"
        f"assert pathlib.Path(course_utils.__file__).is_relative_to({str(library)!r}), course_utils.__file__"))
    NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(work)}}).execute()
    data_cell = next(c for c in notebook.cells if "benchmark-data" in c.metadata.get("tags", []))
    embedded = set(re.findall(r'\\"([\w.-]+\.json)\\":\{', data_cell.source))
    assert "recall.json" in embedded, embedded
    assert {p.name for p in (work / "benchmarks" / "results").iterdir()} == embedded
    assert not (tmp_path / "benchmarks").exists(), "nothing is written outside the working folder"
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, "the chapter's plots were drawn"
    assert sys.executable and os.environ["PYTHONPATH"] == str(library)
