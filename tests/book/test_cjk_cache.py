"""A chapter executed before a CJK font was installed does not stay in the execution cache.

A tiny Sphinx project with MyST-NB in 'cache' mode, as the book builds: its one page prints a
Chinese label through `viz.cjk_label`. The first build pretends no CJK font is installed
(`COURSE_UTILS_NO_CJK_FONT`, switched on by a flag file), so the label is pinyin and the note
goes to stderr. Then the flag goes, as when the font is installed. Without `_ext/cjk_cache.py`
(the control) the next build keeps the pinyin from the cache; with it, the page runs again,
shows the characters, and the build after that takes it from the cache again.
"""

from pathlib import Path

import pytest
from tiny_book import FRONT_MATTER, build, make_project

from course_utils import viz

pytestmark = pytest.mark.slow

PAGE = FRONT_MATTER + """# A label

```{code-cell} ipython3
import os
from pathlib import Path
if Path("nofont.flag").exists():
    os.environ["COURSE_UTILS_NO_CJK_FONT"] = "1"
from course_utils import viz
print("label:", viz.cjk_label("2047年"))
```
"""


def _project(folder: Path, root: Path, with_extension: bool) -> Path:
    return make_project(folder, root / "_ext", ["cjk_cache"] if with_extension else [],
                        {"index.md": PAGE, "nofont.flag": "pretend that no CJK font is installed\n"},
                        conf_extra='nb_output_stderr = "remove"\n')


def _build(src: Path) -> tuple[str, str]:
    """Build; return the build log and the page's text."""
    log, out = build(src, warnings_are_errors=False)
    return log, (out / "index.html").read_text()


@pytest.fixture(scope="module")
def font():
    if viz.cjk_font() is None:
        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk)")


def test_the_cache_keeps_pinyin_without_the_extension(tmp_path, root, font):
    src = _project(tmp_path, root, with_extension=False)
    log, page = _build(src)
    assert "label: 2047 nian" in page and viz.FALLBACK_NOTE not in page, "the note stays off the page"
    (src / "nofont.flag").unlink()
    log, page = _build(src)
    assert "label: 2047 nian" in page, "control: the stale output comes from the cache"


def test_the_extension_runs_a_stale_page_again_once_the_font_can_draw_it(tmp_path, root, font):
    src = _project(tmp_path, root, with_extension=True)
    log, page = _build(src)
    assert "label: 2047 nian" in page and viz.FALLBACK_NOTE not in page
    (src / "nofont.flag").unlink()
    log, page = _build(src)
    assert "removed from the execution cache" in log and "Executing" in log, log[-2000:]
    assert "label: 2047年" in page
    log, page = _build(src)
    assert "Executing" not in log and "removed from" not in log, "a fresh page is taken from the cache"
    assert "label: 2047年" in page
