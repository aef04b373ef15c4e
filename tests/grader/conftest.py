"""The grader's shared fixtures: a PostgreSQL server of our own (``postgres``)."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI installs it: see .ci/run)")  # its absence there is a failure
    pytest.skip(message)


def _server_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server binaries (initdb, pg_ctl), newest version first."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0, reverse=True)
    if found:
        return found[0].parent
    initdb = shutil.which("initdb")
    return Path(os.path.realpath(initdb)).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL server of our own on loopback with an empty database ``gradebook``; its
    SQLAlchemy URL. The server is stopped and its files removed at the end."""
    bindir = _server_bin()
    if bindir is None or not (bindir / "pg_ctl").exists():
        _unavailable("PostgreSQL's server is not installed (apt-get install postgresql)")
    if importlib.util.find_spec("psycopg") is None:
        _unavailable("the PostgreSQL driver psycopg is not installed (pip install -r requirements.txt)")
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:  # the server refuses to run as root: run it as Debian's postgres user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root, and there is no `postgres` user to run the server as "
                         "(apt-get install postgresql creates it)")
        run_as = ["runuser", "-u", "postgres", "--"]
    # not under pytest's tmp_path: its parents are 0700, which the postgres user cannot enter
    tmp = Path(tempfile.mkdtemp(prefix="pg-grade-"))
    data = tmp / "data"
    if owner is not None:
        os.chown(tmp, owner.pw_uid, owner.pw_gid)

    def as_server(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*run_as, *args], capture_output=True, text=True, timeout=timeout, cwd=tmp)

    started = False
    try:
        init = as_server(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "grader", "-E", "UTF8",
                         "--no-sync")
        assert init.returncode == 0, f"initdb failed:\n{init.stdout}\n{init.stderr}"
        for _attempt in range(3):  # another process may take the free port before the server does
            port = _free_port()
            start = as_server(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "server.log"), "-w",
                              "-t", "60", "-o", f"-h 127.0.0.1 -p {port} -k {tmp} -F", "start")
            started = start.returncode == 0
            if started:
                break
        log = (tmp / "server.log").read_text() if (tmp / "server.log").exists() else ""
        assert started, f"the PostgreSQL server did not start:\n{start.stdout}\n{start.stderr}\n{log[-2000:]}"
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="grader", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute("CREATE DATABASE gradebook")
        yield f"postgresql+psycopg://grader@127.0.0.1:{port}/gradebook"
    finally:
        if started:
            stop = as_server(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
            if stop.returncode != 0:
                as_server(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(tmp, ignore_errors=True)
