"""Recorded values: an exercise's visible tests without the reference implementation.

``python -m course_utils release`` runs the instructor's reference on every visible case of
every task and writes ``expected.json`` beside the notebook (its schema is documented in
``course_utils.instructor.recording``, which writes it). This module ships to students. It
reads the file and runs the visible tests:

* :func:`to_json` / :func:`from_json`: the file's readable encoding of data values;
* :func:`load` reads ``expected.json`` into a :class:`Recorded`;
* :func:`check` (or :meth:`Recorded.check`) calls the student's function on every visible
  case, compares each outcome with the recorded one and raises :class:`GradingError`, whose
  first line is short (the Validate dialog shows it). When the student's outcomes match one
  catalogued mistake (a *mutant*), the message starts with that mistake's diagnosis;
* :class:`Stub` stands in for a composite task's helper while the composite runs: it answers
  the calls a correct composite makes with the recorded outputs of the reference helper.

Encoding of values. ``None``, ``bool``, ``int``, finite ``float`` (written with ``repr``, so
reading gives back the same float), ``str``, ``list`` and str-keyed ``dict`` are JSON's own.
Everything else is a JSON object tagged by the key ``"__type__"``:

* ``{"__type__": "float", "value": "nan" | "inf" | "-inf"}``;
* ``{"__type__": "tuple", "items": [...]}``;
* ``{"__type__": "dict", "items": [[key, value], ...]}``, only for a dict that has a key
  ``"__type__"`` itself;
* ``{"__type__": "ndarray" | "tensor", "dtype": "float32", "shape": [2, 3], "values": [...]}``
  (C order; floats as numbers or ``"nan"``/``"inf"``/``"-inf"``; complex values as
  ``[real, imag]`` pairs; ``"bfloat16"`` for tensors only), decoded as a numpy array or a
  torch tensor (torch is imported only then);
* ``{"__type__": "scalar", "dtype": "float32", "value": 1.5}``: a numpy scalar.

float16/32/64 values come back bit for bit (NaNs as the canonical NaN). Tensors come back
detached, without ``requires_grad``.

Outcomes. The outcome of calling a function on a case is ``("value", value)`` or
``("raises", exception or type name)``; ``expected.json`` stores them as ``{"value": ...}``
and ``{"raises": "TypeError"}``. A student's outcomes name mutant M when they match M's
recorded outcome (same tolerance) on every visible case where M's outcome differs from the
expected one, and M differs on at least one case; a message names M only if no other mutant
matches. Non-finite values match when they sit at the same places.

Imports only the standard library and numpy (torch when a tensor is met).
"""

from __future__ import annotations

import json
import math
import os
import sys
import sysconfig
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .codec import CodecError, decode, encode

__all__ = [
    "FILENAME",
    "FORMAT",
    "GradingError",
    "Recorded",
    "RecordedError",
    "Stub",
    "check",
    "from_json",
    "load",
    "named_mutants",
    "outcome_from_json",
    "outcome_to_json",
    "quiet",
    "same_outcome",
    "swapped_globals",
    "to_json",
]

FORMAT = 1
FILENAME = "expected.json"
TAG = "__type__"
_SPECIALS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_DTYPES = frozenset(
    ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
     "float16", "float32", "float64", "complex64", "complex128"]
)
_FAMILIES = {"bool": "a bool", "int": "an int", "float": "a float", "str": "a string"}
_MISSING = object()
_AGAIN = "download the exercise folder again"


class GradingError(AssertionError):
    """A visible test failed; the message is meant for the student (first line short)."""


class RecordedError(GradingError):
    """``expected.json`` is missing or damaged, or holds a value that cannot be decoded."""


# --------------------------------------------------------------------------- short tracebacks


