"""Seconds to execute each chapter (budget 90 s) and each exercise solution (budget 60 s).

    python benchmarks/execution_times.py                 # everything
    python benchmarks/execution_times.py --kind exercise --only 01_neurons --out /tmp/t.json

Chapters run from their MyST source with a fresh kernel, as the book build does; exercise
solutions run with NBGRADER_EXECUTION=autograde, as the grader does. Prints a table and
writes benchmarks/results/execution_times.json. Times on a shared machine vary; compare them
with the budgets, which leave a margin, not with each other to the second.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import write_result

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = {"chapter": 90.0, "exercise": 60.0}


def execute(nb: nbformat.NotebookNode, cwd: Path, env: dict[str, str]) -> float:
    old = dict(os.environ)
    os.environ.update(env)
    try:
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
        return time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(old)


def targets(only: list[str], kinds: list[str]) -> list[tuple[str, str, Path]]:
    found = [("chapter", p.stem, p) for p in sorted((ROOT / "chapters").glob("*.md"))]
    found += [("exercise", p.name, p / f"{p.name}.ipynb") for p in sorted((ROOT / "solutions").iterdir())
              if (p / f"{p.name}.ipynb").is_file()]
    return [t for t in found if (not only or t[1] in only) and t[0] in kinds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=[], help="chapter or exercise ids")
    parser.add_argument("--kind", nargs="*", choices=sorted(BUDGETS), default=sorted(BUDGETS),
                        help="chapters, exercises or both (default)")
    parser.add_argument("--out", type=Path, help="result file (default: benchmarks/results/execution_times.json)")
    args = parser.parse_args()
    rows = []
    for kind, name, path in targets(args.only, args.kind):
        if kind == "chapter":
            nb, env = jupytext.read(path), {}
        else:
            nb, env = nbformat.read(path, as_version=4), {"NBGRADER_EXECUTION": "autograde"}
        start, error = time.perf_counter(), None
        try:
            seconds = execute(nb, path.parent, env)
        except CellExecutionError as exc:  # one failing notebook must not hide the others' times
            seconds, error = time.perf_counter() - start, str(exc).strip().splitlines()[-1][:300]
        row = {"kind": kind, "name": name, "seconds": round(seconds, 1), "budget": BUDGETS[kind],
               "within_budget": error is None and seconds <= BUDGETS[kind]}
        rows.append(row | ({"error": error} if error else {}))
        print(f"{kind:9s} {name:24s} {seconds:7.1f} s  (budget {BUDGETS[kind]:.0f} s)"
              + (f"  FAILED: {error}" if error else ""), flush=True)
    if not rows:
        raise SystemExit(f"nothing matches {args.only}")
    path = write_result("execution_times", {"rows": rows}, args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
