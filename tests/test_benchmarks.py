"""Benchmarks run on a tiny setting and write a result file of the documented shape."""

import json
import subprocess
import sys


def test_execution_times_benchmark_writes_its_result(root, tmp_path):
    out = tmp_path / "times.json"
    proc = subprocess.run([sys.executable, "benchmarks/execution_times.py", "--kind", "exercise", "--only", "01_neurons", "--out", str(out)],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {"command", "date", "machine", "results"} <= set(result)
    assert "execution_times.py --kind exercise --only 01_neurons" in result["command"]
    (row,) = result["results"]["rows"]
    assert row["kind"] == "exercise" and row["name"] == "01_neurons" and row["budget"] == 60
    assert 0 < row["seconds"] < 600
    assert "exercise  01_neurons" in proc.stdout


def test_unknown_target_is_an_error(root):
    proc = subprocess.run([sys.executable, "benchmarks/execution_times.py", "--only", "nothing"],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "nothing matches" in proc.stderr
