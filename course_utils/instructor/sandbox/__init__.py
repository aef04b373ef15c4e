"""A sandbox for the kernels that run students' notebooks while they are graded.

nbgrader runs student code as the instructor, with the instructor's network, memory and
files. :class:`SandboxKernelManager` (the kernel manager of :mod:`course_utils.instructor.grade`)
starts every kernel instead through this module, in three layers:

1. ``unshare`` (util-linux) puts the kernel in new namespaces where the OS allows it:
   a **network** namespace with no interface up (no network at all), a **mount**
   namespace in which the gradebook, the solutions, the submissions and the output
   folder are covered by empty read-only file systems, and a **PID** namespace whose
   processes all die with the kernel (a child process left running cannot outlive it).
   The kernel talks to nbgrader over Unix sockets (ZMQ's ``ipc`` transport), which
   cross network namespaces.
2. :func:`launch`, run as the namespace's first process, sets the resource limits
   (``--memory`` as ``RLIMIT_DATA``, with ``RLIMIT_AS`` 4 GiB above it; file size,
   process count, no core dumps), drops to a **separate user id** (when started as
   root: a uid of its own per student, so a kernel can read neither root's files nor
   another student's), enforces the **wall limit** of the notebook and, when the
   kernel exits, kills and reports any process it left behind.
3. :mod:`course_utils.judge.kernel`, the kernel itself, started from a copy of the student
   edition (``Policy.pythonpath``) with the repository covered (``Policy.cover``), reports
   what the student's code tried (network calls, child processes, hidden paths: a Python
   audit hook, for the record only) and caps the output it can send. The tests never run
   in the kernel: the grader's judge runs them and calls the student's functions through a
   data-only channel (:mod:`course_utils.instructor.judged`).

Each protection that the OS does not allow is reported by :func:`probe` as a warning;
the grader prints them once. Beyond the standard library it needs psutil (walking processes), ipykernel and
jupyter_client.

The package is split by process: :mod:`.policy` (what to enforce, and what the OS allows;
imported by the grader), :mod:`.launcher` (the namespace's first process), :mod:`.manager`
(the kernel manager, imported by a worker) and the event kinds of
:mod:`course_utils.judge.events` (shared with the kernel).
"""

from .launcher import kill_processes_in
from .policy import POLICY_ENV, Capabilities, Policy, blocked_ancestor, needed_paths, probe

__all__ = ["POLICY_ENV", "Capabilities", "Policy", "blocked_ancestor", "kill_processes_in", "needed_paths", "probe"]
