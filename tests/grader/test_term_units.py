"""Running a term, the pure pieces (fast): late policies and their penalties, the deadline
files and their errors, Canvas and Moodle identities in SUBMISSIONS, the LMS exports against
the documented column layouts, and the similarity report's normalisation and ranking.
``tests/grader/test_term.py`` grades the term class with all of them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from pathlib import Path

import pytest

from course_utils.instructor import lms
from course_utils.instructor.grade import late, similarity
from course_utils.instructor.grade.collect import collect, student_ids
from course_utils.instructor.grade.outcome import Row

ROOT = Path(__file__).resolve().parents[2]
TERM = ROOT / "tests" / "grader" / "fixtures" / "term"
RELEASE = ROOT / "exercises" / "01_neurons" / "01_neurons.ipynb"
H = dt.timedelta(hours=1)


# --------------------------------------------------------------------------- policies


@pytest.mark.parametrize("text, late_by, fraction", [
    ("10%/day", 1 * H, 0.10),  # a started day counts
    ("10%/day", 24 * H, 0.10),
    ("10%/day", 25 * H, 0.20),
    ("10%/day, max 30%", 24 * 9 * H, 0.30),
    ("5%/hour", 2.5 * H, 0.15),
    ("10%/day, grace 15m", dt.timedelta(minutes=14), 0.0),
    ("10%/day, grace 15m", dt.timedelta(minutes=16), 0.10),
    ("10%/day, max 50%, grace 1h", 30 * H, 0.20),
    ("zero", dt.timedelta(seconds=1), 1.0),
    ("none", 100 * H, 0.0),
    ("10%/day", dt.timedelta(0), 0.0),
    ("10%/day", -5 * H, 0.0),  # early
])
def test_policy_fraction(text, late_by, fraction):
    assert late.parse_policy(text).fraction(late_by) == pytest.approx(fraction)


@pytest.mark.parametrize("text", ["10%", "10/day", "10%/week", "10%/day, max", "10%/day, cap 20%", "150%/day",
                                  "soon"])
def test_bad_policies_are_refused_with_the_syntax(text):
    with pytest.raises(late.LateError, match="late-policy"):
        late.parse_policy(text)


def test_penalty_is_a_share_of_the_earned_score():
    deadlines = late.Deadlines(due=dt.datetime(2027, 3, 1, 23, 59, tzinfo=dt.timezone(H)),
                               policy=late.parse_policy("10%/day, max 30%"),
                               times={"a": dt.datetime(2027, 3, 2, 22, 59, tzinfo=dt.UTC)})  # 24 h late
    row = Row("a", 8.0, 12.0, "ok")
    deadlines.price(row)
    assert (row.late_by, row.penalty, row.final_score) == (24.0, 0.8, 7.2)
    assert row.submitted_at == "2027-03-02T22:59+00:00"
    deadlines.extensions["a"] = dt.datetime(2027, 3, 3, tzinfo=dt.UTC)
    deadlines.price(row)  # priced again from scratch: the extension removes the penalty
    assert (row.late_by, row.penalty, row.final_score) == (0.0, 0.0, 8.0)


# --------------------------------------------------------------------------- deadline files


def test_times_and_extensions_of_the_term_class():
    known = set(student_ids(TERM / "canvas", "01_neurons"))
    assert known == {"1001", "1002", "1003", "1004", "1005", "1006"}  # user ids, not the two "smithjohn"
    deadlines = late.load("2027-03-01T23:59+01:00", "10%/day, max 30%, grace 15m", TERM / "times.csv",
                          TERM / "extensions.csv", None, known)
    assert deadlines.times["1003"] == dt.datetime(2027, 3, 1, 22, 0, tzinfo=dt.UTC)
    assert deadlines.due_of("1004") == dt.datetime(2027, 3, 4, 23, 59, tzinfo=dt.timezone(H))
    assert deadlines.due_of("1001") == deadlines.due


@pytest.mark.parametrize("content, message", [
    ("student_id,submitted_at\nzed,2027-03-01T10:00+01:00\n", "times.csv line 2: unknown student 'zed'"),
    ("student_id,submitted_at\n1001,2027-03-01T10:00+01:00\n1002,yesterday\n",
     "times.csv line 3: cannot read the time 'yesterday'"),
    ("student_id,submitted_at\n1001,2027-03-01T10:00\n",
     "times.csv line 2: the time '2027-03-01T10:00' has no time zone"),
    ("id,when\n1001,2027-03-01T10:00+01:00\n", "expected the columns student_id,submitted_at"),
])
def test_bad_timestamps_name_the_line(tmp_path, content, message):
    path = tmp_path / "times.csv"
    path.write_text(content)
    with pytest.raises(late.LateError) as error:
        late.read_times(path, {"1001", "1002"})
    assert message in str(error.value)


def test_a_submission_without_a_time_is_an_error_naming_it(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("student_id,submitted_at\n1001,2027-03-01T10:00+01:00\n")
    with pytest.raises(late.LateError, match="no submission time for 1002"):
        late.load("2027-03-01T23:59+01:00", "zero", path, None, None, {"1001", "1002"})
    deadlines = late.load("2027-03-01T23:59+01:00", "zero", path, None, "on-time", {"1001", "1002"})
    row = Row("1002", 5.0, 12.0, "ok")
    deadlines.price(row)
    assert row.final_score == 5.0 and row.submitted_at == ""
    with pytest.raises(late.LateError, match="need --due"):
        late.load(None, "zero", path, None, None, {"1001"})


def test_extensions_name_the_line(tmp_path):
    path = tmp_path / "ext.csv"
    path.write_text("student_id,due\n1001,2027-03-05T12:00+01:00\nnobody,2027-03-05T12:00+01:00\n")
    with pytest.raises(late.LateError, match="ext.csv line 3: unknown student 'nobody'"):
        late.read_extensions(path, {"1001"})


def test_moodle_worksheet_times_need_a_zone():
    known = {"2001", "2002"}
    with pytest.raises(late.LateError, match="no time zone.*--timezone"):
        late.read_times(TERM / "moodle_worksheet.csv", known)
    times = late.read_times(TERM / "moodle_worksheet.csv", known, late.parse_zone("Europe/Berlin"))
    assert times == {"2001": dt.datetime(2027, 3, 1, 21, 0, tzinfo=dt.UTC),
                     "2002": dt.datetime(2027, 3, 2, 8, 30, tzinfo=dt.UTC)}  # Berlin is UTC+1 in March


# --------------------------------------------------------------------------- identities


def test_canvas_and_moodle_downloads_are_keyed_on_the_user_id():
    """Two students called John Smith: one id each, and both graded (not one notebook of two)."""
    subs, _ = collect("01_neurons", TERM / "canvas", RELEASE)
    by_id = {s.student: s for s in subs}
    assert sorted(by_id) == ["1001", "1002", "1003", "1004", "1005", "1006"]
    assert all(s.status == "ok" for s in subs)
    assert "canvas user 1002: smithjohn (marked late by Canvas)" in by_id["1002"].details
    subs, _ = collect("01_neurons", TERM / "moodle", RELEASE)
    assert [(s.student, s.status) for s in subs] == [("2001", "ok"), ("2002", "ok")]
    assert "moodle user 2001: John Smith" in subs[0].details


def test_a_flat_moodle_download_is_keyed_on_the_participant_id(tmp_path):
    for pid in ("31", "32"):
        (tmp_path / f"Ann Lee_{pid}_assignsubmission_file_01_neurons.ipynb").write_bytes(RELEASE.read_bytes())
    subs, _ = collect("01_neurons", tmp_path, RELEASE)
    assert [(s.student, s.status) for s in subs] == [("31", "ok"), ("32", "ok")]


# --------------------------------------------------------------------------- exports


def _grades(tmp_path: Path) -> Path:
    (tmp_path / "grades.csv").write_text(
        "student_id,score,max_score,status,submitted_at,late_by,penalty,final_score\n"
        "1001,12,12,ok,2027-03-01T20:00+01:00,0,0,12\n"
        "1002,12,12,ok,2027-03-03T01:59+01:00,26,2.4,9.6\n"
        "1003,12,12,suspicious_code,,0,0,12\n"
        "9999,3,12,ok,,0,0,3\n")
    return tmp_path


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_canvas_export_keeps_the_identity_columns_and_the_exact_header(tmp_path):
    text, missing, unknown = lms.export("01_neurons", lms.read_grades(_grades(tmp_path)),
                                        TERM / "canvas_gradebook.csv", "canvas")
    rows = _rows(text)
    # Canvas's import: Student, ID, SIS User ID, SIS Login ID, Section, then "Name (id)" columns
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Exercise 1: 01_neurons (4242)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", "12"]
    by_id = {r[1]: r for r in rows[2:]}
    assert by_id["1001"] == ["Smith, John", "1001", "S1001", "jsmith1", "Neural Networks 101", "12"]
    assert by_id["1002"][-1] == "9.6"  # the final score, after the late penalty
    assert by_id["1007"][-1] == "0" and missing == ["1004", "1005", "1006", "1007"]
    assert unknown == ["9999"]
    assert all(len(r) == 6 for r in rows)


def test_canvas_export_asks_for_the_column_when_unsure(tmp_path):
    with pytest.raises(lms.ExportError, match="--column"):
        lms.export("02_word2vec", lms.read_grades(_grades(tmp_path)), TERM / "canvas_gradebook.csv", "canvas")
    text, _, _ = lms.export("02_word2vec", lms.read_grades(_grades(tmp_path)), TERM / "canvas_gradebook.csv",
                            "canvas", column="Quiz 1 (4243)")
    assert _rows(text)[0][-1] == "Quiz 1 (4243)"
    with pytest.raises(lms.ExportError, match="needs the moodle roster"):
        lms.export("01_neurons", lms.read_grades(tmp_path), TERM / "canvas_gradebook.csv", "moodle")


def test_moodle_export_fills_the_worksheet(tmp_path):
    (tmp_path / "grades.csv").write_text("student_id,score,max_score,status,submitted_at,late_by,penalty,final_score\n"
                                         "2001,10,12,ok,,0,0,10\n2002,12,12,ok,,3,1.2,10.8\n")
    text, missing, unknown = lms.export("01_neurons", lms.read_grades(tmp_path), TERM / "moodle_worksheet.csv",
                                        "moodle")
    rows = _rows(text)
    header = (TERM / "moodle_worksheet.csv").read_text().splitlines()[0].split(",")
    assert rows[0] == header  # Moodle's upload matches the worksheet's own columns
    grade, ident = header.index("Grade"), header.index("Identifier")
    assert {r[ident]: r[grade] for r in rows[1:]} == {"Participant 2001": "10", "Participant 2002": "10.8",
                                                     "Participant 2003": "0"}
    assert rows[1][header.index("Last modified (submission)")] == "Monday, 1 March 2027, 10:00 PM"  # untouched
    assert missing == ["2003"] and unknown == []


def test_plain_csv_export(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,email\n1001,John Smith,js@example.org\n1007,=cmd,tb@example.org\n")
    text, missing, _ = lms.export("01_neurons", lms.read_grades(_grades(tmp_path)), roster, "csv")
    assert _rows(text) == [["student_id", "name", "email", "score", "max_score", "status"],
                           ["1001", "John Smith", "js@example.org", "12", "12", "ok"],
                           ["1007", "'=cmd", "tb@example.org", "0", "12", "missing"]]


def test_export_command(tmp_path):
    from course_utils import cli

    out = tmp_path / "canvas.csv"
    code = cli.main(["export", "01_neurons", "--grades", str(_grades(tmp_path)), "--roster",
                     str(TERM / "canvas_gradebook.csv"), "--format", "canvas", "--to", str(out)])
    assert code == 0 and _rows(out.read_text())[0][-1] == "Exercise 1: 01_neurons (4242)"
    assert cli.main(["export", "01_neurons", "--grades", str(tmp_path / "nowhere"), "--roster",
                     str(TERM / "canvas_gradebook.csv"), "--format", "canvas"]) == 2


# --------------------------------------------------------------------------- similarity


def test_normalisation_ignores_names_comments_and_docstrings():
    a = 'def f(x):\n    """Doc."""\n    total = x.sum(axis=0)  # sum\n    return total / len(x)\n'
    b = "def g(values):\n    # add up\n    s = values.sum(axis=0)\n    return s / len(values)\n"
    c = "def f(x):\n    total = x.sum(axis=1)\n    return total / len(x)\n"
    assert similarity.normalise(a) == similarity.normalise(b)
    assert similarity.normalise(a) != similarity.normalise(c)  # the content (axis) counts
    assert similarity.normalise("def f(:\n  return x  # broken") == ["def", "#0", "(", ":", "return", "#1"]


def _program(rng: random.Random, n: int = 12) -> str:
    ops = ["+", "-", "*", "/"]
    lines = ["def solve(a, b):", "    acc = np.zeros_like(a)"]
    for _ in range(n):
        lines.append(f"    acc = acc {rng.choice(ops)} np.{rng.choice(['exp', 'log1p', 'tanh', 'abs'])}"
                     f"(a * {rng.randint(2, 9)} {rng.choice(ops)} b[{rng.randint(0, 5)}])")
    return "\n".join(lines + ["    return acc"]) + "\n"


def test_the_planted_pair_ranks_first_and_shared_code_is_ignored():
    rng = random.Random(0)
    common = "def helper(v):\n    return np.exp(v - v.max()) / np.exp(v - v.max()).sum()\n"
    stub = "def solve(a, b):\n    raise NotImplementedError()\n"
    students = {f"s{i:02d}": {"task": _program(rng), "helper": common} for i in range(30)}
    copied = students["s07"]["task"].replace("acc", "result").replace("(a *", "(a*")
    lines = copied.splitlines()
    lines[5] = "    result = result + 1.0  # changed one line"
    students["s21"] = {"task": "\n".join(lines) + "\n", "helper": common}
    pairs = similarity.similar_pairs(students, similarity.all_kgrams({"stub": stub}))
    assert pairs[0][:2] == ("s07", "s21") and pairs[0][2] > 0.5 and pairs[0][3] == ["task"]
    assert all(p[2] < pairs[0][2] / 2 for p in pairs[1:])
    assert all("helper" not in p[3] for p in pairs)  # everyone's helper: more than 20% of the class


def test_similarity_csv(tmp_path):
    similarity.write_similarity(tmp_path / "s.csv", [("a", "b", 0.9, ["t1", "t2"]), ("=x", "c", 0.1, ["t1"])])
    assert _rows((tmp_path / "s.csv").read_text()) == [["a", "b", "score", "cells"], ["a", "b", "0.9000", "t1 t2"],
                                                      ["'=x", "c", "0.1000", "t1"]]


def test_grade_stops_on_a_bad_line_before_writing_anything(tmp_path, capsys):
    from course_utils import cli

    times = tmp_path / "times.csv"
    times.write_text("student_id,submitted_at\n1001,2027-03-01T10:00+01:00\n1002,2027-03-02 09:00\n")
    out = tmp_path / "out"
    code = cli.main(["grade", "01_neurons", str(TERM / "canvas"), "--out", str(out), "--due", "2027-03-01T23:59+01:00",
                     "--timestamps", str(times), "--late-policy", "zero"])
    assert code == 2 and not out.exists()
    assert "times.csv line 3: the time '2027-03-02 09:00' has no time zone" in capsys.readouterr().err
