"""Library of the course "From Neurons to Attention".

Modules: ``data`` (offline corpora), ``models`` (reference implementations),
``train`` (fit loops), ``viz`` (plots), ``grading`` (helpers of the exercises' tests),
``exercises`` and ``cli`` (instructor tooling: ``python -m course_utils``).
"""

__version__ = "0.1.0"
