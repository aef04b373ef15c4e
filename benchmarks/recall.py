"""Recall accuracy against lag for RNN, NVSI, GRU and LSTM, at equal training steps.

    python benchmarks/recall.py                                  # the committed sweep
    python benchmarks/recall.py --lags 3 --seeds 0 --steps 20 --out /tmp/recall.json

Each run trains one cell on :func:`course_utils.tasks.recall_task` with
:func:`course_utils.tasks.train_recall` (fresh batches, Adam, clipping, the same number of
steps for every cell) and records its test accuracy, its seconds, and its test accuracy
every ``steps / 10`` steps. Before the sweep, each cell's seconds per training step are
timed at every lag (fastest of three round-robin timings), so that readers can also compare
cells at equal wall-clock time: the seconds of the runs themselves depend on how busy the
machine was. The plain RNN and NVSI are the course's own vectorised modules; GRU and LSTM are
``torch.nn.GRU`` and ``torch.nn.LSTM``. Every process uses one thread (``--jobs`` runs
several processes), which is faster than two competing threads on a small shared CPU.
Writes benchmarks/results/recall.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import write_result  # noqa: E402
from course_utils import tasks  # noqa: E402


def one_run(job: tuple[str, int, int, dict]) -> dict:
    import torch

    torch.set_num_threads(1)
    kind, lag, seed, settings = job
    return tasks.train_recall(kind, lag, seed=seed, record_every=max(1, settings["steps"] // 10), **settings)


def step_seconds(cells: list[str], lags: list[int], settings: dict, steps: int = 20, repeats: int = 3) -> dict:
    """Seconds per training step of each cell at each lag: the fastest of ``repeats`` timings of
    ``steps`` steps, taken round-robin over the cells so that a busy moment of a shared machine
    does not favour one cell. ``{kind: {lag: seconds}}`` (lags as strings, for JSON)."""
    import torch

    torch.set_num_threads(1)
    best = {kind: {str(lag): float("inf") for lag in lags} for kind in cells}
    timing = {**settings, "steps": steps, "eval_size": 8}
    for _ in range(repeats):
        for lag in lags:
            for kind in cells:
                result = tasks.train_recall(kind, lag, **timing)
                best[kind][str(lag)] = min(best[kind][str(lag)], result["seconds"] / steps)
    return {kind: {lag: round(sec, 5) for lag, sec in per_lag.items()} for kind, per_lag in best.items()}


def summarise(runs: list[dict]) -> dict:
    """``{kind: {lag: {"mean", "min", "max", "seconds"}}}`` over seeds (lags as strings, for JSON)."""
    out: dict = {}
    for kind in dict.fromkeys(r["kind"] for r in runs):
        out[kind] = {}
        for lag in sorted({r["lag"] for r in runs if r["kind"] == kind}):
            acc = [r["accuracy"] for r in runs if r["kind"] == kind and r["lag"] == lag]
            sec = [r["seconds"] for r in runs if r["kind"] == kind and r["lag"] == lag]
            out[kind][str(lag)] = {"mean": round(float(np.mean(acc)), 4), "min": min(acc), "max": max(acc),
                                   "seconds": round(float(np.mean(sec)), 2)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=list(tasks.RECURRENT_KINDS), choices=tasks.RECURRENT_KINDS)
    parser.add_argument("--lags", nargs="+", type=int, default=[5, 10, 20, 30, 40, 50, 60])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=800, help="training steps of every run")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--gate-bias", type=float, default=1.0, help="see tasks.make_recurrent")
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--out", type=Path, help="result file (default: benchmarks/results/recall.json)")
    args = parser.parse_args()

    settings = {"steps": args.steps, "hidden_size": args.hidden, "lr": args.lr, "batch_size": args.batch_size,
                "gate_bias": args.gate_bias, "eval_size": args.eval_size, "n_symbols": 8, "n_noise": 8, "clip": 1.0}
    # longest runs first, so that the workers finish together
    jobs = [(kind, lag, seed, settings) for lag in sorted(args.lags, reverse=True)
            for kind in args.cells for seed in args.seeds]
    start = time.perf_counter()
    timing = step_seconds(args.cells, sorted(args.lags), settings)
    print("seconds per step:", json.dumps(timing), flush=True)
    runs = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for result in pool.map(one_run, jobs):
            runs.append(result)
            print(f"{result['kind']:5s} lag {result['lag']:3d} seed {result['seed']}: accuracy "
                  f"{result['accuracy']:.3f} in {result['seconds']:6.1f} s  [{time.perf_counter() - start:7.1f} s]",
                  flush=True)
    runs.sort(key=lambda r: (args.cells.index(r["kind"]), r["lag"], r["seed"]))
    figures = {"settings": {**settings, "cells": args.cells, "lags": sorted(args.lags), "seeds": args.seeds,
                            "jobs": args.jobs, "threads_per_job": 1},
               "seconds": round(time.perf_counter() - start, 1), "step_seconds": timing,
               "summary": summarise(runs), "runs": runs}
    path = write_result("recall", figures, args.out)
    print(f"wrote {path} in {figures['seconds']:.0f} s")


if __name__ == "__main__":
    main()
