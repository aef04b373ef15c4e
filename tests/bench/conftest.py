"""The benchmarks' tests share ``run_benchmark``: a benchmark run as a module, as its docstring runs it."""

import subprocess
import sys

import pytest


@pytest.fixture
def run_benchmark(root):
    """``run_benchmark(name, *args, check=True, timeout=300)`` runs ``python -m benchmarks.NAME
    *args`` from the repository root and returns the finished process; with ``check`` a
    failure fails the test with the end of its stderr."""

    def run(name: str, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", f"benchmarks.{name}", *args],
                              cwd=root, capture_output=True, text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, proc.stderr[-2000:]
        return proc

    return run
