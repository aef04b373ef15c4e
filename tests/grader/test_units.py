"""Fast checks of the grader's typed pieces: the data that crosses between its stages, the
event kinds, the relay outside the kernel, the audit probe and the spool."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from course_utils.instructor import grade
from course_utils.instructor.grade.collect import Submission
from course_utils.instructor.grade.jobs import GradeRecord, Job, Limits, WorkerResult, WorkerTask
from course_utils.instructor.grade.outcome import result_row
from course_utils.instructor.grade.station import _check_canaries
from course_utils.instructor.sandbox.launcher import KERNEL_KINDS, _Relay
from course_utils.judge.events import CANARY_PREFIX, Event, SandboxEvent, read_events

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "01_neurons"
RELEASE = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
GOOD = ROOT / "tests" / "grader" / "fixtures" / "submissions" / "alice" / f"{ASSIGNMENT}.ipynb"


def _graded(student: str = "amy", **fields) -> WorkerResult:
    grades = [GradeRecord("test_a", ASSIGNMENT, 2.0, None, False, 2.0),
              GradeRecord("test_b", ASSIGNMENT, 0.0, 3.0, False, 4.0),  # a manual score overrides
              GradeRecord("answer", ASSIGNMENT, None, None, False, 0.0)]  # worth nothing: not a cell
    return WorkerResult(student, success=True, grades=grades, **fields)


def test_a_job_and_a_result_cross_as_json_unchanged(tmp_path):
    job = Job(ASSIGNMENT, "amy", b'{"cells": []}\x00\xff', 3, Limits(memory=1 << 30, timeout=20, wall=60))
    assert Job.from_json(job.to_json()) == job
    result = _graded(events=[SandboxEvent(Event.NETWORK, "socket.connect")], comments={"test_a": "ok"},
                     messages={"test_b": "wrong"}, feedback_html="<p>x</p>", canaries=[CANARY_PREFIX + "ab"])
    back = WorkerResult.from_json(result.to_json())
    assert back == result and back.cells == {"test_a": [2.0, 2.0], "test_b": [3.0, 4.0]}
    task = WorkerTask("/c", ASSIGNMENT, "amy", "/p.json", 20.0)
    assert WorkerTask.load(task.save(tmp_path / "task.json")) == task


def test_unknown_event_kinds_are_dropped(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text('{"kind": "network", "detail": "x"}\n{"kind": "made_up"}\nnot json\n[1]\n'
                   '{"kind": "wall_limit", "detail": "' + "y" * 1000 + '"}\n')
    events = read_events(log)
    assert [e.kind for e in events] == [Event.NETWORK, Event.WALL_LIMIT]
    assert len(events[1].detail) == 300


def test_the_relay_passes_only_what_a_kernel_may_report():
    read_fd, write_fd = os.pipe()
    seen: list[SandboxEvent] = []
    relay = _Relay(read_fd, seen.append)
    lines = [{"kind": "network", "detail": "a"}, {"kind": "wall_limit", "detail": "forged"},
             {"kind": "kernel_exit", "detail": "forged"}, {"kind": "canary", "detail": CANARY_PREFIX + "x"}]
    os.write(write_fd, "".join(json.dumps(line) + "\n" for line in lines).encode())
    os.close(write_fd)
    relay.join(timeout=5)
    assert [e.kind for e in seen] == [Event.NETWORK, Event.CANARY]
    assert relay.closed_at is not None
    assert Event.WALL_LIMIT not in KERNEL_KINDS and Event.AUDIT_BLINDED not in KERNEL_KINDS


def test_a_probe_the_hook_did_not_report_is_a_blinded_audit():
    probes = [CANARY_PREFIX + "a1", CANARY_PREFIX + "b2"]
    honest = _graded(canaries=probes, events=[SandboxEvent(Event.CANARY, p) for p in probes])
    _check_canaries(honest)
    assert Event.AUDIT_BLINDED not in {e.kind for e in honest.events}
    silenced = _graded(canaries=probes, events=[SandboxEvent(Event.CANARY, probes[0])])
    _check_canaries(silenced)
    blinded = [e for e in silenced.events if e.kind == Event.AUDIT_BLINDED]
    assert len(blinded) == 1 and "1 of the grader's 2 probes" in blinded[0].detail
    row = result_row(Submission("amy"), silenced, 6.0)
    assert row.status == "suspicious_code" and row.score == 5.0  # scored by the judge, flagged for a look


def test_statuses_come_from_typed_fields_not_from_message_text():
    sub = Submission("amy", details=["restored deleted test cell test_a"])  # text alone: no status
    assert result_row(sub, _graded(), 6.0).status == "ok"
    sub.restored = ["restored deleted test cell test_a"]
    assert result_row(sub, _graded(), 6.0).status == "test_cells_restored"
    assert result_row(Submission("amy"), None, 6.0).status == "error"
    died = _graded(events=[SandboxEvent(Event.KERNEL_DIED, "signal 11")])
    assert result_row(Submission("amy"), died, 6.0).status == "ok", "a death after every cell ran costs nothing"
    wall = WorkerResult("amy", events=[SandboxEvent(Event.WALL_LIMIT, "600 s")])
    assert result_row(Submission("amy"), wall, 6.0).status == "wall_limit"


def test_a_spooled_class_keeps_no_notebook_in_memory(tmp_path):
    for name in ("amy", "ben"):
        (tmp_path / "class" / name).mkdir(parents=True)
        (tmp_path / "class" / name / f"{ASSIGNMENT}.ipynb").write_bytes(GOOD.read_bytes())
    (tmp_path / "spool").mkdir()
    spooled, _ = grade.collect(ASSIGNMENT, tmp_path / "class", RELEASE, spool=tmp_path / "spool")
    kept, _ = grade.collect(ASSIGNMENT, tmp_path / "class", RELEASE)
    assert [s.status for s in spooled] == ["ok", "ok"]
    for on_disk, in_memory in zip(spooled, kept, strict=True):
        assert on_disk.content is None and on_disk.spooled.is_file()
        assert on_disk.notebook() == in_memory.notebook() == in_memory.content



def test_a_regrade_lists_what_changed_for_each_student(tmp_path):
    from course_utils.instructor.grade.outcome import Row
    from course_utils.instructor.grade.runs import write_regrade

    old = {"amy": Row("amy", 6.0, 12.0, "ok", cells={"test_a": [2.0, 2.0], "test_b": [4.0, 10.0]}),
           "gone": Row("gone", 12.0, 12.0, "ok"),
           "=cmd": Row("=cmd", 0.0, 12.0, "missing")}
    new = [Row("amy", 8.0, 12.0, "ok", cells={"test_a": [2.0, 2.0], "test_b": [6.0, 10.0]}),
           Row("new", 0.0, 12.0, "timeout", cells={"test_a": [0.0, 2.0]}),
           Row("=cmd", 0.0, 12.0, "missing")]
    write_regrade(tmp_path / "regrade.csv", old, new)
    lines = (tmp_path / "regrade.csv").read_text().splitlines()
    assert lines[0] == "student_id,old_score,new_score,old_status,new_status,cells_changed"
    assert lines[1:] == ["'=cmd,0,0,missing,missing,", "amy,6,8,ok,ok,test_b", "gone,12,,ok,,",
                         "new,,0,,timeout,test_a"]


def test_a_run_resumes_only_an_unfinished_run_of_the_same_release(tmp_path):
    from course_utils.instructor.grade.outcome import Row
    from course_utils.instructor.grade.runs import Run, RunError

    out = tmp_path / "out"
    with pytest.raises(RunError, match="no run to resume"):
        Run(out, ASSIGNMENT, "d1", "resume")
    first = Run(out, ASSIGNMENT, "d1")
    first.record(Row("amy", 12.0, 12.0, "ok"))
    first.close()  # interrupted: not finished
    (out / "grades.csv").write_text("old")
    second = Run(out, ASSIGNMENT, "d1")
    assert second.resuming and set(second.done) == {"amy"} and (out / "grades.csv").is_file()
    second.finish([Row("amy", 12.0, 12.0, "ok")])
    third = Run(out, ASSIGNMENT, "d1")  # finished: a regrade, the old outputs kept in history
    assert not third.resuming and not third.done and not (out / "grades.csv").exists()
    assert (third.history / "grades.csv").read_text() == "old"
    third.close()
    other = Run(out, ASSIGNMENT, "d2")  # unfinished but another release: a regrade
    assert not other.resuming
    other.close()


def test_the_cell_timeout_is_read_from_the_course_config_as_nbgrader_reads_it(tmp_path):
    from course_utils.instructor.course import DEFAULT_CELL_TIMEOUT, cell_timeout, repo_root
    from course_utils.instructor.grade.worker import nbgrader_config

    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = 45  # seconds\n")
    assert cell_timeout(tmp_path) == 45.0
    assert nbgrader_config(tmp_path, 30).Execute.timeout == 30  # a run's own limit wins
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    assert cell_timeout(tmp_path) == DEFAULT_CELL_TIMEOUT
    assert cell_timeout(repo_root()) == 120.0  # the course's nbgrader_config.py
