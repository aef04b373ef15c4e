"""The book builds with warnings as errors, and its pages carry the executed results."""

import html as html_lib
import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def html(root):
    """Build the book as `make book` does (execution cache in _build/.jupyter_cache)."""
    proc = subprocess.run([str(BIN / "jupyter-book"), "build", ".", "-n", "-W", "--keep-going"],
                          cwd=root, capture_output=True, text=True, timeout=1500)
    warnings = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines()
                if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0 and not warnings, "\n".join(warnings) or proc.stdout[-3000:] + proc.stderr[-3000:]
    return root / "_build" / "html"


pytestmark = pytest.mark.xdist_group("book")  # one worker builds _build/ at a time


@pytest.mark.slow
def test_every_toc_page_is_built(html, root):
    toc = (root / "_toc.yml").read_text()
    for page in re.findall(r"file:\s*(\S+)", toc) + ["intro"]:
        assert (html / f"{page}.html").is_file(), page


def _text(path: Path) -> str:
    """The page's visible text, tags removed and whitespace collapsed."""
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", path.read_text())))


@pytest.mark.slow
def test_chapter_1_shows_its_executed_results(html):
    page = (html / "chapters" / "01_neurons.html").read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"[^>]*>', page)
    assert len(images) >= 3, "the activation, learning-rate and training figures"
    for tag in re.findall(r"<img[^>]+>", page):
        assert re.search(r'alt="[^"]{20,}"', tag), f"figure without alt text: {tag[:120]}"
    for src in images:
        assert (html / "chapters" / src).resolve().is_file(), src
    text = _text(html / "chapters" / "01_neurons.html")
    accuracy = re.search(r"The two-layer network reaches (\d+\.\d)%", text)
    assert accuracy and 90 <= float(accuracy.group(1)) <= 100, "the glued test accuracy"
    printed = re.search(r"two-layer network \(numpy\)\s+(\d+\.\d)%", text)
    assert printed and printed.group(1) == accuracy.group(1), "prose and printed table agree"
    assert "Traceback" not in text and "Error" not in re.sub(r"mean squared error|error", "", text, flags=re.I)


@pytest.mark.slow
def test_unchanged_rebuild_uses_the_execution_cache(html, root):
    proc = subprocess.run([str(BIN / "jupyter-book"), "build", ".", "-n", "-W", "--keep-going"],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0
    assert "Executing" not in proc.stdout, "an unchanged chapter was executed again"


CHAPTERS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "chapters").glob("[0-9][0-9]_*.md"))


@pytest.mark.slow
@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_chapter_shows_its_experiments(html, stem):
    """Executed, with plots that have alt text, every glued number filled in, no error output."""
    page = (html / "chapters" / f"{stem}.html").read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"[^>]*>', page)
    assert len(images) >= 2, f"{stem}: its experiments shown as plots"
    for tag in re.findall(r"<img[^>]+>", page):
        assert re.search(r'alt="[^"]{20,}"', tag), f"{stem}: figure without alt text: {tag[:120]}"
    for src in images:
        assert (html / "chapters" / src).resolve().is_file(), src
    text = _text(html / "chapters" / f"{stem}.html")
    assert "Traceback" not in text and "CellExecutionError" not in text, stem
    assert "{glue" not in page and "glue:" not in text, f"{stem}: an unresolved glue reference"
