"""Deadlines, extensions and late penalties of a grading run.

``grade ... --due 2027-03-01T23:59+01:00 --timestamps times.csv --late-policy "10%/day, max 50%, grace 15m"
--extensions extensions.csv``:

- ``--timestamps``: ``student_id,submitted_at`` (ISO 8601 with an offset), or Moodle's
  grading worksheet (``Identifier`` = ``Participant 12345``, ``Last modified (submission)``;
  Moodle writes those times without a zone: give ``--timezone Europe/Berlin``).
- ``--extensions``: ``student_id,due`` (ISO 8601 with an offset): that student's deadline.
- ``--late-policy``: ``RATE%/(day|hour)[, max P%][, grace Nm]``, ``zero`` or ``none``. The
  penalty is ``min(max, ceil(late_by / unit) x rate) x earned score``; a submission within
  the grace period counts as on time; ``zero`` takes the whole score of a late submission.

Every mistake in these files stops the run before anything is graded, with the file and
line: an unknown student, a time that does not parse, a time without a zone, a student
with a submission but no time (unless ``--missing-time on-time``).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class LateError(ValueError):
    """Bad deadline, policy, timestamps or extensions input (the message names the line)."""


@dataclass(frozen=True)
class Policy:
    """A late policy: ``kind`` is ``rate``, ``zero`` or ``none``."""

    kind: str = "none"
    rate: float = 0.0  #: fraction of the earned score per started unit
    unit: dt.timedelta = dt.timedelta(days=1)
    cap: float = 1.0  #: the largest fraction taken
    grace: dt.timedelta = dt.timedelta(0)

    def fraction(self, late_by: dt.timedelta) -> float:
        """The fraction of the earned score taken for a submission ``late_by`` after its deadline."""
        if late_by <= dt.timedelta(0) or late_by <= self.grace or self.kind == "none":
            return 0.0
        if self.kind == "zero":
            return 1.0
        units = math.ceil(late_by / self.unit - 1e-12)
        return min(self.cap, units * self.rate)


_RATE = re.compile(r"(?P<rate>\d+(?:\.\d+)?)\s*%\s*/\s*(?P<unit>day|hour)")
_MAX = re.compile(r"max\s+(?P<max>\d+(?:\.\d+)?)\s*%")
_GRACE = re.compile(r"grace\s+(?P<n>\d+)\s*(?P<u>m|min|h)")


def parse_policy(text: str) -> Policy:
    """``"10%/day, max 50%, grace 15m"``, ``"zero"`` or ``"none"`` -> :class:`Policy`."""
    words = text.strip().lower()
    if words in ("none", "zero"):
        return Policy(kind=words)
    parts = [p.strip() for p in words.split(",")]
    match = _RATE.fullmatch(parts[0])
    if not match:
        raise LateError(f"--late-policy {text!r}: expected RATE%/(day|hour)[, max P%][, grace Nm], zero or none")
    unit = dt.timedelta(days=1) if match["unit"] == "day" else dt.timedelta(hours=1)
    cap, grace = 1.0, dt.timedelta(0)
    for part in parts[1:]:
        if m := _MAX.fullmatch(part):
            cap = float(m["max"]) / 100
        elif m := _GRACE.fullmatch(part):
            grace = dt.timedelta(minutes=int(m["n"]) * (60 if m["u"] == "h" else 1))
        else:
            raise LateError(f"--late-policy {text!r}: cannot read {part!r} (use 'max P%' or 'grace Nm')")
    rate = float(match["rate"]) / 100
    if not 0 <= rate <= 1 or not 0 <= cap <= 1:
        raise LateError(f"--late-policy {text!r}: rates and the maximum are percentages between 0 and 100")
    return Policy("rate", rate, unit, cap, grace)


def parse_time(text: str, where: str, zone: ZoneInfo | None = None) -> dt.datetime:
    """An aware datetime from ISO 8601 (``2027-03-01T23:59+01:00``, ``...Z``) or Moodle's
    ``Monday, 1 March 2027, 11:59 PM``; a time without an offset takes ``zone``, else is an error."""
    raw = text.strip()
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        value = None
        for fmt in ("%A, %d %B %Y, %I:%M %p", "%d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M"):
            try:
                value = dt.datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
        if value is None:
            raise LateError(
                f"{where}: cannot read the time {raw!r} (use ISO 8601, e.g. 2027-03-01T23:59+01:00)"
            ) from None
    if value.tzinfo is None:
        if zone is None:
            raise LateError(f"{where}: the time {raw!r} has no time zone (write it with an offset such as +01:00"
                            f"{', or give --timezone' if 'worksheet' in where else ''})")
        value = value.replace(tzinfo=zone)
    return value


def parse_zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LateError(f"--timezone {name!r}: not a time zone name (e.g. Europe/Berlin, UTC)") from None


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        return [f.strip() for f in reader.fieldnames or []], [(i, r) for i, r in enumerate(reader, start=2)]


def moodle_participant(identifier: str) -> str:
    """``Participant 12345`` (Moodle's worksheet) -> ``12345``, the id the collector gives the student."""
    match = re.search(r"(\d+)\s*$", identifier or "")
    return match.group(1) if match else (identifier or "").strip()


def read_times(path: Path, known: set[str], zone: ZoneInfo | None = None) -> dict[str, dt.datetime]:
    """``student -> submitted_at`` from ``student_id,submitted_at`` or a Moodle grading worksheet.
    An id of the plain file that no submission has is an error; the worksheet lists every
    participant, so its participants without a submission or a time are skipped."""
    path = Path(path)
    fields, rows = _rows(path)
    times: dict[str, dt.datetime] = {}
    if "Identifier" in fields:  # Moodle's grading worksheet
        column = next((f for f in fields if f.startswith("Last modified (submission)")), None)
        if column is None:
            raise LateError(f"{path}: a Moodle worksheet without the column 'Last modified (submission)'")
        for line, row in rows:
            student, when = moodle_participant(row.get("Identifier", "")), (row.get(column) or "").strip()
            if student in known and when and when != "-":
                times[student] = parse_time(when, f"{path} line {line} (worksheet)", zone)
        return times
    if not {"student_id", "submitted_at"} <= set(fields):
        raise LateError(f"{path}: expected the columns student_id,submitted_at (or a Moodle grading worksheet); "
                        f"found {','.join(fields)}")
    for line, row in rows:
        student = (row["student_id"] or "").strip()
        if student not in known:
            raise LateError(f"{path} line {line}: unknown student {student!r} (no submission has this id)")
        if student in times:
            raise LateError(f"{path} line {line}: a second time for {student!r}")
        times[student] = parse_time(row["submitted_at"] or "", f"{path} line {line}", zone)
    return times


def read_extensions(path: Path, known: set[str], zone: ZoneInfo | None = None) -> dict[str, dt.datetime]:
    """``student -> due`` from ``student_id,due``."""
    path = Path(path)
    fields, rows = _rows(path)
    if not {"student_id", "due"} <= set(fields):
        raise LateError(f"{path}: expected the columns student_id,due; found {','.join(fields)}")
    due: dict[str, dt.datetime] = {}
    for line, row in rows:
        student = (row["student_id"] or "").strip()
        if student not in known:
            raise LateError(f"{path} line {line}: unknown student {student!r} (no submission has this id)")
        due[student] = parse_time(row["due"] or "", f"{path} line {line}", zone)
    return due


@dataclass
class Deadlines:
    """Everything a run needs to price lateness."""

    due: dt.datetime | None = None
    policy: Policy = field(default_factory=Policy)
    times: dict[str, dt.datetime] = field(default_factory=dict)
    extensions: dict[str, dt.datetime] = field(default_factory=dict)
    missing_on_time: bool = False

    def due_of(self, student: str) -> dt.datetime | None:
        return self.extensions.get(student, self.due)

    def check_complete(self, students: list[str]) -> None:
        """Every student with a submission has a time (unless missing times count as on time)."""
        if self.due is None or self.missing_on_time:
            return
        missing = [s for s in students if s not in self.times]
        if missing:
            raise LateError(f"no submission time for {', '.join(missing[:10])}"
                            f"{f' and {len(missing) - 10} more' if len(missing) > 10 else ''}: add them to "
                            "--timestamps, or pass --missing-time on-time")

    def price(self, row) -> None:
        """Set ``row``'s submitted_at, late_by (hours), penalty and final_score."""
        when = self.times.get(row.student_id)
        row.submitted_at = when.isoformat(timespec="minutes") if when else ""
        due = self.due_of(row.student_id)
        late = (when - due) if (when is not None and due is not None) else dt.timedelta(0)
        late = max(late, dt.timedelta(0))
        row.late_by = round(late.total_seconds() / 3600, 2)
        row.penalty = round(self.policy.fraction(late) * row.score, 4) if due is not None else 0.0
        row.final_score = round(row.score - row.penalty, 4)


def load(due: str | None, policy: str | None, timestamps: Path | None, extensions: Path | None,
         missing_time: str | None, known: set[str], zone_name: str | None = None) -> Deadlines:
    """Read and check the command line's deadline options (``known``: every student id found)."""
    zone = parse_zone(zone_name)
    if due is None and (timestamps or extensions or (policy and policy != "none")):
        raise LateError("--timestamps, --extensions and --late-policy need --due")
    if missing_time not in (None, "error", "on-time"):
        raise LateError(f"--missing-time {missing_time!r}: use on-time (or leave it out)")
    deadlines = Deadlines(missing_on_time=missing_time == "on-time")
    if due is not None:
        deadlines.due = parse_time(due, "--due", zone)
        deadlines.policy = parse_policy(policy or "none")
    if timestamps:
        deadlines.times = read_times(timestamps, known, zone)
    if extensions:
        deadlines.extensions = read_extensions(extensions, known, zone)
    deadlines.check_complete(sorted(known))
    return deadlines


def write_gradebook(gb, assignment_id: str, deadlines: Deadlines, rows) -> None:
    """The run's deadline, each student's time, extension and penalty into nbgrader's gradebook
    (naive UTC, as nbgrader stores them), so that formgrader shows the same penalties."""
    from nbgrader.api import MissingEntry

    def utc(value: dt.datetime) -> dt.datetime:
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    if deadlines.due is not None:
        gb.update_or_create_assignment(assignment_id, duedate=utc(deadlines.due))
    for row in rows:
        try:
            submission = gb.find_submission(assignment_id, row.student_id)
        except MissingEntry:
            continue
        when = deadlines.times.get(row.student_id)
        if when is not None:
            submission.timestamp = utc(when)
        own = deadlines.extensions.get(row.student_id)
        submission.extension = (own - deadlines.due) if (own is not None and deadlines.due is not None) else None
        for notebook in submission.notebooks:
            notebook.late_submission_penalty = row.penalty
    gb.db.commit()
