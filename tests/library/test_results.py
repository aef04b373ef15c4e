"""course_utils.results: the committed benchmark results, read the one way the chapters read
them, from the repository (chapters/ or its root) or from a folder that holds
benchmarks/results/ (a downloaded chapter's), with clear errors when a result is missing or
is not one."""

import json
import re
from pathlib import Path

import pytest

from course_utils import results

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "benchmarks" / "results"


def _committed(name):
    return json.loads((COMMITTED / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("cwd", ["chapters", ".", "exercises"])
def test_found_in_the_repository(monkeypatch, cwd):
    monkeypatch.chdir(ROOT / cwd)  # the book runs chapters from chapters/; JupyterLab from the root
    data = results.load("recall_tuned")
    assert data == _committed("recall_tuned")
    assert set(results.KEYS) <= data.keys() and "chosen_lr" in data["results"]


def test_found_from_any_folder_through_the_library(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no benchmarks/results here or above: the clone course_utils came from
    assert results.load("recall") == _committed("recall")
    assert results.candidates("recall")[-1] == COMMITTED / "recall.json"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / "benchmarks" / "results" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_working_folder_comes_first(monkeypatch, tmp_path):
    # A downloaded chapter writes the results it embeds here; they win over the repository's.
    mine = {"command": "python benchmarks/recall.py", "date": "2026-01-01", "machine": {"cpus": 2},
            "results": {"here": True}}
    _write(tmp_path, "recall", json.dumps(mine))
    monkeypatch.chdir(tmp_path)
    assert results.load("recall") == mine
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # and from a folder below it
    assert results.load("recall") == mine


def test_a_missing_result_names_where_it_looked_and_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        results.load("recall_no_such_option")
    message = str(error.value)
    assert "recall_no_such_option.json" in message
    assert str(tmp_path / "benchmarks" / "results" / "recall_no_such_option.json") in message
    assert str(COMMITTED / "recall_no_such_option.json") in message
    assert "python benchmarks/recall.py" in message  # the script that writes recall_*.json
    with pytest.raises(FileNotFoundError, match=re.escape("python benchmarks/nothing_like_it.py")):
        results.load("nothing_like_it")


def test_a_file_that_is_not_json(monkeypatch, tmp_path):
    path = _write(tmp_path, "word2vec", '{"command": "python benchmarks/word2vec.py", "da')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="not a JSON benchmark result") as error:
        results.load("word2vec")
    assert str(path) in str(error.value) and "python benchmarks/word2vec.py" in str(error.value)


@pytest.mark.parametrize("content, missing", [
    ({"command": "python benchmarks/recall.py --tuned", "results": {}}, "date, machine"),
    ({"results": {}, "date": "d", "machine": {}}, "command"),
    ([1, 2], "command, date, machine, results"),
])
def test_a_file_without_the_provenance(monkeypatch, tmp_path, content, missing):
    path = _write(tmp_path, "recall_tuned", json.dumps(content))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as error:
        results.load("recall_tuned")
    message = str(error.value)
    assert str(path) in message and f"has no {missing};" in message
    # The file's own command when it has one, else the benchmark script.
    assert "python benchmarks/recall.py" in message
    assert ("--tuned" in message) == ("command" in content if isinstance(content, dict) else False)


def test_every_committed_result_loads():
    for path in sorted(COMMITTED.glob("*.json")):
        assert set(results.KEYS) <= results.load(path.stem).keys(), path.name


def test_the_chapters_read_results_one_way():
    """No chapter builds a path to benchmarks/results: they call results.load (P6)."""
    for chapter in sorted((ROOT / "chapters").glob("*.md")):
        for cell in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", chapter.read_text(encoding="utf-8"), re.S):
            code = re.sub(r"\A---\n.*?^---\n", "", cell, flags=re.S | re.M)  # the cell's options (captions)
            by_path = r"""benchmarks/results|["']benchmarks["']|["']results["']\s*/|/\s*["'][\w.-]+\.json["']"""
            assert not re.search(by_path, code), (
                f"{chapter.name}: reads a benchmark result by path; use results.load(NAME)\n{code[:300]}")
