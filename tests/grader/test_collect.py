"""Fast checks of the grader's pieces that face hostile input: names, notebooks, CSV cells, feedback."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor import grade

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "01_neurons"
RELEASE = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
GOOD = ROOT / "tests" / "grader" / "fixtures" / "submissions" / "alice" / f"{ASSIGNMENT}.ipynb"


def test_csv_cells_that_look_like_formulas_stay_text():
    for value in ("=HYPERLINK(\"http://x\")", "+1", "-1_1", "@SUM(1+1)", "\tx", "\rx"):
        assert grade.csv_cell(value) == "'" + value
    assert grade.csv_cell("alice") == "alice" and grade.csv_cell("") == ""


def test_reports_neutralise_formulas(tmp_path):
    rows = [grade.Row("-1_1", 0.0, 12.0, "ok", ["=cmd|' /C calc'!A0"], ["@SUM(1+1)_x.ipynb"])]
    grade.write_reports(tmp_path, ASSIGNMENT, rows, 1.0, [])
    for name in ("grades.csv", "details.csv"):
        with open(tmp_path / name, newline="") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], (name, cells)


def test_names_that_clean_to_the_same_id_stay_apart(tmp_path):
    for folder in ("carol", "carol!", "Carol Smith", "Carol_Smith"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{ASSIGNMENT}.ipynb").write_bytes(GOOD.read_bytes())
    subs, _ = grade.collect(ASSIGNMENT, tmp_path, RELEASE)
    found = {s.student: s for s in subs}
    assert sorted(found) == ["Carol_Smith", "Carol_Smith-2", "carol", "carol-2"]
    assert all(s.status == "ok" for s in subs), [(s.student, s.status) for s in subs]
    assert any("'carol!'" in d for d in found["carol-2"].details)
    assert found["carol"].details == []  # the name that needed no cleaning keeps its id


def test_a_malformed_notebook_is_one_students_status(tmp_path):
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / f"{ASSIGNMENT}.ipynb").write_text("[" * 200_000 + "]" * 200_000)
    nb = json.loads(GOOD.read_text())
    nb["cells"][0]["metadata"]["nbgrader"] = "x"
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta" / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nb))
    (tmp_path / "fine").mkdir()
    (tmp_path / "fine" / f"{ASSIGNMENT}.ipynb").write_bytes(GOOD.read_bytes())
    subs, _ = grade.collect(ASSIGNMENT, tmp_path, RELEASE)
    status = {s.student: s.status for s in subs}
    assert status["fine"] == "ok"
    assert status["deep"] in ("not_json", "invalid_notebook")
    assert status["meta"] == "invalid_notebook"


HOSTILE_MARKDOWN = ("Look: <script>document.title='XSS-MD'</script> "
                    "<img src=x onerror=\"document.title='XSS-IMG'\">\n```\nfence\n```")


def _hostile_notebook():
    nb = nbformat.read(GOOD, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN))
    code = nbformat.v4.new_code_cell("display(HTML(...))")
    code.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<script>document.title='XSS-HTML'</script>",
                                                     "text/plain": "<IPython.core.display.HTML object>"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "document.title='XSS-JS'"}),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg onload=\"document.title='XSS-SVG'\"/>"}),
        nbformat.v4.new_output("stream", name="stdout", text="<script>document.title='XSS-STREAM'</script>"),
    ]
    nb.cells.append(code)
    return nb


def _active_parts(html: str) -> list[str]:
    """Script elements, event-handler attributes and SVG/iframe/object elements of a page that
    mention one of the test's markers: what a browser would run."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Parser(HTMLParser):
        script = False

        def handle_starttag(self, tag, attrs):
            self.script = tag == "script"
            for name, value in attrs:
                if (name.startswith("on") or name in ("src", "href")) and "XSS" in (value or ""):
                    found.append(f"<{tag} {name}={value}>")
            if tag in ("svg", "iframe", "object", "embed") or (tag == "img" and dict(attrs).get("src") == "x"):
                found.append(f"<{tag}>")

        def handle_data(self, data):
            if self.script and "XSS" in data:
                found.append(f"<script>{data[:60]}")

        def handle_endtag(self, tag):
            self.script = False

    Parser().feed(html)
    return found


def test_feedback_shows_student_content_as_text():
    from nbconvert import HTMLExporter

    unsafe = HTMLExporter().from_notebook_node(_hostile_notebook())[0]
    assert len(_active_parts(unsafe)) >= 3, "the check must see the attacks in an unprotected page"
    from course_utils.instructor.grade.worker import SafeFeedback as safe_feedback
    nb, _ = safe_feedback().preprocess(_hostile_notebook(), {})
    html = HTMLExporter().from_notebook_node(nb)[0]
    assert _active_parts(html) == []
    assert "XSS-MD" in html and "XSS-STREAM" in html  # shown, as text


@pytest.mark.parametrize("text", ["plain", "```\ninside\n```", "````x````"])
def test_text_blocks_cannot_be_closed_from_inside(text):
    block = grade.as_text_block(text)
    fence = block.split("text\n", 1)[0]
    assert fence.count("`") > max((len(r) for r in text.split() if set(r) == {"`"}), default=0)
    assert block.endswith(fence) and text in block


def test_the_class_report_counts_each_recognised_mistake(tmp_path):
    diagnoses = {"This normalises over axis 0.": "over axis 0", "The sum, not the mean.": "sum instead of mean"}
    rows = [grade.Row("a", 10, 12, "ok", messages={"test_log_softmax": "This normalises over axis 0."}),
            grade.Row("b", 8, 12, "ok", messages={"test_log_softmax": "This normalises over axis 0.",
                                                  "test_bce": "The sum, not the mean."}),
            grade.Row("c", 11, 12, "ok", messages={"test_bce": "bce raised ValueError on a hidden case."})]
    counts = grade.mistake_counts(rows, diagnoses)
    assert list(counts) == ["over axis 0", "sum instead of mean"]
    assert counts["over axis 0"] == {"test": "test_log_softmax", "diagnosis": "This normalises over axis 0.",
                                     "students": 2}
    text = grade.write_reports(tmp_path, ASSIGNMENT, rows, 1.0, [], diagnoses)
    assert "2  test_log_softmax: This normalises over axis 0." in text
    release = ROOT / "solutions" / ASSIGNMENT / "expected.json"
    known = grade.release_diagnoses(release.parents[2], ASSIGNMENT)
    assert known["This normalises over axis 0: the classes are on the last axis."] == "over axis 0"
