"""The launcher: the first process of a kernel's namespaces (``python -m
course_utils.instructor.sandbox launch POLICY -- KERNEL...``).

It hides paths, gives the kernel private temporary folders, forks the kernel with limits and
a user id of its own, enforces the wall limit, kills whatever the kernel leaves behind, and
writes what happened as :class:`~course_utils.judge.events.SandboxEvent` lines. Everything
here runs outside the kernel, so nothing the student's code does can switch it off.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import psutil

from ...judge.events import Event, SandboxEvent
from ...judge.kernel import EVENT_FD_ENV  # the event pipe's fd, inside the kernel
from .policy import Policy, blocked_ancestor

_ENV_KEEP = ("PATH", "LANG", "LANGUAGE", "TZ", "NBGRADER_EXECUTION", "PYTHONHASHSEED",
             "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "VIRTUAL_ENV",
             "COURSE_JUDGE_FD")  # the kernel's end of the judge's socketpair (course_utils.judge.agent)

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
            log(SandboxEvent(Event.SANDBOX, f"could not hide {path}: {os.strerror(ctypes.get_errno())}"))


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
            log(SandboxEvent(Event.SANDBOX, f"could not expose {inside}: {os.strerror(ctypes.get_errno())}"))
            continue
        for path, fd in fds:
            os.makedirs(path, exist_ok=True)
            source = os.fsencode(f"/proc/self/fd/{fd}")
            if libc.mount(source, os.fsencode(path), None, ms_bind | ms_rec, None) == 0:
                libc.mount(b"none", os.fsencode(path), None, ms_remount | ms_bind | ms_rdonly, None)
            else:
                log(SandboxEvent(Event.SANDBOX, f"could not expose {path}: {os.strerror(ctypes.get_errno())}"))
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
            log(SandboxEvent(Event.SANDBOX, f"no private {folder}: {os.strerror(ctypes.get_errno())}"))
            for _, fd in fds:
                os.close(fd)
            continue
        for path, fd in fds:
            os.makedirs(path, exist_ok=True)
            if libc.mount(os.fsencode(f"/proc/self/fd/{fd}"), os.fsencode(path), None, ms_bind | ms_rec, None) != 0:
                log(SandboxEvent(Event.SANDBOX, f"could not keep {path}: {os.strerror(ctypes.get_errno())}"))
            os.close(fd)


def _children(pid: int) -> list[psutil.Process]:
    """The live child processes of ``pid``."""
    try:
        return psutil.Process(pid).children()
    except psutil.Error:
        return []


def kill_processes_in(folder: str | Path) -> list[str]:
    """Kill every process whose working directory is ``folder`` or below it; return their
    command lines. A kernel's launcher and the kernel work in the kernel's folder, in a
    session of their own: this is how the grader ends them when the worker that started
    them has died."""
    folder = os.path.realpath(folder)
    killed = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            cwd = proc.cwd().removesuffix(" (deleted)")
        except psutil.Error:
            continue
        if cwd == folder or cwd.startswith(folder + "/"):
            line = _cmdline(proc)
            try:
                proc.kill()
                killed.append(line)
            except psutil.Error:
                pass
    return killed


def _cmdline(proc: psutil.Process) -> str:
    """The command line of ``proc``, or its name when it has already exited (a zombie)."""
    try:
        return " ".join(proc.cmdline())[:200] or proc.name()
    except psutil.Error:
        try:
            return proc.name()
        except psutil.Error:
            return "?"


#: the kinds a kernel may report on its pipe; anything else it writes there is dropped
KERNEL_KINDS = frozenset({Event.NETWORK, Event.PROCESS, Event.HIDDEN_PATH, Event.OUTPUT_TRUNCATED, Event.CANARY})
#: lines of the kernel's pipe relayed (a kernel's flood stops here)
MAX_KERNEL_EVENTS = 500


def launch(policy_path: str, argv: list[str]) -> int:
    """Run ``argv`` (the kernel) under ``policy``; return its exit status.

    Runs as root (or the namespaces' root) and as the first process of the PID namespace
    when there is one: it hides paths, prepares the kernel's directory, forks the kernel
    with limits and a user id of its own, enforces the wall limit and kills whatever the
    kernel leaves behind.
    """
    policy = Policy.load(policy_path)
    events = open(policy.events, "a", buffering=1)  # noqa: SIM115 - open for the whole run

    def log(event: SandboxEvent) -> None:
        events.write(event.to_json() + "\n")

    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of the kernel become our children
    kdir = _prepare_kernel_dir(policy, policy_path)
    argv = [str(kdir / "policy.json") if a == policy_path else a for a in argv]
    if "--mount" in policy.unshare:
        _isolate_files(policy, kdir, log)
    if "-f" in argv and policy.uid is not None:  # the connection file must be readable by the kernel's user
        os.chown(argv[argv.index("-f") + 1], policy.uid, policy.gid)
    env = _kernel_env(policy, kdir)
    read_fd, write_fd = os.pipe()
    env[EVENT_FD_ENV] = str(write_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for the kernel
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _exec_kernel(policy, kdir / "work", argv, env, write_fd)  # never returns
    os.close(write_fd)
    relay = _Relay(read_fd, log)
    start = time.monotonic()

    def on_alarm(signum, frame):
        log(SandboxEvent(Event.WALL_LIMIT, f"the notebook ran for more than {policy.wall:g} s; its kernel was killed"))
        os.kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, policy.wall)
    status, ended, orphans = _wait_for(pid)
    signal.setitimer(signal.ITIMER_REAL, 0)
    if status < 0 and -status not in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
        log(SandboxEvent(Event.KERNEL_DIED, f"the kernel was killed by signal {-status}"))
    left, late_orphans = _kill_leftovers()
    orphans += late_orphans
    if left or orphans:
        names = "; ".join(sorted(set(left)))[:250] or "ended by a signal to the kernel's group"
        log(SandboxEvent(Event.CHILD_PROCESS, f"{max(len(left), orphans)} process(es) left running by the "
                         f"kernel were killed: {names}"))
    relay.join(timeout=1)
    if relay.closed_at is not None and ended - relay.closed_at > 0.25:  # closed under a live kernel: blinded
        log(SandboxEvent(Event.AUDIT_BLINDED, f"the kernel closed its audit channel {ended - relay.closed_at:.1f} s "
                         "before it ended"))
    log(SandboxEvent(Event.KERNEL_EXIT, f"status {status} after {time.monotonic() - start:.1f} s"))
    events.close()
    return 0 if status in (0, -signal.SIGTERM, -signal.SIGKILL) else 1


def _prepare_kernel_dir(policy: Policy, policy_path: str) -> Path:
    """The kernel's folder, with its working folder (holding the files nbgrader put beside the
    notebook) and a copy of the policy (the original may be hidden from the kernel); we work there."""
    kdir = Path(policy.kernel_dir)
    work = kdir / "work"
    work.mkdir(exist_ok=True)
    for item in Path.cwd().iterdir():
        if item.is_file() and item.suffix != ".ipynb":
            shutil.copy(item, work / item.name)
    os.chdir(kdir)
    shutil.copy(policy_path, kdir / "policy.json")
    return kdir


def _isolate_files(policy: Policy, kdir: Path, log) -> None:
    """In our mount namespace: cover the repository (binding back what the kernel needs), give
    the kernel private temporary folders, and hide the grader's paths."""
    if (policy.uid is not None and policy.expose) or policy.cover:
        _expose(policy.expose, log, policy.cover)
    if policy.private_tmp:
        _private_tmp(policy.private_tmp, [str(kdir), *policy.expose, *policy.pythonpath], policy.tmp_size, log)
    if policy.hidden:
        _hide(policy.hidden, log)


