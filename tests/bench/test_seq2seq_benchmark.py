"""benchmarks/seq2seq.py (Chapter 9) runs on a tiny setting, writes a result of the documented
shape after every run, and ``--resume`` runs only what is missing (the rows of a run from
scratch, in the same order) and refuses other settings."""

import json
from functools import partial

TINY = ["--sizes", "60", "120", "--compare-size", "60", "--compare", "dot", "--epochs", "1", "--test", "3",
        "--threads", "1"]
GRID = [("none", 60), ("scaled", 60), ("none", 120), ("scaled", 120), ("dot", 60)]


def without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_seq2seq_benchmark_writes_resumes_and_refuses_other_settings(run_benchmark, tmp_path):
    out = tmp_path / "seq2seq.json"
    bench = partial(run_benchmark, "seq2seq", *TINY, "--out", str(out), timeout=600)
    first = bench("--seeds", "0")
    result = json.loads(out.read_text())
    assert {"command", "date", "machine", "results"} <= set(result)
    assert "seq2seq.py --sizes 60 120" in result["command"] and "--resume" not in result["command"]
    figures = result["results"]
    assert figures["settings"]["sizes"] == [60, 120] and figures["settings"]["compare_size"] == 60
    assert figures["settings"]["epochs"] == 1 and figures["settings"]["torch_threads"] == 1
    assert figures["complete"] is True and figures["seeds"] == [0]
    assert [(r["attention"], r["requested_size"], r["seed"]) for r in figures["rows"]] == [(*g, 0) for g in GRID]
    for row in figures["rows"]:
        assert 0 <= row["exact_match"] <= 1 and set(row["by_language"]) == {"en", "fr", "de", "zh"}
        assert row["test_size"] == 12 and row["train_size"] <= row["requested_size"]
    (session,) = figures["sessions"]
    assert session["runs"] == 5 and session["seeds"] == [0] and session["seconds"] >= 0
    assert first.stdout.count("exact match") == 5
    seed0 = figures["rows"]

    # resume with a second seed: the five runs of seed 0 are kept as they were, only seed 1 runs
    second = bench("--seeds", "0", "1", "--resume")
    result = json.loads(out.read_text())
    figures = result["results"]
    assert second.stdout.count("exact match") == 5 and "seed 0" not in second.stdout
    assert "--resume" not in result["command"] and "--seeds 0 1" in result["command"]
    assert [r for r in figures["rows"] if r["seed"] == 0] == seed0
    keys = [(r["attention"], r["requested_size"], r["seed"]) for r in figures["rows"]]
    assert keys == [(*g, seed) for g in GRID for seed in (0, 1)]  # the order of a run from scratch
    assert figures["complete"] is True and figures["seeds"] == [0, 1]
    assert [s["runs"] for s in figures["sessions"]] == [5, 5] and "--resume" in figures["sessions"][1]["command"]

    # nothing left to do: no run is repeated and the file is left alone
    before = out.read_text()
    third = bench("--seeds", "0", "1", "--resume")
    assert "exact match" not in third.stdout and "nothing to run" in third.stdout and out.read_text() == before

    # the recorded command, run from scratch, makes the same rows (seconds aside)
    fresh = tmp_path / "fresh.json"
    run_benchmark("seq2seq", *TINY, "--out", str(fresh), "--seeds", "0", "1", timeout=600)
    assert without_seconds(json.loads(fresh.read_text())["results"]["rows"]) == without_seconds(figures["rows"])

    # other settings cannot be mixed into the same file
    refused = bench("--seeds", "0", "--resume", "--epochs", "2", check=False)
    assert refused.returncode != 0 and "other settings" in refused.stderr
