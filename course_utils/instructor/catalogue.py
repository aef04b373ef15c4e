"""Helpers of the mutant catalogues ``mutants/<id>.py`` (one implementation for all nine)."""

from __future__ import annotations


def mutant(task: str, name: str, code: str, diagnosis: str, named: bool = True) -> dict:
    """A catalogued mistake: ``code`` redefines the graded function ``task``; the test cell
    ``test_<task>`` must fail, and (``named``) its visible test must print ``diagnosis``."""
    cell = f"test_{task}"
    return dict(name=name, task=task, code=code, caught_by=[cell], named_by=cell if named else None,
                diagnosis=diagnosis)


def edit(template: str, *pairs: tuple[str, str]) -> str:
    """``template`` with each ``old`` replaced by ``new``; every ``old`` must occur in it."""
    for old, new in pairs:
        if old not in template:
            raise ValueError(f"mutant edit not found: {old!r}")
        template = template.replace(old, new)
    return template
