"""The judge's agent: runs inside the student's kernel and answers the judge's requests.

At the start of each graded test cell the judge runs, silently, in the student's kernel::

    __import__('course_utils.judge.agent', fromlist=['serve']).serve()

:func:`serve` then reads requests from the socket whose file descriptor is in the
environment variable ``COURSE_JUDGE_FD`` and answers each one, until ``{"op": "done"}``.
Requests and replies are plain values of :mod:`~course_utils.judge.codec` (data only).
A reply is ``{"ok": True, "value": ...}`` or ``{"ok": False, "error": {"type": ...,
"message": ..., "line": ...}}``, where ``line`` is the line of the student's cell that
raised, or None. The ops:

* ``call`` ``{"name", "args", "kwargs", "stubs"?}``: call the student's function ``name``.
  While it runs, each helper named in ``stubs`` is replaced, in the function's globals, by
  a stub that asks the judge (``{"op": "callback", "name", "args", "kwargs"}``) and returns
  its answer; the student's own helper is put back afterwards.
* ``new`` ``{"class", "args"?, "kwargs"}`` -> an int handle to a new instance of the
  student's class; ``method`` ``{"handle", "name", "args", "kwargs"}``; ``param_shapes``
  ``{"handle"}`` -> ``{name: shape}`` of a ``torch.nn.Module``; ``load_state``
  ``{"handle", "state"}`` (strict); ``drop`` ``{"handle"}``.
* ``vjp`` ``{"name", "args", "cotangent", "wrt"}``: call the student's torch function with
  float64 tensors that require grad at the argument indices ``wrt`` and return the
  vector-Jacobian product, one array per index (None where the output does not depend on it).
* ``get`` ``{"name"}``: a data value of the student's namespace.
* ``canary`` ``{"path"}``: open ``path`` (under :data:`~course_utils.judge.events.CANARY_PREFIX`,
  never existing), so that the kernel's audit hook reports it: the grader checks from
  outside that the hook still reports what the kernel does.

Every value the student's code returns must be data (numbers, strings, lists, tuples,
str-keyed dicts, numpy arrays, tensors); anything else is the error ``NotData``. The agent
prints nothing and never raises out of :func:`serve` because of the student's code.
Changing this module from the kernel only changes what the student's own kernel sends: the
judge decodes data only and decides everything itself.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import types
from typing import Any

import numpy as np

from . import codec
from .channel import Channel, ChannelError
from .events import CANARY_PREFIX
from .recorded import swapped_globals

FD_ENV = "COURSE_JUDGE_FD"
MAX_MESSAGE = 2000  # characters of an exception's message that are sent back

_handles: dict[int, Any] = {}
_next_handle = itertools.count(1)


class StudentFailure(Exception):
    """An error to report under ``kind`` (e.g. ``NotData``) rather than its class name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class CallbackError(Exception):
    """The judge could not answer a helper called from the student's code."""


def serve(fd: int | None = None) -> None:
    """Answer the judge's requests on ``fd`` (default: ``$COURSE_JUDGE_FD``) until ``done``."""
    if fd is None:
        fd = int(os.environ[FD_ENV])
    channel = Channel.from_fd(os.dup(fd))  # a copy: closing it leaves the kernel's fd open
    try:
        while True:
            try:
                request = channel.recv()
            except KeyboardInterrupt:  # an interrupt that came just after a reply
                continue
            except (ChannelError, codec.CodecError):
                return
            if isinstance(request, dict) and request.get("op") == "done":
                return
            try:
                reply = {"ok": True, "value": _answer(channel, request)}
            except BaseException as error:  # noqa: BLE001 - the student's errors, interrupts included
                reply = {"ok": False, "error": _describe(error)}
            try:
                channel.send(reply)
            except codec.CodecError as error:  # only if the codec was changed in the kernel
                channel.send({"ok": False, "error": _describe(error)})
    except (ChannelError, codec.CodecError):
        return
    finally:
        channel.close()


# --------------------------------------------------------------------------- the ops


