"""benchmarks/cnn_length.py (Chapter 8) runs on a tiny setting, writes a result of the documented
shape after every run, and ``--resume`` runs only what is missing and refuses other settings."""

import json
from functools import partial

import numpy as np

TINY = ["--train", "200", "--epochs", "1"]
BUCKETS = ["1-20", "21-40", "41-80", "81-150", "151+"]


def test_cnn_length_writes_resumes_and_refuses_other_settings(run_benchmark, tmp_path):
    out = tmp_path / "cnn.json"
    bench = partial(run_benchmark, "cnn_length", *TINY, "--out", str(out))
    bench("--seeds", "0", "--models", "textcnn", "lstm")
    result = json.loads(out.read_text())
    assert {"command", "date", "machine", "results"} <= set(result)
    assert "cnn_length" in result["command"]
    figures = result["results"]
    assert figures["settings"]["buckets"] == BUCKETS and figures["complete"] is True
    runs = figures["runs"]
    assert [(r["model"], r["seed"]) for r in runs] == [("textcnn", 0), ("lstm", 0)]
    test_size = figures["test_size"]
    for row in [*runs, figures["baseline"]]:
        assert list(row["by_length"]) == BUCKETS
        assert sum(cell["n"] for cell in row["by_length"].values()) == test_size
        weighted = sum(cell["accuracy"] * cell["n"] for cell in row["by_length"].values()) / test_size
        assert abs(weighted - row["accuracy"]) < 1e-3  # the buckets split the test set
    first = runs[0]

    second = bench("--seeds", "0", "1", "--resume")
    figures = json.loads(out.read_text())["results"]
    assert "textcnn          seed 0" not in second.stdout and second.stdout.count(" seed ") == 4
    assert figures["runs"][0] == first and figures["runs_done"] == 6 and len(figures["sessions"]) == 2
    by_model = {r["model"]: r for r in figures["runs"]}
    # the matched TextCNN has the LSTM's parameters outside the embedding table, within 1%
    matched, lstm = by_model["textcnn_matched"], by_model["lstm"]
    assert abs(matched["parameters_outside_embedding"] / lstm["parameters_outside_embedding"] - 1) < 0.01
    assert by_model["textcnn"]["parameters_outside_embedding"] > 1.1 * lstm["parameters_outside_embedding"]
    acc = [r["accuracy"] for r in figures["runs"] if r["model"] == "lstm"]
    lstm_summary = figures["summary"]["lstm"]
    assert lstm_summary["seeds"] == 2 and abs(lstm_summary["accuracy"] - np.mean(acc)) < 1e-4

    refused = bench("--seeds", "0", "--resume", "--epochs", "2", check=False)
    assert refused.returncode != 0 and "other settings" in refused.stderr
