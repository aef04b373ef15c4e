"""The graded tasks of each exercise: references, visible cases, hidden checks.

One module per exercise (``neurons`` for ``01_neurons``, ...), each with a ``TASKS`` dict
of :class:`course_utils.instructor.hidden.Task`. ``python -m course_utils release`` records
the references' outputs on the visible cases into ``solutions/<id>/expected.json``; the
hidden checks run in the judge (or, under plain nbgrader, in the kernel) and compare the
student's function with the reference on inputs no student has seen.
"""

import importlib

#: exercise id -> module of this package
MODULES = {"01_neurons": "neurons"}


def tasks_of(assignment_id: str) -> dict:
    """The ``TASKS`` of an exercise, or ``{}`` for an exercise without recorded values."""
    if assignment_id not in MODULES:
        return {}
    return importlib.import_module(f"{__name__}.{MODULES[assignment_id]}").TASKS
