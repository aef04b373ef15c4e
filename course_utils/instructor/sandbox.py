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
   (``--memory`` as ``RLIMIT_DATA``, with ``RLIMIT_AS`` 4 GiB above it; file size, process count, no core dumps), drops to
   a **separate user id** (when started as root: a uid of its own per student, so a
   kernel can read neither root's files nor another student's), enforces the **wall
   limit** of the notebook and, when the kernel exits, kills and reports any process
   it left behind.
3. :mod:`course_utils.judge.kernel`, the kernel itself, started from a copy of the student
   edition (``Policy.pythonpath``) with the repository covered (``Policy.cover``), reports
   what the student's code tried (network calls, child processes, hidden paths: a Python
   audit hook, for the record only) and caps the output it can send. The tests never run
   in the kernel: the grader's judge runs them and calls the student's functions through a
   data-only channel (:mod:`course_utils.instructor.judged`).

Each protection that the OS does not allow is reported by :func:`probe` as a warning;
the grader prints them once. Nothing here needs a package beyond the standard library,
ipykernel and jupyter_client.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from ..judge.kernel import EVENT_FD_ENV  # the event pipe's fd, inside the kernel

#: Environment variable naming the policy file of the kernels started by this process.
POLICY_ENV = "COURSE_SANDBOX_POLICY"

_ENV_KEEP = ("PATH", "LANG", "LANGUAGE", "TZ", "NBGRADER_EXECUTION", "PYTHONHASHSEED",
             "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "VIRTUAL_ENV",
             "COURSE_JUDGE_FD")  # the kernel's end of the judge's socketpair (course_utils.judge.agent)


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
    pythonpath: list[str] = field(default_factory=list)  #: the kernel imports course_utils from here (the student edition)
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


# --------------------------------------------------------------------------- the launcher (namespace init)

_libc = None


def _prctl(option: int, arg: int) -> None:
    global _libc
    _libc = _libc or ctypes.CDLL(None, use_errno=True)
    _libc.prctl(option, arg, 0, 0, 0)


def _hide(paths: list[str], log) -> None:
    """Cover each existing path with an empty read-only tmpfs (a folder) or /dev/null (a file)."""
    libc = ctypes.CDLL(None, use_errno=True)
    ms_rdonly, ms_nosuid, ms_nodev, ms_bind, ms_remount = 1, 2, 4, 4096, 32
    for path in paths:
        if not os.path.lexists(path):
            continue
        target = os.fsencode(path)
        if os.path.isdir(path):
            ok = libc.mount(b"tmpfs", target, b"tmpfs", ms_rdonly | ms_nosuid | ms_nodev, b"size=4k,mode=0555") == 0
        else:
            ok = libc.mount(b"/dev/null", target, None, ms_bind, None) == 0
            if ok:
                libc.mount(b"none", target, None, ms_remount | ms_bind | ms_rdonly, None)
        if not ok:
            log({"kind": "sandbox", "detail": f"could not hide {path}: {os.strerror(ctypes.get_errno())}"})


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


def _blocks(paths: list[str], cover: list[str]) -> dict[Path, list[str]]:
    """The folders to cover with an empty tmpfs, each with the ``paths`` inside it to bind back:
    every folder of ``cover``, and every folder on the way to a path that other users cannot
    enter. Of two nested folders only the outer one is covered."""
    covered = [Path(c).resolve() for c in cover if os.path.isdir(c)]
    by_block: dict[Path, list[str]] = {}
    for path in paths:
        found = [b for b in (blocked_ancestor(path), *(c for c in covered if Path(path).resolve().is_relative_to(c)))
                 if b is not None]
        if found:
            by_block.setdefault(min(found, key=lambda b: len(b.parts)), []).append(path)
    for folder in covered:
        if not any(folder.is_relative_to(b) for b in by_block):
            by_block.setdefault(folder, [])
    return {b: inside for b, inside in by_block.items()
            if not any(b != other and b.is_relative_to(other) for other in by_block)}


