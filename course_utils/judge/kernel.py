"""The student's kernel as the grader starts it: ``python -m course_utils.judge.kernel POLICY -f CONNECTION``.

It runs inside the sandbox, from the student edition of ``course_utils`` (the grader puts
that copy first on ``PYTHONPATH`` and covers the repository), so it imports nothing of the
instructor's. Before the kernel starts it installs an audit hook that *reports* network
calls, child processes and attempts on hidden paths on the event pipe, and caps what the
kernel writes to stdout and stderr. Neither protects a score: the tests run in the judge.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

from .events import CANARY_PREFIX, Event

#: environment variable, inside the kernel, holding the fd of the event pipe
EVENT_FD_ENV = "COURSE_SANDBOX_EVENT_FD"


def install_audit_hook(hidden_paths: list[str], fd: int | None) -> dict:
    """Report network calls, child processes and attempts on hidden paths (first few of each).

    Reporting only: code in the same process can blind it, which the launcher notices from
    outside; the enforcement (no network, hidden paths, limits) is outside the kernel.
    """
    state = {"on": False, "counts": {}}
    hidden = tuple(p.rstrip("/") for p in hidden_paths)
    net = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto", "socket.bind"}
    procs = {"subprocess.Popen", "os.system", "os.posix_spawn", "os.fork", "os.forkpty", "os.exec", "os.spawn",
             "pty.spawn"}
    paths = {"open", "os.listdir", "os.scandir", "os.chdir"}

    def emit(kind: Event, detail: str, limit: int = 5) -> None:
        n = state["counts"].get(kind, 0)
        state["counts"][kind] = n + 1
        if fd is not None and n < limit:
            with contextlib.suppress(OSError):
                os.write(fd, (json.dumps({"kind": str(kind), "detail": detail[:250]}) + "\n").encode())

    def hook(event: str, args: tuple) -> None:
        if not state["on"]:
            return
        try:
            if event in net:
                if event == "socket.bind" and args and getattr(args[0], "family", None) == 1:
                    return  # a Unix socket
                emit(Event.NETWORK, f"{event} {args[1:2]!r}")
            elif event in procs:
                emit(Event.PROCESS, f"{event} {args[:2]!r}")
            elif event in paths and args:
                path = args[0]
                if isinstance(path, bytes):
                    path = os.fsdecode(path)
                if isinstance(path, str):
                    full = os.path.abspath(path)
                    if full.startswith(CANARY_PREFIX):  # the judge's probe: always answered
                        emit(Event.CANARY, full, limit=100)
                    elif hidden and full.startswith(hidden) and any(
                        full == h or full.startswith(h + "/") for h in hidden
                    ):
                        emit(Event.HIDDEN_PATH, f"{event} {full}")
        except Exception:  # noqa: BLE001 - an audit hook must never break the student's code
            pass

    sys.addaudithook(hook)
    return state


def cap_output(limit: int, fd: int | None) -> None:
    """Stop sending stdout/stderr after ``limit`` characters (one note when it happens)."""
    from ipykernel.iostream import OutStream

    original = OutStream.write
    budget = {"left": limit, "noted": False}

    def write(self, string):
        if not isinstance(string, str):
            return original(self, string)
        n = len(string)
        if budget["left"] <= 0:
            if not budget["noted"]:
                budget["noted"] = True
                if fd is not None:
                    note = {"kind": str(Event.OUTPUT_TRUNCATED),
                            "detail": f"output beyond {limit:,} characters was dropped"}
                    with contextlib.suppress(OSError):
                        os.write(fd, (json.dumps(note) + "\n").encode())
                original(self, f"\n[... output truncated by the grader after {limit:,} characters ...]\n")
            return n
        if n > budget["left"]:
            string = string[: budget["left"]]
        budget["left"] -= n
        original(self, string)
        return n

    OutStream.write = write



def main(argv: list[str] | None = None) -> int:
    """Start an IPython kernel with the audit hook and the output cap of the policy file."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print("usage: python -m course_utils.judge.kernel POLICY -f CONNECTION", file=sys.stderr)
        return 2
    with open(argv[0]) as handle:
        policy = json.load(handle)
    fd = int(os.environ.pop(EVENT_FD_ENV)) if EVENT_FD_ENV in os.environ else None
    audit = install_audit_hook(policy.get("hidden", []), fd)
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(argv[1:])
    cap_output(int(policy.get("max_output", 1 << 20)), fd)
    audit["on"] = True
    app.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
