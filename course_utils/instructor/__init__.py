"""The instructor's wing of ``course_utils``: never imported by a chapter or a notebook.

Modules: ``exercises`` (the course directory, release, release cache, ``check`` and the
mutant runner), ``grade`` (``python -m course_utils grade``: a class of submissions in
sandboxed workers), ``sandbox`` (the capability probe, the namespace launcher and the
kernel manager of ``grade``) and ``cli`` (the instructor's commands). The student edition
(``python -m course_utils student-pack``) leaves this package out.
"""
