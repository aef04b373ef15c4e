"""From what grading found to a student's row: the statuses, their precedence, and :func:`result_row`."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...judge.events import Event
from .collect import Submission
from .jobs import WorkerResult

#: Every status a student can get, with its meaning (the order is the precedence: when
#: several apply, the first one is the student's status and the others go in details).
STATUSES: dict[str, str] = {
    "missing": "no notebook of this assignment was found for the student",
    "empty": "the notebook file is empty",
    "not_json": "the notebook file is not JSON (not a notebook)",
    "invalid_notebook": "the file is JSON but not a valid notebook",
    "wrong_assignment": "the notebook is not this assignment's (other name, or none of its cells)",
    "multiple_notebooks": "two or more different notebooks for one student; none was graded",
    "too_large": "the notebook file is larger than the grader accepts",
    "error": "the grader failed on this submission (see DIR/logs/<student>.log)",
    "memory_limit": "the notebook ran out of its memory limit (a MemoryError; scored 0 if the kernel then stalled)",
    "wall_limit": "the notebook ran past the wall limit and its kernel was killed; scored 0",
    "kernel_died": "the kernel died while running the notebook; scored 0",
    "hidden_path": "the notebook tried to read the gradebook, the solutions or other submissions",
    "network_blocked": "the notebook tried to use the network, which the sandbox blocks",
    "timeout": "a cell ran past the per-cell timeout and was interrupted",
    "child_process": "the notebook left processes running; they were killed",
    "output_truncated": "the notebook printed more than the grader keeps; the rest was dropped",
    "test_cells_restored": "test cells were deleted or edited; they were restored before grading",
    "suspicious_code": "the code contains patterns used to fool graders, or closed or silenced the sandbox's "
                       "audit channel (nothing of it can score); worth a look",
    "ok": "graded",
}

#: the status each sandbox event gives (events not listed only go in the details)
EVENT_STATUS: dict[Event, str] = {
    Event.NETWORK: "network_blocked",
    Event.AUDIT_BLINDED: "suspicious_code",
    Event.WALL_LIMIT: "wall_limit",
    Event.KERNEL_DIED: "kernel_died",
    Event.HIDDEN_PATH: "hidden_path",
    Event.CHILD_PROCESS: "child_process",
    Event.OUTPUT_TRUNCATED: "output_truncated",
}
#: events written into a student's details
SHOWN_EVENTS = {*EVENT_STATUS, Event.PROCESS, Event.SANDBOX}
#: the status each flag of the executed notebook's outputs gives
FLAG_STATUS = {"timeout": "timeout", "memory_limit": "memory_limit", "network_error": "network_blocked",
               "output_truncated": "output_truncated"}


@dataclass
class Row:
    """One line of grades.csv and details.csv."""

    student_id: str
    score: float
    max_score: float
    status: str
    details: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    cells: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0
    messages: dict[str, str] = field(default_factory=dict)  #: test cell -> first line of its failure
    submitted_at: str = ""  #: ISO 8601, from --timestamps (empty without one)
    late_by: float = 0.0  #: hours past the student's deadline
    penalty: float = 0.0  #: points taken by the late policy
    final_score: float | None = None  #: score - penalty (None: not priced yet, the score stands)

    @property
    def final(self) -> float:
        return self.score if self.final_score is None else self.final_score


def first_status(statuses: set[str]) -> str:
    """The status of highest precedence among ``statuses`` (none: ``ok``)."""
    return next((s for s in STATUSES if s in statuses), "ok")


def collection_row(sub: Submission, max_score: float) -> Row:
    """The row of a submission that collection already decided (nothing to grade)."""
    return Row(sub.student, 0.0, max_score, sub.status, list(sub.details), sub.files)


def result_row(sub: Submission, result: WorkerResult | None, max_score: float) -> Row:
    """The row of a graded submission (``result`` None: the grader failed on it)."""
    seconds = round(result.seconds, 1) if result else 0.0
    row = Row(sub.student, 0.0, max_score, "error", list(sub.details), sub.files, seconds=seconds)
    statuses: set[str] = set()
    if sub.restored:
        statuses.add("test_cells_restored")
    if sub.suspicious:
        statuses.add("suspicious_code")
    if result is None:
        row.status = first_status(statuses | {"error"})
        return row
    for event in result.events:
        if event.kind in SHOWN_EVENTS:
            text = f"{event.kind}: {event.detail}"
            if text not in row.details:
                row.details.append(text)
        if event.kind in EVENT_STATUS and not (event.kind == Event.KERNEL_DIED and result.fully_graded):
            statuses.add(EVENT_STATUS[event.kind])  # a kernel that dies once every cell has run (an abort
            # at exit on a loaded machine) costs nothing: its death stays in the details
    for flag, cells in result.flags.items():
        if cells:
            row.details.append(f"{flag.replace('_', ' ')} in {', '.join(cells[:6])}")
            statuses.add(FLAG_STATUS.get(flag, flag))
    if result.fully_graded:
        row.cells = result.cells
        row.messages = dict(result.messages)
        row.score = round(sum(s for s, _ in row.cells.values()), 4)
        row.max_score = round(sum(m for _, m in row.cells.values()), 4)
    elif "wall_limit" not in statuses:
        died = any(e.kind == Event.KERNEL_EXIT for e in result.events) and "DeadKernel" in result.log
        statuses.add("kernel_died" if died else "error")
    row.status = first_status(statuses)
    return row
