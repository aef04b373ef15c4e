"""The judge and its agent, end to end: a real ipykernel holds the student's code, the judge
(:mod:`course_utils.instructor.judge`) calls it through the socketpair and gets data back.

One kernel serves the whole module (module-scoped fixture); each test defines its own
student code in a cell first, as a notebook would, then opens a test cell.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import pytest
import torch

from course_utils.instructor.judge import (
    StudentError,
    StudentProcess,
    StudentTimeout,
    start_kernel_with_channel,
)

LEAVES = (type(None), bool, int, float, str, np.ndarray, torch.Tensor)


SOFTMAX = (
    "import numpy as np\n"
    "def softmax(z):\n"
    "    e = np.exp(z - z.max(axis=-1, keepdims=True))\n"
    "    return e / e.sum(axis=-1, keepdims=True)\n"
)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    km, kc, student = start_kernel_with_channel(tmp_path_factory.mktemp("student"))
    try:
        run(kc, SOFTMAX)  # every test may call it, whichever runs first (pytest -n spreads them)
        yield kc, student
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        student.channel.close()


def run(kc, code: str) -> list[dict]:
    """Execute a student cell (not a test cell) and return its iopub messages."""
    outputs: list[dict] = []
    reply = kc.execute_interactive(code, timeout=60, output_hook=outputs.append)
    errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
    assert reply["content"]["status"] == "ok", errors
    return outputs


@contextlib.contextmanager
def graded_cell(student: StudentProcess):
    student.open_cell()
    try:
        yield student
    finally:
        student.close_cell()


def assert_data(value, depth: int = 0) -> None:
    """Every node of ``value`` has a whitelisted type (exactly: no subclass)."""
    assert depth <= 33
    if type(value) in (list, tuple):
        for item in value:
            assert_data(item, depth + 1)
    elif type(value) is dict:
        for key, item in value.items():
            assert type(key) is str
            assert_data(item, depth + 1)
    elif isinstance(value, np.generic):
        assert type(value).__module__ == "numpy" and value.dtype.kind in "biufc"
    else:
        assert type(value) in LEAVES, type(value)
        if type(value) is np.ndarray:
            assert value.dtype.kind in "biufc"


def test_call_numpy_function(kernel):
    kc, student = kernel
    run(kc, SOFTMAX)
    z = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    with graded_cell(student):
        y = student.call("softmax", z)
        scalar = student.call("softmax", np.float32(1.0))
    expected = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    assert type(y) is np.ndarray and y.dtype == np.float64
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    assert type(scalar) is np.float32 and scalar == 1.0


@pytest.mark.parametrize(
    ("code", "kind"),
    [("lambda x: x", "function"), ("Box()", "Box"), ("[1, {'a': (2, Box())}]", "Box")],
)
def test_result_that_is_not_data(kernel, code, kind):
    kc, student = kernel
    run(kc, f"class Box:\n    pass\ndef make():\n    return {code}\n")
    with graded_cell(student), pytest.raises(StudentError) as caught:
        student.call("make")
    assert caught.value.type == "NotData"
    assert f"make returned an object of type {kind}; return numbers" in caught.value.message


def test_error_in_student_code_names_the_line(kernel):
    kc, student = kernel
    run(
        kc,
        "import numpy as np\n"
        "def boom(x):\n"
        "    y = x + 1\n"
        "    raise ValueError(f'bad input {y}')\n"
        "def deep(x):\n"
        "    return np.dot(x, np.ones(4))\n"
        "def outer(x):\n"
        "    return boom(x)\n",
    )
    with graded_cell(student):
        with pytest.raises(StudentError) as caught:
            student.call("boom", 1)
        assert (caught.value.type, caught.value.message, caught.value.line) == (
            "ValueError",
            "bad input 2",
            4,
        )
        with pytest.raises(StudentError) as caught:
            student.call("deep", np.ones(3))
        assert caught.value.type == "ValueError" and caught.value.line == 6
        with pytest.raises(StudentError) as nested:
            student.call("outer", 1)
        assert nested.value.line == 4  # the innermost line of the student's, where it raised
    assert "line 6" in str(caught.value)


def test_undefined_name_and_not_a_function(kernel):
    kc, student = kernel
    run(kc, "not_a_function = 3\n")
    with graded_cell(student):
        with pytest.raises(StudentError) as caught:
            student.call("never_defined", 1)
        assert caught.value.type == "NameError"
        assert caught.value.message == "never_defined is not defined: run the cell that defines it"
        with pytest.raises(StudentError, match="should be a function") as caught:
            student.call("not_a_function")
        assert student.get("not_a_function") == 3


def test_composite_uses_the_judge_callback_not_the_students_helper(kernel):
    kc, student = kernel
    run(
        kc,
        "def helper(x):\n"
        "    return x * 0 + 999.0  # broken\n"
        "def composite(x):\n"
        "    return helper(x) + 1\n",
    )
    seen = []

    def reference_helper(x):
        seen.append(type(x))
        return 2 * x

    x = np.arange(3.0)
    with graded_cell(student):
        y = student.call("composite", x, callbacks={"helper": reference_helper})
        restored = student.call("composite", x)
        with pytest.raises(StudentError) as caught:
            student.call("composite", x, callbacks={"helper": lambda x: x @ np.ones(7)})
    np.testing.assert_array_equal(y, 2 * x + 1)
    assert seen == [np.ndarray]
    np.testing.assert_array_equal(restored, np.full(3, 1000.0))
    assert caught.value.type == "CallbackError" and "helper failed" in caught.value.message
    run(kc, "assert helper(1.0) == 999.0 and helper.__name__ == 'helper'\n")


def test_infinite_loop_times_out_and_the_kernel_lives_on(kernel):
    kc, student = kernel
    run(kc, "def spin(x):\n    while True:\n        x += 1\n")
    with graded_cell(student):
        start = time.monotonic()
        with pytest.raises(StudentTimeout, match=r"^spin did not return within 1\.5 s$"):
            student.call("spin", 0, timeout=1.5)
        assert time.monotonic() - start < 1.5 + 3
        assert student.call("softmax", np.zeros(2)).tolist() == [0.5, 0.5]
    run(kc, "still_here = 3\n")
    with graded_cell(student):
        assert student.get("still_here") == 3
    run(kc, "assert 1 + 1 == 2\n")


def test_class_task_new_method_param_shapes_load_state(kernel):
    kc, student = kernel
    run(
        kc,
        "import torch\n"
        "class Tiny(torch.nn.Module):\n"
        "    def __init__(self, n_in, n_out):\n"
        "        super().__init__()\n"
        "        self.lin = torch.nn.Linear(n_in, n_out)\n"
        "    def forward(self, x):\n"
        "        return self.lin(x)\n",
    )
    weight = torch.arange(6.0).reshape(2, 3)
    bias = torch.tensor([0.5, -0.5])
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    with graded_cell(student):
        handle = student.new("Tiny", n_in=3, n_out=2)
        shapes = student.param_shapes(handle)
        student.load_state(handle, {"lin.weight": weight, "lin.bias": bias})
        y = student.method(handle, "forward", x)
        with pytest.raises(StudentError) as caught:
            student.load_state(handle, {"lin.weight": weight})
        assert caught.value.type == "RuntimeError" and "Missing key" in caught.value.message
        with pytest.raises(StudentError, match="NotData"):
            student.method(handle, "parameters")
        student.drop(handle)
        with pytest.raises(StudentError, match="no object with handle"):
            student.method(handle, "forward", x)
    assert shapes == {"lin.weight": (2, 3), "lin.bias": (2,)}
    assert type(y) is torch.Tensor and not y.requires_grad
    torch.testing.assert_close(y, x @ weight.T + bias)


def test_vjp_matches_the_analytic_gradient(kernel):
    kc, student = kernel
    run(
        kc,
        "import numpy as np, torch\n"
        "def layer(x, w, unused):\n"
        "    return torch.tanh(x @ w)\n"
        "def layer_numpy(x, w, unused):\n"
        "    return torch.from_numpy(np.tanh(x.detach().numpy() @ w.detach().numpy()))\n",
    )
    rng = np.random.default_rng(0)
    x, w, cot = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=(4, 2))
    with graded_cell(student):
        gx, gw, gu = student.vjp("layer", [x, w, np.ones(1)], cot, wrt=[0, 1, 2])
        with pytest.raises(StudentError) as caught:
            student.vjp("layer_numpy", [x, w, np.ones(1)], cot, wrt=[0, 1])
    delta = cot * (1 - np.tanh(x @ w) ** 2)
    assert type(gx) is np.ndarray and gu is None
    np.testing.assert_allclose(gx, delta @ w.T, rtol=1e-12)
    np.testing.assert_allclose(gw, x.T @ delta, rtol=1e-12)
    assert caught.value.type == "NotDifferentiable"


def test_output_during_a_test_cell_is_dropped(kernel):
    kc, student = kernel
    run(
        kc,
        "from IPython.display import display, HTML\n"
        "def chatty(x):\n"
        "    print('LEAK: full marks')\n"
        "    display(HTML('<b>LEAK</b>'))\n"
        "    return x\n",
    )
    dropped: list[dict] = []
    student.open_cell()
    assert student.call("chatty", 7) == 7
    assert student.close_cell(log=dropped.append) is None
    assert any("LEAK" in str(m["content"]) for m in dropped)
    outputs = run(kc, "print('next cell')\n")
    assert "LEAK" not in str([m["content"] for m in outputs])


def test_a_tampered_agent_cannot_send_objects(kernel):
    kc, student = kernel
    run(
        kc,
        "import pickle, course_utils.judge.codec as codec\n"
        "_real_encode = codec.encode\n"
        "codec.encode = lambda value: b'JDG1' + pickle.dumps(value)\n",
    )
    try:
        with graded_cell(student):
            for _ in range(2):
                with pytest.raises(StudentError) as caught:
                    student.call("softmax", np.zeros(2))
                assert caught.value.type == "ProtocolError"
    finally:
        run(kc, "codec.encode = _real_encode\n")

    # a forged agent answers with crafted frames, one per request
    run(
        kc,
        "import json, os, pickle, socket, struct\n"
        "import course_utils.judge.agent as agent\n"
        "from course_utils.judge.channel import Channel\n"
        "_real_serve = agent.serve\n"
        "def frame(header, body=b''):\n"
        "    h = json.dumps(header).encode()\n"
        "    return b'JDG1' + struct.pack('<I', len(h)) + h + body\n"
        "FORGED = [\n"
        "    frame({'t': 'dict', 'k': ['ok', 'value'], 'v': [True, 'PASSED']}),\n"
        "    frame({'t': 'dict', 'k': ['ok', 'value'], 'v': [True,\n"
        "        {'t': 'ndarray', 'dtype': '|O', 'shape': [1], 'off': 0, 'len': 8}]}),\n"
        "    pickle.dumps({'ok': True, 'value': object()}),\n"
        "    frame({'t': 'dict', 'k': ['ok'], 'v': [True]}),\n"
        "    frame({'t': 'dict', 'k': ['ok', 'value'], 'v': [True, {'t': 'tuple', 'v': [1,\n"
        "        {'t': 'scalar', 'dtype': '<f8', 'shape': [], 'off': 0, 'len': 8}]}]},\n"
        "        struct.pack('<d', 2.5)),\n"
        "]\n"
        "def forged_serve(fd=None):\n"
        "    ch = Channel.from_fd(os.dup(int(os.environ['COURSE_JUDGE_FD'])))\n"
        "    for payload in FORGED:\n"
        "        if ch.recv().get('op') == 'done':\n"
        "            break\n"
        "        ch.sock.sendall(struct.pack('>Q', len(payload)) + payload)\n"
        "    else:\n"
        "        ch.recv()\n"
        "    ch.close()\n"
        "agent.serve = forged_serve\n",
    )
    received = []
    try:
        with graded_cell(student):
            for _ in range(5):
                try:
                    received.append(student.call("softmax", np.zeros(2)))
                except StudentError as error:
                    received.append(error.type)
    finally:
        run(kc, "agent.serve = _real_serve\n")
    assert received == ["PASSED", "ProtocolError", "ProtocolError", "ProtocolError", (1, 2.5)]
    assert type(received[4][1]) is np.float64
    for value in received:
        assert_data(value)
    with graded_cell(student):  # the real agent is back
        assert_data(student.call("softmax", np.zeros(2)))


def test_a_kernel_that_swallows_interrupts_is_stuck(tmp_path):
    km, kc, student = start_kernel_with_channel(tmp_path)
    student.grace = 0.5
    try:
        run(
            kc,
            "def stubborn():\n"
            "    while True:\n"
            "        try:\n"
            "            while True:\n"
            "                pass\n"
            "        except KeyboardInterrupt:\n"
            "            pass\n",
        )
        student.open_cell()
        start = time.monotonic()
        with pytest.raises(StudentTimeout, match="stubborn did not return within 1 s"):
            student.call("stubborn", timeout=1)
        assert student.stuck and time.monotonic() - start < 1 + 2 * 0.5 + 2
        with pytest.raises(StudentTimeout, match="stuck"):
            student.call("stubborn")
        with pytest.raises(StudentTimeout, match="stuck"):
            student.close_cell()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        student.channel.close()
