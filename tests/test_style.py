"""The code is ruff clean (settings in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path


def test_ruff_is_clean(root):
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "."], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
