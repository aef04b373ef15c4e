"""benchmarks/long_inputs.py (Chapter 9) runs on a tiny setting, writes a result of the documented
shape after every run, and ``--resume`` runs only what is missing and refuses other settings."""

import json
from functools import partial

import numpy as np

TINY = ["--train", "64", "--epochs", "1", "--test", "3"]
BUCKETS = ["10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-80"]


def test_long_inputs_writes_resumes_and_refuses_other_settings(run_benchmark, tmp_path):
    out = tmp_path / "long.json"
    bench = partial(run_benchmark, "long_inputs", *TINY, "--out", str(out))
    first = bench("--seeds", "0", "--attention", "none")
    result = json.loads(out.read_text())
    assert {"command", "date", "machine", "results"} <= set(result)
    assert "long_inputs" in result["command"] and "--train 64" in result["command"]
    figures = result["results"]
    assert figures["settings"]["train"] == 64 and figures["settings"]["buckets"] == BUCKETS
    assert figures["complete"] is True and figures["runs_done"] == len(figures["runs"]) == 1
    (run,) = figures["runs"]
    assert (run["attention"], run["seed"], run["epochs"]) == ("none", 0, 1)
    assert list(run["by_length"]) == BUCKETS
    for cell in run["by_length"].values():
        assert cell["n"] == 3 and 0 <= cell["exact_match"] <= cell["character_accuracy"] + 1e-9 <= 1 + 1e-9
    assert run["parameters"] > 0 and len(run["loss"]) == 1 and run["seconds"] >= 0
    assert first.stdout.count("seed 0:") == 1

    # resume with one more seed and the attention model: the finished run is kept as it was, three are added
    second = bench("--seeds", "0", "1", "--resume", "--jobs", "2")
    figures = json.loads(out.read_text())["results"]
    assert second.stdout.count("seed") == 3 and "none    seed 0" not in second.stdout
    assert figures["runs"][0] == run and figures["runs_done"] == 4 and figures["complete"] is True
    assert len(figures["sessions"]) == 2 and all(s["seconds"] >= 0 for s in figures["sessions"])
    assert {(r["attention"], r["seed"]) for r in figures["runs"]} == {("none", 0), ("none", 1), ("scaled", 0),
                                                                      ("scaled", 1)}
    # both models have the same parameters: attention by scaled dot product adds none
    assert len({r["parameters"] for r in figures["runs"]}) == 1
    summary = figures["summary"]["scaled"]["by_length"]["70-80"]["character_accuracy"]
    values = [r["by_length"]["70-80"]["character_accuracy"] for r in figures["runs"] if r["attention"] == "scaled"]
    assert abs(summary["mean"] - np.mean(values)) < 1e-4 and summary["min"] == min(values)

    # nothing left to do: no run is repeated
    third = bench("--seeds", "0", "1", "--resume")
    assert "seed" not in third.stdout and json.loads(out.read_text())["results"]["runs_done"] == 4

    # other settings cannot be mixed into the same file
    refused = bench("--seeds", "0", "--resume", "--epochs", "2", check=False)
    assert refused.returncode != 0 and "other settings" in refused.stderr
