"""A grading run in ``--out DIR``: ``run.json`` says which release it grades and whether it
finished; ``journal.jsonl`` holds one row per student as each one finishes (after its
gradebook entry and files are written), so an interrupted run loses nothing.

Running ``grade`` again into the same DIR:

- with the same release digest, on a run that did not finish: **resume** (the journalled
  students are kept, the others graded);
- otherwise: **regrade**. The previous outputs (``grades.csv``, ``details.csv``, the
  summary, the histogram, ``feedback/``, ``autograded/``, ``logs/``, the journal and
  ``run.json``) move to ``DIR/history/<timestamp>/``; the gradebook is updated in place. At
  the end ``DIR/regrade.csv`` lists what changed for each student.

``--resume`` and ``--regrade`` force one or the other.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from dataclasses import asdict
from pathlib import Path

from .outcome import Row
from .reports import csv_cell

#: what a regrade moves into history/<timestamp>/
PREVIOUS_OUTPUTS = ("grades.csv", "details.csv", "summary.txt", "summary.json", "score_histogram.png", "regrade.csv",
                    "mistakes.csv", "similarity.csv",
                    "feedback", "autograded", "logs", "journal.jsonl", "run.json")
MODES = ("auto", "resume", "regrade")


class RunError(Exception):
    """A run that cannot start as asked (nothing has been written)."""


class Run:
    """The run in ``out`` for ``assignment_id`` at release ``digest``; see the module's doc."""

    def __init__(self, out: Path, assignment_id: str, digest: str, mode: str = "auto") -> None:
        if mode not in MODES:
            raise RunError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        self.out, self.assignment, self.digest = out, assignment_id, digest
        previous = self._previous()
        same = bool(previous) and previous.get("assignment") == assignment_id and previous.get("release") == digest
        if mode == "resume" and not previous:
            raise RunError(f"--resume: {out} holds no run to resume (no run.json)")
        self.resuming = mode == "resume" or (mode == "auto" and same and not previous.get("finished"))
        self.history: Path | None = None
        self.done: dict[str, Row] = {}
        out.mkdir(parents=True, exist_ok=True)
        if self.resuming:
            self.done = {row.student_id: row for row in self._journalled()}
        else:
            self.history = self._move_previous()
        self.started = previous.get("started") if self.resuming else _now()
        self._write_state(finished=None)
        self._journal = open(out / "journal.jsonl", "a", buffering=1)  # noqa: SIM115 - closed by finish()

    # ------------------------------------------------------------------ the journal

    def record(self, row: Row) -> None:
        """Journal a finished student (call after its gradebook entry and files are written)."""
        self._journal.write(json.dumps(asdict(row)) + "\n")
        self.done[row.student_id] = row

    def finish(self, rows: list[Row]) -> None:
        """Mark the run finished; after a regrade, write ``regrade.csv``."""
        self._journal.close()
        if self.history is not None:
            write_regrade(self.out / "regrade.csv", _rows_of(self.history), rows)
        self._write_state(finished=_now())

    def close(self) -> None:
        if not self._journal.closed:
            self._journal.close()

    # ------------------------------------------------------------------ internals

    def _previous(self) -> dict:
        path = self.out / "run.json"
        if not path.is_file():
            return {}
        try:
            data = json.loads(path.read_text())
        except ValueError as err:
            raise RunError(f"{path} is not JSON ({err}): move it away, or grade into another --out") from None
        return data if isinstance(data, dict) else {}

    def _journalled(self) -> list[Row]:
        return _journal_rows(self.out / "journal.jsonl")

    def _move_previous(self) -> Path | None:
        present = [name for name in PREVIOUS_OUTPUTS if (self.out / name).exists()]
        if not present:
            return None
        history = self.out / "history" / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        history.mkdir(parents=True)
        for name in present:
            shutil.move(str(self.out / name), str(history / name))
        return history

    def _write_state(self, finished: str | None) -> None:
        state = {"assignment": self.assignment, "release": self.digest, "started": self.started, "finished": finished}
        tmp = self.out / "run.json.tmp"
        tmp.write_text(json.dumps(state, indent=1) + "\n")
        tmp.replace(self.out / "run.json")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _journal_rows(path: Path) -> list[Row]:
    """The rows of a journal; a line cut by an interruption is skipped (that student is graded again)."""
    rows = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = Row(**json.loads(line))
            except (ValueError, TypeError):
                continue
            rows[row.student_id] = row
    return list(rows.values())


def _rows_of(history: Path) -> dict[str, Row]:
    """The rows of a previous run: its journal, else its grades.csv (no per-cell scores)."""
    rows = {r.student_id: r for r in _journal_rows(history / "journal.jsonl")}
    if not rows and (history / "grades.csv").is_file():
        with open(history / "grades.csv", newline="") as handle:
            for r in csv.DictReader(handle):
                student = r["student_id"].removeprefix("'")
                rows[student] = Row(student, float(r["score"]), float(r["max_score"]), r["status"])
    return rows


def write_regrade(path: Path, old: dict[str, Row], new: list[Row]) -> None:
    """``student_id,old_score,new_score,old_status,new_status,cells_changed`` for every
    student of either run; a cell changed if its score changed (a student new to the run,
    or gone from it, has empty old or new columns)."""
    by_id = {r.student_id: r for r in new}
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "old_score", "new_score", "old_status", "new_status", "cells_changed"])
        for student in sorted(set(old) | set(by_id)):
            before, after = old.get(student), by_id.get(student)
            cells = sorted(set(before.cells if before else {}) | set(after.cells if after else {}))
            changed = [c for c in cells if (before.cells.get(c, [None])[0] if before else None)
                       != (after.cells.get(c, [None])[0] if after else None)]
            writer.writerow([csv_cell(student),
                             f"{before.score:g}" if before else "", f"{after.score:g}" if after else "",
                             before.status if before else "", after.status if after else "", " ".join(changed)])
