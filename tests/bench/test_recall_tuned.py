"""The tuned recall sweep (``benchmarks/recall.py --tuned``) runs on a tiny setting, writes a
result of the documented shape after every run, and ``--resume`` runs only what is missing:
after a kill, on a complete file, and on a file with records taken out."""

import json
import signal
import subprocess
import sys
import time

CELLS = ["rnn", "nvsi"]
LAGS = [3, 4]
GRID = [0.003, 0.01, 0.03]


def _command(out, steps=10, *extra):
    return [sys.executable, "benchmarks/recall.py", "--tuned", "--cells", *CELLS, "--lags", *map(str, LAGS),
            "--tune-lags", *map(str, LAGS), "--seeds", "0", "--steps", str(steps), "--hidden", "8",
            "--eval-size", "50", "--out", str(out), *extra]


def _run(root, out, *extra, steps=10):
    proc = subprocess.run(_command(out, steps, *extra), cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def _key(r):
    return (r["kind"], r["lag"], r["seed"], r["lr"], r["steps"], r["hidden_size"], r["batch_size"], r["phase"])


def _area(run):
    return sum(accuracy for _, accuracy in run["curve"]) / len(run["curve"])


def _check_shape(result, steps, margin=0.05):
    """The file follows the protocol: tuning at every lr, doubled steps exactly where a cell was at
    chance at every lr, the sweep at each cell's best lr, and the summary of the sweep."""
    assert {"command", "date", "machine", "results"} <= set(result)
    figures = result["results"]
    assert figures["complete"] is True and figures["runs_done"] == figures["runs_planned"] == len(figures["runs"])
    assert figures["settings"]["lr_grid"] == GRID and figures["settings"]["chance"] == 1 / 8
    runs = figures["runs"]
    assert len({_key(r) for r in runs}) == len(runs), "a run was recorded twice"
    assert {r["phase"] for r in runs} == {"tune", "sweep"}
    for r in runs:
        assert 0 <= r["accuracy"] <= 1 and r["seconds"] >= 0 and r["hidden_size"] == 8 and r["finished"]
        assert [s for s, _ in r["curve"]] == list(range(r["steps"] // 10, r["steps"] + 1, r["steps"] // 10))
    chosen = figures["chosen_lr"]
    assert set(chosen) == set(CELLS) and all(lr in GRID for lr in chosen.values())
    for kind in CELLS:
        means = {}
        for lag in LAGS:
            first = {r["lr"]: (r["accuracy"], _area(r)) for r in runs
                     if (r["phase"], r["kind"], r["lag"], r["steps"]) == ("tune", kind, lag, steps)}
            doubled = {r["lr"]: (r["accuracy"], _area(r)) for r in runs
                       if (r["phase"], r["kind"], r["lag"], r["steps"]) == ("tune", kind, lag, 2 * steps)}
            assert set(first) == set(GRID)
            at_chance = all(a <= 1 / 8 + margin for a, _ in first.values())
            assert set(doubled) == (set(GRID) if at_chance else set())
            used = doubled or first
            assert figures["tuning"][kind][str(lag)]["steps"] == (2 * steps if doubled else steps)
            for lr in GRID:
                means.setdefault(lr, []).append(used[lr])
        # the best mean accuracy, then the fastest learning (mean of the curve), then the smaller lr
        best = max(sorted(GRID), key=lambda lr: tuple(round(sum(m[i] for m in means[lr]) / 2, 9) for i in (0, 1)))
        assert chosen[kind] == best
        sweep = [r for r in runs if r["phase"] == "sweep" and r["kind"] == kind]
        assert sorted((r["lag"], r["seed"]) for r in sweep) == [(lag, 0) for lag in LAGS]
        assert all(r["lr"] == best and r["steps"] == steps for r in sweep)
        assert set(figures["summary"][kind]) == {str(lag) for lag in LAGS}
        for lag in LAGS:
            entry = figures["summary"][kind][str(lag)]
            assert {"mean", "min", "max", "seconds"} <= set(entry) and entry["lr"] == best
    assert set(figures["step_seconds"]) == set(CELLS)
    assert len(figures["sessions"]) >= 1 and {"command", "date", "machine"} <= set(figures["sessions"][0])


def test_tuned_recall_writes_its_result_and_resumes(root, tmp_path):
    out = tmp_path / "recall_tuned.json"
    proc = _run(root, out)
    first = json.loads(out.read_text())
    assert "recall.py --tuned --cells rnn nvsi" in first["command"]
    _check_shape(first, steps=10)
    assert "tune  rnn   lag   4 seed 0 lr 0.003 steps 10: accuracy" in proc.stdout

    # resumed on a complete file: nothing runs again, not even the step timings
    proc = _run(root, out, "--resume")
    again = json.loads(out.read_text())
    assert again["results"]["runs"] == first["results"]["runs"]
    assert again["results"]["step_seconds"] == first["results"]["step_seconds"]
    assert len(again["results"]["sessions"]) == 2
    assert "seconds per step" not in proc.stdout and "accuracy" not in proc.stdout

    # a file with records taken out (a tuning run and a sweep run): only those run again, in two processes
    runs = first["results"]["runs"]
    kept = [r for i, r in enumerate(runs) if i not in (0, len(runs) - 1)]
    partial = json.loads(out.read_text())
    partial["results"]["runs"] = kept
    out.write_text(json.dumps(partial))
    proc = _run(root, out, "--resume", "--jobs", "2")
    resumed = json.loads(out.read_text())
    _check_shape(resumed, steps=10)
    new = resumed["results"]["runs"]
    assert new[: len(kept)] == kept  # untouched, same finish times and seconds
    assert sorted(map(_key, new[len(kept):])) == sorted(map(_key, [runs[0], runs[-1]]))
    assert proc.stdout.count("accuracy") == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_tuned_recall_doubles_the_steps_of_a_cell_at_chance(root, tmp_path):
    out = tmp_path / "recall_tuned.json"
    _run(root, out, "--chance-margin", "1")  # every run counts as at chance: every tuning lag is redone
    result = json.loads(out.read_text())
    _check_shape(result, steps=10, margin=1)
    assert sum(r["steps"] == 20 for r in result["results"]["runs"]) == len(CELLS) * len(LAGS) * len(GRID)


def test_tuned_recall_killed_mid_run_resumes_where_it_stopped(root, tmp_path):
    out = tmp_path / "recall_tuned.json"
    proc = subprocess.Popen(_command(out, 200), cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and len(json.loads(out.read_text())["results"]["runs"]) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    killed = json.loads(out.read_text())["results"]  # a whole file: written atomically
    assert killed["complete"] is False and len(killed["runs"]) >= 2
    _run(root, out, "--resume", steps=200)
    result = json.loads(out.read_text())
    _check_shape(result, steps=200)
    assert result["results"]["runs"][: len(killed["runs"])] == killed["runs"]
    assert len(result["results"]["runs"]) > len(killed["runs"])


def test_a_tie_on_accuracy_goes_to_the_rate_that_learned_fastest():
    from benchmarks import recall

    cfg = {"settings": {"hidden_size": 8, "batch_size": 4, "n_symbols": 8}, "cells": ["gru"], "lags": [5],
           "seeds": [0], "steps": 10, "lr_grid": GRID, "tune_lags": [20, 50], "chance_margin": 0.05, "jobs": 1}

    def tuning_run(lag, lr, curve):
        return {"kind": "gru", "lag": lag, "seed": 0, "lr": lr, "steps": 10, "hidden_size": 8, "batch_size": 4,
                "phase": "tune", "accuracy": curve[-1], "curve": [[i + 1, a] for i, a in enumerate(curve)]}

    slow, fast = [0.1] * 9 + [1.0], [0.5] + [1.0] * 9  # both end at 100%
    runs = [tuning_run(lag, lr, fast if lr == 0.01 else slow) for lag in (20, 50) for lr in GRID]
    jobs, chosen, tuning, resolved = recall.tuned_plan(runs, cfg)
    assert chosen == {"gru": 0.01} and resolved
    assert tuning["gru"]["20"]["area"] == {"0.003": 0.19, "0.01": 0.95, "0.03": 0.19}
    assert [(j["kind"], j["lr"], j["phase"]) for j in jobs] == [("gru", 0.01, "sweep")]
    # equal accuracy and equal speed: the smaller rate
    runs = [tuning_run(lag, lr, fast) for lag in (20, 50) for lr in GRID]
    assert recall.tuned_plan(runs, cfg)[1] == {"gru": 0.003}
