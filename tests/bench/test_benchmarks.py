"""Benchmarks run on a tiny setting and write a result file of the documented shape."""

import json
import subprocess
import sys


def test_execution_times_benchmark_writes_its_result(root, tmp_path):
    out = tmp_path / "times.json"
    proc = subprocess.run([sys.executable, "benchmarks/execution_times.py",
                           "--kind", "exercise", "--only", "01_neurons", "--out", str(out)],
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


def test_grading_benchmark_writes_its_result(root, tmp_path):
    out = tmp_path / "grading.json"
    proc = subprocess.run([sys.executable, "benchmarks/grading.py", "--copies", "2", "--rounds", "2",
                           "--out", str(out)],
                          cwd=root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {"command", "date", "machine", "results"} <= set(result)
    assert "grading.py --copies 2" in result["command"]
    figures = result["results"]
    assert figures["copies"] == 2 and figures["assignment"] == "01_neurons"
    modes = {row["mode"]: row for row in figures["modes"]}
    assert set(modes) == {"nbgrader autograde", "grade --jobs 1", "grade --jobs 2",
                          "grade --jobs 2, empty release cache"}
    for row in modes.values():
        assert row["full_marks"] == 2 and row["seconds"] > 0
        assert abs(row["per_minute"] - 60 * 2 / row["seconds"]) < 0.01 * row["per_minute"] + 0.01
    ratios = figures["ratios"]
    expected = modes["grade --jobs 2"]["per_minute"] / modes["nbgrader autograde"]["per_minute"]
    assert abs(ratios["jobs2_over_nbgrader"] - expected) < 0.02 * expected + 0.01
    assert ratios["jobs1_over_nbgrader"] > 0 and figures["target_met"] == (ratios["jobs2_over_nbgrader"] >= 1.6)
    cold = modes["grade --jobs 2, empty release cache"]["per_minute"] / modes["nbgrader autograde"]["per_minute"]
    assert abs(ratios["jobs2_cold_over_nbgrader"] - cold) < 0.02 * cold + 0.01
    protocol = figures["protocol"]
    assert protocol["rounds"] == 2 and len(protocol["baseline_runs"]) == len(protocol["grade_runs"]) == 2
    seconds, cpu = protocol["median_seconds"], protocol["cpu_per_submission"]
    assert protocol["wall_ratio"] == round(seconds["baseline"] / seconds["grade"], 2)
    assert protocol["met"] == (protocol["wall_ratio"] >= 2.0 and cpu["grade"] <= cpu["baseline"])
    assert "protocol (2 interleaved rounds, medians)" in proc.stdout
    assert "subs/min" in proc.stdout
    assert "grade --jobs 2 / nbgrader autograde" in proc.stdout


def test_collect_memory_benchmark_writes_its_result(root, tmp_path):
    out = tmp_path / "collect_memory.json"
    proc = subprocess.run([sys.executable, "benchmarks/collect_memory.py", "--sizes", "3", "12", "--out", str(out)],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(out.read_text())["results"]
    assert figures["sizes"] == [3, 12]
    assert {(r["size"], r["mode"]) for r in figures["rows"]} == {
        (3, "spool"), (3, "memory"), (12, "spool"), (12, "memory")}
    assert all(r["ok"] == r["size"] and r["peak_kib"] >= r["before_kib"] > 0 for r in figures["rows"])
    assert set(figures["ratio_large_over_small"]) == {"spool", "memory"} and isinstance(figures["met"], bool)
    assert "peak RSS, 12 students over 3" in proc.stdout