def _expose(paths: list[str], log, cover: list[str] = ()) -> None:
    """Make ``paths`` reachable by other users inside this mount namespace, and nothing else of
    the ``cover`` folders: a folder of ``cover``, or on the way to a path that they cannot
    enter (such as a 0700 home holding pyenv's Python), is covered by an empty tmpfs into
    which only ``paths`` are bound back, read-only."""
    libc = ctypes.CDLL(None, use_errno=True)
    ms_bind, ms_rec, ms_remount, ms_rdonly = 4096, 16384, 32, 1
    # A folder bound back brings its subfolders with it: bind each tree once.
    paths = [p for p in paths if not any(Path(p).is_relative_to(q) and p != q for q in paths)]
    by_block = _blocks(paths, list(cover))
    for block, inside in by_block.items():
        fds = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in inside]
        if libc.mount(b"tmpfs", os.fsencode(block), b"tmpfs", 0, b"size=64k,mode=0755") != 0:
            log({"kind": "sandbox", "detail": f"could not expose {inside}: {os.strerror(ctypes.get_errno())}"})
            continue
        for path, fd in fds:
            os.makedirs(path, exist_ok=True)
            source = os.fsencode(f"/proc/self/fd/{fd}")
            if libc.mount(source, os.fsencode(path), None, ms_bind | ms_rec, None) == 0:
                libc.mount(b"none", os.fsencode(path), None, ms_remount | ms_bind | ms_rdonly, None)
            else:
                log({"kind": "sandbox", "detail": f"could not expose {path}: {os.strerror(ctypes.get_errno())}"})
            os.close(fd)


def _private_tmp(folders: list[str], keep: list[str], size: int, log) -> None:
    """Give the kernel an empty, writable, size-limited tmpfs of its own at each of ``folders``
    (``/tmp``, ``/var/tmp``, ``/dev/shm``): what other kernels left there is out of sight and
    nothing written there outlives the kernel. Folders of ``keep`` that lay inside one (the
    kernel's own folder, the student edition, the virtualenv) are bound back."""
    libc = ctypes.CDLL(None, use_errno=True)
    ms_bind, ms_rec, ms_nosuid, ms_nodev = 4096, 16384, 2, 4
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        base = Path(folder).resolve()
        inside = [k for k in keep if os.path.isdir(k) and Path(k).resolve().is_relative_to(base)]
        inside = [k for k in inside if not any(Path(k).is_relative_to(o) and k != o for o in inside)]
        fds = [(k, os.open(k, os.O_PATH | os.O_DIRECTORY)) for k in inside]
        options = f"size={size},mode=1777".encode()
        if libc.mount(b"tmpfs", os.fsencode(str(base)), b"tmpfs", ms_nosuid | ms_nodev, options) != 0:
            log({"kind": "sandbox", "detail": f"no private {folder}: {os.strerror(ctypes.get_errno())}"})
            for _, fd in fds:
                os.close(fd)
            continue
        for path, fd in fds:
            os.makedirs(path, exist_ok=True)
            if libc.mount(os.fsencode(f"/proc/self/fd/{fd}"), os.fsencode(path), None, ms_bind | ms_rec, None) != 0:
                log({"kind": "sandbox", "detail": f"could not keep {path}: {os.strerror(ctypes.get_errno())}"})
            os.close(fd)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            ppid = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), None)
            if ppid == str(pid):
                found.append(int(entry))
    return found


def kill_processes_in(folder: str | Path) -> list[str]:
    """Kill every process whose working directory is ``folder`` or below it; return their
    command lines. A kernel's launcher and the kernel work in the kernel's folder, in a
    session of their own: this is how the grader ends them when the worker that started
    them has died."""
    folder = os.path.realpath(folder)
    killed = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd").removesuffix(" (deleted)")
        except OSError:
            continue
        if cwd == folder or cwd.startswith(folder + "/"):
            line = _cmdline(int(entry))
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed.append(line)
            except OSError:
                pass
    return killed


