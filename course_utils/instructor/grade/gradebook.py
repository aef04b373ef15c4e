"""The class gradebook (nbgrader's, SQLite or any SQLAlchemy URL), written by the client only."""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings

from .jobs import WorkerResult


def copy_assignment(src_url: str, dst, assignment_id: str) -> float:
    """Create ``assignment_id`` in the gradebook ``dst`` as it is in ``src_url``; return its max score."""
    from nbgrader.api import Gradebook

    with Gradebook(src_url) as src:
        assignment = src.find_assignment(assignment_id)
        dst.update_or_create_assignment(assignment_id, duedate=assignment.duedate)
        for nb in assignment.notebooks:
            dst.update_or_create_notebook(nb.name, assignment_id)
            for cell in nb.grade_cells:
                dst.update_or_create_grade_cell(cell.name, nb.name, assignment_id, max_score=cell.max_score,
                                                cell_type=cell.cell_type)
            for cell in nb.solution_cells:
                dst.update_or_create_solution_cell(cell.name, nb.name, assignment_id)
            for cell in nb.task_cells:
                dst.update_or_create_task_cell(cell.name, nb.name, assignment_id, max_score=cell.max_score,
                                               cell_type=cell.cell_type)
            for cell in nb.source_cells:
                dst.update_or_create_source_cell(cell.name, nb.name, assignment_id, cell_type=cell.cell_type,
                                                 locked=cell.locked, source=cell.source, checksum=cell.checksum)
        return float(assignment.max_score)


def merge_student(dst, assignment_id: str, student: str, result: WorkerResult | None) -> None:
    """Write one student's grades into the gradebook ``dst`` from a worker's result (None, or a
    result without grades: no graded submission; any earlier one of the student is removed)."""
    from nbgrader.api import MissingEntry

    dst.update_or_create_student(student)
    if result is None or not result.success or not result.grades:
        with contextlib.suppress(MissingEntry):
            dst.remove_submission(assignment_id, student)
        return
    timestamp = dt.datetime.fromisoformat(result.timestamp) if result.timestamp else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes from nbgrader's own code
        dst.update_or_create_submission(assignment_id, student, timestamp=timestamp)
        for grade in result.grades:
            target = dst.find_grade(grade.name, grade.notebook, assignment_id, student)
            target.auto_score = grade.auto_score
            target.manual_score = grade.manual_score
            target.needs_manual_grade = grade.needs_manual_grade
        notebook = result.grades[0].notebook
        for name, comment in result.comments.items():
            with contextlib.suppress(MissingEntry):
                dst.find_comment(name, notebook, assignment_id, student).auto_comment = comment
        dst.db.commit()
