"""Keep no chapter in the execution cache that ran before its Chinese characters could be drawn.

A chapter that draws a Chinese label on a machine without a CJK font gets pinyin in its plots,
and `course_utils.viz.cjk_label` writes one line to the cell's stderr naming the characters
(the page does not show it: `nb_output_stderr: remove`). Jupyter-cache keys a notebook on its
code alone, so after the font is installed the cached, pinyin-labelled outputs would be used
for ever. Before Sphinx decides which pages to read, this extension looks for that line in
every cached notebook; when every character it names can now be drawn, it removes the cache
record and has Sphinx read the page again, which executes it with the font.

It also says in the build log (not on any page) when no CJK font is installed.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)


def stale_records(cache, can_draw) -> list:
    """Cache records whose outputs carry a fallback note for characters `can_draw` now draws."""
    from course_utils import viz

    stale = []
    for record in cache.list_cache_records():
        try:
            notebook = cache.get_cache_bundle(record.pk).nb
        except KeyError:  # a record without its notebook file
            continue
        named = "".join(viz.characters_in_note(output.get("text", ""))
                        for cell in notebook.cells if cell.cell_type == "code"
                        for output in cell.get("outputs", []) if output.get("output_type") == "stream")
        if named and all(can_draw(char) for char in named):
            stale.append(record)
    return stale


def _cache_path(app) -> Path | None:
    config = getattr(app.env, "mystnb_config", None)
    path = getattr(config, "execution_cache_path", None)
    return Path(path) if path else None


def clear_stale_notebooks(app, env, added, changed, removed) -> list[str]:
    """Sphinx's env-get-outdated: drop stale records and return their pages to be read again."""
    from course_utils import viz

    path = _cache_path(app)
    if path is None or not path.is_dir():
        return []
    from jupyter_cache import get_cache

    cache = get_cache(path)
    again = []
    for record in stale_records(cache, viz.can_draw):
        cache.remove_cache(record.pk)
        docname = env.path2doc(record.uri)
        logger.info(f"[cjk_cache] {record.uri}: executed before a font could draw its Chinese "
                    "labels; removed from the execution cache, to run again")
        if docname and docname not in added | changed | removed:
            again.append(docname)
    return again


def note_missing_font(app) -> None:
    from course_utils import viz

    if viz.cjk_font() is None:
        logger.info("[cjk_cache] no CJK font is installed (Debian: apt-get install fonts-noto-cjk): "
                    "Chinese characters in plot labels are written as pinyin")


def setup(app):
    app.connect("builder-inited", note_missing_font)
    app.connect("env-get-outdated", clear_stale_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
