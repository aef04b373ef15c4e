"""Offer each chapter's executed notebook (.ipynb) in the page's download menu.

sphinx-book-theme lists an .ipynb download only when a launch service (Binder, ...) is
configured; this course has none, so this copies the notebook that MyST-NB executed
(_build/jupyter_execute/<page>.ipynb) next to the page's source and tells the theme.
"""

import shutil
from pathlib import Path


def offer_notebook(app, pagename, templatename, context, doctree):
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if doctree is None or not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # Before sphinx-book-theme builds its header buttons (priority 501).
    app.connect("html-page-context", offer_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