def _short_traceback(shell: Any, etype: type, value: BaseException, tb: Any,
                     tb_offset: Any = None) -> list:
    """Show a GradingError as its message alone, without the frames of this module."""
    stb = [f"\x1b[31m{etype.__name__}\x1b[0m: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb


def _install_short_tracebacks() -> None:
    """In an IPython kernel, show GradingError without a traceback (if no other handler is set)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if hasattr(ipython, "get_ipython") else None
    if shell is None:
        return
    current = tuple(shell.custom_exceptions)
    if GradingError in current or not all(issubclass(e, AssertionError) for e in current):
        return
    shell.set_custom_exc((*current, GradingError), _short_traceback)


_install_short_tracebacks()


# --------------------------------------------------------------------------- encoding


def _special(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _number(x: Any) -> Any:
    return x if math.isfinite(x) else _special(x)


def _flat(array: np.ndarray) -> list:
    """The C-ordered values of ``array`` as JSON numbers (non-finite ones as strings)."""
    values = array.ravel().tolist()
    if array.dtype.kind == "c":
        return [[_number(z.real), _number(z.imag)] for z in values]
    if array.dtype.kind == "f":
        return [_number(x) for x in values]
    return values


def _array_to_json(kind: str, array: np.ndarray, dtype: str | None = None) -> dict:
    dtype = dtype or array.dtype.name
    if dtype not in _DTYPES and not (kind == "tensor" and dtype == "bfloat16"):
        raise TypeError(f"cannot record an array of dtype {array.dtype}")
    return {TAG: kind, "dtype": dtype, "shape": list(array.shape), "values": _flat(array)}


def _tensor_to_json(value: Any) -> dict:
    tensor = value.detach().cpu().resolve_conj().resolve_neg()
    dtype = str(tensor.dtype).removeprefix("torch.")
    array = tensor.float().numpy() if dtype == "bfloat16" else tensor.numpy()
    return _array_to_json("tensor", array, dtype)


def _dict_to_json(value: dict) -> dict:
    bad = [k for k in value if type(k) is not str]
    if bad:
        raise TypeError(f"cannot record a dict with a key of type {type(bad[0]).__name__}")
    if TAG in value:
        return {TAG: "dict", "items": [[k, to_json(v)] for k, v in value.items()]}
    return {k: to_json(v) for k, v in value.items()}


def to_json(value: Any) -> Any:
    """Encode a data value as a JSON-ready tree (see the module docstring).

    Args:
        value: None, bool, int, float, str, list, tuple, str-keyed dict, numpy array or
            scalar (bool, int, uint, float16/32/64, complex), or torch tensor, nested freely.

    Returns:
        Nested dicts, lists, strings and numbers that ``json.dumps(allow_nan=False)`` accepts.

    Raises:
        TypeError: for any other type (subclasses such as namedtuples included).
    """
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {TAG: "float", "value": _special(value)}
    if kind is list:
        return [to_json(v) for v in value]
    if kind is tuple:
        return {TAG: "tuple", "items": [to_json(v) for v in value]}
    if kind is dict:
        return _dict_to_json(value)
    if kind is np.ndarray:
        return _array_to_json("ndarray", value)
    if isinstance(value, np.generic):
        array = _array_to_json("scalar", np.asarray(value))
        return {TAG: "scalar", "dtype": array["dtype"], "value": array["values"][0]}
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return _tensor_to_json(value)
    raise TypeError(f"cannot record a value of type {kind.__qualname__}: only data can be recorded")


# --------------------------------------------------------------------------- decoding


def _bad(what: str) -> Any:
    raise RecordedError(f"a recorded value is malformed: {what}")


def _fields(obj: dict, *names: str) -> list:
    if set(obj) != {TAG, *names}:
        _bad(f"a {obj[TAG]!r} node with the fields {sorted(obj)}")
    return [obj[n] for n in names]


def _scalar_of(x: Any, kind: str) -> Any:
    if kind == "c":
        if type(x) is not list or len(x) != 2:
            _bad("a complex value that is not a [real, imag] pair")
        return complex(_scalar_of(x[0], "f"), _scalar_of(x[1], "f"))
    if type(x) is str and kind == "f":
        return _SPECIALS[x] if x in _SPECIALS else _bad(f"the number {x!r}")
    if type(x) not in ((bool,) if kind == "b" else (int, float) if kind == "f" else (int,)):
        _bad(f"the value {x!r} in an array of kind {kind!r}")
    return x


def _array_of(dtype: Any, shape: Any, values: Any, tensor: bool = False) -> np.ndarray:
    if dtype not in _DTYPES and not (tensor and dtype == "bfloat16"):
        _bad(f"the dtype {dtype!r}")
    if type(shape) is not list or any(type(d) is not int or d < 0 for d in shape):
        _bad(f"the shape {shape!r}")
    if type(values) is not list or len(values) != math.prod(shape):
        _bad(f"an array of shape {shape} whose values do not fit it")
    dt = np.dtype("float32" if dtype == "bfloat16" else dtype)
    return np.array([_scalar_of(x, dt.kind) for x in values], dtype=dt).reshape(shape)


def _tensor_of(obj: dict) -> Any:
    dtype, shape, values = _fields(obj, "dtype", "shape", "values")
    array = _array_of(dtype, shape, values, tensor=True)
    try:
        import torch
    except ImportError:
        message = "this test needs torch, which is not installed: see the README"
        raise RecordedError(message) from None
    tensor = torch.from_numpy(array)
    return tensor.to(torch.bfloat16) if dtype == "bfloat16" else tensor


def _pairs_of(items: Any) -> dict:
    if type(items) is not list or any(type(p) is not list or len(p) != 2 for p in items):
        _bad("a dict whose items are not [key, value] pairs")
    if any(type(k) is not str for k, _ in items) or len({k for k, _ in items}) != len(items):
        _bad("a dict with a key that is not a string, or a key twice")
    return {k: from_json(v) for k, v in items}


def _list_of(items: Any) -> list:
    if type(items) is not list:
        _bad("items that are not a list")
    return [from_json(v) for v in items]


def _float_of(obj: dict) -> float:
    (value,) = _fields(obj, "value")
    return _SPECIALS[value] if value in _SPECIALS else _bad(f"the float {value!r}")


def _scalar_node_of(obj: dict) -> Any:
    dtype, value = _fields(obj, "dtype", "value")
    return _array_of(dtype, [], [value])[()]


_DECODERS: dict[str, Callable[[dict], Any]] = {
    "float": _float_of,
    "tuple": lambda o: tuple(_list_of(*_fields(o, "items"))),
    "dict": lambda o: _pairs_of(*_fields(o, "items")),
    "ndarray": lambda o: _array_of(*_fields(o, "dtype", "shape", "values")),
    "scalar": _scalar_node_of,
    "tensor": _tensor_of,
}


def from_json(obj: Any) -> Any:
    """Decode a tree made by :func:`to_json` into fresh values (arrays are new, writeable copies).

    Raises:
        RecordedError: the tree is not a valid encoding (or holds a tensor and torch is absent).
    """
    kind = type(obj)
    if obj is None or kind in (bool, int, float, str):
        return obj
    if kind is list:
        return [from_json(v) for v in obj]
    if kind is not dict:
        _bad(f"a value of type {kind.__name__}")
    if TAG not in obj:
        return {k: from_json(v) for k, v in obj.items()}
    decoder = _DECODERS.get(obj[TAG]) if type(obj[TAG]) is str else None
    return decoder(obj) if decoder else _bad(f"the {TAG} {obj[TAG]!r}")


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class _Ctx:
    """Who is compared (for messages) and with which tolerance (None: by the expected dtype)."""

    name: str
    case: str
    rtol: float | None = None
    atol: float | None = None

    def tolerance(self, dtype: str) -> tuple[float, float]:
        rtol, atol = (1e-6, 1e-12) if dtype in ("float64", "complex128") else (1e-4, 1e-6)
        return (rtol if self.rtol is None else self.rtol, atol if self.atol is None else self.atol)

    @property
    def on(self) -> str:
        return f" for the case '{self.case}'"


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _family(x: Any) -> str | None:
    """'bool', 'int', 'float' or 'str' for a Python or numpy scalar; None otherwise."""
    if isinstance(x, bool | np.bool_):
        return "bool"
    if isinstance(x, int | np.integer):
        return "int"
    if isinstance(x, float | np.floating):
        return "float"
    return "str" if isinstance(x, str) else None


def _kind(x: Any) -> str:
    """A short phrase for the type of ``x``: 'a tuple of 3 values', 'a numpy array'..."""
    if isinstance(x, list | tuple):
        return f"a {type(x).__name__} of {len(x)} value{'s' * (len(x) != 1)}"
    if x is None:
        return "None"
    if isinstance(x, np.ndarray):
        return "a numpy array"
    if _is_tensor(x):
        return "a torch tensor"
    family = _family(x)
    return _FAMILIES[family] if family else f"an object of type {type(x).__name__}"


def _where(path: str) -> str:
    return f" in output{path}" if path else ""


def _compare(got: Any, want: Any, ctx: _Ctx, path: str = "") -> str | None:
    """The message for the first difference between ``got`` and ``want``, or None if they match."""
    if type(want) in (list, tuple):
        return _compare_sequence(got, want, ctx, path)
    if type(want) is dict:
        return _compare_dict(got, want, ctx, path)
    if isinstance(want, np.ndarray) or _is_tensor(want):
        return _compare_array(got, want, ctx, path)
    return _compare_scalar(got, want, ctx, path)


def _wrong_type(got: Any, want: Any, ctx: _Ctx, path: str) -> str:
    return f"{ctx.name} returned {_kind(got)}{_where(path)}; expected {_kind(want)}{ctx.on}."


def _compare_sequence(got: Any, want: list | tuple, ctx: _Ctx, path: str) -> str | None:
    if type(got) is not type(want) or len(got) != len(want):
        return _wrong_type(got, want, ctx, path)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        message = _compare(g, w, ctx, f"{path}[{i}]")
        if message:
            return message
    return None


def _compare_dict(got: Any, want: dict, ctx: _Ctx, path: str) -> str | None:
    if type(got) is not dict:
        return _wrong_type(got, want, ctx, path)
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing or extra:
        what = f"without the key {missing[0]!r}" if missing else \
            f"with an unexpected key {extra[0]!r}"
        return f"{ctx.name} returned a dict{_where(path)} {what}{ctx.on}."
    for key in want:
        message = _compare(got[key], want[key], ctx, f"{path}[{key!r}]")
        if message:
            return message
    return None


def _compare_scalar(got: Any, want: Any, ctx: _Ctx, path: str) -> str | None:
    family = _family(want)
    if want is None or family == "str":
        if type(got) is type(want) and got == want:
            return None
        return f"{ctx.name} returned {got!r:.40}{_where(path)}; expected {want!r:.40}{ctx.on}."
    accepted = ("float", "int") if family == "float" else (family,)
    if family is None or _family(got) not in accepted:
        return _wrong_type(got, want, ctx, path)
    dtype = np.asarray(want).dtype.name
    return _compare_values(np.asarray(got), np.asarray(want), dtype, ctx, path)


def _numpy_of(x: Any) -> tuple[np.ndarray, str]:
    """``x`` (array or tensor) as a numpy array, and its dtype name ('bfloat16' kept)."""
    if isinstance(x, np.ndarray):
        return x, x.dtype.name
    dtype = str(x.dtype).removeprefix("torch.")
    x = x.detach().cpu()
    return (x.float().numpy() if dtype == "bfloat16" else x.numpy()), dtype


def _same_family(got: str, want: str) -> bool:
    kind = lambda name: "f" if name == "bfloat16" else np.dtype(name).kind  # noqa: E731
    if kind(want) in "iu":
        return kind(got) in "iu"
    return got == want or (kind(want) == "b" and kind(got) == "b")


def _compare_array(got: Any, want: Any, ctx: _Ctx, path: str) -> str | None:
    if not (isinstance(got, np.ndarray) and isinstance(want, np.ndarray)) and not (
        _is_tensor(got) and _is_tensor(want)
    ):
        return _wrong_type(got, want, ctx, path)
    (g, got_dtype), (w, want_dtype) = _numpy_of(got), _numpy_of(want)
    if g.shape != w.shape:
        return f"{ctx.name} returned shape {g.shape}{_where(path)}; expected {w.shape}{ctx.on}."
    if not _same_family(got_dtype, want_dtype):
        where = _where(path)
        return f"{ctx.name} returned {got_dtype} values{where}; expected {want_dtype}{ctx.on}."
    return _compare_values(g, w, want_dtype, ctx, path)


def _at(index: tuple) -> str:
    return f" at [{', '.join(str(int(i)) for i in index)}]" if index else ""


def _compare_values(g: np.ndarray, w: np.ndarray, dtype: str, ctx: _Ctx, path: str) -> str | None:
    """Values of same-shaped arrays: exact for bool/int, with tolerance for float/complex."""
    if w.dtype.kind in "biu":
        bad = g != w
    else:
        wide = np.complex128 if "c" in (g.dtype.kind, w.dtype.kind) else np.float64
        g, w = g.astype(wide), w.astype(wide)
        broken = ~np.isfinite(g) & np.isfinite(w)
        if broken.any():
            index = tuple(np.argwhere(broken)[0])
            return f"{ctx.name} returned {_fmt(g[index])}{_where(path)}{_at(index)}{ctx.on}."
        rtol, atol = ctx.tolerance(dtype)
        bad = ~np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return None
    index = tuple(np.argwhere(bad)[0])
    shown, expected = _pair(g[index], w[index])
    where = f"{_where(path)}{_at(index)}{ctx.on}"
    return f"{ctx.name}: wrong value{where}: got {shown}, expected {expected}"


def _fmt(x: Any, digits: int = 4) -> str:
    if isinstance(x, bool | np.bool_ | int | np.integer):
        return str(x.item() if isinstance(x, np.generic) else x)
    if isinstance(x, complex | np.complexfloating):
        return repr(complex(x))
    x = float(x)
    if not math.isfinite(x):
        return _special(x)
    return f"{x:.{digits}f}" if x == 0 or 1e-3 <= abs(x) < 1e5 else f"{x:.{digits}e}"


def _pair(got: Any, want: Any) -> tuple[str, str]:
    """``got`` and ``want`` formatted with just enough digits to tell them apart."""
    for digits in (4, 6, 9, 12, 17):
        shown = _fmt(got, digits), _fmt(want, digits)
        if shown[0] != shown[1]:
            return shown
    return repr(got), repr(want)


# --------------------------------------------------------------------------- outcomes and mutants


def outcome_to_json(outcome: tuple) -> dict:
    """``("value", v)`` -> ``{"value": to_json(v)}``;
    ``("raises", exception or type name)`` -> ``{"raises": type name}``."""
    kind, payload = outcome
    if kind == "value":
        return {"value": to_json(payload)}
    return {"raises": payload if isinstance(payload, str) else type(payload).__name__}


def outcome_from_json(obj: Any) -> tuple:
    """The inverse of :func:`outcome_to_json` (values decoded fresh)."""
    if type(obj) is dict and set(obj) == {"value"}:
        return ("value", from_json(obj["value"]))
    if type(obj) is dict and set(obj) == {"raises"} and type(obj["raises"]) is str:
        return ("raises", obj["raises"])
    return _bad("an outcome that is neither {'value': ...} nor {'raises': name}")


def _raised_name(payload: Any) -> str:
    return payload if isinstance(payload, str) else type(payload).__name__


def same_outcome(a: tuple, b: tuple, *, rtol: float | None = None,
                 atol: float | None = None) -> bool:
    """Whether outcome ``a`` matches outcome ``b``: same exception type, or values equal with
    the tolerance (None: the default for ``b``'s dtype); NaNs match NaNs at the same places."""
    if a[0] != b[0]:
        return False
    if a[0] == "raises":
        return _raised_name(a[1]) == _raised_name(b[1])
    return _compare(a[1], b[1], _Ctx("", "", rtol, atol)) is None


def _case_tolerance(case: dict) -> dict:
    return {"rtol": case.get("rtol"), "atol": case.get("atol")}


def _fits(task: dict, mutant: str, outcomes: list[tuple]) -> bool:
    """Whether ``outcomes`` match ``mutant`` wherever it differs from the expected outputs."""
    differs = False
    for case, recorded, outcome in zip(task["cases"], task["mutants"][mutant]["outcomes"], outcomes,
                                       strict=True):
        tolerance = _case_tolerance(case)
        mutant_outcome = outcome_from_json(recorded)
        if same_outcome(mutant_outcome, ("value", from_json(case["expected"])), **tolerance):
            continue
        differs = True
        if not same_outcome(outcome, mutant_outcome, **tolerance):
            return False
    return differs


def named_mutants(task: dict, outcomes: list[tuple]) -> list[str]:
    """The mutants of a task record whose fingerprint ``outcomes`` (one per visible case) match.

    Args:
        task: one entry of ``expected.json``'s ``"tasks"`` (the JSON tree).
        outcomes: ``("value", v)`` or ``("raises", exception or type name)`` per case, in order.
    """
    return [name for name in sorted(task["mutants"]) if _fits(task, name, outcomes)]


# --------------------------------------------------------------------------- the student's code


@contextmanager
def quiet() -> Iterator[None]:
    """Silence warnings and numpy's floating-point messages (nothing reaches stderr)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


@contextmanager
def swapped_globals(fn: Callable, replacements: Mapping[str, Any]) -> Iterator[None]:
    """Bind ``replacements`` (name -> object) in ``fn.__globals__`` while the block runs, then
    restore the previous bindings (removing names that were absent), even on error."""
    space = getattr(fn, "__globals__", None)
    if space is None or not replacements:
        yield
        return
    saved = {name: space.get(name, _MISSING) for name in replacements}
    try:
        space.update(replacements)
        yield
    finally:
        for name, old in saved.items():
            if old is _MISSING:
                space.pop(name, None)
            else:
                space[name] = old


@lru_cache(maxsize=1)
def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    dirs = [Path(__file__).resolve().parents[1], *(paths[k] for k in keys)]
    return tuple(sorted({os.path.realpath(d) + os.sep for d in dirs}))


def _student_line(tb: Any) -> int | None:
    """The line of the deepest frame that is the student's (not course_utils, a library or
    Python's own), or None."""
    for frame in reversed(traceback.extract_tb(tb)):
        name = frame.filename
        if name.startswith(("<frozen", "<__array_function__")):
            continue
        if name.startswith("<") or not os.path.realpath(name).startswith(_library_dirs()):
            return frame.lineno  # "<string>", "<ipython-input-...>": code given as text
    return None


def _raised(name: str, error: BaseException, case: str) -> str:
    text = (str(error).strip().splitlines() or [""])[0]
    text = text if len(text) <= 70 else text[:67] + "..."
    line = getattr(error, "student_line", None) or _student_line(error.__traceback__)
    head = f"{name} raised {type(error).__name__}" + (f": {text}" if text else "")
    head += f" (line {line} of your code)" if line else ""
    return f"{head}\nIt happened in the case '{case}'."


def _call(name: str, fn: Callable, case: dict, stubs: Mapping[str, Stub]) -> tuple:
    """The student's outcome on one case; GradingError for what must stop the test at once."""
    args, kwargs = from_json(case["args"]), from_json(case["kwargs"])
    for helper, stub in stubs.items():
        stub.expect(case.get("calls", {}).get(helper, []), case["id"], **_case_tolerance(case))
    try:
        with swapped_globals(fn, stubs), quiet():
            result = fn(*args, **kwargs)
    except GradingError:
        raise
    except NotImplementedError:
        message = f"{name} is not implemented yet (it raises NotImplementedError)."
        raise GradingError(message) from None
    except Exception as error:  # noqa: BLE001 - the student's bug, reported by type and line
        return ("raises", error)
    try:
        return ("value", decode(encode(result)))
    except CodecError as error:  # e.g. "returned an object of type Foo; only numbers, ..."
        what = str(error).split(";")[0]
        what = what if what.startswith("returned ") else f"returned a value that cannot be sent ({what})"
        raise GradingError(f"{name} {what}: return data only.") from None


def _first_failure(name: str, task: dict, outcomes: list[tuple]) -> str | None:
    for case, (kind, payload) in zip(task["cases"], outcomes, strict=True):
        if kind == "raises":
            return _raised(name, payload, case["id"])
        ctx = _Ctx(name, case["id"], case.get("rtol"), case.get("atol"))
        message = _compare(payload, from_json(case["expected"]), ctx)
        if message:
            return message
    return None


def check(task_name: str, student_fn: Callable, recorded: Recorded, *, stubs: _Stubs = None) -> str:
    """Run ``student_fn`` on every visible case of ``task_name``; compare with the recorded outputs.

    Args:
        task_name: the graded name, e.g. ``"softmax"``; also the name used in messages.
        student_fn: the student's function, called as ``fn(*args, **kwargs)`` on fresh copies
            of each case's inputs.
        recorded: the loaded ``expected.json``.
        stubs: helpers to replace in ``student_fn.__globals__`` while it runs: a mapping
            name -> :class:`Stub`, or names. None (default): every helper the task records.

    Returns:
        A short success line, e.g. ``"✓ softmax: 3 visible cases pass"``.

    Raises:
        GradingError: the first difference, preceded by the diagnosis of the one mutant the
            student's outcomes match, if exactly one does.
    """
    task = recorded.task(task_name)
    if not callable(student_fn):
        raise GradingError(f"{task_name} should be a function; it is {_kind(student_fn)}.")
    stubs = recorded.stubs_for(task_name, stubs)
    outcomes = [_call(task_name, student_fn, case, stubs) for case in task["cases"]]
    failure = _first_failure(task_name, task, outcomes)
    if failure is None:
        n = len(outcomes)
        return f"✓ {task_name}: {n} visible case{'s pass' if n != 1 else ' passes'}"
    named = named_mutants(task, outcomes)
    if len(named) == 1:
        failure = f"{task['mutants'][named[0]]['diagnosis']}\n{failure}"
    raise GradingError(failure) from None


# --------------------------------------------------------------------------- stubs


class Stub:
    """Stands in for a composite's helper: answers the recorded calls of the current case.

    :func:`check` calls :meth:`expect` before each case. A call whose arguments match (with
    the case's tolerance) one recorded call returns a fresh copy of the recorded result; any
    other call raises GradingError ("log_softmax was called with an input the test did not
    expect at call 3"). Arguments may be given by position or by name; omitted ones take the
    helper's recorded defaults.
    """

    def __init__(self, helper: str, params: list[str], defaults: Any) -> None:
        self.helper, self.params, self.defaults = helper, list(params), defaults
        self.expect([], "")

    def expect(self, calls: list, case: str, rtol: float | None = None,
               atol: float | None = None) -> None:
        """Answer ``calls`` (``[[args, result], ...]``, encoded) for the case named ``case``."""
        self.calls, self.count = calls, 0
        self.ctx = _Ctx(self.helper, case, rtol, atol)

    def _bind(self, args: tuple, kwargs: dict) -> list | None:
        values = dict(zip(self.params, args, strict=False))
        defaults = from_json(self.defaults)
        if len(args) > len(self.params) or any(k not in self.params or k in values for k in kwargs):
            return None
        values |= kwargs
        if any(p not in values and p not in defaults for p in self.params):
            return None
        try:
            return decode(encode([values[p] if p in values else defaults[p] for p in self.params]))
        except CodecError:
            return None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        actual = self._bind(args, kwargs)
        for recorded_args, result in self.calls if actual is not None else []:
            if _compare(actual, from_json(recorded_args), self.ctx) is None:
                return from_json(result)
        raise GradingError(f"{self.helper} was called with an input the test did not expect "
                           f"at call {self.count}{self.ctx.on}.")


#: What ``check(..., stubs=...)`` takes: stubs by helper name, helper names, or None (all).
_Stubs = Mapping[str, Stub] | Iterable[str] | None


# --------------------------------------------------------------------------- the file


def _damaged(path: str, what: str) -> RecordedError:
    return RecordedError(f"{Path(path).name} is damaged ({what}): {_AGAIN}.")


def _validate_case(case: Any) -> str | None:
    keys = {"id", "args", "kwargs", "expected", "rtol", "atol", "calls"}
    if type(case) is not dict or not {"id", "args", "kwargs", "expected"} <= set(case) <= keys:
        return "a case without id, args, kwargs and expected"
    if (type(case["id"]), type(case["args"]), type(case["kwargs"])) != (str, list, dict):
        return "a case whose id, args or kwargs have the wrong type"
    if any(case.get(t) is not None and type(case[t]) not in (int, float) for t in ("rtol", "atol")):
        return f"case {case['id']!r} has a tolerance that is not a number"
    calls = case.get("calls", {})
    if type(calls) is not dict or any(type(c) is not list for c in calls.values()):
        return f"case {case['id']!r} has malformed calls"
    if any(type(c) is not list or len(c) != 2 for v in calls.values() for c in v):
        return f"case {case['id']!r} has a call that is not [args, result]"
    return None


def _validate_task(task: Any) -> str | None:
    if type(task) is not dict or type(task.get("cases")) is not list:
        return "a task without cases"
    if type(task.get("mutants")) is not dict:
        return "a task without mutants"
    helpers = task.get("helpers", {})
    if type(helpers) is not dict or any(type(h) is not dict or type(h.get("params")) is not list
                                        for h in helpers.values()):
        return "malformed helpers"
    for case in task["cases"]:
        problem = _validate_case(case)
        if problem:
            return problem
    for name, mutant in task["mutants"].items():
        if type(mutant) is not dict or type(mutant.get("diagnosis")) is not str:
            return f"mutant {name!r} has no diagnosis"
        outcomes = mutant.get("outcomes")
        if type(outcomes) is not list or len(outcomes) != len(task["cases"]):
            return f"mutant {name!r} does not have one outcome per case"
    return None


def _validate(data: Any) -> str | None:
    if type(data) is not dict or data.get("format") != FORMAT:
        return f"not format {FORMAT}"
    if type(data.get("assignment")) is not str or type(data.get("tasks")) is not dict:
        return "no assignment or tasks"
    for name, task in data["tasks"].items():
        problem = _validate_task(task)
        if problem:
            return f"task {name!r}: {problem}"
    return None


class Recorded:
    """The contents of ``expected.json``: visible cases and mutant fingerprints, per task.

    Attributes:
        data: the JSON tree (schema in ``course_utils.instructor.recording``).
        path: the file it was read from (used in messages).
    """

    def __init__(self, data: dict, path: str | os.PathLike = FILENAME) -> None:
        self.path = str(path)
        problem = _validate(data)
        if problem:
            raise _damaged(self.path, problem)
        self.data = data

    @property
    def assignment(self) -> str:
        """The assignment id, e.g. ``"01_neurons"``."""
        return self.data["assignment"]

    @property
    def tasks(self) -> list[str]:
        """The names of the recorded tasks, sorted."""
        return sorted(self.data["tasks"])

    def task(self, name: str) -> dict:
        """The JSON record of one task; RecordedError if the file has none by that name."""
        if name not in self.data["tasks"]:
            raise RecordedError(f"{Path(self.path).name} has no values for {name}: {_AGAIN}.")
        return self.data["tasks"][name]

    def cases(self, name: str) -> list[dict]:
        """The visible cases of a task, decoded: dicts with id, args (list), kwargs, expected."""
        return [{"id": c["id"], "args": from_json(c["args"]), "kwargs": from_json(c["kwargs"]),
                 "expected": from_json(c["expected"])} for c in self.task(name)["cases"]]

    def stub(self, helper: str, task: str | None = None) -> Stub:
        """A :class:`Stub` for ``helper``, as recorded for ``task`` (None: the first task that
        records calls to it)."""
        names = [task] if task else self.tasks
        for name in names:
            info = self.task(name).get("helpers", {}).get(helper)
            if info is not None:
                return Stub(helper, info["params"], info.get("defaults", {}))
        raise RecordedError(f"{Path(self.path).name} records no calls to {helper}: {_AGAIN}.")

    def stubs_for(self, task: str, stubs: _Stubs) -> dict[str, Stub]:
        """Stubs by helper name: those given, stubs for the names given, or all the task records."""
        if isinstance(stubs, Mapping):
            return dict(stubs)
        names = sorted(self.task(task).get("helpers", {})) if stubs is None else list(stubs)
        return {name: self.stub(name, task) for name in names}

    def check(self, task: str, fn: Callable, *, stubs: _Stubs = None) -> str:
        """:func:`check` on this file."""
        return check(task, fn, self, stubs=stubs)


def load(path: str | os.PathLike = FILENAME) -> Recorded:
    """Read ``expected.json`` (or the one inside the folder ``path``).

    Raises:
        RecordedError: the file is missing, unreadable, not JSON or not in the expected schema;
            the message names the file and says to download the exercise folder again.
    """
    path = Path(path)
    if path.is_dir():
        path = path / FILENAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecordedError(f"{path.name} is missing next to the notebook: {_AGAIN}.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise _damaged(str(path), f"it cannot be read: {type(error).__name__}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise _damaged(str(path), f"not JSON, line {error.lineno}") from None
    return Recorded(data, path)
