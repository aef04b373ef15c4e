"""The policy of one sandboxed kernel, and what this machine's OS allows.

:class:`Policy` is what the grader decides for one kernel and the launcher enforces;
:func:`probe` finds which protections the OS offers here. Imported by the grader (cheap: no
jupyter_client, no nbgrader).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

#: Environment variable naming the policy file of the kernels started by this process.
POLICY_ENV = "COURSE_SANDBOX_POLICY"


@dataclass
class Policy:
    """What the sandbox of one kernel enforces; written as JSON for the launcher."""

    kernel_dir: str  #: the kernel's home and working directory (owned by ``uid``)
    events: str  #: file (private to the grader) where the sandbox reports what happened
    memory: int = 2 << 30  #: bytes of heap and private memory (RLIMIT_DATA)
    wall: float = 600.0  #: seconds the kernel may live
    uid: int | None = None  #: user id to run as (None: do not switch)
    gid: int | None = None
    hidden: list[str] = field(default_factory=list)  #: paths the kernel must not see
    expose: list[str] = field(default_factory=list)  #: folders the kernel needs (Python, the course)
    unshare: list[str] = field(default_factory=list)  #: the unshare command, if any
    max_output: int = 1 << 20  #: characters of stdout/stderr sent by the kernel
    max_file: int = 256 << 20  #: largest file the kernel may write (RLIMIT_FSIZE)
    max_procs: int = 256  #: processes and threads of the kernel's user (RLIMIT_NPROC)
    threads: int | None = None  #: OMP/BLAS threads of the kernel
    cover: list[str] = field(default_factory=list)  #: folders covered whole, except what ``expose`` binds back
    #: the kernel imports course_utils from here (the student edition)
    pythonpath: list[str] = field(default_factory=list)
    private_tmp: list[str] = field(default_factory=list)  #: each gets an empty tmpfs of the kernel's own
    tmp_size: int = 64 << 20  #: bytes of each private tmpfs

    def save(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        return cls(**json.loads(Path(path).read_text()))


# --------------------------------------------------------------------------- what the OS allows


@dataclass
class Capabilities:
    """The protections this machine allows, and a warning for each one it does not."""

    unshare: list[str]
    netns: bool
    mountns: bool
    pidns: bool
    switch_user: bool
    warnings: list[str]


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run([*cmd, "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@lru_cache(maxsize=1)
def probe() -> Capabilities:
    """Find which namespaces ``unshare`` can create here, and whether kernels can run as
    another user. The result is cached for the process."""
    root = os.geteuid() == 0
    warnings: list[str] = []
    tool = shutil.which("unshare")
    base: list[str] = []
    net = mnt = pid = False
    if tool is None or sys.platform != "linux":
        warnings.append("no `unshare` (util-linux): student code runs with the network, sees every file "
                        "you can read and may leave processes running")
    else:
        prefix = [tool] if root else [tool, "--user", "--map-root-user"]
        full = [*prefix, "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]
        if _works([*full, "--ipc"]):  # System V IPC and POSIX message queues of its own, too
            base, net, mnt, pid = [*full, "--ipc"], True, True, True
        elif _works(full):
            base, net, mnt, pid = full, True, True, True
        else:
            for flags, has in ((["--net", "--mount"], (True, True)), (["--net"], (True, False)),
                               (["--mount"], (False, True))):
                if _works([*prefix, *flags]):
                    base, (net, mnt) = [*prefix, *flags], has
                    break
        if not net:
            warnings.append("cannot create a network namespace: student code can reach the network")
        if not mnt:
            warnings.append("cannot create a mount namespace: the gradebook, solutions and submissions are "
                            "hidden from kernels only by file permissions")
        if not pid:
            warnings.append("cannot create a PID namespace: processes left running by a student are found "
                            "and killed through a subreaper instead")
    switch = root
    if not root:
        warnings.append("not running as root: kernels run as you and can read every file you can read "
                        "(run `grade` as root, e.g. in a container, to give each student a user id of its own)")
    elif not mnt and any(blocked_ancestor(p) for p in needed_paths()):
        switch = False
        warnings.append("Python or the course lies in a folder other users cannot enter and there is no mount "
                        "namespace to expose it: kernels run as root")
    return Capabilities(base, net, mnt, pid, switch, warnings)


def blocked_ancestor(path: str | Path) -> Path | None:
    """The first folder on the way to ``path`` that other users cannot enter, or None."""
    path = Path(path).resolve()
    for folder in [*reversed(path.parents), path]:
        try:
            if folder.is_dir() and not folder.stat().st_mode & 0o001:
                return folder
        except OSError:
            return folder
    return None


def needed_paths(package: bool = True) -> list[str]:
    """Folders a kernel must read: the Python installation, the virtualenv, and (``package``)
    the course package.

    The package folder itself, not the repository around it: a clone can sit in a folder
    that other users cannot enter (``mktemp -d`` makes 0700 folders), which only works if
    the needed folders inside it are bound back one by one.
    """
    import course_utils

    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    if package:
        paths.add(str(Path(course_utils.__file__).resolve().parent))
    return sorted(paths)
