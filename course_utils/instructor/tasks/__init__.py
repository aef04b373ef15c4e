"""The graded tasks of each exercise: references, visible cases, hidden checks.

One module per exercise (``neurons`` for ``01_neurons``, ...). Each sets ``ASSIGNMENT`` to
its exercise id and holds a ``TASKS`` dict of :class:`course_utils.instructor.hidden.Task`.
``python -m course_utils release`` records the references' outputs on the visible cases
into ``solutions/<id>/expected.json``; the hidden checks run in the judge (or, under plain
nbgrader, in the kernel) and compare the student's function with the reference on inputs
no student has seen.
"""

import importlib
import pkgutil
from functools import lru_cache


@lru_cache(maxsize=1)
def modules() -> dict[str, str]:
    """Exercise id -> name of the module of this package that holds its tasks."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        assignment = getattr(module, "ASSIGNMENT", None)
        if assignment:
            if assignment in found:
                raise RuntimeError(f"{assignment} has two task modules: {found[assignment]}, {info.name}")
            found[assignment] = info.name
    return found


def tasks_of(assignment_id: str) -> dict:
    """The ``TASKS`` of an exercise, or ``{}`` for an exercise without recorded values."""
    name = modules().get(assignment_id)
    if name is None:
        return {}
    return importlib.import_module(f"{__name__}.{name}").TASKS
