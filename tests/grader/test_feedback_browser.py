"""Feedback cannot attack its reader, tested as the instructor opens it: in headless Chromium.

A notebook with a script in a markdown cell, an ``<img onerror>``, a ``text/html`` script
output, ``application/javascript`` and an SVG with ``onload`` is exported to HTML twice: as
nbconvert would (the control: the browser runs the attack and the page's title changes) and
after the grader's :class:`SafeFeedback` (nothing runs: the title stays).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "book"))
from browser import serve  # noqa: E402
from test_collect import _hostile_notebook  # noqa: E402


def test_feedback_runs_no_student_script_in_chromium(browser, tmp_path):
    from nbconvert import HTMLExporter

    from course_utils.instructor.grade.worker import SafeFeedback as safe_feedback
    (tmp_path / "unsafe.html").write_text(HTMLExporter().from_notebook_node(_hostile_notebook())[0])
    safe, _ = safe_feedback().preprocess(_hostile_notebook(), {})
    (tmp_path / "safe.html").write_text(HTMLExporter().from_notebook_node(safe)[0])
    with serve(tmp_path) as url:
        unsafe_title = browser.visit(url + "unsafe.html", settle=1.0).dom.get("title", "")
        safe_visit = browser.visit(url + "safe.html", settle=1.0)
    assert unsafe_title.startswith("XSS"), f"the control page ran no attack (title {unsafe_title!r})"
    assert not safe_visit.dom.get("title", "").startswith("XSS"), safe_visit.dom.get("title")
    assert "XSS-MD" in safe_visit.dom.get("text", "")  # the student's text is shown, as text
