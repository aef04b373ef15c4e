"""The recall benchmark runs on a tiny setting and writes a result of the documented shape;
the committed result covers what Chapters 3 and 4 read from it."""

import json
import subprocess
import sys


def test_recall_benchmark_writes_its_result(root, tmp_path):
    out = tmp_path / "recall.json"
    proc = subprocess.run([sys.executable, "benchmarks/recall.py", "--cells", "rnn", "nvsi", "--lags", "2", "3",
                           "--seeds", "0", "--steps", "10", "--eval-size", "50", "--jobs", "1", "--out", str(out)],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {"command", "date", "machine", "results"} <= set(result)
    assert "recall.py --cells rnn nvsi --lags 2 3" in result["command"]
    figures = result["results"]
    assert figures["settings"]["steps"] == 10 and figures["settings"]["lags"] == [2, 3]
    runs = figures["runs"]
    assert [(r["kind"], r["lag"], r["seed"]) for r in runs] == [
        ("rnn", 2, 0), ("rnn", 3, 0), ("nvsi", 2, 0), ("nvsi", 3, 0)]
    for r in runs:
        assert 0 <= r["accuracy"] <= 1 and r["seconds"] > 0 and r["steps"] == 10
        assert [s for s, _ in r["curve"]] == list(range(1, 11))
    assert set(figures["summary"]) == {"rnn", "nvsi"}
    assert set(figures["step_seconds"]) == {"rnn", "nvsi"} and set(figures["step_seconds"]["nvsi"]) == {"2", "3"}
    assert all(0 < sec < 10 for per_lag in figures["step_seconds"].values() for sec in per_lag.values())
    assert set(figures["summary"]["rnn"]) == {"2", "3"}
    assert {"mean", "min", "max", "seconds"} <= set(figures["summary"]["rnn"]["2"])
    assert "rnn   lag   3 seed 0: accuracy" in proc.stdout


def test_committed_recall_result_covers_the_chapters(root):
    result = json.loads((root / "benchmarks" / "results" / "recall.json").read_text())
    figures = result["results"]
    assert result["command"].split()[1:] == ["benchmarks/recall.py"]  # the default, full sweep
    assert set(figures["summary"]) == {"rnn", "nvsi", "gru", "lstm"}
    assert figures["settings"]["lags"][0] == 5 and figures["settings"]["lags"][-1] == 60
    assert len(figures["settings"]["seeds"]) >= 3
    assert set(figures["step_seconds"]) == {"rnn", "nvsi", "gru", "lstm"}
    assert len(figures["runs"]) == 4 * len(figures["settings"]["lags"]) * len(figures["settings"]["seeds"])
