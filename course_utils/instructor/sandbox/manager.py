"""The kernel manager of the grader's workers: nbgrader starts every student kernel through
it (``Execute.kernel_manager_class``). Imported only by a worker process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from .policy import POLICY_ENV, Policy


class SandboxKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` that starts the kernel through the launcher
    (:func:`~course_utils.instructor.sandbox.launcher.launch`) under the policy named by the
    environment variable ``COURSE_SANDBOX_POLICY``, in the namespaces of ``Policy.unshare``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy_path = os.environ[POLICY_ENV]
        self.policy = Policy.load(self.policy_path)
        self.transport = "ipc"  # Unix sockets cross the network namespace
        self.ip = str(Path(self.policy.kernel_dir) / "ipc")
        self.connection_file = str(Path(self.policy.kernel_dir) / "connection.json")

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        rest = cmd[cmd.index("-f"):] if "-f" in cmd else cmd[1:]
        python = sys.executable
        kernel = [python, "-m", "course_utils.judge.kernel", self.policy_path, *rest]
        launcher = [python, "-m", "course_utils.instructor.sandbox", "launch", self.policy_path, "--"]
        return [*self.policy.unshare, *launcher, *kernel]
