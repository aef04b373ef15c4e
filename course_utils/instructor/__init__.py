"""The instructor's wing of ``course_utils``: never imported by a chapter or a notebook.

Modules: ``course`` (where the course is; nbgrader in a scratch course), ``release`` (the
release and its cache), ``check`` (solution, stub and mutants of an exercise), ``grade``
(``python -m course_utils grade``: a class of submissions in sandboxed workers),
``sandbox`` (the capability probe, the namespace launcher and the kernel manager of
``grade``) and ``cli`` (the instructor's commands). The student edition
(``python -m course_utils student-pack``) leaves this package out.
"""
