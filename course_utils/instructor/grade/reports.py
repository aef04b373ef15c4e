"""Stage 4 of grading: what the instructor reads. ``grades.csv``, ``details.csv`` (every cell
safe against formula injection), ``summary.txt`` / ``summary.json`` (statuses, pass rates,
the catalogued mistakes the class made), the score histogram, and each student's feedback,
autograded notebook and log."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from .jobs import WorkerResult
from .outcome import Row

#: the columns of grades.csv
GRADES_COLUMNS = ["student_id", "score", "max_score", "status", "submitted_at", "late_by", "penalty", "final_score"]


def pass_rates(rows: list[Row]) -> dict[str, float]:
    """Fraction of the graded students who earned full marks on each test cell."""
    counts: dict[str, list[int]] = {}
    for row in rows:
        for cell, (score, max_score) in row.cells.items():
            passed, total = counts.setdefault(cell, [0, 0])
            counts[cell] = [passed + (score >= max_score), total + 1]
    return {cell: round(p / t, 4) for cell, (p, t) in sorted(counts.items())}


def csv_cell(value: str) -> str:
    """``value`` made safe for a spreadsheet: a text that starts like a formula (``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return) gets a leading apostrophe, so it stays text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def mistake_counts(rows: list[Row], diagnoses: dict[str, str]) -> dict[str, dict]:
    """How many students made each catalogued mistake: ``{mistake: {"test", "diagnosis",
    "students"}}``, most frequent first, from the first line of each failed test (the judge
    puts a recognised mistake's diagnosis there). ``diagnoses``: diagnosis text -> mistake."""
    counts: Counter = Counter()
    where: dict[str, str] = {}
    for row in rows:
        for cell, line in row.messages.items():
            if line in diagnoses:
                counts[diagnoses[line]] += 1
                where[diagnoses[line]] = cell
    reverse = {name: text for text, name in diagnoses.items()}
    return {name: {"test": where[name], "diagnosis": reverse[name], "students": n} for name, n in counts.most_common()}


def release_diagnoses(template: Path, assignment_id: str) -> dict[str, str]:
    """Diagnosis text -> mistake name, from the release's ``expected.json``."""
    path = template / "solutions" / assignment_id / "expected.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {m["diagnosis"]: name for task in data["tasks"].values() for name, m in task.get("mutants", {}).items()}


def write_reports(out: Path, assignment_id: str, rows: list[Row], seconds: float, warnings: list[str],
                  diagnoses: dict[str, str] | None = None) -> str:
    """Write grades.csv, details.csv, summary.json, summary.txt and score_histogram.png; return the summary text."""
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(GRADES_COLUMNS)
        for row in rows:
            writer.writerow([csv_cell(row.student_id), f"{row.score:g}", f"{row.max_score:g}", row.status,
                             row.submitted_at, f"{row.late_by:g}", f"{row.penalty:g}", f"{row.final:g}"])
    with open(out / "details.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_id", "status", "score", "details", "files"])
        for row in rows:
            writer.writerow([csv_cell(row.student_id), row.status, f"{row.score:g}",
                             csv_cell(" | ".join(row.details)), csv_cell(" | ".join(row.files))])
    rates = pass_rates(rows)
    counts = Counter(r.status for r in rows)
    scores = [r.score for r in rows]
    summary = {
        "assignment": assignment_id, "students": len(rows), "seconds": round(seconds, 1),
        "statuses": dict(sorted(counts.items())), "mean_score": round(sum(scores) / len(scores), 3) if scores else 0,
        "max_score": rows[0].max_score if rows else 0,
        "late": sum(r.late_by > 0 for r in rows), "penalty_points": round(sum(r.penalty for r in rows), 4),
        "pass_rates": rates, "warnings": warnings,
        "not_ok": {r.student_id: {"status": r.status, "details": r.details} for r in rows if r.status != "ok"},
        "mistakes": mistake_counts(rows, diagnoses or {}),
    }
    with open(out / "mistakes.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mistake", "students"])
        for name, mistake in summary["mistakes"].items():
            writer.writerow([csv_cell(name), mistake["students"]])
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    lines = [f"{assignment_id}: {len(rows)} students graded in {seconds:.0f} s; mean score "
             f"{summary['mean_score']:g}/{summary['max_score']:g}",
             "statuses: " + ", ".join(f"{s} {n}" for s, n in sorted(counts.items())),
             *([f"late: {summary['late']} students; the late policy took {summary['penalty_points']:g} points "
                f"(grades.csv: penalty, final_score)"] if summary["late"] else []), "",
             "share of graded students with full marks, per test:"]
    lines += [f"  {cell:<28} {rate:6.1%}" for cell, rate in rates.items()]
    if summary["mistakes"]:
        lines += ["", "mistakes the tests recognised (students, test: diagnosis):"]
        lines += [f"  {m['students']:>4}  {m['test']}: {m['diagnosis']}" for m in summary["mistakes"].values()]
    not_ok = [r for r in rows if r.status != "ok"]
    if not_ok:
        lines += ["", "students to look at:"]
        lines += [f"  {r.student_id:<20} {r.status:<20} {r.score:g}/{r.max_score:g}  {'; '.join(r.details)[:150]}"
                  for r in not_ok]
    lines += ["", f"grades: {out / 'grades.csv'}   feedback: {out / 'feedback'}/   histogram: "
              f"{out / 'score_histogram.png'}"]
    text = "\n".join(lines)
    (out / "summary.txt").write_text(text + "\n")
    _histogram(out / "score_histogram.png", assignment_id, scores, summary["max_score"])
    return text


def _histogram(path: Path, assignment_id: str, scores: list[float], max_score: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ... import viz

    viz.use_style()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    top = max(max_score, max(scores, default=0), 1)
    ax.hist(scores, bins=[b - 0.5 for b in range(int(top) + 2)], color="#4c72b0", edgecolor="white")
    ax.set_xlabel("score")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment_id}: scores of {len(scores)} students")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def keep_outputs(out: Path, assignment_id: str, student: str, result: WorkerResult | None, note: str = "") -> None:
    """Write a student's feedback page, autograded notebook and log (with the sandbox's events)
    under ``out``; a student without feedback this time has none (an old page is removed)."""
    (out / "feedback").mkdir(exist_ok=True)
    page = out / "feedback" / f"{student}.html"
    if result is not None and result.feedback_html is not None:
        page.write_text(result.feedback_html)
    else:
        page.unlink(missing_ok=True)
    if result is not None and result.autograded is not None:
        (out / "autograded" / student).mkdir(parents=True, exist_ok=True)
        (out / "autograded" / student / f"{assignment_id}.ipynb").write_text(result.autograded)
    (out / "logs").mkdir(exist_ok=True)
    log = (result.log if result else "") + (f"\n{note}" if note.strip() else "")
    events = "\n".join(e.to_json() for e in (result.events if result else []))
    (out / "logs" / f"{student}.log").write_text(f"{log}\n\n== sandbox events\n{events}\n")
