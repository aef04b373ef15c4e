"""nbgrader configuration of the course.

The course directory is the folder of this file (the repository root):
``solutions/<id>/<id>.ipynb`` is the instructor's source and ``exercises/<id>/``
the student release. Run nbgrader commands from this folder.
"""

import os

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.course_id = "neurons-to-attention"
# `ignore` replaces nbgrader's defaults, so they are repeated here.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    ".pytest_cache",
    ".DS_Store",
]

c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A shared 2-core machine: allow slow cells, but stop runaway ones.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = "python3"
c.ExecutePreprocessor.kernel_name = "python3"
# A student who deletes a locked test cell must not escape it.
c.OverwriteCells.add_missing_cells = True
