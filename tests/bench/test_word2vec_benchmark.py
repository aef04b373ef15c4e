"""The Word2Vec benchmark runs on a tiny setting and writes a result of the documented shape;
the committed result holds the figures the chapter quotes."""

import json
import subprocess
import sys


def _check_shape(result, epochs, n_seeds):
    assert {"command", "date", "machine", "results"} <= set(result)
    figures = result["results"]
    assert {"corpus", "settings", "load_average", "rows", "summary"} <= set(figures)
    assert len(figures["rows"]) == 2 * len(epochs) * n_seeds
    for row in figures["rows"]:
        assert {"model", "epochs", "seed", "seconds", "cpu_seconds", "spearman", "pairs", "analogy_accuracy",
                "questions"} <= set(row)
        assert row["seconds"] > 0 and row["cpu_seconds"] > 0 and row["pairs"] > 0
    assert [s["epochs"] for s in figures["summary"]] == epochs
    for s in figures["summary"]:
        assert s["time_ratio"] > 0 and s["cpu_time_ratio"] > 0 and s["spearman_ratio"] > 0


def test_word2vec_benchmark_writes_its_result(root, tmp_path):
    out = tmp_path / "w2v.json"
    proc = subprocess.run([sys.executable, "benchmarks/word2vec.py", "--epochs", "1", "--seeds", "0",
                           "--docs", "150", "--out", str(out)],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert "word2vec.py --epochs 1 --seeds 0 --docs 150" in result["command"]
    _check_shape(result, [1], 1)
    assert result["results"]["corpus"]["articles"] == 150
    assert "course SGNS (PyTorch)" in proc.stdout and "x gensim's time" in proc.stdout


def test_committed_result_has_the_full_run(root):
    result = json.loads((root / "benchmarks" / "results" / "word2vec.json").read_text())
    figures = result["results"]
    epochs = [s["epochs"] for s in figures["summary"]]
    _check_shape(result, epochs, len({r["seed"] for r in figures["rows"]}))
    assert figures["corpus"]["articles"] == 2127 and figures["corpus"]["min_count"] == 5
