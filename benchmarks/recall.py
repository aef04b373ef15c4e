"""Recall accuracy against lag for RNN, NVSI, GRU and LSTM, at equal training steps.

    python benchmarks/recall.py                                  # the committed sweep
    python benchmarks/recall.py --lags 3 --seeds 0 --steps 20 --out /tmp/recall.json
    python benchmarks/recall.py --tuned --resume --jobs 1        # learning rate tuned per cell

Each run trains one cell on :func:`course_utils.recall.recall_task` with
:func:`course_utils.recall.train_recall` (fresh batches, Adam, clipping, the same number of
steps for every cell) and records its test accuracy, its seconds, and its test accuracy
every ``steps / 10`` steps. Before the sweep, each cell's seconds per training step are
timed at every lag (fastest of three round-robin timings), so that readers can also compare
cells at equal wall-clock time: the seconds of the runs themselves depend on how busy the
machine was. The plain RNN and NVSI are the course's own vectorised modules; GRU and LSTM are
``torch.nn.GRU`` and ``torch.nn.LSTM``. Every process uses one thread (``--jobs`` runs
several processes), which is faster than two competing threads on a small shared CPU.
Writes benchmarks/results/recall.json. With ``--tuned``, each cell's learning rate is first
tuned on a small grid (see :func:`tuned_plan`), every finished run is added to
benchmarks/results/recall_tuned.json at once, and ``--resume`` skips the runs already there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import (
    RESULTS,
    provenance,
    resumed,
    run_jobs,
    write_result,
    write_result_atomic,
)
from course_utils import recall


def one_run(job: tuple[str, int, int, dict]) -> dict:
    import torch

    torch.set_num_threads(1)
    kind, lag, seed, settings = job
    return recall.train_recall(kind, lag, seed=seed, record_every=max(1, settings["steps"] // 10), **settings)


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
                result = recall.train_recall(kind, lag, **timing)
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


# --------------------------------------------------------------------------- the tuned sweep
#
#   python benchmarks/recall.py --tuned --resume --jobs 1     # writes benchmarks/results/recall_tuned.json
#
# Protocol: phase "tune" trains every cell at seed 0 with each learning rate of LR_GRID at the
# lags TUNE_LAGS for --steps steps. A cell at chance (accuracy <= chance + CHANCE_MARGIN, chance =
# 1 / n_symbols, the number of classes of recall.recall_task) at every learning rate on a lag is
# tuned again on that lag at twice the steps (those runs are recorded too). A cell's learning
# rate is the one with the highest mean accuracy over the tuning lags (taking, on each lag, the
# longest tuning runs); a tie (several rates at 100%, say) goes to the rate that learned fastest,
# the highest mean of the accuracies recorded along the runs (:func:`learning_area`), and a tie
# of both to the smaller rate. Phase "sweep" then trains every cell at every
# lag and seed at its learning rate for --steps steps. Every finished run is appended to the
# result file at once (written atomically); --resume skips the runs already in it.

LR_GRID = (3e-3, 1e-2, 3e-2)
TUNE_LAGS = (20, 50)
TUNE_SEED = 0
CHANCE_MARGIN = 0.05
# settings every run of one result file shares (a resumed file must have been made with the same)
FIXED = ("hidden_size", "batch_size", "gate_bias", "eval_size", "n_symbols", "n_noise", "clip")


def learning_area(run: dict) -> float:
    """How fast a run learned: the mean of the test accuracies recorded every tenth of its steps
    (its learning curve's area over the run, 1.0 for a run at 100% from its first record)."""
    return float(np.mean([accuracy for _, accuracy in run["curve"]]))


def run_key(run: dict) -> tuple:
    """What identifies a run of the tuned sweep: a run with the same key is not run again."""
    return (run["kind"], run["lag"], run["seed"], float(run["lr"]), run["steps"], run["hidden_size"],
            run["batch_size"], run["phase"])


def one_tuned_run(job: dict) -> dict:
    """Train one run of the tuned sweep; its record (``train_recall``'s result, the run's
    learning rate, phase and sizes, and the UTC time it finished)."""
    import torch

    torch.set_num_threads(1)
    settings = {**job["settings"], "lr": job["lr"], "steps": job["steps"]}
    result = recall.train_recall(job["kind"], job["lag"], seed=job["seed"], record_every=max(1, job["steps"] // 10),
                                **settings)
    curve = result.pop("curve")
    return {**result, "lr": job["lr"], "phase": job["phase"], "hidden_size": settings["hidden_size"],
            "batch_size": settings["batch_size"], "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "curve": [list(point) for point in curve]}


def tuned_plan(records: list[dict], cfg: dict) -> tuple[list[dict], dict, dict, bool]:
    """The runs still to do given the ``records`` done so far.

    Returns ``(jobs, chosen_lr, tuning, resolved)``: the jobs whose inputs are known (tuning
    runs, and the sweep of every cell whose tuning is finished), ``{kind: lr}`` for the cells
    whose tuning is finished, ``{kind: {lag: {"steps", "accuracy": {lr: accuracy}}}}`` (the
    tuning runs each choice rests on), and whether every planned run is known (no sweep waits
    on a tuning run)."""
    done = {run_key(r): r for r in records}
    s = cfg["settings"]
    chance = 1 / s["n_symbols"]

    def job(kind: str, lag: int, seed: int, lr: float, steps: int, phase: str) -> dict:
        return {"kind": kind, "lag": lag, "seed": seed, "lr": lr, "steps": steps, "phase": phase,
                "hidden_size": s["hidden_size"], "batch_size": s["batch_size"], "settings": s}

    jobs, chosen, tuning, resolved = [], {}, {}, True
    for kind in cfg["cells"]:
        accuracy, ready = {}, True
        for lag in cfg["tune_lags"]:
            for steps in (cfg["steps"], 2 * cfg["steps"]):
                wanted = [job(kind, lag, TUNE_SEED, lr, steps, "tune") for lr in cfg["lr_grid"]]
                missing = [j for j in wanted if run_key(j) not in done]
                if missing:
                    jobs += missing
                    ready = False
                    break
                accuracy[lag] = {"steps": steps, "accuracy": {j["lr"]: done[run_key(j)]["accuracy"] for j in wanted},
                                 "area": {j["lr"]: learning_area(done[run_key(j)]) for j in wanted}}
                if any(a > chance + cfg["chance_margin"] for a in accuracy[lag]["accuracy"].values()):
                    break  # off chance at some learning rate: no doubled steps on this lag
        tuning[kind] = {str(lag): {"steps": a["steps"], "accuracy": {str(lr): acc for lr, acc in a["accuracy"].items()},
                                   "area": {str(lr): round(area, 4) for lr, area in a["area"].items()}}
                        for lag, a in accuracy.items()}
        if not ready:
            resolved = False
            continue
        best = None
        # ascending, and only a strictly better score wins: ties go to the smaller rate
        for lr in sorted(cfg["lr_grid"]):
            score = tuple(round(float(np.mean([accuracy[lag][what][lr] for lag in cfg["tune_lags"]])), 9)
                          for what in ("accuracy", "area"))  # accuracy first, then speed of learning
            if best is None or score > best[0]:
                best = (score, lr)
        chosen[kind] = best[1]
        jobs += [job(kind, lag, seed, best[1], cfg["steps"], "sweep") for lag in cfg["lags"] for seed in cfg["seeds"]]
    jobs = [j for j in jobs if run_key(j) not in done]
    # tuning first; then the longest lags first, so that parallel workers finish together
    jobs.sort(key=lambda j: (j["phase"] != "tune", -j["lag"], -j["steps"], cfg["cells"].index(j["kind"]),
                             j["seed"], j["lr"]))
    return jobs, chosen, tuning, resolved


def tuned_figures(records: list[dict], cfg: dict, extra: dict) -> dict:
    """The ``results`` part of the tuned sweep's file, recomputed from its ``records``."""
    jobs, chosen, tuning, resolved = tuned_plan(records, cfg)
    sweep = [r for r in records if r["phase"] == "sweep" and chosen.get(r["kind"]) == r["lr"]
             and r["steps"] == cfg["steps"] and r["lag"] in cfg["lags"] and r["seed"] in cfg["seeds"]]
    summary = summarise(sweep)
    summary = {kind: summary[kind] for kind in cfg["cells"] if kind in summary}  # in the order of --cells
    for kind, per_lag in summary.items():
        for entry in per_lag.values():
            entry["lr"] = chosen[kind]
    s = cfg["settings"]
    settings = {**{k: s[k] for k in FIXED}, "steps": cfg["steps"], "cells": cfg["cells"], "lags": cfg["lags"],
                "seeds": cfg["seeds"], "lr_grid": cfg["lr_grid"], "tune_lags": cfg["tune_lags"],
                "tune_seed": TUNE_SEED, "chance": 1 / s["n_symbols"], "chance_margin": cfg["chance_margin"],
                "tie_break": "learning_area, then the smaller rate", "jobs": cfg["jobs"], "threads_per_job": 1}
    return {"settings": settings, "complete": resolved and not jobs, "runs_done": len(records),
            "runs_planned": len(records) + len(jobs) if resolved else None, **extra,
            "chosen_lr": chosen, "tuning": tuning, "summary": summary, "runs": records}


def run_tuned(args: argparse.Namespace, settings: dict) -> Path:
    """The tuned sweep (see the comment above :data:`LR_GRID`), resumable; returns the file written."""
    out = args.out or RESULTS / "recall_tuned.json"
    cfg = {"settings": settings, "cells": args.cells, "lags": sorted(args.lags), "seeds": args.seeds,
           "steps": args.steps, "lr_grid": sorted(args.lr_grid), "tune_lags": sorted(args.tune_lags),
           "chance_margin": args.chance_margin, "jobs": args.jobs}
    old = resumed(out, settings, args.resume, FIXED)
    records, sessions, step_sec = old.get("runs", []), old.get("sessions", []), old.get("step_seconds")
    if step_sec and not all(str(lag) in step_sec.get(kind, {}) for kind in args.cells for lag in args.lags):
        step_sec = None  # timings of other cells or lags: time again
    start = time.perf_counter()
    session = {**provenance(), "seconds": 0.0}
    sessions = [*sessions, session]

    def write() -> None:
        session["seconds"] = round(time.perf_counter() - start, 1)
        extra = {"seconds": round(sum(x["seconds"] for x in sessions), 1), "sessions": sessions,
                 "step_seconds": step_sec}
        write_result_atomic("recall_tuned", tuned_figures(records, cfg, extra), out)

    print(f"{len(records)} runs already in {out}" if records else f"writing {out}", flush=True)
    if step_sec is None:
        step_sec = step_seconds(args.cells, sorted(args.lags), {**settings, "lr": 1e-2, "steps": args.steps})
        print("seconds per step:", json.dumps(step_sec), flush=True)
    write()

    def report(result: dict) -> None:
        records.append(result)
        write()
        print(f"{result['phase']:5s} {result['kind']:5s} lag {result['lag']:3d} seed {result['seed']} "
              f"lr {result['lr']:g} steps {result['steps']}: "
              f"accuracy {result['accuracy']:.3f} in {result['seconds']:6.1f} s  "
              f"[{time.perf_counter() - start:7.1f} s]", flush=True)

    run_jobs(lambda: tuned_plan(records, cfg)[0], one_tuned_run, report, args.jobs, run_key)
    write()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", nargs="+", default=list(recall.RECURRENT_KINDS), choices=recall.RECURRENT_KINDS)
    parser.add_argument("--lags", nargs="+", type=int, default=[5, 10, 20, 30, 40, 50, 60])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=800, help="training steps of every run")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, help="learning rate of every run (default 0.01; not with --tuned)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--gate-bias", type=float, default=1.0, help="see recall.make_recurrent")
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--jobs", type=int, help="worker processes (default 2; with --tuned 1)")
    parser.add_argument("--out", type=Path, help="result file (default: benchmarks/results/recall.json; "
                                                 "with --tuned benchmarks/results/recall_tuned.json)")
    tuned = parser.add_argument_group("tuned sweep", "learning rate tuned per cell, resumable (see tuned_plan)")
    tuned.add_argument("--tuned", action="store_true", help="tune each cell's learning rate, then sweep at it")
    tuned.add_argument("--resume", action="store_true", help="keep the runs already in --out and skip them")
    tuned.add_argument("--lr-grid", nargs="+", type=float, default=list(LR_GRID), help="learning rates tried")
    tuned.add_argument("--tune-lags", nargs="+", type=int, default=list(TUNE_LAGS), help="lags of the tuning runs")
    tuned.add_argument("--chance-margin", type=float, default=CHANCE_MARGIN,
                       help="a tuning run is at chance when its accuracy <= 1 / n_symbols + this")
    args = parser.parse_args()
    if args.tuned:
        if args.lr is not None:
            parser.error("--tuned chooses the learning rate: use --lr-grid, not --lr")
        args.jobs = args.jobs or 1
        settings = {"hidden_size": args.hidden, "batch_size": args.batch_size, "gate_bias": args.gate_bias,
                    "eval_size": args.eval_size, "n_symbols": 8, "n_noise": 8, "clip": 1.0}
        start = time.perf_counter()
        path = run_tuned(args, settings)
        print(f"wrote {path} in {time.perf_counter() - start:.0f} s")
        return
    if args.resume:
        parser.error("--resume needs --tuned")
    args.jobs = args.jobs or 2
    args.lr = 1e-2 if args.lr is None else args.lr

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
