"""The student's path through a real Jupyter server, as JupyterLab's Validate button takes it.

`make lab` starts JupyterLab in exercises/ with nbgrader's server extensions. Here
`jupyter server` starts the same way, on loopback, in a copy of exercises/: the test fetches
exercise 01 through the contents REST API, saves it back as JupyterLab saves a notebook, and
calls nbgrader's validate endpoint with the request the Validate button sends. The untouched
release fails on every graded test cell with a one-line message a student can act on; the
notebook filled with the solution passes, and the dialog says so.
"""

import html
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

import nbformat
import pytest

BIN = Path(sys.executable).parent
EXERCISE = "01_neurons"
NOTEBOOK = f"{EXERCISE}/{EXERCISE}.ipynb"  # the path JupyterLab shows, relative to exercises/
pytestmark = pytest.mark.slow

SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A `jupyter server` on 127.0.0.1 with a token; `request` calls its REST API."""

    def __init__(self, root_dir: Path, home: Path, config_path: Path | None = None):
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, **({"JUPYTER_CONFIG_PATH": str(config_path)} if config_path else {}),
               "JUPYTER_CONFIG_DIR": str(home / "config"),  # no personal ~/.jupyter settings
               "JUPYTER_DATA_DIR": str(home / "data"),
               "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
               "IPYTHONDIR": str(home / "ipython")}
        env.pop("NBGRADER_EXECUTION", None)
        self.log = home / "server.log"
        self.process = subprocess.Popen(
            [str(BIN / "jupyter"), "server", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root_dir}",
             *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI runs as root
            cwd=root_dir, env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "jupyter server exited:\n" + self.log.read_text()
            try:
                if self.request("GET", "api/status", timeout=5)[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        raise AssertionError("jupyter server did not answer:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(root, tmp_path_factory):
    """`make lab`'s server: started in (a copy of) exercises/ with nbgrader's extensions."""
    home = tmp_path_factory.mktemp("lab")
    exercises = home / "exercises"
    shutil.copytree(root / "exercises" / EXERCISE, exercises / EXERCISE)
    server = Server(exercises, home, root / "student_lab")  # as `make lab` starts it
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def validate(server: Server, path: str) -> dict:
    """What the Validate button does: POST assignments/validate?path=<the notebook's path>."""
    status, reply = server.request("POST", "assignments/validate?" + urlencode({"path": path}),
                                   timeout=600)
    assert status == 200
    return reply


def dialog(reply: dict) -> tuple[bool, str]:
    """(passed, text) of the dialog JupyterLab shows for a validate reply (nbgrader 0.9's
    labextension: validate_assignment, function `showValidationDialog`), as a student reads it."""
    if not reply["success"]:
        return False, "There was an error running the validate command:\n" + str(reply["value"])
    value = reply["value"]
    value = json.loads(value) if isinstance(value, str) else value
    if "type_changed" in value:
        return False, "\n".join(f"The following {c['old_type']} cell has changed to a "
                                f"{c['new_type']} cell, but it should not have!\n{c['source']}"
                                for c in value["type_changed"])
    if "changed" in value:
        return False, "\n".join("The source of the following cell has changed, but it should "
                                f"not have!\n{c['source']}" for c in value["changed"])
    if "failed" in value:
        # The error is HTML (ansi2html); the browser shows its text.
        return False, "\n".join(
            f"The following cell failed:\n{c['source']}\n{html.unescape(re.sub('<[^>]+>', '', c['error']))}"
            for c in value["failed"])
    return True, "Success! Your notebook passes all the tests."


def fetch(server: Server) -> dict:
    status, model = server.request("GET", f"api/contents/{quote(NOTEBOOK)}?content=1")
    assert status == 200 and model["type"] == "notebook", model
    return model


def save(server: Server, notebook: dict) -> None:
    """Save as JupyterLab does: PUT the whole notebook model to the contents API."""
    status, model = server.request("PUT", f"api/contents/{quote(NOTEBOOK)}",
                                   {"type": "notebook", "format": "json", "content": notebook})
    assert status in (200, 201) and model["path"] == NOTEBOOK, model


def graded_cells(notebook: dict) -> list[dict]:
    return [cell for cell in notebook["cells"] if cell["metadata"].get("nbgrader", {}).get("grade")]


def test_the_untouched_release_fails_with_messages_for_the_student(server, root):
    """A student who opens the exercise and presses Validate (which saves, then validates)."""
    release = nbformat.read(root / "exercises" / NOTEBOOK, as_version=4)
    save(server, release)
    notebook = fetch(server)["content"]
    assert [c["source"] for c in notebook["cells"]] == [c["source"] for c in release["cells"]]
    tests = graded_cells(notebook)
    assert len(tests) >= 5, "exercise 01 has a graded test cell per task"
    reply = validate(server, NOTEBOOK)
    passed, text = dialog(reply)
    assert not passed, text
    failed = reply["value"]["failed"]
    assert len(failed) == len(tests), [cell["source"][:60] for cell in failed]
    for cell in failed:
        error = re.sub(r"\x1b\[[0-9;]*m", "", cell["raw_error"])
        # One sentence naming the unfinished function, not the grader's internals.
        assert re.search(r"\w+ is not implemented yet", error), error
        assert "Traceback" not in error and "course_utils/" not in error, error
        assert len(error.splitlines()) <= 3, error
    assert "The following cell failed:" in text and "is not implemented yet" in text


def test_the_notebook_filled_with_the_solution_passes(server, root):
    """A student who writes the reference solution into each answer cell, saves, and validates."""
    solution = nbformat.read(root / "solutions" / EXERCISE / f"{EXERCISE}.ipynb", as_version=4)
    answers = {cell.metadata["nbgrader"]["grade_id"]: SOLUTION_MARKERS.sub("", cell.source)
               for cell in solution.cells if cell.metadata.get("nbgrader", {}).get("solution")}
    notebook = fetch(server)["content"]
    filled = 0
    for cell in notebook["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            assert "raise NotImplementedError()" in cell["source"] or cell["cell_type"] != "code"
            cell["source"] = answers[meta["grade_id"]]
            filled += 1
    assert filled == len(answers) >= 5
    save(server, notebook)
    saved = fetch(server)["content"]
    assert not any("NotImplementedError" in cell["source"] for cell in saved["cells"]
                   if cell["metadata"].get("nbgrader", {}).get("solution"))
    passed, text = dialog(validate(server, NOTEBOOK))
    assert passed, text
    assert text == "Success! Your notebook passes all the tests."


def test_a_student_who_edits_a_locked_test_cell_is_told(server, root):
    notebook = nbformat.read(root / "exercises" / NOTEBOOK, as_version=4)
    test_cell = graded_cells(notebook)[0]
    test_cell["source"] = "pass  # the tests were in the way"
    save(server, notebook)
    passed, text = dialog(validate(server, NOTEBOOK))
    assert not passed
    assert text == ("The source of the following cell has changed, but it should not have!\n"
                    "pass  # the tests were in the way")


def test_the_students_lab_shows_validate_and_no_instructor_panels(server):
    """`make lab` switches off nbgrader's formgrader, Create Assignment and course panels (they
    report errors to a student who runs no course) and keeps the Validate button."""
    req = urllib.request.Request(server.url + "lab", headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(req, timeout=60) as response:
        page = response.read().decode()
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    disabled = set(config.get("disabledExtensions", []))
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
            "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:assignment-list"} <= disabled
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
    with pytest.raises(urllib.error.HTTPError) as missing:
        server.request("GET", "formgrader")
    assert missing.value.code == 404