def _kernel_env(policy: Policy, kdir: Path) -> dict[str, str]:
    """The kernel's environment (little of ours), with its home and caches in its own folder,
    which is given to the kernel's user."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_KEEP or k.startswith("LC_")}
    env.update(HOME=str(kdir), TMPDIR=str(kdir / "tmp"), MPLCONFIGDIR=str(kdir / "mpl"),
               IPYTHONDIR=str(kdir / "ipython"), JUPYTER_RUNTIME_DIR=str(kdir / "runtime"),
               JUPYTER_DATA_DIR=str(kdir / "data"), JUPYTER_CONFIG_DIR=str(kdir / "config"),
               PYTHONDONTWRITEBYTECODE="1", USER="student")
    if policy.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(policy.pythonpath)
    if policy.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(policy.threads)
    for sub in ("tmp", "mpl", "ipython", "runtime", "data", "config"):
        (kdir / sub).mkdir(exist_ok=True)
    if policy.uid is not None:
        for p in [kdir, *kdir.rglob("*")]:
            os.chown(p, policy.uid, policy.gid, follow_symlinks=False)
    return env


def _exec_kernel(policy: Policy, work: Path, argv: list[str], env: dict[str, str], event_fd: int) -> None:
    """In the forked child: limits, a user of its own, then exec the kernel. Never returns."""
    try:
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
        os.set_inheritable(event_fd, True)
        os.execve(argv[0], argv, env)
    finally:
        os._exit(127)


class _Relay:
    """A thread that copies the kernel's own reports (its audit hook) to the event log: only
    the kinds a kernel may report, at most :data:`MAX_KERNEL_EVENTS` lines. ``closed_at`` is
    when the kernel's last copy of the pipe closed."""

    def __init__(self, fd: int, log) -> None:
        import threading

        self.fd, self.log, self.closed_at = fd, log, None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with os.fdopen(self.fd, "rb") as pipe:
            for n, line in enumerate(pipe):
                if n >= MAX_KERNEL_EVENTS:
                    continue
                try:
                    event = SandboxEvent.from_dict(json.loads(line[:2000]))
                except ValueError:
                    continue
                if event is not None and event.kind in KERNEL_KINDS:
                    self.log(event)
        self.closed_at = time.monotonic()

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)


def _wait_for(pid: int) -> tuple[int, float, int]:
    """Reap children until the kernel ``pid`` exits: its exit status, when it ended, and how
    many orphans (processes it started and left, reparented to us) were reaped meanwhile."""
    orphans = 0
    while True:
        try:
            done, st = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0, time.monotonic(), orphans
        if done == pid:
            return os.waitstatus_to_exitcode(st), time.monotonic(), orphans
        orphans += 1


def _kill_leftovers() -> tuple[list[str], int]:
    """Kill what the kernel left behind, and what those left behind: their command lines, and
    the orphans reaped that had died before we looked (a signal to the kernel's group)."""
    left: list[str] = []
    for _ in range(50):
        kids = _children(os.getpid())
        if not kids:
            break
        for kid in kids:
            left.append(_cmdline(kid))
            with contextlib.suppress(psutil.Error):
                kid.kill()
        psutil.wait_procs(kids, timeout=2)
    orphans = 0
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if done == 0:
            break
        orphans += 1
    return left, orphans


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 2 and argv[0] == "launch":
        rest = argv[2:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        return launch(argv[1], rest)
    print("usage: python -m course_utils.instructor.sandbox launch POLICY -- CMD...", file=sys.stderr)
    return 2
