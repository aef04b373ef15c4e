"""Library of the course "From Neurons to Attention".

Modules: ``data`` (offline corpora), ``text``, ``tasks``, ``models`` (reference
implementations), ``train`` (fit loops), ``viz`` (plots), ``results`` (the committed
benchmark results the chapters plot: ``results.load("recall")``), ``judge`` (the data-only
channel between a grader and a student's kernel, and the tests' API), ``cli`` (``python -m
course_utils``); the instructor's wing, ``instructor``, is left out of the student edition.
"""

__version__ = "0.1.0"


def skip_slow_optional_imports() -> None:
    """Keep jsonschema from importing ``rfc3987_syntax``, for the rest of this process.

    jsonschema imports that optional package, when it is installed, only to check the
    ``iri`` string format, and the package compiles 39 Lark grammars as it is imported:
    about 3 s of CPU in every process that imports nbformat (measured here). Notebooks use
    no such format, so the instructor tooling, whose processes import nbformat, calls this
    first. It has no effect once jsonschema has been imported.
    """
    import sys

    sys.modules.setdefault("rfc3987_syntax", None)
