"""benchmarks/transformer.py (Chapter 10) runs on a tiny setting, writes a result of the documented
shape after every run, and ``--resume`` runs only what is missing and refuses other settings."""

import json
from functools import partial

TINY = ["--epochs", "1", "--steps", "8"]


def test_transformer_benchmark_writes_resumes_and_refuses_other_settings(run_benchmark, tmp_path):
    out = tmp_path / "transformer.json"
    bench = partial(run_benchmark, "transformer", *TINY, "--out", str(out), timeout=600)
    first = bench("--seeds", "0", "--tasks", "lm")
    result = json.loads(out.read_text())
    assert {"command", "date", "machine", "results"} <= set(result)
    figures = result["results"]
    assert figures["settings"]["steps"] == 8 and figures["complete"] is True
    assert [(r["model"], r["seed"]) for r in figures["runs"]] == [("gru_lm", 0), ("transformer_lm", 0)]
    for run in figures["runs"]:
        assert run["steps"] == 8 and run["curve"][-1]["step"] == 8 and run["parameters"] > 0
        # an untrained model of ~80 characters is near uniform; 8 steps cannot beat the corpus' unigram by much
        assert 5 < run["perplexity"] < 200
        cpu = [p["train_cpu_seconds"] for p in run["curve"]]
        assert cpu == sorted(cpu) and run["cpu_ms_per_step"] > 0
    assert first.stdout.count("seed 0:") == 2

    # resume with the dates: the two runs are kept as they were, three are added
    second = bench("--seeds", "0", "--resume")
    figures = json.loads(out.read_text())["results"]
    assert second.stdout.count("seed 0:") == 3 and "lm gru_lm" not in second.stdout
    assert figures["runs_done"] == 5 and len(figures["sessions"]) == 2
    dates = {r["model"]: r for r in figures["runs"] if r["task"] == "dates"}
    assert set(dates) == {"gru_attention", "transformer", "transformer_nopos"}
    # positions are a buffer, not parameters: the two Transformers have the same parameters
    assert dates["transformer"]["parameters"] == dates["transformer_nopos"]["parameters"]
    for run in dates.values():
        assert set(run["accuracy_by_language"]) == {"en", "fr", "de", "zh"} and 0 <= run["accuracy"] <= 1
        assert len(run["curve"]) == 1 and run["steps"] == 47
    summary = figures["summary"]
    assert summary["dates"]["equal_cpu_budget"] == min(r["train_cpu_seconds"] for r in dates.values())
    assert summary["lm"]["models"]["gru_lm"]["perplexity"]["mean"] == figures["runs"][0]["perplexity"]

    # nothing left to do: no run is repeated
    third = bench("--seeds", "0", "--resume")
    assert "seed" not in third.stdout and json.loads(out.read_text())["results"]["runs_done"] == 5

    # other settings cannot be mixed into the same file
    refused = bench("--seeds", "0", "--resume", "--steps", "9", check=False)
    assert refused.returncode != 0 and "other settings" in refused.stderr
