"""Shared fixtures: the repository root, a check that the suite runs from it, and a headless
Chromium (``browser``, from tests/book/browser.py)."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium (tests/book/browser.py's ``Browser``) for one test module, with a
    fresh profile. Skipped where Chromium or its driver is not installed; on CI, which installs
    them, their absence is a failure."""
    sys.path.insert(0, str(ROOT / "tests" / "book"))
    try:
        from browser import chromium, find_chromium
    finally:
        sys.path.remove(str(ROOT / "tests" / "book"))
    if find_chromium() is None:
        message = "Chromium is not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: its absence there is a failure
        pytest.skip(message)
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as reader:
        yield reader
