"""The RNN/GRU/LSTM and depth benchmark of Chapters 5-7 runs on a tiny setting, writes a result of
the documented shape, resumes without repeating a run, and the committed result covers what
the chapters read from it."""

import json
import os
import subprocess
import sys

TINY = ["--limit", "60", "--bbc-epochs", "1", "--lr-grid", "0.003", "0.01", "--configs", "lstm_max", "bilstm_1"]


def bench(root, *args):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.rnn_text", *TINY, *args], cwd=root,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return proc


def test_rnn_text_benchmark_writes_and_resumes(root, tmp_path):
    out = tmp_path / "rnn_text.json"
    proc = bench(root, "--seeds", "0", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {"command", "date", "machine", "results"} <= set(result)
    assert "rnn_text" in result["command"] and "--limit 60" in result["command"]
    figures = result["results"]
    assert figures["complete"] and figures["settings"]["limit"] == 60 and figures["settings"]["seeds"] == [0, 1]
    runs = figures["runs"]
    # 2 tuning runs per configuration at seed 0, then seed 1 at the chosen rate
    assert sorted((r["experiment"], r["config"], r["seed"]) for r in runs) == [
        ("bbc", "lstm_max", 0), ("bbc", "lstm_max", 0), ("bbc", "lstm_max", 1),
        ("seg", "bilstm_1", 0), ("seg", "bilstm_1", 0), ("seg", "bilstm_1", 1)]
    for experiment, config, metric in (("bbc", "lstm_max", "val_accuracy"), ("seg", "bilstm_1", "val_f1")):
        tuning = figures["tuning"][experiment][config]
        assert set(tuning) == {"0.003", "0.01"}
        best = max(tuning.values())
        chosen = figures["chosen_lr"][experiment][config]
        assert tuning[str(chosen)] == best and (chosen == 0.003 or tuning["0.003"] < best)  # ties to the smaller rate
        seed1 = [r for r in runs if r["config"] == config and r["seed"] == 1]
        assert len(seed1) == 1 and seed1[0]["lr"] == chosen and seed1[0]["phase"] == "sweep"
        summary = figures["summary"][experiment][config]
        assert summary["lr"] == chosen and summary["seeds"] == [0, 1]
        assert {"mean", "std", "min", "max", "values"} <= set(summary[metric]) and len(summary[metric]["values"]) == 2
    for r in runs:
        assert r["seconds"] > 0 and r["parameters"] > 0 and "finished" in r
    assert all(0 <= r["test_accuracy"] <= 1 for r in runs if r["experiment"] == "bbc")
    assert all(0 <= r["test_f1"] <= 1 and 0 <= r["test_f1_well_formed"] <= 1
               for r in runs if r["experiment"] == "seg")

    # --resume with one more seed (in two worker processes): only the two new runs are trained, the old
    # records stay as they were
    again = bench(root, "--seeds", "0", "1", "2", "--resume", "--jobs", "2", "--out", str(out))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "6 runs already in" in again.stdout
    assert again.stdout.count("tune ") == 0 and again.stdout.count("sweep ") == 2
    figures2 = json.loads(out.read_text())["results"]
    assert figures2["runs"][:6] == runs and len(figures2["runs"]) == 8
    assert {r["seed"] for r in figures2["runs"][6:]} == {2} and len(figures2["sessions"]) == 2

    # nothing left: a third --resume trains nothing
    idle = bench(root, "--seeds", "0", "1", "2", "--resume", "--out", str(out))
    assert idle.returncode == 0 and "tune " not in idle.stdout and "sweep " not in idle.stdout
    assert len(json.loads(out.read_text())["results"]["runs"]) == 8

    # a file made with other settings is not resumed
    other = bench(root, "--seeds", "0", "--bbc-epochs", "2", "--resume", "--out", str(out))
    assert other.returncode != 0 and "other settings" in other.stderr


def test_committed_rnn_text_result_covers_the_chapters(root):
    result = json.loads((root / "benchmarks" / "results" / "rnn_text.json").read_text())
    figures = result["results"]
    assert "rnn_text" in result["command"] and "--limit" not in result["command"]
    assert figures["complete"] and figures["settings"]["limit"] is None
    assert len(figures["settings"]["seeds"]) >= 3
    assert set(figures["summary"]["sent"]) == {"rnn_max", "gru_max"}
    assert set(figures["summary"]["bbc"]) == {"lstm_max", "gru_max", "lstm_last", "lstm_last_bias1"}
    assert set(figures["summary"]["seg"]) == {"bilstm_1", "bigru_1", "bilstm_2", "bilstm_1_wide", "lstm_uni"}
    for experiment in ("sent", "bbc", "seg"):
        assert set(figures["tuning"][experiment]) == set(figures["summary"][experiment])
        for config, entry in figures["summary"][experiment].items():
            assert entry["seeds"] == figures["settings"]["seeds"]
            assert entry["lr"] in figures["settings"]["lr_grid"][experiment]
            grid = figures["settings"]["lr_grid"][experiment]
            assert set(figures["tuning"][experiment][config]) == {str(lr) for lr in grid}
    assert len(figures["settings"]["lr_grid"]["bbc"]) >= 3  # Chapter 6 says the classifier's rate is tuned
    assert 3e-3 in figures["settings"]["lr_grid"]["sent"]  # Chapter 5's rate, among those tuned
    seg = figures["summary"]["seg"]
    # the wide one-layer model is the parameter-matched control of the two-layer one, the
    # left-to-right LSTM that of the one-layer BiLSTM
    params = {name: seg[name]["parameters"] for name in ("bilstm_1", "bilstm_2", "bilstm_1_wide", "lstm_uni")}
    assert abs(params["bilstm_1_wide"] - params["bilstm_2"]) < 0.02 * params["bilstm_2"]
    assert abs(params["lstm_uni"] - params["bilstm_1"]) < 0.05 * params["bilstm_1"]
