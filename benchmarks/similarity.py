"""How long the similarity report of ``grade`` takes, and whether planted near-copies come first.

    python benchmarks/similarity.py                          # 250, 500, 1000 and 2000 students
    python benchmarks/similarity.py --sizes 100 --out /tmp/similarity.json
    python benchmarks/similarity.py --resume                 # skip the sizes already measured

A synthetic class of Exercise 1: each student answers each task in one of the fixture
class's styles (``tests/grader/fixtures/make_class.py``: four students' own styles and the
reference), varied as students vary code without thinking (``1.0`` or ``1``, the result
returned at once or named first) and with 1-3 lines of their own (debugging prints, checks,
temporaries) put in at random places. Five students are then
replaced by near-copies of five others (names changed, comments reworded, one line added).
The timing covers the whole report as ``grade`` computes it: the k-grams of the stub and the
reference, normalising and fingerprinting every cell, and ranking the pairs
(:func:`course_utils.instructor.grade.similarity.similar_pairs`). The issue asks for 2,000
students in under 60 s. Each finished size is written to benchmarks/results/similarity.json
at once.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "grader" / "fixtures"))
import make_class  # noqa: E402

from benchmarks.common import RESULTS, write_result_atomic  # noqa: E402
from course_utils.instructor.grade import similarity  # noqa: E402

NOISE = ["    print('debug', {n})", "    checked_{n} = np.isfinite({n}.0)", "    assert {n} > 0",
         "    _unused_{n} = [{n}, {m}]", "    # step {n}: see the notes", "    scale_{n} = {n} / {m}"]
PLANTED = 5


def _varied(source: str, rng: random.Random) -> str:
    """What students vary without thinking: ``1.0`` or ``1``, ``0.0`` or ``0``, and the result
    returned at once or named first."""
    source = re.sub(r"\b([01])\.0\b", lambda m: m.group(1) if rng.random() < 0.5 else m.group(0), source)
    lines = source.rstrip("\n").splitlines()
    last = lines[-1]
    if last.startswith("    return ") and rng.random() < 0.5:
        lines[-1:] = [f"    result = {last[len('    return '):]}", "    return result"]
    return "\n".join(lines) + "\n"


def _noisy(source: str, rng: random.Random, least: int = 1) -> str:
    lines = source.rstrip("\n").splitlines()
    for _ in range(rng.randint(least, 3)):
        where = rng.randint(1, max(1, len(lines) - 1))  # inside the function, before its last line
        lines.insert(where, rng.choice(NOISE).format(n=rng.randint(1, 10_000), m=rng.randint(1, 10_000)))
    return "\n".join(lines) + "\n"


def synthetic_class(size: int, seed: int = 0) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """``size`` students' solution cells, and the planted (original, copy) pairs."""
    rng = random.Random(seed)
    reference = make_class.correct()
    styles = [*make_class.STYLES.values(), reference]
    students = {}
    for i in range(size):
        students[f"s{i:05d}"] = {task: _noisy(_varied(rng.choice(styles)[task], rng), rng) for task in make_class.TASKS}
    planted = []
    chosen = rng.sample(sorted(students), 2 * PLANTED)
    for original, copy in zip(chosen[:PLANTED], chosen[PLANTED:], strict=True):
        disguised = make_class.near_copy(students[original])
        task = rng.choice(make_class.TASKS)
        disguised[task] = _noisy(disguised[task].replace("# my own work\n", ""), rng, least=0)
        students[copy] = disguised
        planted.append(tuple(sorted((original, copy))))
    return students, planted


def measure(size: int) -> dict:
    students, planted = synthetic_class(size)
    stub = similarity.solution_cells(json.loads((ROOT / "exercises" / "01_neurons" / "01_neurons.ipynb").read_text()))
    start = time.perf_counter()
    ignore = similarity.all_kgrams(stub) | similarity.all_kgrams(make_class.correct())
    pairs = similarity.similar_pairs(students, ignore, limit=500)
    seconds = time.perf_counter() - start
    ranks = {(a, b): i + 1 for i, (a, b, _, _) in enumerate(pairs)}
    planted_ranks = sorted(ranks.get(p, 0) for p in planted)
    honest = [s for a, b, s, _ in pairs if (a, b) not in set(planted)]
    return {"students": size, "seconds": round(seconds, 2), "planted_ranks": planted_ranks,
            "planted_min_score": min((s for a, b, s, _ in pairs if (a, b) in set(planted)), default=0.0),
            "best_honest_score": honest[0] if honest else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000])
    parser.add_argument("--out", type=Path, default=RESULTS / "similarity.json")
    parser.add_argument("--resume", action="store_true", help="skip the sizes already in --out")
    args = parser.parse_args(argv)
    runs = []
    if args.resume and args.out.is_file():
        runs = json.loads(args.out.read_text())["results"]["runs"]
    for size in args.sizes:
        if any(r["students"] == size for r in runs):
            print(f"{size} students: already measured, skipped")
            continue
        run = measure(size)
        runs.append(run)
        runs.sort(key=lambda r: r["students"])
        write_result_atomic("similarity", {"runs": runs}, args.out)
        print(f"{size} students: similarity report in {run['seconds']:.1f} s; the {PLANTED} planted near-copies "
              f"rank {run['planted_ranks']} (lowest score {run['planted_min_score']:.2f}; best honest pair "
              f"{run['best_honest_score']:.2f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