def _answer(channel: Channel, request: Any) -> Any:
    if not isinstance(request, dict) or not isinstance(request.get("op"), str):
        raise StudentFailure("ProtocolError", "a request must be a dict with an 'op'")
    op = request["op"]
    handler = _OPS.get(op)
    if handler is None:
        raise StudentFailure("ProtocolError", f"unknown op {op!r}")
    return handler(channel, request)


def _call(channel: Channel, request: dict) -> Any:
    name = request["name"]
    function = _lookup(name, types.FunctionType, "a function")
    stubs = request.get("stubs") or {}
    with swapped_globals(function, {helper: _stub(channel, helper) for helper in stubs}):
        result = function(*request.get("args", ()), **request.get("kwargs", {}))
    return _data(result, f"{name} returned")


def _new(channel: Channel, request: dict) -> int:
    cls = _lookup(request["class"], type, "a class")
    instance = cls(*request.get("args", ()), **request.get("kwargs", {}))
    handle = next(_next_handle)
    _handles[handle] = instance
    return handle


def _method(channel: Channel, request: dict) -> Any:
    instance, name = _instance(request), request["name"]
    bound = getattr(instance, name)
    result = bound(*request.get("args", ()), **request.get("kwargs", {}))
    return _data(result, f"{type(instance).__name__}.{name} returned")


def _param_shapes(channel: Channel, request: dict) -> dict:
    module = _module(_instance(request))
    return {name: list(p.shape) for name, p in module.named_parameters()}


def _load_state(channel: Channel, request: dict) -> None:
    _module(_instance(request)).load_state_dict(request["state"], strict=True)


def _drop(channel: Channel, request: dict) -> None:
    _handles.pop(request["handle"], None)


def _vjp(channel: Channel, request: dict) -> list:
    import torch

    name, args, wrt = request["name"], list(request["args"]), list(request["wrt"])
    function = _lookup(name, types.FunctionType, "a function")
    if any(type(i) is not int or not 0 <= i < len(args) for i in wrt):
        raise StudentFailure("ProtocolError", f"wrt {wrt} does not index {len(args)} arguments")
    inputs = []
    for i in wrt:
        args[i] = torch.tensor(np.asarray(args[i]), dtype=torch.float64, requires_grad=True)
        inputs.append(args[i])
    with torch.enable_grad():
        output = function(*args, **request.get("kwargs", {}))
        single = not isinstance(output, tuple | list)
        outputs = [output] if single else list(output)
        cotangents = [request["cotangent"]] if single else list(request["cotangent"])
        if len(outputs) != len(cotangents):
            raise StudentFailure(
                "ValueError", f"{name} returned {len(outputs)} outputs, not {len(cotangents)}"
            )
        for out in outputs:
            if not isinstance(out, torch.Tensor):
                raise StudentFailure(
                    "NotDifferentiable",
                    f"{name} returned an object of type {_type_name(out)}, not a tensor: "
                    "compute it with torch operations",
                )
        if not any(out.requires_grad for out in outputs):
            raise StudentFailure(
                "NotDifferentiable",
                f"{name}'s output does not depend differentiably on its inputs "
                "(no autograd graph: was it computed with numpy, .detach() or .item()?)",
            )
        pairs = [
            (out, torch.as_tensor(np.asarray(c), dtype=out.dtype).reshape(out.shape))
            for out, c in zip(outputs, cotangents, strict=True)
            if out.requires_grad
        ]
        grads = torch.autograd.grad(
            [out for out, _ in pairs], inputs, [c for _, c in pairs], allow_unused=True
        )
    return [None if g is None else g.detach().numpy().copy() for g in grads]


def _get(channel: Channel, request: dict) -> Any:
    name = request["name"]
    return _data(_lookup(name, object, "a value"), f"{name} is")


def _canary(channel: Channel, request: dict) -> None:
    path = request.get("path")
    if not (isinstance(path, str) and path.startswith(CANARY_PREFIX)):
        raise StudentFailure("ProtocolError", "a canary path must be under the canary prefix")
    with contextlib.suppress(OSError):
        open(path).close()  # it never exists: the audit event is the point


