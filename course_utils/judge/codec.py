"""Encode values as bytes that hold data only, and decode them back: the judge's codec.

What crosses between the judge and the student's kernel is data, never objects or code
(no pickle, no marshal, nothing that can run when it is read). A frame is::

    b"JDG1" | header length (uint32, little-endian) | header (JSON, ASCII) | buffers

The header is the value tree. ``None``, ``bool``, ``int`` (magnitude below 2**64), finite
``float``, ``str`` and ``list`` are JSON's own ``null``, ``true``/``false``, numbers,
strings and arrays. Everything else is a JSON object with a kind ``"t"``:

* ``{"t": "tuple", "v": [...]}`` (a tuple stays a tuple, distinct from a list);
* ``{"t": "dict", "k": [str, ...], "v": [...]}`` (str keys only, in order, no duplicate);
* ``{"t": "float", "v": "nan" | "inf" | "-inf"}`` (JSON has no such numbers);
* ``{"t": "ndarray" | "scalar" | "tensor", "dtype": ..., "shape": [...], "off": ..., "len": ...}``:
  a numpy array, a numpy scalar (decoded as the same numpy scalar type, e.g.
  ``np.float32``, not as a 0-d array) or a torch tensor, whose ``len`` bytes start
  ``off`` bytes into the buffers. ``dtype`` is a little-endian numpy type string,
  one of :data:`DTYPES` (``"<f4"``, ``"|b1"``...), or ``"bfloat16"`` for a tensor.
  The buffers are C-ordered and follow one another, in the order of the tree
  (depth first), with no gap, no overlap and nothing after the last one.

Arrays that are not contiguous or not little-endian are sent as contiguous little-endian
copies. Tensors are sent detached, without ``requires_grad``, and must be dense CPU
tensors; torch is imported only when a tensor is met. Subclasses are refused (a
``namedtuple``, an ``OrderedDict``, ``np.matrix``, a masked array: send ``tuple(x)``,
``dict(x)``, ``np.asarray(x)``), except ``torch.nn.Parameter``, sent as a tensor. ``bytes``
are refused too (send ``np.frombuffer(b, np.uint8)``).

Limits, checked when encoding and again when decoding: a frame holds at most
:data:`MAX_FRAME` bytes, containers nest at most :data:`MAX_DEPTH` deep, arrays have at
most :data:`MAX_NDIM` dimensions and a value has at most :data:`MAX_ITEMS` nodes (each
container, leaf, array or tensor counts one; the bytes of arrays count against the frame
size). :func:`decode` trusts nothing in the frame: any
malformed frame raises :class:`CodecError`, the header's nesting is measured before it is
parsed, sizes are checked against the frame before any array is made (no declared size
makes it allocate more than the frame holds; the JSON header, which takes up to about 25
bytes of memory per byte to parse, is at most :data:`MAX_HEADER` bytes), and decoded
arrays are writeable copies.
"""

from __future__ import annotations

import json
import math
import re
import struct
import sys
from typing import Any

import numpy as np

MAX_FRAME = 64 * 2**20
MAX_HEADER = 16 * 2**20  # JSON part of a frame: parsing takes up to ~25 bytes per byte
MAX_DEPTH = 32
MAX_ITEMS = 10**6
MAX_NDIM = 32
MAGIC = b"JDG1"
DTYPES = frozenset(
    ["|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8"]
    + ["<f2", "<f4", "<f8", "<c8", "<c16"]
)
ALLOWED = (
    "only numbers, strings, None, lists, tuples, str-keyed dicts, numpy arrays "
    "and tensors can be sent"
)
_PREFIX = struct.Struct("<4sI")
_SPECIALS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKETS = np.zeros(256, np.int32)
_BRACKETS[[ord("["), ord("{")]] = 1
_BRACKETS[[ord("]"), ord("}")]] = -1
_FIELDS = {
    "tuple": {"t", "v"},
    "dict": {"t", "k", "v"},
    "float": {"t", "v"},
    "ndarray": {"t", "dtype", "shape", "off", "len"},
    "scalar": {"t", "dtype", "shape", "off", "len"},
    "tensor": {"t", "dtype", "shape", "off", "len"},
}


class CodecError(ValueError):
    """A value that cannot be sent, or a frame that is not a valid encoding."""