def _cmdline(pid: int) -> str:
    """The command line of ``pid``, or its name when it has already exited (a zombie)."""
    try:
        line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        return line[:200] or Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def launch(policy_path: str, argv: list[str]) -> int:
    """Run ``argv`` (the kernel) under ``policy``; return its exit status.

    Runs as root (or the namespaces' root) and as the first process of the PID namespace
    when there is one: it hides paths, prepares the kernel's directory, forks the kernel
    with limits and a user id of its own, enforces the wall limit and kills whatever the
    kernel leaves behind.
    """
    policy = Policy.load(policy_path)
    events = open(policy.events, "a", buffering=1)  # noqa: SIM115 - open for the whole run

    def log(event: dict) -> None:
        events.write(json.dumps(event) + "\n")

    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of the kernel become our children
    kdir = Path(policy.kernel_dir)
    work = kdir / "work"
    work.mkdir(exist_ok=True)
    for item in Path.cwd().iterdir():  # files that nbgrader put beside the notebook
        if item.is_file() and item.suffix != ".ipynb":
            shutil.copy(item, work / item.name)
    os.chdir(kdir)
    shutil.copy(policy_path, kdir / "policy.json")  # the original may be hidden from the kernel
    argv = [str(kdir / "policy.json") if a == policy_path else a for a in argv]
    if "--mount" in policy.unshare:
        if (policy.uid is not None and policy.expose) or policy.cover:
            _expose(policy.expose, log, policy.cover)
        if policy.private_tmp:
            _private_tmp(policy.private_tmp, [str(kdir), *policy.expose, *policy.pythonpath], policy.tmp_size, log)
        if policy.hidden:
            _hide(policy.hidden, log)
    if "-f" in argv:  # the connection file must be readable by the kernel's user
        conn = argv[argv.index("-f") + 1]
        if policy.uid is not None:
            os.chown(conn, policy.uid, policy.gid)
    if policy.uid is not None:
        for p in [kdir, *kdir.rglob("*")]:
            os.chown(p, policy.uid, policy.gid, follow_symlinks=False)
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP or k.startswith("LC_")}
    home = str(kdir)
    env.update(HOME=home, TMPDIR=str(kdir / "tmp"), MPLCONFIGDIR=str(kdir / "mpl"), IPYTHONDIR=str(kdir / "ipython"),
               JUPYTER_RUNTIME_DIR=str(kdir / "runtime"), JUPYTER_DATA_DIR=str(kdir / "data"),
               JUPYTER_CONFIG_DIR=str(kdir / "config"), PYTHONDONTWRITEBYTECODE="1", USER="student")
    if policy.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(policy.pythonpath)
    if policy.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(policy.threads)
    for sub in ("tmp", "mpl", "ipython", "runtime", "data", "config"):
        (kdir / sub).mkdir(exist_ok=True)
        if policy.uid is not None:
            os.chown(kdir / sub, policy.uid, policy.gid)
    read_fd, write_fd = os.pipe()
    env[EVENT_FD_ENV] = str(write_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for the kernel
    pid = os.fork()
    if pid == 0:  # the kernel
        try:
            os.close(read_fd)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the launcher
            _prctl(38, 1)  # PR_SET_NO_NEW_PRIVS: no setuid programs
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            if not os.environ.get("COURSE_SANDBOX_DEBUG"):
                os.dup2(null, 1)
                os.dup2(null, 2)
            import resource

            # heap, stacks and private mappings: a bomb gets MemoryError and the kernel lives on;
            # the address space (which shared libraries inflate) is a looser backstop
            resource.setrlimit(resource.RLIMIT_DATA, (policy.memory, policy.memory))
            space = policy.memory + (4 << 30)
            resource.setrlimit(resource.RLIMIT_AS, (space, space))
            resource.setrlimit(resource.RLIMIT_FSIZE, (policy.max_file, policy.max_file))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if policy.uid is not None:
                resource.setrlimit(resource.RLIMIT_NPROC, (policy.max_procs, policy.max_procs))
                os.setgroups([])
                os.setgid(policy.gid)
                os.setuid(policy.uid)
            os.chdir(work)
            os.set_inheritable(write_fd, True)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(write_fd)
    import threading

    def relay() -> None:  # the kernel's own reports (audit hook), at most 500 lines
        with os.fdopen(read_fd, "rb") as pipe:
            for n, line in enumerate(pipe):
                if n < 500:
                    try:
                        event = json.loads(line[:2000])
                    except ValueError:
                        continue
                    if isinstance(event, dict):
                        log({"kind": str(event.get("kind", "?"))[:40], "detail": str(event.get("detail", ""))[:300]})
        closed["at"] = time.monotonic()  # when the kernel's last copy of the pipe closed

    closed: dict[str, float] = {}
    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    start = time.monotonic()

    def on_alarm(signum, frame):
        log({"kind": "wall_limit", "detail": f"the notebook ran for more than {policy.wall:g} s; its kernel was killed"})
        os.kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, policy.wall)
    status, ended = 0, time.monotonic()
    orphans = 0  # processes the kernel started and left (reparented to us, reaped here)
    while True:  # reap everything; return when the kernel has gone
        try:
            done, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if done == pid:
            status = os.waitstatus_to_exitcode(st)
            ended = time.monotonic()
            break
        orphans += 1
    signal.setitimer(signal.ITIMER_REAL, 0)
    if status < 0 and -status not in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
        log({"kind": "kernel_died", "detail": f"the kernel was killed by signal {-status}"})
    left: list[str] = []
    for _ in range(50):  # kill what the kernel left behind, and what those left behind
        kids = _children(os.getpid())
        if not kids:
            break
        for kid in kids:
            left.append(_cmdline(kid))
            try:
                os.kill(kid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    time.sleep(0.01)
            except ChildProcessError:
                break
    while True:  # orphans that died before we looked (a signal to the kernel's process group)
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if done == 0:
            break
        orphans += 1
    if left or orphans:
        names = "; ".join(sorted(set(left)))[:250] or "ended by a signal to the kernel's group"
        log({"kind": "child_process", "detail": f"{max(len(left), orphans)} process(es) left running by the "
             f"kernel were killed: {names}"})
    reader.join(timeout=1)
    if "at" in closed and ended - closed["at"] > 0.25:  # the pipe closed under a live kernel: blinded
        log({"kind": "audit_blinded", "detail": f"the kernel closed its audit channel {ended - closed['at']:.1f} s "
             "before it ended"})
    log({"kind": "kernel_exit", "detail": f"status {status} after {time.monotonic() - start:.1f} s"})
    events.close()
    return 0 if status in (0, -signal.SIGTERM, -signal.SIGKILL) else 1


# --------------------------------------------------------------------------- inside the kernel


# --------------------------------------------------------------------------- the kernel manager


def _manager_class():
    from jupyter_client.manager import AsyncKernelManager

    class SandboxKernelManager(AsyncKernelManager):
        """An ``AsyncKernelManager`` that starts the kernel through :func:`launch` under the
        policy named by the environment variable ``COURSE_SANDBOX_POLICY``."""

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
            inner = [python, "-m", "course_utils.judge.kernel", self.policy_path, *rest]
            return [*self.policy.unshare, python, "-m", "course_utils.instructor.sandbox", "launch", self.policy_path, "--", *inner]

    return SandboxKernelManager


def __getattr__(name: str):
    if name == "SandboxKernelManager":  # imported lazily: jupyter_client is slow to import
        cls = _manager_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "launch":
        rest = argv[2:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        return launch(argv[1], rest)
    print("usage: python -m course_utils.instructor.sandbox launch POLICY -- CMD...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