_OPS = {
    "call": _call,
    "new": _new,
    "method": _method,
    "param_shapes": _param_shapes,
    "load_state": _load_state,
    "drop": _drop,
    "vjp": _vjp,
    "get": _get,
    "canary": _canary,
}


# --------------------------------------------------------------------------- helpers


def _namespace() -> dict:
    """The kernel's user namespace (IPython's ``user_ns``), else ``__main__``'s globals."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell.user_ns if shell is not None else sys.modules["__main__"].__dict__


def _lookup(name: Any, kind: type, what: str) -> Any:
    if type(name) is not str:
        raise StudentFailure("ProtocolError", "a name must be a string")
    namespace = _namespace()
    if name not in namespace:
        raise StudentFailure("NameError", f"{name} is not defined: run the cell that defines it")
    value = namespace[name]
    if not isinstance(value, kind):
        raise StudentFailure(
            "TypeError", f"{name} should be {what}, but it is an object of type {_type_name(value)}"
        )
    return value


def _instance(request: dict) -> Any:
    handle = request["handle"]
    if handle not in _handles:
        raise StudentFailure("ProtocolError", f"no object with handle {handle!r}")
    return _handles[handle]


def _module(instance: Any) -> Any:
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(instance, torch.nn.Module):
        raise StudentFailure(
            "TypeError", f"{type(instance).__name__} should be a torch.nn.Module subclass"
        )
    return instance


def _data(value: Any, what: str) -> Any:
    """``value`` if it can be sent, else a ``NotData`` failure naming the offending type."""
    try:
        codec.check_data(value)
    except codec.CodecError as error:
        culprit = _non_data(value, 0)
        if culprit is None:
            raise StudentFailure(
                "NotData", f"{what} a value that cannot be sent: {error}"
            ) from None
        raise StudentFailure(
            "NotData",
            f"{what} an object of type {_type_name(culprit)}; return numbers, arrays or tensors",
        ) from None
    return value


def _non_data(value: Any, depth: int) -> Any:
    """The first object inside ``value`` whose type the codec refuses, or None."""
    kind = type(value)
    if value is None or kind in (bool, int, float, str, np.ndarray) or depth > codec.MAX_DEPTH:
        return None
    if isinstance(value, np.generic):
        return None
    if kind in (list, tuple, dict):
        for item in value.values() if kind is dict else value:
            culprit = _non_data(item, depth + 1)
            if culprit is not None:
                return culprit
        return None
    torch = sys.modules.get("torch")
    if torch is not None and kind in (torch.Tensor, torch.nn.Parameter):
        return None
    return value


def _type_name(value: Any) -> str:
    kind = type(value)
    module = getattr(kind, "__module__", "")
    if module in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{module}.{kind.__qualname__}"


def _stub(channel: Channel, helper: str) -> types.FunctionType:
    def stub(*args: Any, **kwargs: Any) -> Any:
        request = {"op": "callback", "name": helper, "args": list(args), "kwargs": kwargs}
        try:
            channel.send(request)
        except codec.CodecError:
            culprit = _non_data(request, 0)
            raise TypeError(
                f"{helper} was called with an object of type {_type_name(culprit)}; "
                "it takes numbers, arrays or tensors"
            ) from None
        reply = channel.recv()
        if isinstance(reply, dict) and reply.get("ok") is True:
            return reply.get("value")
        error = reply.get("error") if isinstance(reply, dict) else None
        detail = error.get("message", "") if isinstance(error, dict) else ""
        raise CallbackError(f"{helper} failed: {detail}")

    stub.__name__ = stub.__qualname__ = helper
    return stub


def _describe(error: BaseException) -> dict:
    """``{"type", "message", "line"}`` of ``error``; ``line`` is in the student's cell."""
    kind = error.kind if isinstance(error, StudentFailure) else type(error).__name__
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a student's exception class may break str()
        message = "(the exception's message could not be read)"
    namespace = _namespace()
    line = None
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals is namespace:
            line = tb.tb_lineno
        tb = tb.tb_next
    return {"type": str(kind), "message": message[:MAX_MESSAGE], "line": line}
