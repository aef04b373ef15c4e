"""Recorded values: the JSON encoding, recording a task, the visible-test runner, the
diagnosis of known mistakes and the stubs of composite tasks.

The tasks are built here (a softmax, a cross-entropy that calls ``log_softmax``, a function
returning a tuple with a dict), recorded with ``course_utils.instructor.recording`` into a
temporary ``expected.json`` and checked with ``course_utils.judge.recorded``.
"""

from __future__ import annotations

import inspect
import json
import math
import struct
import warnings
from collections import namedtuple

import numpy as np
import pytest
import torch

from course_utils.instructor import recording
from course_utils.judge import recorded
from course_utils.judge.recorded import GradingError, RecordedError, from_json, to_json

# --------------------------------------------------------------------------- a softmax task


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_axis0(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def softmax_no_shift(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_unnormalised(z):
    return np.exp(z - z.max(axis=-1, keepdims=True))


CASES = [
    {"id": "small batch", "args": [np.array([[1.0, 2.0, 3.0], [0.5, 0.5, -1.0]])]},
    {"id": "one row", "args": [np.array([[0.1, -0.2, 0.3, 0.0]])]},
    {"id": "large logits", "args": [np.array([[1000.0, 1001.0], [-1000.0, 5.0]])]},
]
MUTANTS = {
    "axis 0": softmax_axis0,
    "no max shift": softmax_no_shift,
    "not normalised": softmax_unnormalised,
}
DIAGNOSES = {
    "axis 0": "This looks like the softmax taken over axis 0: the classes are on the last axis.",
    "no max shift": "This looks like exp(z) without subtracting the row's maximum: it overflows.",
    "not normalised": "This looks like exp(z) not divided by its sum: each row must sum to 1.",
}

# --------------------------------------------------------------------------- a composite task


def log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy_from_logits(z, y):
    log_probs = log_softmax(z)
    return float(-log_probs[np.arange(len(y)), y].mean())


def cross_entropy_summed(z, y):
    log_probs = log_softmax(z)
    return float(-log_probs[np.arange(len(y)), y].sum())


CE_CASES = [
    {
        "id": "two examples",
        "args": [np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), np.array([2, 0])],
    },
    {
        "id": "three examples",
        "args": [np.array([[0.3, 0.1], [2.0, -2.0], [0.0, 0.0]]), np.array([0, 1, 1])],
    },
]
CE_SUMMED = "This looks like a sum over the examples where their mean is asked for."

STUDENT_COMPOSITES = """
import numpy as np

def log_softmax(z):
    return z  # wrong: the stub must stand in for it


def cross_entropy_from_logits(z, y):
    log_probs = log_softmax(z)
    return float(-log_probs[np.arange(len(y)), y].mean())


def by_keyword(z, y):
    log_probs = log_softmax(z=z)
    return float(-log_probs[np.arange(len(y)), y].mean())


def summed(z, y):
    log_probs = log_softmax(z)
    return float(-log_probs[np.arange(len(y)), y].sum())


def transposed(z, y):
    log_probs = log_softmax(z.T).T
    return float(-log_probs[np.arange(len(y)), y].mean())


def crashes(z, y):
    log_softmax(z)
    raise ValueError("boom")
"""

# --------------------------------------------------------------------------- tuple and dict outputs


def stats(x):
    return float(x.sum()), {"mean": x.mean(axis=0), "n": x.shape[0]}


def stats_crash(x):
    raise TypeError("no stats today")


STATS_CASES = [
    {"id": "a", "args": [np.array([[1.0, 2.0], [3.0, 5.0]])]},
    {"id": "loose", "args": [np.array([[1.0, 1.0]])], "rtol": 1e-2},
]


# --------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def softmax_record():
    return recording.record_task("softmax", softmax, CASES, MUTANTS, diagnoses=DIAGNOSES)


@pytest.fixture(scope="module")
def ce_record():
    return recording.record_task(
        "cross_entropy_from_logits",
        cross_entropy_from_logits,
        CE_CASES,
        {"summed": (cross_entropy_summed, CE_SUMMED)},
        helpers={"log_softmax": log_softmax},
    )


@pytest.fixture(scope="module")
def tasks(softmax_record, ce_record):
    stats_record = recording.record_task(
        "stats",
        stats,
        STATS_CASES,
        {"crash": stats_crash},
        diagnoses={"crash": "This looks like the crash."},
    )
    return {
        "softmax": softmax_record,
        "cross_entropy_from_logits": ce_record,
        "stats": stats_record,
    }


@pytest.fixture(scope="module")
def expected_path(tmp_path_factory, tasks):
    path = tmp_path_factory.mktemp("exercise") / "expected.json"
    recording.write_expected(path, recording.build_expected("00_test", tasks))
    return path


@pytest.fixture()
def rec(expected_path):
    return recorded.load(expected_path)


@pytest.fixture()
def student():
    namespace: dict = {}
    exec(compile(STUDENT_COMPOSITES, "<student cell>", "exec"), namespace)
    return namespace


def fails(rec, task, fn, **kwargs) -> str:
    """The message of the GradingError that checking ``fn`` raises; its first line is short."""
    with pytest.raises(GradingError) as info:
        rec.check(task, fn, **kwargs)
    message = str(info.value)
    assert len(message.splitlines()[0]) <= 100, message
    return message


def line_of(fn, text: str) -> int:
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


# --------------------------------------------------------------------------- the softmax task


def test_the_reference_passes(rec):
    assert rec.check("softmax", softmax) == "✓ softmax: 3 visible cases pass"
    assert recorded.check("stats", stats, rec) == "✓ stats: 2 visible cases pass"


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_each_mutant_is_named_with_its_diagnosis(rec, mutant):
    first, second = fails(rec, "softmax", MUTANTS[mutant]).split("\n")
    assert first == DIAGNOSES[mutant]
    assert second.startswith(
        ("softmax: wrong value at [0, 0] for the case", "softmax returned nan")
    )


def test_a_non_finite_output_is_located(rec):
    message = fails(rec, "softmax", softmax_no_shift)
    assert message.splitlines()[1] == "softmax returned nan at [0, 0] for the case 'large logits'."


def test_the_runner_prints_nothing_and_warns_nothing(rec, capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fails(rec, "softmax", softmax_no_shift)
    assert caught == []
    assert capsys.readouterr() == ("", "")


def half_softmax(z):
    return softmax(z) / 2


def test_a_wrong_answer_that_matches_no_mutant_gets_got_and_expected(rec):
    message = fails(rec, "softmax", half_softmax)
    assert (
        message
        == "softmax: wrong value at [0, 0] for the case 'small batch': got 0.0450, expected 0.0900"
    )


def test_close_values_are_shown_with_enough_digits(rec):
    message = fails(rec, "softmax", lambda z: softmax(z) * (1 + 1e-5))
    got, expected = message.split("got ")[1].split(", expected ")
    assert got != expected


def test_shape_dtype_and_type_errors(rec):
    assert fails(rec, "softmax", lambda z: softmax(z).T) == (
        "softmax returned shape (3, 2); expected (2, 3) for the case 'small batch'."
    )
    assert fails(rec, "softmax", lambda z: softmax(z).astype(np.float32)) == (
        "softmax returned float32 values; expected float64 for the case 'small batch'."
    )
    assert fails(rec, "softmax", lambda z: torch.from_numpy(softmax(z))) == (
        "softmax returned a torch tensor; expected a numpy array for the case 'small batch'."
    )
    assert fails(rec, "softmax", lambda z: object()).startswith(
        "softmax returned an object of type object"
    )
    assert fails(rec, "softmax", 3) == "softmax should be a function; it is an int."


def softmax_todo(z):
    raise NotImplementedError


def test_not_implemented(rec):
    assert (
        fails(rec, "softmax", softmax_todo)
        == "softmax is not implemented yet (it raises NotImplementedError)."
    )


def softmax_inverts(z):
    e = np.exp(z)
    return np.linalg.inv(e)  # raises inside numpy: the line reported is this one


def test_an_exception_names_the_students_own_line(rec):
    first, second = fails(rec, "softmax", softmax_inverts).split("\n")
    assert first.startswith("softmax raised LinAlgError: ")
    assert first.endswith(f"(line {line_of(softmax_inverts, 'np.linalg.inv')} of your code)")
    assert second == "It happened in the case 'small batch'."


def softmax_in_place(z):
    for earlier in z_seen:
        earlier[...] = 0.0  # scribbles on the inputs (and so the outputs) of earlier cases
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    z_seen.append(z)
    return z


z_seen: list = []


def test_changing_the_inputs_in_place_corrupts_nothing(rec):
    z_seen.clear()
    assert rec.check("softmax", softmax_in_place).startswith("✓")
    for case, original in zip(rec.cases("softmax"), CASES, strict=True):
        np.testing.assert_array_equal(case["args"][0], original["args"][0])
    assert rec.check("softmax", softmax).startswith("✓")


# --------------------------------------------------------------------------- containers, tolerance


def test_containers_are_compared_by_structure_then_values(rec):
    x_sum = lambda x: float(x.sum())  # noqa: E731
    assert fails(rec, "stats", lambda x: list(stats(x))) == (
        "stats returned a list of 2 values; expected a tuple of 2 values for the case 'a'."
    )
    assert fails(rec, "stats", lambda x: (*stats(x), 0)) == (
        "stats returned a tuple of 3 values; expected a tuple of 2 values for the case 'a'."
    )
    assert fails(rec, "stats", lambda x: (x_sum(x), {"mean": x.mean(axis=0)})) == (
        "stats returned a dict in output[1] without the key 'n' for the case 'a'."
    )
    assert fails(rec, "stats", lambda x: (x_sum(x), {"mean": x.mean(axis=0), "n": 2.0})) == (
        "stats returned a float in output[1]['n']; expected an int for the case 'a'."
    )
    assert fails(rec, "stats", lambda x: (x_sum(x), {"mean": x.mean(axis=1), "n": x.shape[0]})) == (
        "stats: wrong value in output[1]['mean'] at [0] for the case 'a': "
        "got 1.5000, expected 2.0000"
    )


def stats_off_by(relative, only_loose=False):
    def student(x):
        total, rest = stats(x)
        scale = 1.0 if only_loose and len(x) != 1 else 1.0 + relative
        return total * scale, rest

    return student


def test_a_case_can_loosen_its_tolerance(rec):
    assert rec.check("stats", stats_off_by(1e-7)).startswith("✓")
    assert rec.check("stats", stats_off_by(5e-3, only_loose=True)).startswith("✓")
    assert "for the case 'a'" in fails(rec, "stats", stats_off_by(5e-3))


def stats_raises(x):
    raise TypeError("nope")


def test_a_mutant_that_raises_is_named_by_its_exception(rec):
    first, second, third = fails(rec, "stats", stats_raises).split("\n")
    assert first == "This looks like the crash."
    assert (
        second
        == f"stats raised TypeError: nope (line {line_of(stats_raises, 'nope')} of your code)"
    )
    assert third == "It happened in the case 'a'."


# --------------------------------------------------------------------------- composites and stubs


def test_helper_calls_are_recorded(ce_record):
    assert ce_record["helpers"] == {"log_softmax": {"params": ["z"], "defaults": {}}}
    for case, original in zip(ce_record["cases"], CE_CASES, strict=True):
        [(args, result)] = case["calls"]["log_softmax"]
        np.testing.assert_array_equal(from_json(args)[0], original["args"][0])
        np.testing.assert_array_equal(from_json(result), log_softmax(original["args"][0]))
    assert globals()["log_softmax"] is log_softmax  # the recorder is gone


def test_a_composite_runs_on_stubs_not_on_the_students_helper(rec, student):
    wrong_helper = student["log_softmax"]
    assert rec.check("cross_entropy_from_logits", student["cross_entropy_from_logits"]).startswith(
        "✓"
    )
    assert rec.check("cross_entropy_from_logits", student["by_keyword"]).startswith("✓")
    explicit = {"log_softmax": rec.stub("log_softmax")}
    assert rec.check(
        "cross_entropy_from_logits", student["cross_entropy_from_logits"], stubs=explicit
    )
    assert student["log_softmax"] is wrong_helper
    assert rec.check("cross_entropy_from_logits", cross_entropy_from_logits).startswith("✓")
    assert globals()["log_softmax"] is log_softmax


def test_an_unexpected_helper_input_is_reported_and_globals_restored(rec, student):
    wrong_helper = student["log_softmax"]
    assert fails(rec, "cross_entropy_from_logits", student["transposed"]) == (
        "log_softmax was called with an input the test did not expect at call 1 "
        "for the case 'two examples'."
    )
    first = fails(rec, "cross_entropy_from_logits", student["crashes"]).splitlines()[0]
    line = STUDENT_COMPOSITES.splitlines().index('    raise ValueError("boom")') + 1
    assert first == f"cross_entropy_from_logits raised ValueError: boom (line {line} of your code)"
    assert student["log_softmax"] is wrong_helper
    del student["log_softmax"]
    assert rec.check("cross_entropy_from_logits", student["cross_entropy_from_logits"]).startswith(
        "✓"
    )
    assert "log_softmax" not in student


def test_a_composite_mutant_is_named(rec, student):
    assert fails(rec, "cross_entropy_from_logits", student["summed"]).splitlines()[0] == CE_SUMMED


def scaled(z, scale=2.0):
    return z * scale


def scaled_twice(z):
    return scaled(z) + scaled(z, 3.0)


def scaled_thrice(z):
    return scaled(z, scale=2.0) + scaled(z, 3.0) + 0 * scaled(z, 4.0)


def test_a_stub_counts_calls_and_takes_defaults():
    record = recording.record_task(
        "composite",
        scaled_twice,
        [{"id": "one", "args": [np.ones(2)]}],
        {},
        helpers={"scaled": scaled},
    )
    assert record["helpers"] == {"scaled": {"params": ["z", "scale"], "defaults": {"scale": 2.0}}}
    assert [from_json(args)[1] for args, _ in record["cases"][0]["calls"]["scaled"]] == [2.0, 3.0]
    rec = recorded.Recorded(recording.build_expected("x", {"composite": record}))
    assert rec.check("composite", scaled_twice).startswith("✓")
    assert fails(rec, "composite", scaled_thrice) == (
        "scaled was called with an input the test did not expect at call 3 for the case 'one'."
    )


# --------------------------------------------------------------------------- the file


def test_re_recording_is_byte_identical(expected_path, tasks):
    again = {name: dict(task) for name, task in tasks.items()}
    again["softmax"] = recording.record_task(
        "softmax", softmax, CASES, MUTANTS, diagnoses=DIAGNOSES
    )
    data = recording.build_expected("00_test", again)
    assert recording.is_fresh(expected_path, data)
    assert expected_path.read_bytes() == recording.dumps_expected(data).encode()
    changed = recording.build_expected("00_test", {**again, "stats": again["softmax"]})
    assert not recording.is_fresh(expected_path, changed)
    text = expected_path.read_text()
    assert (
        text.endswith("}\n")
        and '"id": "large logits"' in text
        and "[1000.0, 1001.0, -1000.0, 5.0]" in text
    )


def test_only_visible_cases_and_named_cases_are_recorded():
    with pytest.raises(ValueError, match="hidden"):
        recording.record_task("softmax", softmax, [{**CASES[0], "hidden": True}], {})
    with pytest.raises(ValueError, match="distinct ids"):
        recording.record_task("softmax", softmax, [CASES[0], CASES[0]], {})
    with pytest.raises(ValueError, match="diagnosis"):
        recording.record_task("softmax", softmax, CASES, {"axis 0": softmax_axis0})


def test_distinguishable(softmax_record):
    assert recording.distinguishable(softmax_record) == []
    record = recording.record_task(
        "softmax",
        softmax,
        CASES,
        {
            "axis 0": softmax_axis0,
            "axis 0 again": softmax_axis0,
            "same": softmax,
            "long": softmax_no_shift,
        },
        diagnoses={**DIAGNOSES, "axis 0 again": "Again.", "same": "Same.", "long": "x" * 101},
    )
    assert recording.distinguishable(record) == [
        "the diagnosis of 'long' should be one line of at most 100 characters",
        "mutant 'same' never differs from the expected outputs on the visible cases",
        "mutants 'axis 0' and 'axis 0 again' have the same outcomes on every visible case",
    ]
    rec = recorded.Recorded(recording.build_expected("x", {"softmax": record}))
    assert "\n" not in fails(rec, "softmax", softmax_axis0)  # two matches: none is named


def test_load_names_the_file_when_it_is_missing_or_damaged(tmp_path):
    with pytest.raises(RecordedError) as info:
        recorded.load(tmp_path)
    assert (
        str(info.value)
        == "expected.json is missing next to the notebook: download the exercise folder again."
    )
    (tmp_path / "expected.json").write_text("{not json")
    with pytest.raises(
        RecordedError, match=r"^expected.json is damaged \(not JSON, line 1\): download"
    ):
        recorded.load(tmp_path / "expected.json")
    (tmp_path / "expected.json").write_text('{"format": 99, "assignment": "x", "tasks": {}}')
    with pytest.raises(RecordedError, match="damaged"):
        recorded.load(tmp_path)
    with pytest.raises(RecordedError, match="has no values for nope"):
        recorded.Recorded({"format": 1, "assignment": "x", "tasks": {}}).check("nope", softmax)


# --------------------------------------------------------------------------- the JSON encoding


def _bits(x) -> bytes:
    return struct.pack("<d", x)


def assert_identical(a, b) -> None:
    """Same types all the way down, and the same bits in every number."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_identical(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_identical(a[key], b[key])
    elif isinstance(a, torch.Tensor):
        assert (a.dtype, a.shape, a.requires_grad) == (b.dtype, b.shape, b.requires_grad)
        assert (
            a.contiguous().view(torch.uint8).numpy().tobytes()
            == b.contiguous().view(torch.uint8).numpy().tobytes()
        )
    elif isinstance(a, np.ndarray | np.generic):
        assert (a.dtype, a.shape) == (b.dtype, b.shape)
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    elif isinstance(a, float):
        assert _bits(a) == _bits(b)
    else:
        assert a == b


def _floats(dtype) -> np.ndarray:
    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-300, 1 / 3, 0.1])
    with np.errstate(over="ignore"):  # float16 overflows to inf, which is fine here
        return np.concatenate(
            [rng.standard_normal(20) * 10.0 ** rng.integers(-30, 30, 20), special]
        ).astype(dtype)


ROUND_TRIP = [
    None,
    True,
    False,
    0,
    -7,
    2**70,
    0.1,
    -0.0,
    1e-310,
    math.nan,
    math.inf,
    -math.inf,
    'héllo "x"',
    "",
    [],
    [1, [2.5, None]],
    (),
    (1, (2.0, "a")),
    {},
    {"a": 1, "b": [True]},
    {"__type__": "user's own key", "t": (1,)},
    [{"__type__": "tuple", "items": []}],
    _floats(np.float64),
    _floats(np.float32),
    _floats(np.float16).reshape(4, 7),
    np.array([[1 + 2j, np.nan - 1j]]),
    np.array([1.5 - 0.5j], np.complex64),
    np.array([-(2**63), 2**63 - 1]),
    np.array([2**64 - 1], np.uint64),
    np.arange(-3, 3, dtype=np.int8),
    np.array([True, False]),
    np.zeros((0, 3)),
    np.array(2.5),
    np.float32(0.1),
    np.int64(-3),
    np.bool_(True),
    np.float64(np.nan),
    torch.tensor([[0.1, -0.0], [math.inf, math.nan]]),
    torch.tensor([1.0, 2.0], dtype=torch.float64),
    torch.tensor([1, -2]),
    torch.tensor([True]),
    torch.tensor([0.1, 3.0], dtype=torch.bfloat16),
    torch.nn.Parameter(torch.ones(2)),
]


@pytest.mark.parametrize("value", ROUND_TRIP, ids=lambda v: type(v).__name__)
def test_round_trip_is_bit_exact(value):
    text = json.dumps(to_json(value), allow_nan=False)
    back = from_json(json.loads(text))
    expected = value.detach() if isinstance(value, torch.Tensor) else value  # sent without grad
    assert_identical(back, expected)


def test_the_encoding_is_readable():
    assert to_json((1, [2.0, math.nan])) == {
        "__type__": "tuple",
        "items": [1, [2.0, {"__type__": "float", "value": "nan"}]],
    }
    assert to_json(np.array([[1.0, np.inf]], np.float32)) == {
        "__type__": "ndarray",
        "dtype": "float32",
        "shape": [1, 2],
        "values": [1.0, "inf"],
    }


@pytest.mark.parametrize(
    "value",
    [
        object(),
        {1: 2},
        namedtuple("P", "x")(1),
        b"bytes",
        1j,
        np.array(["a"]),
        np.array([None], dtype=object),
    ],
)
def test_non_data_values_are_refused(value):
    with pytest.raises(TypeError, match="cannot record"):
        to_json(value)


@pytest.mark.parametrize(
    "tree",
    [
        {"__type__": "set", "items": []},
        {"__type__": "tuple", "items": [], "extra": 1},
        {"__type__": "float", "value": "0.5"},
        {"__type__": "ndarray", "dtype": "object", "shape": [1], "values": [1]},
        {"__type__": "ndarray", "dtype": "float64", "shape": [2], "values": [1.0]},
        {"__type__": "ndarray", "dtype": "int64", "shape": [1], "values": [1.5]},
        {"__type__": "dict", "items": [[1, 2]]},
    ],
)
def test_malformed_trees_are_refused(tree):
    with pytest.raises(RecordedError, match="malformed"):
        from_json(tree)
