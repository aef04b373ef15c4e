"""The data that crosses between the stages of grading: a :class:`Job` in, a
:class:`WorkerResult` out (:func:`~course_utils.instructor.grade.station.grade_one`), and the
:class:`WorkerTask` a worker process reads. Each has one writer and one reader, through
``to_json`` / ``from_json``; none holds an object that is not data."""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ...judge.events import SandboxEvent
from ..course import cell_scores


@dataclass(frozen=True)
class Limits:
    """What each student's kernel may use."""

    memory: int = 2 << 30  #: bytes of heap and private memory
    timeout: float = 120.0  #: seconds per cell
    wall: float = 600.0  #: seconds per notebook


@dataclass(frozen=True)
class Job:
    """One student's notebook to grade, with everything a grading host needs besides its own
    copy of the course."""

    assignment: str
    student: str
    notebook: bytes  #: the prepared submission (test cells restored)
    index: int  #: unique within the run: the kernel's folder and user id derive from it
    limits: Limits = field(default_factory=Limits)

    def to_json(self) -> str:
        data = {**asdict(self), "notebook": base64.b64encode(self.notebook).decode()}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        return cls(data["assignment"], data["student"], base64.b64decode(data["notebook"]), int(data["index"]),
                   Limits(**data["limits"]))


@dataclass(frozen=True)
class GradeRecord:
    """One graded cell as nbgrader's gradebook holds it."""

    name: str
    notebook: str
    auto_score: float | None
    manual_score: float | None
    needs_manual_grade: bool
    max_score: float

    @property
    def score(self) -> float:
        """What the cell earned (a manual score overrides the automatic one), as nbgrader counts it."""
        if self.manual_score is not None:
            return float(self.manual_score)
        return float(self.auto_score or 0.0)


@dataclass
class WorkerResult:
    """What grading one student produced, as data: per-cell grades, the judge's first failure
    line per test, flags found in the outputs, the sandbox's events, the feedback page and the
    autograded notebook. The client alone turns it into a row, files and gradebook entries."""

    student: str
    success: bool = False  #: autograde finished and every cell has a grade
    grades: list[GradeRecord] = field(default_factory=list)
    comments: dict[str, str | None] = field(default_factory=dict)  #: cell -> nbgrader's automatic comment
    timestamp: str | None = None  #: nbgrader's submission timestamp
    messages: dict[str, str] = field(default_factory=dict)  #: test cell -> first line of its failure
    flags: dict[str, list[str]] = field(default_factory=dict)  #: timeout, memory_limit, ... -> cells
    canaries: list[str] = field(default_factory=list)  #: the audit probes the kernel acknowledged
    events: list[SandboxEvent] = field(default_factory=list)
    feedback_html: str | None = None
    autograded: str | None = None  #: the autograded notebook (with hidden tests: the instructor's)
    log: str = ""
    seconds: float = 0.0

    @property
    def cells(self) -> dict[str, list[float]]:
        """``{cell: [score, max_score]}`` for every cell worth points."""
        return cell_scores(self.grades)

    @property
    def fully_graded(self) -> bool:
        """The worker graded every cell of the notebook (autograde finished, scores recorded)."""
        return self.success and bool(self.cells)

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["grades"] = [asdict(g) for g in self.grades]
        data["events"] = [json.loads(e.to_json()) for e in self.events]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> WorkerResult:
        data = json.loads(text)
        data["grades"] = [GradeRecord(**g) for g in data.get("grades", [])]
        data["events"] = [e for e in map(SandboxEvent.from_dict, data.get("events", [])) if e is not None]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class WorkerTask:
    """What a worker process is asked to do: autograde ``student`` in the scratch ``course``,
    its kernel under the sandbox policy in the file ``policy``."""

    course: str
    assignment: str
    student: str
    policy: str
    timeout: float

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def load(cls, path: Path) -> WorkerTask:
        return cls(**json.loads(Path(path).read_text()))
