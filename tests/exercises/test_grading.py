"""The grading helpers say what is wrong, and the guard really blocks the shortcuts."""

import warnings

import numpy as np
import pytest
import scipy.special
import torch

from course_utils import grading
from course_utils.models import neurons


def messages(got, want, **kw):
    with pytest.raises(grading.GradingError) as err:
        grading.compare(got, want, "out", **kw)
    return str(err.value)


def test_compare_accepts_equal_values():
    grading.compare((np.ones(3), {"a": 1.0}), (np.ones(3), {"a": 1.0 + 1e-9}), "out")
    grading.compare(torch.ones(2), torch.ones(2), "out")


def test_compare_names_the_first_difference():
    want = np.arange(6.0).reshape(2, 3)
    assert "has shape (3, 2), expected (2, 3) (a transpose?)" in messages(want.T, want)
    assert "should be a numpy array, got list" in messages([1.0, 2.0], np.array([1.0, 2.0]))
    assert "dtype int64, expected floating point" in messages(np.arange(6).reshape(2, 3), want)
    assert "contains nan or inf (first at index (0, 1))" in messages(np.array([[0, np.nan, 2], [3, 4, 5.0]]), want)
    assert "at index (1, 2): got 7, expected 5" in messages(want + np.array([[0, 0, 0], [0, 0, 2.0]]), want)
    assert "sign is flipped" in messages(-(want + 1), want + 1)
    assert "4 times too large" in messages(4 * (want + 1), want + 1, n_rows=4)
    assert "element 1 of out" in messages((1.0, 2.0), (1.0, 3.0))
    assert "should have 2 elements, got 3" in messages((1.0, 2.0, 3.0), (1.0, 2.0))
    assert "missing ['b'], unexpected ['c']" in messages({"a": 1.0, "c": 2.0}, {"a": 1.0, "b": 2.0})
    assert "out['b']" in messages({"a": 1.0, "b": 3.0}, {"a": 1.0, "b": 2.0})
    assert "should be a torch.Tensor" in messages(np.ones(2), torch.ones(2))
    assert "should be a single number" in messages(np.ones(2), 1.0)
    square = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert "looks transposed" in messages(square.T, square)


def test_forbid_blocks_and_restores():
    original = torch.softmax
    with grading.forbid(["torch.softmax", "scipy.special.softmax", "no.such.module"], "softmax"):
        with pytest.raises(grading.ShortcutError, match="softmax called torch.softmax.*implement this yourself"):
            torch.softmax(torch.ones(2), dim=0)
        with pytest.raises(grading.ShortcutError):
            scipy.special.softmax(np.ones(2))
    assert torch.softmax is original
    assert np.allclose(scipy.special.softmax(np.ones(2)), 0.5)


def test_forbid_reaches_names_imported_into_the_students_namespace():
    namespace = {"expit": scipy.special.expit}
    exec("def sigmoid(z):\n    return expit(z)\n", namespace)
    with pytest.raises(grading.GradingError, match="scipy.special.expit.*implement this yourself"):
        grading.call_student(namespace["sigmoid"], (np.ones(3),), forbidden=grading.SHORTCUTS["sigmoid"])
    assert namespace["expit"] is scipy.special.expit  # restored


def test_reference_itself_is_refused():
    with pytest.raises(grading.GradingError, match="is course_utils.models.neurons.softmax"):
        grading.check_function(neurons.softmax, neurons.softmax, [(np.ones((2, 2)),)])
    namespace = {"reference": neurons}
    exec("def softmax(z):\n    return reference.softmax(z)\n", namespace)
    with pytest.raises(grading.GradingError, match="implement this yourself"):
        grading.check_function(namespace["softmax"], neurons.softmax, [(np.ones((2, 2)),)])
    assert neurons.softmax(np.zeros(2)).tolist() == [0.5, 0.5]  # restored


def test_call_student_reports_errors_warnings_and_in_place_changes():
    def unfinished(z):
        raise NotImplementedError()

    def crashes(z):
        return z[10]

    def overflows(z):
        return 1 / (1 + np.exp(-z))

    def in_place(z):
        z *= 2
        return z

    with pytest.raises(grading.GradingError, match="not implemented yet"):
        grading.call_student(unfinished, (np.ones(2),))
    with pytest.raises(grading.GradingError, match="crashes raised IndexError on inputs"):
        grading.call_student(crashes, (np.ones(2),))
    with pytest.raises(grading.GradingError, match="numerical warning.*overflow"):
        grading.call_student(overflows, (np.array([-1000.0]),))
    with pytest.raises(grading.GradingError, match="changed its argument 0 in place"):
        grading.call_student(in_place, (np.ones(2),))
    with pytest.raises(grading.GradingError, match="should be a function"):
        grading.call_student(3, ())


def test_call_student_leaves_the_warning_filters_as_they_were():
    before = list(warnings.filters)
    grading.call_student(lambda z: z + 1, (np.ones(2),))
    assert warnings.filters == before


def test_check_function_runs_every_case_and_refuses_none():
    calls = []

    def student(z):
        calls.append(z.shape)
        return _softmax(z)

    grading.check_function(student, neurons.softmax, grading.random_arrays([(2, 3), (4,)]))
    assert calls == [(2, 3), (4,)]
    with pytest.raises(ValueError, match="no cases"):
        grading.check_function(student, neurons.softmax, [])

    def wrong_axis(z):
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)

    with pytest.raises(grading.GradingError, match=r"wrong_axis\(inputs of shapes \(2, 3\)\) differs"):
        grading.check_function(wrong_axis, neurons.softmax, grading.random_arrays([(2, 3)]))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_check_gradient_finds_a_wrong_entry():
    w = np.array([1.0, 2.0, 3.0])
    loss = lambda: float(np.sum(w**2))  # noqa: E731
    grading.check_gradient(loss, w, 2 * w, "dw")
    bad = 2 * w
    bad[1] += 0.1
    with pytest.raises(grading.GradingError, match=r"dw at index \(1,\) is 4.1, but finite differences give 4"):
        grading.check_gradient(loss, w, bad, "dw")
    with pytest.raises(grading.GradingError, match="has shape"):
        grading.check_gradient(loss, w, np.ones(2), "dw")
    assert w.tolist() == [1.0, 2.0, 3.0]  # restored after perturbing
