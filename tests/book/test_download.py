"""The chapter notebook a reader downloads (the page's .ipynb button) reads on its own and runs
outside the repository.

Every chapter's download, from the built site (`SITE_HTML`, or _build/html built as `make
book` does): a first cell that says what it needs; no MyST that JupyterLab would show raw (no
directive fence, no role such as `{glue:text}`); each `{literalinclude}` of the chapter as the
code it shows; exactly the benchmark results the code reads (`results.load("NAME")`)
embedded, and read from the working folder; no `myst_nb` import. Then one chapter's download
runs in a temporary folder, with a copy of `course_utils` (no instructor wing) as the only
course code importable, and reads the result it embeds.
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
# Results a chapter reads through a variable (`results.load(name) for name in (...)`), which the
# download finds from the names the cell quotes.
READ_THROUGH_A_VARIABLE = {"06_lstm": {"recall.json", "recall_gate_bias_0.json", "recall_gate_bias_3.json"}}


def _embedded(data_cell) -> set[str]:
    """The names of the results a download's data cell embeds."""
    return set(re.findall(r'\\"([\w.-]+\.json)\\":\{', data_cell.source))


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
    # Benchmark results: exactly the ones the code reads are embedded, and read from the working folder.
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    chapter_code = "\n".join(re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", source, re.S))
    named = {f"{name}.json" for name in re.findall(r"""\bresults\.load\(\s*["']([\w.-]+)["']\s*\)""", chapter_code)}
    named |= set(re.findall(r"""["'/]([\w.-]+\.json)["']""", chapter_code))
    named |= READ_THROUGH_A_VARIABLE.get(stem, set())
    named &= {p.name for p in (ROOT / "benchmarks" / "results").glob("*.json")}
    if "results.load(" in chapter_code:
        assert named, f"{stem}: calls results.load, and this test finds no result it reads"
    data_cells = [c for c in notebook.cells if "benchmark-data" in c.metadata.get("tags", [])]
    if named:
        assert len(data_cells) == 1 and notebook.cells.index(data_cells[0]) == 1, f"{stem}: no data cell"
        assert _embedded(data_cells[0]) == named, f"{stem}: embeds {_embedded(data_cells[0])}, reads {named}"
    else:
        assert not data_cells
    assert "../" not in code and "__file__" not in code, f"{stem}: code that reads the repository"
    assert not re.search(r"^\s*(from|import) myst_nb", code, re.M), (
        f"{stem}: imports myst_nb (not in the student edition)")
    # Outputs as the page shows them: no stderr, no glue records.
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs, f"{stem}: the executed outputs"
    assert not [o for o in outputs if o.get("name") == "stderr" or "scrapbook" in o.get("metadata", {})]


def test_the_results_a_chapter_reads_are_found(tmp_path):
    """What the download embeds: each results.load("NAME"), the names a cell quotes when it loads
    through a variable, paths to NAME.json; not a string that merely equals a result's name."""
    sys.path.insert(0, str(ROOT / "_ext"))
    try:
        from notebook_download import _benchmark_files
    finally:
        sys.path.remove(str(ROOT / "_ext"))
    folder = tmp_path / "benchmarks" / "results"
    folder.mkdir(parents=True)
    for name in ("recall", "recall_tuned", "rnn_text", "seq2seq", "word2vec", "transformer"):
        (folder / f"{name}.json").write_text("{}")

    def found(*cells):
        return [p.stem for p in _benchmark_files(list(cells), folder)]

    assert found('bench = results.load("recall_tuned")\nverb = "recall"') == ["recall_tuned"]
    assert found("x = course_utils.results.load( 'seq2seq' )", 'label = "word2vec"') == ["seq2seq"]
    assert found('runs = {n: results.load(n) for n in ("recall", "rnn_text")}', 'kind = "seq2seq"') \
        == ["recall", "rnn_text"]
    assert found('json.loads(Path("../benchmarks/results/transformer.json").read_text())',
                 'folder / "word2vec.json"') == ["transformer", "word2vec"]
    assert found('results.load("no_such_result")', 'print("recall")') == []


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
    # Last, which file results.load read: the embedded copy, in the working folder.
    notebook.cells.append(nbformat.v4.new_code_cell(
        "print(next(p for p in results.candidates('recall_tuned') if p.is_file()))"))
    NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(work)}}).execute()
    data_cell = next(c for c in notebook.cells if "benchmark-data" in c.metadata.get("tags", []))
    embedded = _embedded(data_cell)
    assert embedded == {"recall_tuned.json"}, embedded  # the one result the chapter reads
    assert {p.name for p in (work / "benchmarks" / "results").iterdir()} == embedded
    found = notebook.cells[-1].outputs[0]["text"].strip()
    assert found == str(work / "benchmarks" / "results" / "recall_tuned.json"), found
    assert not (tmp_path / "benchmarks").exists(), "nothing is written outside the working folder"
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images, "the chapter's plots were drawn"
    assert sys.executable and os.environ["PYTHONPATH"] == str(library)
