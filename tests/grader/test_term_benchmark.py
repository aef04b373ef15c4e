"""``benchmarks/similarity.py`` on a tiny class: the result file's shape, ``--resume``, and the
committed result (2,000 students under the issue's 60 s, the planted near-copies first)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import similarity as bench  # noqa: E402


def test_tiny_run_and_resume(tmp_path, capsys):
    out = tmp_path / "similarity.json"
    assert bench.main(["--sizes", "40", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {"command", "date", "machine", "results"} <= set(data)
    (run,) = data["results"]["runs"]
    assert run["students"] == 40 and run["seconds"] > 0
    assert run["planted_ranks"] == [1, 2, 3, 4, 5]
    assert bench.main(["--sizes", "40", "60", "--out", str(out), "--resume"]) == 0
    assert "40 students: already measured, skipped" in capsys.readouterr().out
    assert [r["students"] for r in json.loads(out.read_text())["results"]["runs"]] == [40, 60]


def test_the_committed_result():
    runs = json.loads((ROOT / "benchmarks" / "results" / "similarity.json").read_text())["results"]["runs"]
    largest = max(runs, key=lambda r: r["students"])
    assert largest["students"] >= 2000 and largest["seconds"] < 60
    assert all(r["planted_ranks"] == [1, 2, 3, 4, 5] for r in runs)