def _torch_dtypes(torch: Any) -> dict:
    """Torch dtype -> wire dtype string, for the dtypes a tensor may have."""
    names = {"bool": "|b1", "uint8": "|u1", "int8": "|i1", "int16": "<i2", "int32": "<i4"}
    names |= {"int64": "<i8", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8"}
    names |= {"float16": "<f2", "float32": "<f4", "float64": "<f8", "bfloat16": "bfloat16"}
    names |= {"complex64": "<c8", "complex128": "<c16"}
    return {getattr(torch, n): s for n, s in names.items() if hasattr(torch, n)}


class _Encoder:
    def __init__(self) -> None:
        self.buffers: list[bytes] = []
        self.size = 0
        self.items = 0

    def node(self, value: Any, depth: int) -> Any:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise CodecError(f"the value has more than {MAX_ITEMS} items")
        kind = type(value)
        if value is None or kind in (bool, str):
            return value
        if kind is int:
            if abs(value) >= 2**64:
                raise CodecError("an int of magnitude 2**64 or more cannot be sent")
            return value
        if kind is float:
            return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
        if kind in (list, tuple, dict):
            if depth >= MAX_DEPTH:
                raise CodecError(f"the value nests more than {MAX_DEPTH} containers deep")
            if kind is dict:
                bad = [k for k in value if type(k) is not str]
                if bad:
                    raise CodecError(f"a dict has a key of type {type(bad[0]).__name__}; {ALLOWED}")
                items = [self.node(v, depth + 1) for v in value.values()]
                return {"t": "dict", "k": list(value), "v": items}
            items = [self.node(v, depth + 1) for v in value]
            return items if kind is list else {"t": "tuple", "v": items}
        if kind is np.ndarray:
            return self.array("ndarray", value)
        if isinstance(value, np.generic):
            return self.array("scalar", np.asarray(value))
        torch = sys.modules.get("torch")
        if torch is not None and kind in (torch.Tensor, torch.nn.Parameter):
            return self.tensor(torch, value)
        base = next((b for b in (list, tuple, dict, np.ndarray) if isinstance(value, b)), None)
        hint = f" (a subclass of {base.__name__}: convert it to one first)" if base else ""
        raise CodecError(f"returned an object of type {_name(kind)}{hint}; {ALLOWED}")

    def array(self, kind: str, array: np.ndarray, dtype: str | None = None) -> dict:
        dt = array.dtype
        if dtype is None:
            if dt.fields is not None or dt.subdtype is not None or dt.kind not in "biufc":
                raise CodecError(f"numpy data of dtype {dt} cannot be sent; {ALLOWED}")
            dtype = dt.newbyteorder("<").str
            if dtype not in DTYPES:
                raise CodecError(f"numpy data of dtype {dt} cannot be sent")
        if array.ndim > MAX_NDIM:
            raise CodecError(f"an array has more than {MAX_NDIM} dimensions")
        self.size += array.nbytes
        if self.size > MAX_FRAME:
            raise CodecError(f"the value takes more than {MAX_FRAME} bytes")
        data = np.ascontiguousarray(array, dtype=dt.newbyteorder("<")).tobytes()
        node = {"t": kind, "dtype": dtype, "shape": list(array.shape)}
        node |= {"off": self.size - len(data), "len": len(data)}
        self.buffers.append(data)
        return node

    def tensor(self, torch: Any, value: Any) -> dict:
        dtype = _torch_dtypes(torch).get(value.dtype)
        if dtype is None:
            raise CodecError(f"a tensor of dtype {value.dtype} cannot be sent")
        if value.layout != torch.strided or value.device.type != "cpu" or value.is_quantized:
            raise CodecError("only dense CPU tensors can be sent (use .to_dense().cpu())")
        value = value.detach().resolve_conj().resolve_neg()
        if dtype == "bfloat16":
            value = value.view(torch.int16)
        return self.array("tensor", value.numpy(), dtype)


def _name(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def encode(value: Any) -> bytes:
    """Return the frame (bytes) of ``value``; raise :class:`CodecError` if it cannot be sent."""
    encoder = _Encoder()
    tree = encoder.node(value, 0)
    header = json.dumps(tree, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    header = header.encode("ascii")
    if _PREFIX.size + len(header) + encoder.size > MAX_FRAME:
        raise CodecError(f"the value takes more than {MAX_FRAME} bytes")
    if len(header) > MAX_HEADER:
        raise CodecError(f"the value's structure takes more than {MAX_HEADER} bytes: send large "
                         "lists of numbers as a numpy array")
    return b"".join([_PREFIX.pack(MAGIC, len(header)), header, *encoder.buffers])


def check_data(value: Any) -> None:
    """Raise :class:`CodecError` if ``value`` cannot be sent (it is encoded and dropped)."""
    encode(value)


def _json_depth(text: bytes) -> int:
    """The deepest nesting of brackets in JSON ``text``, ignoring those inside strings."""
    text = _STRINGS.sub(b'""', text)
    depth = peak = 0
    for start in range(0, len(text), 2**20):
        chunk = np.frombuffer(text, np.uint8, min(2**20, len(text) - start), start)
        run = depth + np.cumsum(_BRACKETS[chunk])
        peak, depth = max(peak, int(run.max())), int(run[-1])
    return peak


def _reject(what: str) -> Any:
    raise CodecError(f"malformed frame: {what}")


def _pairs(pairs: list) -> dict:
    result = dict(pairs)
    return result if len(result) == len(pairs) else _reject("a duplicate key in the header")


def _int(text: str) -> int:
    return int(text) if len(text) <= 21 else _reject("an int too large")


class _Decoder:
    def __init__(self, frame: bytes, start: int) -> None:
        self.frame, self.start, self.next, self.items = frame, start, 0, 0

    def node(self, node: Any, depth: int) -> Any:
        self.items += 1
        if self.items > MAX_ITEMS:
            _reject(f"more than {MAX_ITEMS} items")
        kind = type(node)
        if node is None or kind in (bool, str, float):
            return node
        if kind is int:
            return node if abs(node) < 2**64 else _reject("an int too large")
        if kind is list:
            return self.items_of(node, depth)
        t = node.get("t") if kind is dict else None
        if type(t) is not str or set(node) != _FIELDS.get(t):
            _reject("an unknown node in the header")
        if t == "float":
            return _SPECIALS[node["v"]] if node["v"] in _SPECIALS else _reject("a bad float")
        if t == "tuple":
            return tuple(self.items_of(node["v"], depth))
        if t == "dict":
            keys = node["k"]
            if type(keys) is not list or any(type(k) is not str for k in keys):
                _reject("dict keys that are not strings")
            values = self.items_of(node["v"], depth)
            result = dict(zip(keys, values, strict=False))
            if len(result) != len(keys) or len(keys) != len(values):
                _reject("dict keys and values that do not match")
            return result
        return self.array(node)

    def items_of(self, items: Any, depth: int) -> list:
        if type(items) is not list:
            _reject("a container whose items are not a list")
        if depth >= MAX_DEPTH:
            _reject(f"containers nested more than {MAX_DEPTH} deep")
        return [self.node(item, depth + 1) for item in items]

    def array(self, node: dict) -> Any:
        t, dtype, shape, off, size = (node[k] for k in ("t", "dtype", "shape", "off", "len"))
        allowed = (DTYPES | {"bfloat16"}) if t == "tensor" else DTYPES
        if type(dtype) is not str or dtype not in allowed:
            _reject(f"an unknown dtype {str(dtype)[:20]!r}")
        if type(shape) is not list or len(shape) > MAX_NDIM or (t == "scalar" and shape):
            _reject("a bad shape")
        if any(type(d) is not int or not 0 <= d <= MAX_FRAME for d in shape):
            _reject("a bad shape")
        if type(off) is not int or type(size) is not int or off != self.next:
            _reject("a buffer that does not follow the one before")
        if self.start + off + size > len(self.frame):
            _reject("a buffer that runs past the end of the frame")
        dt = np.dtype("<i2" if dtype == "bfloat16" else dtype)
        if math.prod(d or 1 for d in shape) > MAX_FRAME or math.prod(shape) * dt.itemsize != size:
            _reject("a shape that does not match its buffer")
        self.next = off + size
        count = size // dt.itemsize
        flat = np.frombuffer(self.frame, dt, count, self.start + off) if count else np.empty(0, dt)
        array = flat.reshape(shape).astype(dt.newbyteorder("="))
        if t == "ndarray":
            return array
        if t == "scalar":
            return array[()]
        import torch

        tensor = torch.from_numpy(array)
        return tensor.view(torch.bfloat16) if dtype == "bfloat16" else tensor


def decode(data: bytes) -> Any:
    """Return the value of the frame ``data``; raise :class:`CodecError` if it is malformed."""
    try:
        if len(data) > MAX_FRAME:
            _reject(f"more than {MAX_FRAME} bytes")
        return _decode(bytes(data))
    except CodecError:
        raise
    except Exception as error:  # noqa: BLE001 - anything a crafted frame could still provoke
        raise CodecError(f"malformed frame: {type(error).__name__}: {error}") from None


def _decode(data: bytes) -> Any:
    if len(data) < _PREFIX.size:
        _reject("too short")
    magic, length = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        _reject("it does not start with the judge's magic bytes")
    if _PREFIX.size + length > len(data):
        _reject("a header longer than the frame")
    if length > MAX_HEADER:
        _reject(f"a header of more than {MAX_HEADER} bytes")
    header = data[_PREFIX.size : _PREFIX.size + length]
    if _json_depth(header) > 2 * MAX_DEPTH + 2:
        _reject("a header nested too deep")
    try:
        tree = json.loads(
            header.decode("utf-8"),
            object_pairs_hook=_pairs,
            parse_int=_int,
            parse_constant=lambda name: _reject(f"{name} in the header"),
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        _reject(f"the header is not JSON ({error})")
    decoder = _Decoder(data, _PREFIX.size + length)
    value = decoder.node(tree, 0)
    if _PREFIX.size + length + decoder.next != len(data):
        _reject("bytes after the last buffer")
    return value
