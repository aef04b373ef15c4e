"""The grader's memory against the size of the class: peak RSS of collecting a zip of N submissions.

    python benchmarks/collect_memory.py                   # the committed result (100 and 2000)
    python benchmarks/collect_memory.py --sizes 10 50 --out /tmp/collect_memory.json

A zip of N copies of a full-marks Exercise 1 submission (the fixture student alice; each
copy made distinct by a comment, as real submissions are) is collected by
``course_utils.instructor.grade.collect`` in a fresh process, twice: with the spool folder
``grade`` uses (each prepared notebook written to disk, read back when its job starts) and
without it (every notebook kept in memory). The figure is the process's peak resident set
size (``ru_maxrss``) above the same process before collecting. The target (the grading
issue's): with the spool, the peak for the largest class is less than 20% above the peak
for the smallest. Prints the table and writes benchmarks/results/collect_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import write_result

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_neurons"
SUBMISSION = ROOT / "tests" / "grader" / "fixtures" / "submissions" / "alice" / f"{ASSIGNMENT}.ipynb"
RELEASE = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
TARGET = 1.20

MEASURE = """
import json, resource, sys, tempfile
from pathlib import Path
from course_utils.instructor.grade import collect
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with tempfile.TemporaryDirectory() as spool:
    spool_dir = Path(spool) if sys.argv[4] == "spool" else None
    subs, _ = collect(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), spool=spool_dir)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"students": len(subs), "ok": sum(s.status == "ok" for s in subs),
                      "before_kib": before, "peak_kib": peak}))
"""


def make_class(path: Path, students: int) -> Path:
    """A zip of ``students`` distinct copies of the fixture submission, one folder each."""
    notebook = json.loads(SUBMISSION.read_text())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(students):
            notebook["metadata"]["submission_note"] = f"copy {i}"
            archive.writestr(f"student{i:05d}/{ASSIGNMENT}.ipynb", json.dumps(notebook))
    return path


def measure(class_zip: Path, mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", MEASURE, ASSIGNMENT, str(class_zip), str(RELEASE), mode],
                          capture_output=True, text=True, cwd=ROOT, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"collecting {class_zip.name} ({mode}) failed:\n{proc.stderr[-2000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**row, "mode": mode, "growth_mib": round((row["peak_kib"] - row["before_kib"]) / 1024, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 2000], help="class sizes (first: the baseline)")
    parser.add_argument("--out", type=Path, default=None,
                        help="result file (default: benchmarks/results/collect_memory.json)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            class_zip = make_class(Path(tmp) / f"class{size}.zip", size)
            for mode in ("spool", "memory"):
                row = {"size": size, "zip_mib": round(class_zip.stat().st_size / 2**20, 2), **measure(class_zip, mode)}
                if row["ok"] != size:
                    raise SystemExit(f"only {row['ok']} of {size} copies were collected as gradable")
                rows.append(row)
                print(f"{size:>6} students  {mode:<7} peak RSS {row['peak_kib'] / 1024:8.1f} MiB "
                      f"(+{row['growth_mib']:.1f} MiB while collecting)", flush=True)
    peak = {(r["size"], r["mode"]): r["peak_kib"] for r in rows}
    small, large = args.sizes[0], args.sizes[-1]
    ratios = {mode: round(peak[(large, mode)] / peak[(small, mode)], 3) for mode in ("spool", "memory")}
    met = ratios["spool"] < TARGET
    print(f"peak RSS, {large} students over {small}: spool {ratios['spool']:.2f}x, in memory {ratios['memory']:.2f}x "
          f"(target: spool < {TARGET:.2f}x: {'met' if met else 'NOT met'})")
    write_result("collect_memory", {"assignment": ASSIGNMENT, "sizes": args.sizes, "rows": rows,
                                    "ratio_large_over_small": ratios, "target": TARGET, "met": met}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
