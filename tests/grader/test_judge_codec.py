"""The judge's codec and channel: data round trips, everything else refused, frames distrusted."""

import collections
import json
import math
import random
import socket
import struct
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import torch

from course_utils.judge import Channel, CodecError, check_data, codec, decode, encode
from course_utils.judge.channel import ChannelError, ChannelTimeout

NUMPY_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"]
NUMPY_DTYPES += ["uint64", "float16", "float32", "float64", "complex64", "complex128"]
TORCH_DTYPES = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]
TORCH_DTYPES += [torch.float16, torch.bfloat16, torch.float32, torch.float64]
TORCH_DTYPES += [torch.complex64, torch.complex128, torch.uint16, torch.uint32, torch.uint64]


def same(a, b):
    """Equal values of the same types, recursively; arrays compared byte for byte."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and not b.requires_grad
        if a.dtype == torch.bfloat16:
            a, b = a.view(torch.int16), b.view(torch.int16)
        a, b = a.detach().resolve_conj().numpy(), b.numpy()
    if isinstance(a, np.ndarray | np.generic):
        a = np.asarray(a, dtype=a.dtype.newbyteorder("<"))  # tobytes() is C-ordered
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b and repr(a) == repr(b)


def round_trip(value):
    back = decode(encode(value))
    same(value, back)
    return back


def whitelisted(value):
    """Every node of a decoded value is of an allowed type, and arrays are writeable."""
    if isinstance(value, list | tuple):
        assert type(value) in (list, tuple)
        return all(whitelisted(v) for v in value)
    if isinstance(value, dict):
        assert type(value) is dict and all(type(k) is str for k in value)
        return all(whitelisted(v) for v in value.values())
    if type(value) is np.ndarray:
        assert value.flags.writeable and value.flags.owndata and value.dtype.kind in "biufc"
        return True
    if type(value) is torch.Tensor:
        assert not value.requires_grad and value.device.type == "cpu"
        return True
    return (
        value is None or type(value) in (bool, int, float, str) or type(value).__module__ == "numpy"
    )


def frame(header, buffers=b"", magic=b"JDG1"):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return magic + struct.pack("<I", len(text)) + text + buffers


def array_node(dtype="<f4", shape=(2,), off=0, size=8, kind="ndarray"):
    shape = list(shape) if isinstance(shape, tuple) else shape
    return {"t": kind, "dtype": dtype, "shape": shape, "off": off, "len": size}


# Round trips


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -(2**63),
        2**64 - 1,
        1.5,
        -0.0,
        1e308,
        5e-324,
        "",
        'héllo \u2603 \ud800 "quoted" [{',
        [],
        (),
        {},
        [()],
        ([],),
        {"a": [1, (2, 3)], "b": {"c": None}, "": (("x",),)},
    ],
)
def test_plain_values_round_trip(value):
    round_trip(value)


def test_float_specials_round_trip():
    back = round_trip([math.nan, math.inf, -math.inf, -0.0])
    assert math.isnan(back[0]) and back[1:3] == [math.inf, -math.inf]
    assert math.copysign(1, back[3]) == -1


def test_tuple_and_list_stay_distinct():
    back = decode(encode([(1, [2]), [(3,)]]))
    assert type(back[0]) is tuple and type(back[0][1]) is list and type(back[1][0]) is tuple


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_each_numpy_dtype_round_trips(dtype):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4)) * 100).astype(dtype)
    back = round_trip(array)
    assert back.flags.writeable and back.flags.c_contiguous
    back[...] = 0  # a copy, not a view on the frame
    scalar = round_trip(array.flat[5])
    assert type(scalar) is type(array.flat[5])


def test_special_arrays_round_trip():
    big = np.arange(12, dtype=">f8").reshape(3, 4)
    values = [
        np.zeros((0,)),
        np.zeros((3, 0, 2), np.int16),
        np.array(7.5),
        np.arange(20).reshape(4, 5)[::2, ::-2],  # not contiguous
        np.arange(12).reshape(3, 4).T,  # Fortran order
        big,  # big-endian
        big[:, 1],
        np.broadcast_to(np.arange(3), (4, 3)),  # zero strides, read-only
        np.array([np.nan, -np.inf, -0.0], np.float32),
    ]
    for value in values:
        back = round_trip(value)
        assert back.dtype.isnative and back.flags.writeable and back.flags.c_contiguous
    assert decode(encode(big)).dtype == np.float64


@pytest.mark.parametrize("dtype", TORCH_DTYPES, ids=str)
def test_each_tensor_dtype_round_trips(dtype):
    tensor = (torch.arange(24, dtype=torch.float64).reshape(2, 3, 4) - 5).to(dtype)
    back = round_trip(tensor)
    back[...] = 0
    round_trip(tensor[:, ::2, 1:].transpose(0, 2))
    round_trip(tensor[0, 0, 0])


def test_tensor_requires_grad_and_parameter_come_back_plain():
    x = torch.randn(3, 2, requires_grad=True)
    for value in (
        x,
        x * 2,
        torch.nn.Parameter(torch.ones(2)),
        torch.randn(3, dtype=torch.cfloat).conj(),
    ):
        back = decode(encode(value))
        assert type(back) is torch.Tensor and not back.requires_grad and back.grad_fn is None
        assert torch.equal(back, value.detach().resolve_conj())


def test_nested_mixture_round_trips():
    value = {
        "logits": torch.randn(2, 5),
        "probs": [np.ones((2, 5), np.float32), (np.int64(3), np.bool_(True))],
        "meta": {"name": "softmax", "ok": True, "loss": 0.25, "nan": math.nan},
    }
    round_trip(value)


def test_importing_and_plain_values_do_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from course_utils.judge import encode, decode\n"
        "decode(encode({'a': [np.ones(3), np.float32(2), (1, 'x')]}))\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_random_nested_structures_decode_to_whitelisted_types():
    rng = random.Random(1234)
    nprng = np.random.default_rng(1234)

    def make(depth):
        choice = rng.randrange(12 if depth < 5 else 6)
        if choice == 0:
            return rng.choice([None, True, False, math.nan, math.inf, -0.0])
        if choice == 1:
            return rng.randint(-(2**63), 2**64 - 1)
        if choice == 2:
            return rng.uniform(-1e9, 1e9)
        if choice == 3:
            return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(8)))
        if choice == 4:
            dtype = rng.choice(NUMPY_DTYPES)
            shape = tuple(rng.randrange(4) for _ in range(rng.randrange(4)))
            return nprng.integers(0, 100, shape).astype(dtype)
        if choice == 5:
            return torch.randn(rng.randrange(4), 2).to(rng.choice(TORCH_DTYPES[6:12]))
        items = [make(depth + 1) for _ in range(rng.randrange(5))]
        if choice < 8:
            return items
        if choice < 10:
            return tuple(items)
        return {f"k{i}": v for i, v in enumerate(items)}

    for _ in range(200):
        value = make(0)
        back = decode(encode(value))
        same(value, back)
        assert whitelisted(back)


# Refusals


class Foo:
    pass


def generator():
    yield 1


with warnings.catch_warnings():  # np.matrix and complex32 warn as they are made
    warnings.simplefilter("ignore")
    DISALLOWED = [
        Foo(),
        {1, 2},
        frozenset(),
        b"bytes",
        bytearray(b"x"),
        1 + 2j,
        len,
        lambda x: x,
        math,
        generator(),
        range(3),
        Ellipsis,
        type,
        {1: "int key"},
        {("a",): 1},
        collections.OrderedDict(a=1),
        collections.namedtuple("P", "x y")(1, 2),
        np.array([1, "a"], dtype=object),
        np.array(["a", "b"]),
        np.array([b"a"]),
        np.zeros(2, dtype=[("a", "f4")]),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
        np.zeros(2, dtype="timedelta64[s]"),
        np.zeros(2, dtype=np.longdouble) if np.dtype(np.longdouble).itemsize > 8 else Foo(),
        np.str_("a"),
        np.datetime64("2020-01-01"),
        np.matrix([[1, 2]]),
        np.ma.masked_array([1, 2], mask=[0, 1]),
        np.zeros((1,) * 33),
        torch.zeros(2, dtype=torch.complex32),
        torch.zeros(2).to_sparse(),
        torch.zeros(2, device="meta"),
        torch.nn.Linear(2, 2),
        torch.float32,
        [1, [2, Foo()]],
        2**64,
        -(2**64),
    ]


@pytest.mark.parametrize("value", DISALLOWED, ids=lambda v: type(v).__name__)
def test_disallowed_values_are_refused(value):
    with pytest.raises(CodecError):
        encode(value)
    with pytest.raises(CodecError):
        check_data(value)


def test_refusal_names_the_type():
    with pytest.raises(CodecError, match=r"object of type .*Foo; only numbers, strings, None"):
        encode({"a": [Foo()]})
    with pytest.raises(CodecError, match=r"OrderedDict \(a subclass of dict: convert"):
        encode(collections.OrderedDict(a=1))
    assert issubclass(CodecError, ValueError)


# Limits


def nested(depth):
    value = 0
    for _ in range(depth):
        value = [value]
    return value


def test_depth_limit():
    assert codec.MAX_DEPTH == 32
    round_trip(nested(32))
    round_trip({"a": nested(31)})
    with pytest.raises(CodecError, match="deep"):
        encode(nested(33))
    with pytest.raises(CodecError, match="deep"):
        encode(({"a": nested(31)},))
    with pytest.raises(CodecError, match="deep"):
        decode(frame(json.dumps(nested(33)).encode()))


def test_item_limit():
    assert codec.MAX_ITEMS == 10**6
    assert len(decode(encode([0] * (10**6 - 1)))) == 10**6 - 1  # the list counts too
    with pytest.raises(CodecError, match="items"):
        encode([0] * 10**6)
    with pytest.raises(CodecError, match="items"):
        decode(frame(b"[" + b"0," * (10**6 - 1) + b"0]"))


def test_frame_limit(monkeypatch):
    assert codec.MAX_FRAME == 64 * 2**20
    monkeypatch.setattr(codec, "MAX_FRAME", 1000)
    small = encode(np.zeros(100, np.uint8))
    decode(small)
    with pytest.raises(CodecError, match="bytes"):
        encode(np.zeros(1000, np.uint8))
    with pytest.raises(CodecError, match="bytes"):
        encode(["x" * 1000])
    with pytest.raises(CodecError, match="bytes"):
        decode(small + b"\0" * 1000)


# Crafted frames


GOOD = encode({"x": np.arange(4, dtype=np.float32), "y": [1, "a"]})
TWO = frame([array_node(), array_node(off=8)], bytes(16))

MALICIOUS = {
    "empty": b"",
    "short": b"JDG",
    "no header": b"JDG1",
    "truncated header": GOOD[:20],
    "truncated buffer": GOOD[:-1],
    "trailing bytes": GOOD + b"\0",
    "pickle": b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02e.",
    "pickle after magic": b"JDG1" + b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94.",
    "wrong magic": frame([1], magic=b"JDG2"),
    "header longer than frame": b"JDG1" + struct.pack("<I", 2**32 - 1) + b"[]",
    "bad json": frame(b"[1,"),
    "not utf-8": frame(b'"\xff\xfe"'),
    "NaN literal": frame(b"[NaN]"),
    "Infinity literal": frame(b"-Infinity"),
    "huge int literal": frame(b"1" * 5000),
    "int beyond 2**64": frame(str(2**64).encode()),
    "deep header": frame(b"[" * 100_000 + b"]" * 100_000),
    "deep header of objects": frame(b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    "unknown kind": frame({"t": "set", "v": [1]}),
    "kind not a string": frame({"t": ["tuple"], "v": []}),
    "plain object": frame({"a": 1}),
    "missing field": frame({"t": "tuple"}),
    "extra field": frame({"t": "tuple", "v": [], "x": 1}),
    "duplicate json key": frame(b'{"t":"tuple","v":[],"v":[1]}'),
    "duplicate dict key": frame({"t": "dict", "k": ["a", "a"], "v": [1, 2]}),
    "int dict key": frame({"t": "dict", "k": [1], "v": [2]}),
    "keys not a list": frame({"t": "dict", "k": "ab", "v": [1, 2]}),
    "keys and values differ": frame({"t": "dict", "k": ["a", "b"], "v": [1]}),
    "tuple items not a list": frame({"t": "tuple", "v": {"t": "tuple", "v": []}}),
    "bad float special": frame({"t": "float", "v": "1e999x"}),
    "huge declared length": frame(array_node(shape=[2**38], size=2**40), bytes(8)),
    "huge shape": frame(array_node(shape=[2**20, 2**20], size=8), bytes(8)),
    "huge zero shape": frame(array_node(shape=[0] + [2**26] * 20, size=0)),
    "offset out of range": frame(array_node(off=2**40), bytes(8)),
    "negative offset": frame(array_node(off=-8), bytes(8)),
    "negative length": frame(array_node(size=-8), bytes(8)),
    "float offset": frame(array_node(off=0.0), bytes(8)),
    "overlapping buffers": frame([array_node(), array_node(off=4)], bytes(16)),
    "same buffer twice": frame([array_node(), array_node()], bytes(8)),
    "gap between buffers": frame([array_node(), array_node(off=12)], bytes(20)),
    "shape mismatch": frame(array_node(shape=[3]), bytes(8)),
    "negative dim": frame(array_node(shape=[-2, -1]), bytes(8)),
    "bool dim": frame(array_node(shape=[True, 2]), bytes(8)),
    "shape not a list": frame(array_node(shape=2), bytes(8)),
    "too many dims": frame(array_node(shape=[1] * 33 + [2]), bytes(8)),
    "scalar with a shape": frame(array_node(kind="scalar"), bytes(8)),
    "unknown dtype": frame(array_node(dtype="<f16", size=32), bytes(32)),
    "dtype O": frame(array_node(dtype="O", size=16), bytes(16)),
    "dtype |O": frame(array_node(dtype="|O", size=16), bytes(16)),
    "dtype str": frame(array_node(dtype="<U1"), bytes(8)),
    "dtype void": frame(array_node(dtype="|V4"), bytes(8)),
    "dtype datetime": frame(array_node(dtype="<M8[s]", size=16), bytes(16)),
    "dtype big-endian": frame(array_node(dtype=">f4"), bytes(8)),
    "dtype by name": frame(array_node(dtype="float32"), bytes(8)),
    "dtype not a string": frame(array_node(dtype=["<f4"]), bytes(8)),
    "bfloat16 ndarray": frame(array_node(dtype="bfloat16", shape=[4]), bytes(8)),
}


@pytest.mark.parametrize("data", MALICIOUS.values(), ids=MALICIOUS.keys())
def test_malicious_frames_raise_codec_error(data):
    with pytest.raises(CodecError):
        decode(data)


def test_well_formed_crafted_frames_decode():
    assert decode(TWO)[1].shape == (2,)
    assert decode(frame(b'"\\ud800 [{"')) == "\ud800 [{"
    same(
        decode(frame(array_node(dtype="bfloat16", shape=[4], kind="tensor"), bytes(8))),
        torch.zeros(4, dtype=torch.bfloat16),
    )


def test_mutated_frames_raise_codec_error_or_decode_to_data():
    rng = random.Random(7)
    good = [GOOD, TWO, encode([(1.5, None), {"a": np.zeros((2, 2), np.int8)}, np.float32(1)])]
    for _ in range(3000):
        data = bytearray(rng.choice(good))
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(data))
            if rng.random() < 0.8:
                data[i] = rng.randrange(256)
            else:
                data[i : i + rng.randrange(4)] = b""
        try:
            value = decode(bytes(data))
        except CodecError:
            continue
        assert whitelisted(value)


# Channel


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    with Channel(a) as left, Channel(b) as right:
        yield left, right


def test_channel_round_trip(pair):
    left, right = pair
    message = {"op": "call", "name": "softmax", "args": [np.ones((2, 3))], "kwargs": {"dim": -1}}
    left.send(message)
    same(message, right.recv(timeout=5))
    right.send({"ok": torch.ones(2)})
    same({"ok": torch.ones(2)}, left.recv(timeout=5))


def test_channel_two_frames_back_to_back_and_large(pair):
    left, right = pair
    big = np.arange(2**20, dtype=np.float64)  # more than a socket buffer: sent by a thread
    sender = threading.Thread(target=lambda: [left.send(1), left.send(big), left.send("last")])
    sender.start()
    assert right.recv(timeout=5) == 1
    same(big, right.recv(timeout=5))
    assert right.recv(timeout=5) == "last"
    sender.join()


def test_channel_from_fd():
    a, b = socket.socketpair()
    with Channel.from_fd(a.detach()) as left, Channel(b) as right:
        left.send([1, (2,)])
        assert right.recv(timeout=5) == [1, (2,)]


def test_channel_eof_mid_frame(pair):
    left, right = pair
    payload = encode("hello")
    left.sock.sendall(struct.pack(">Q", len(payload)) + payload[:5])
    left.sock.shutdown(socket.SHUT_WR)
    with pytest.raises(ChannelError, match="the other side closed the channel"):
        right.recv(timeout=5)


def test_channel_eof_between_frames(pair):
    left, right = pair
    left.close()
    with pytest.raises(ChannelError, match="closed"):
        right.recv(timeout=5)


def test_channel_rejects_oversize_length_without_reading(pair):
    left, right = pair
    left.sock.sendall(struct.pack(">Q", codec.MAX_FRAME + 1) + b"rest")
    with pytest.raises(ChannelError, match="announced"):
        right.recv(timeout=5)
    assert right.sock.recv(100) == b"rest"  # the body was left unread


def test_channel_timeout_keeps_partial_frame(pair):
    left, right = pair
    with pytest.raises(ChannelTimeout):
        right.recv(timeout=0.05)
    payload = encode({"a": 1})
    left.sock.sendall(struct.pack(">Q", len(payload)) + payload[:3])
    with pytest.raises(ChannelTimeout):
        right.recv(timeout=0.05)
    left.sock.sendall(payload[3:])
    assert right.recv(timeout=5) == {"a": 1}
    assert issubclass(ChannelTimeout, ChannelError)


def test_channel_garbage_frame_is_codec_error(pair):
    left, right = pair
    left.sock.sendall(struct.pack(">Q", 4) + b"\x80\x04K.")
    with pytest.raises(CodecError):
        right.recv(timeout=5)


def test_the_json_header_has_its_own_limit(monkeypatch):
    """A structure too large as JSON (a long list of floats) is refused both ways; the same
    numbers as an array go through."""
    from course_utils.judge import codec as c

    monkeypatch.setattr(c, "MAX_HEADER", 1000)
    with pytest.raises(c.CodecError, match="send large lists of numbers as a numpy array"):
        c.encode([0.5] * 500)
    assert c.decode(c.encode(np.full(500, 0.5))).shape == (500,)
    monkeypatch.setattr(c, "MAX_HEADER", 10**9)
    frame = c.encode([0.5] * 500)
    monkeypatch.setattr(c, "MAX_HEADER", 1000)
    with pytest.raises(c.CodecError, match="header of more than 1000 bytes"):
        c.decode(frame)
