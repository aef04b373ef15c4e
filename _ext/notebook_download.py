"""Offer each chapter's executed notebook (.ipynb) in the page's download menu, as a notebook
that reads on its own and runs outside the book.

sphinx-book-theme lists an .ipynb download only when a launch service (Binder, ...) is
configured; this course has none, so this writes a notebook next to the page's source and
tells the theme. The notebook MyST-NB executed (_build/jupyter_execute/<page>.ipynb; when the
page came from the execution cache, `cached_outputs.py` puts the outputs in it) holds
MyST that JupyterLab shows raw; `standalone_notebook` turns it into plain Jupyter markdown:

- a first cell says what the notebook is and what it needs to run (a clone of the course,
  or its student edition: `course_utils` importable);
- `{glue:text}` / `{glue:md}` references become the values the cells glued;
- admonitions become block quotes, dropdowns `<details>`, `{math}` a `$$` block, other roles
  their text; `{literalinclude}` becomes the code it shows (read as Sphinx reads it), and a
  `{figure}` an image attached to the cell, so no file of the repository is needed;
- a figure cell's caption follows it; stderr outputs and glue records are left out, as on
  the page;
- the benchmark results the chapter reads (`results.load("NAME")`, or a path
  `benchmarks/results/NAME.json` in its code) are embedded in a cell that writes them to
  `benchmarks/results/` under the working folder, where `course_utils.results.load` looks
  first (a path in the code is pointed there);
- `from myst_nb import glue` (the book's tool, not in the student edition) becomes a stub.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path
from types import SimpleNamespace

import nbformat

ADMONITIONS = {"admonition", "note", "tip", "hint", "important", "warning", "caution", "attention",
               "danger", "error", "seealso", "topic", "sidebar"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}\s*(?P<args>.*)$")
# A role, or an inline code span (left as it is: "`h_{t-1}`" holds no role).
ROLE = re.compile(r"(?<![\w^_])\{(?P<name>[a-z][\w:-]*)\}`(?P<text>[^`]+)`|(?P<code>`+)[^`]+?(?P=code)")
GLUE_STUB = '''def glue(name, value, display=True):
    """The book's myst_nb.glue: here it shows the value when the book did."""
    if display:
        from IPython.display import display as show
        show(value)'''


def glued_values(notebook, glue_file: Path | None = None) -> dict[str, dict]:
    """name -> mime bundle: MyST-NB's record of the page's glue (`<page>.glue.json`, beside the
    executed notebook, from which it removes them) and any glue outputs left in the notebook."""
    values = {}
    if glue_file is not None and glue_file.is_file():
        for name, output in json.loads(glue_file.read_text(encoding="utf-8")).items():
            values[name] = output.get("data", {})
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            record = output.get("metadata", {}).get("scrapbook")
            if record:
                prefix = record.get("mime_prefix", "")
                values[record["name"]] = {k[len(prefix):] if k.startswith(prefix) else k: v
                                          for k, v in output.get("data", {}).items()}
    return values


def _glue_text(values, key: str) -> str:
    """`{glue:text}`name` or `{glue:text}`name:format`, as MyST-NB writes it."""
    from myst_nb.core.variables import format_plain_text

    name, spec = key.rsplit(":", 1) if ":" in key else (key, "s")
    return format_plain_text(values[name]["text/plain"], spec)


def _role(match, values) -> str:
    if match.group("code"):
        return match.group(0)
    name, text = match.group("name"), match.group("text")
    if name in ("glue", "glue:", "glue:text", "glue:any"):
        return _glue_text(values, text)
    if name == "glue:md":
        return values[text.rsplit(":", 1)[0] if ":" in text else text]["text/markdown"].strip()
    if name == "math":
        return f"${text}$"
    if name in ("code", "literal"):
        return f"`{text}`"
    shown = re.sub(r"\s*<[^<>]*>$", "", text).strip()  # "{term}`shown <target>`"
    return shown or text


def _split_options(body: list[str]) -> tuple[dict, list[str]]:
    """A directive's `:key: value` lines (or a `---` YAML block) and its content."""
    options, i = {}, 0
    if body and body[0].strip() == "---":
        import yaml

        end = next(j for j in range(1, len(body)) if body[j].strip() == "---")
        options = yaml.safe_load("\n".join(body[1:end])) or {}
        return options, body[end + 1:]
    while i < len(body):
        match = re.match(r"^\s*:([\w-]+):\s*(.*)$", body[i])
        if not match:
            break
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            import yaml  # MyST reads option values as YAML: a quoted value loses its quotes

            value = yaml.safe_load(value)
        options[match.group(1)] = value or True
        i += 1
    return options, body[i:]


def _attach(cell_attachments: dict, path: Path) -> str:
    mime = {".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
            ".gif": "image/gif"}[path.suffix.lower()]
    data = path.read_bytes()
    cell_attachments[path.name] = {mime: data.decode("utf-8") if mime == "image/svg+xml"
                                   else base64.b64encode(data).decode("ascii")}
    return f"attachment:{path.name}"


class _Converter:
    def __init__(self, values: dict, source: Path, srcdir: Path, config=None):
        self.values, self.source, self.srcdir, self.config = values, source, srcdir, config

    def _file(self, argument: str) -> Path:
        return (self.srcdir / argument.lstrip("/")) if argument.startswith("/") else (self.source.parent / argument)

    def literalinclude(self, args: str, options: dict) -> list[str]:
        from sphinx.directives.code import LiteralIncludeReader

        path = self._file(args)
        reader_options = {k: (int(v) if k in ("dedent", "tab-width", "lineno-start") else v)
                          for k, v in options.items() if v is not True or k in ("dedent",)}
        if reader_options.get("dedent") is True:
            reader_options["dedent"] = None
        config = self.config or SimpleNamespace(source_encoding="utf-8-sig")
        code, _ = LiteralIncludeReader(str(path), reader_options, config).read()
        language = options.get("language", "python" if path.suffix == ".py" else "")
        caption = options.get("caption")
        shown = [f"*{caption}*", ""] if isinstance(caption, str) and caption else []
        where = path.resolve().relative_to(self.srcdir.resolve()).as_posix() \
            if path.resolve().is_relative_to(self.srcdir.resolve()) else path.name
        what = f"`{options['pyobject']}` from `{where}`" if "pyobject" in options else f"`{where}`"
        return shown + [f"From the course's library: {what}.", "", f"```{language}",
                        *code.rstrip("\n").splitlines(), "```"]

    def directive(self, name: str, args: str, body: list[str], attachments: dict) -> list[str]:
        options, content = _split_options(body)
        if name == "literalinclude":
            return self.literalinclude(args, options)
        inner = self.lines(content, attachments)
        if name in ADMONITIONS:
            title = args if name in ("admonition", "topic", "sidebar") else (args or name.capitalize())
            quoted = [f"> **{title}**" if title else ">", ">"] if title else []
            return quoted + [f"> {line}" if line.strip() else ">" for line in inner]
        if name == "dropdown":
            return [f"<details><summary>{args or 'Show'}</summary>", "", *inner, "", "</details>"]
        if name in ("math",):
            return ["$$", *content, "$$"]
        if name in ("code-block", "code", "sourcecode"):
            return [f"```{args}", *content, "```"]
        if name in ("figure", "image"):
            target = _attach(attachments, self._file(args))
            alt = options.get("alt", "")
            return [f"![{alt}]({target})", "", *([f"*{' '.join(inner).strip()}*"] if inner else [])]
        if name.startswith("glue"):
            key = args.strip()
            data = self.values.get(key, {})
            if "image/png" in data:
                attachments[f"{key}.png"] = {"image/png": data["image/png"]}
                return [f"![{key}](attachment:{key}.png)", "", *([f"*{' '.join(inner).strip()}*"] if inner else [])]
            return [data.get("text/markdown") or data.get("text/plain", ""), *inner]
        if name in ("toctree", "contents", "tableofcontents"):
            return []
        return ([f"**{args}**", ""] if args else []) + inner

    def lines(self, lines: list[str], attachments: dict) -> list[str]:
        out, i = [], 0
        while i < len(lines):
            line = lines[i]
            match = FENCE.match(line)
            if not match:
                if re.match(r"^\s*\([\w:.-]+\)=\s*$", line) or re.match(r"^\s*%", line):
                    i += 1  # a MyST target label or comment
                    continue
                line = re.sub(r"^(\s*\$\$)\s*\([\w:.-]+\)\s*$", r"\1", line)  # $$ (label)
                out.append(ROLE.sub(lambda m: _role(m, self.values), line))
                i += 1
                continue
            fence = match.group("fence")
            char, width, depth, j = fence[0], len(fence), 0, i + 1
            while j < len(lines):
                stripped = lines[j].strip()
                opens = re.match(rf"^{re.escape(char)}{{{width},}}\S", stripped)
                closes = re.fullmatch(rf"{re.escape(char)}{{{width},}}", stripped)
                if opens:
                    depth += 1
                elif closes:
                    if depth == 0:
                        break
                    depth -= 1
                j += 1
            indent = match.group("indent")
            body = [b[len(indent):] if b.startswith(indent) else b for b in lines[i + 1:j]]
            converted = self.directive(match.group("name"), match.group("args").strip(), body, attachments)
            out += [indent + c if c else c for c in converted]
            i = j + 1
        return out


# `results.load("recall")` (course_utils.results, the chapters' one way to read a result).
LOAD = re.compile(r"""\bresults\.load\(\s*(?:(["'])(?P<name>[\w.-]+)\1\s*\))?""")
# A path to a result: "benchmarks/results/recall.json", or "recall.json" joined to a folder.
PATH = re.compile(r"""(?:benchmarks/results/|["'])(?P<name>[\w.-]+)\.json["']""")


def _benchmark_files(cells: list[str], results_dir: Path) -> list[Path]:
    """The committed benchmark results the chapter's code cells read: each `results.load("NAME")`
    and each path to NAME.json; in a cell that calls `results.load(name)` with a variable, the
    names of results that the cell quotes (`for name in ("recall", "recall_tuned")`)."""
    committed = {p.stem: p for p in results_dir.glob("*.json")} if results_dir.is_dir() else {}
    names = set()
    for code in cells:
        loads = list(LOAD.finditer(code))
        names |= {m.group("name") for m in loads if m.group("name")}
        names |= {m.group("name") for m in PATH.finditer(code)}
        if any(m.group("name") is None for m in loads):  # not a plain "NAME"
            names |= set(re.findall(r"""["']([\w.-]+)["']""", code)) & committed.keys()
    return [committed[name] for name in sorted(names) if name in committed]


def _relocate(code: str) -> str:
    """Point the code's reads of benchmarks/results at the copy under the working folder."""
    code = re.sub(r"""(["'])(?:\.\./)+benchmarks/""", r"\1benchmarks/", code)
    return re.sub(r"""Path\([^()\n]*__file__\)(?:\.resolve\(\))?\.parents\[\d+\](?=\s*/\s*["']benchmarks["'])""",
                  'Path(".")', code)


def standalone_notebook(executed, *, source: Path, srcdir: Path, root: Path, page: str,
                        glue_file: Path | None = None, config=None):
    """The downloadable notebook of a chapter, from the notebook MyST-NB executed.

    executed: the executed notebook; source: the chapter's .md; srcdir: the book's source
    folder (for `/`-rooted paths); root: the repository (benchmarks/results); page: the page
    name, e.g. "chapters/05_gru"; glue_file: MyST-NB's `<page>.glue.json`.
    """
    nb = copy.deepcopy(executed)
    values = glued_values(nb, glue_file)
    converter = _Converter(values, source, srcdir, config)
    for key in ("jupytext", "source_map", "mystnb"):
        nb.metadata.pop(key, None)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            attachments: dict = {}
            cell.source = "\n".join(converter.lines(cell.source.splitlines(), attachments)).strip("\n")
            if attachments:
                cell["attachments"] = attachments
            cells.append(cell)
            continue
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        cell.source = re.sub(r"^(\s*)from myst_nb import glue\s*$",
                             lambda m: "\n".join(m.group(1) + line for line in GLUE_STUB.splitlines()),
                             cell.source, flags=re.M)
        cell.source = _relocate(cell.source)
        cell.outputs = [o for o in cell.get("outputs", [])
                        if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                        and "scrapbook" not in o.get("metadata", {})]
        mystnb = cell.metadata.pop("mystnb", None) or {}
        cells.append(cell)
        caption = (mystnb.get("figure") or {}).get("caption")
        if caption:
            cells.append(nbformat.v4.new_markdown_cell(
                "*Figure: " + converter.lines([caption], {})[0] + "*"))
    results = _benchmark_files([c.source for c in cells if c.cell_type == "code"], root / "benchmarks" / "results")
    title = next((re.sub(r"^#\s*", "", line) for c in cells if c.cell_type == "markdown"
                  for line in c.source.splitlines() if line.startswith("# ")), page)
    intro = [
        f"**From Neurons to Attention: {title}.** This notebook is the book's page `{page}` "
        "with the outputs the book printed. It reads on its own: the code the page shows from "
        "the course's library, its diagrams and the numbers in its text are included here.",
        "",
        "To run it, open it in the course's Python environment, where `course_utils` can be "
        "imported: a clone of the course repository (its `.venv`, made by `make lab`) or the "
        "student edition (`python -m course_utils student-pack`, then `make lab` in it). It "
        "runs from any folder.",
    ]
    if results:
        intro += ["", "The benchmark results it plots (" + ", ".join(f"`benchmarks/results/{p.name}`" for p in results)
                  + ") are embedded in the next cell, which writes them to `benchmarks/results/` "
                  "under the working folder unless they are already there; `results.load` reads "
                  "them there."]
    new = [nbformat.v4.new_markdown_cell("\n".join(intro))]
    if results:
        embedded = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in results}
        data_cell = nbformat.v4.new_code_cell(
            "# The committed benchmark results this chapter plots, embedded (folded: it is long).\n"
            "import json as _json\nfrom pathlib import Path as _Path\n\n"
            f"_EMBEDDED = _json.loads({json.dumps(json.dumps(embedded, separators=(',', ':')))})\n"
            "for _name, _data in _EMBEDDED.items():\n"
            "    _path = _Path(\"benchmarks/results\") / _name\n"
            "    if not _path.is_file():\n"
            "        _path.parent.mkdir(parents=True, exist_ok=True)\n"
            "        _path.write_text(_json.dumps(_data, indent=1), encoding=\"utf-8\")")
        data_cell.metadata = {"jupyter": {"source_hidden": True}, "tags": ["benchmark-data"]}
        new.append(data_cell)
    nb.cells = new + cells
    for cell in nb.cells:  # ids stay unique and valid
        cell.pop("id", None)
    nb.nbformat, nb.nbformat_minor = 4, 5
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"
    return nb


def offer_notebook(app, pagename, templatename, context, doctree):
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if doctree is None or not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    source = Path(app.env.doc2path(pagename))
    try:
        notebook = standalone_notebook(nbformat.read(executed, as_version=4), source=source,
                                       srcdir=Path(app.srcdir), root=Path(app.confdir), page=pagename,
                                       glue_file=executed.with_name(f"{executed.stem}.glue.json"),
                                       config=app.config)
    except Exception as err:  # noqa: BLE001 - any failure is reported, with the page
        from sphinx.util import logging

        logging.getLogger(__name__).warning(f"no downloadable notebook: {err!r}", location=pagename)
        return
    nbformat.write(notebook, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    # Before sphinx-book-theme builds its header buttons (priority 501).
    app.connect("html-page-context", offer_notebook, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
