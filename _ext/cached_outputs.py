"""Give the executed notebook of a page taken from the execution cache its outputs.

MyST-NB writes each page's notebook to `_build/jupyter_execute/<page>.ipynb`, from which
`notebook_download` builds the page's download. In 'cache' mode, when Sphinx reads a page
again whose code has not changed (the page was touched, or a file it `{literalinclude}`s
changed), MyST-NB 1.4 takes the outputs from the jupyter-cache but writes the notebook
without them: `NotebookClientCache.start_client` (myst_nb/core/execute/cache.py) renders from
a new, merged notebook (`cache.merge_match_into_notebook(...)[1]`), while `Parser.parse`
(myst_nb/sphinx_.py) writes the original `notebook` object, which only a fresh execution
fills in place. The page's HTML is right; its notebook, and so its download, has no outputs.
(No MyST-NB issue about it was found, searching in December 2026.)

After a page is read, when MyST-NB says it succeeded in 'cache' mode and the notebook it
wrote was never executed (no code cell has an output or an execution count), this writes it
again with the outputs merged from the cache, and the glue outputs handled as MyST-NB handles
them on a fresh execution. A page that failed to execute, or was executed in this build, is
left alone.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from sphinx.util import logging

logger = logging.getLogger(__name__)


def taken_from_cache(exec_data: dict | None, notebook) -> bool:
    """Whether MyST-NB took the page from the cache and wrote its notebook without outputs.

    exec_data: MyST-NB's execution record of the page; notebook: the notebook it wrote.
    """
    if not exec_data or exec_data.get("method") != "cache" or not exec_data.get("succeeded"):
        return False  # not executed through the cache, or failed: left as it is
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    return bool(code) and not any(cell.get("outputs") or cell.get("execution_count") is not None
                                  for cell in code)


def with_cached_outputs(cache, notebook):
    """The notebook with the cached outputs of its code, as a fresh execution writes it
    (a glued value's output leaves the notebook unless glue showed it); KeyError if the cache
    holds no execution of this code."""
    from myst_nb.ext.glue import extract_glue_data_cell

    _, merged = cache.merge_match_into_notebook(notebook)
    for cell in merged.cells:
        if cell.cell_type == "code":
            extract_glue_data_cell(cell)
    return merged


def restore_outputs(app, doctree) -> None:
    """Sphinx's doctree-read: MyST-NB has written the page's notebook by now."""
    from myst_nb.sphinx_ import NbMetadataCollector

    env = app.env
    config = getattr(env, "mystnb_config", None)
    if config is None or not config.output_folder:
        return
    path = Path(config.output_folder, *f"{env.docname}.ipynb".split("/"))
    exec_data = NbMetadataCollector.get_doc_data(env).get(env.docname, {}).get("exec_data")
    if not exec_data or not path.is_file():
        return
    notebook = nbformat.read(path, as_version=4)
    if not taken_from_cache(exec_data, notebook):
        return
    from jupyter_cache import get_cache

    try:  # the path MyST-NB's cache client uses
        merged = with_cached_outputs(get_cache(config.execution_cache_path or ".jupyter_cache"), notebook)
    except KeyError:  # no cached execution of this code: nothing to merge
        return
    path.write_text(nbformat.writes(merged), encoding="utf-8")
    logger.verbose(f"[cached_outputs] {path.name}: outputs merged from the execution cache")


def setup(app):
    app.connect("doctree-read", restore_outputs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
