"""The judge's side of the channel to a student's kernel.

The judge holds the tests. It calls the student's functions in their kernel through
:class:`StudentProcess`, which speaks to :mod:`course_utils.judge.agent` over a socketpair
(:class:`~course_utils.judge.channel.Channel`: length-prefixed frames of the data-only
codec). What comes back is decoded into data only (numbers, strings, None, lists, tuples,
str-keyed dicts, numpy arrays, tensors); an error in the student's code becomes
:class:`StudentError`, a call that does not return in time :class:`StudentTimeout`.

A graded test cell is::

    student.open_cell()
    y = student.call("softmax", x)            # ... as many ops as the test needs
    student.close_cell()                      # every kernel message of the cell is dropped

:func:`start_kernel_with_channel` starts an ipykernel that holds the other end.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course_utils.judge import agent
from course_utils.judge.channel import Channel, ChannelError, ChannelTimeout
from course_utils.judge.codec import CodecError

SERVE = "__import__('course_utils.judge.agent', fromlist=['serve']).serve()"


class StudentError(Exception):
    """The student's code raised (``type``, ``message``, and ``line`` in their cell, or None),
    returned something that is not data (``type == "NotData"``), or the kernel broke the
    protocol (``"ProtocolError"``) or died (``"KernelDied"``)."""

    def __init__(self, type: str, message: str, line: int | None = None) -> None:
        super().__init__(type, message, line)
        self.type, self.message, self.line = type, message, line

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.type}: {self.message}{where}"


class StudentTimeout(Exception):
    """A request did not return in time; the kernel was interrupted."""


@dataclass(frozen=True)
class Reply:
    """One reply of the agent: a value, or an error."""

    ok: bool
    value: Any = None
    error: StudentError | None = None

    @classmethod
    def parse(cls, message: Any) -> Reply:
        """Check the shape of ``message`` (already decoded: data only) and wrap it."""
        if isinstance(message, dict) and message.get("ok") is True and "value" in message:
            return cls(True, message["value"])
        error = message.get("error") if isinstance(message, dict) else None
        if isinstance(error, dict) and message.get("ok") is False:
            kind, text, line = error.get("type"), error.get("message"), error.get("line")
            if type(kind) is str and type(text) is str and (line is None or type(line) is int):
                return cls(False, error=StudentError(kind, text, line))
        raise StudentError("ProtocolError", "the kernel sent a reply that is not a reply")


class StudentProcess:
    """The student's kernel as the judge sees it: functions to call, with data in and out.

    ``channel`` is the judge's end of the socketpair, ``kc`` a blocking kernel client and
    ``km`` the kernel manager (for interrupts). Every request takes ``timeout`` seconds at
    most (keyword-only, so a student's function cannot take a ``timeout`` keyword argument
    through :meth:`call`); after that the kernel is interrupted and :class:`StudentTimeout`
    raised. An interrupt the student's code swallows for :attr:`grace` seconds, twice,
    leaves the kernel ``stuck``: every later request, and :meth:`close_cell`, raises
    :class:`StudentTimeout` at once (start a new kernel).
    """

    grace = 3.0  # seconds an interrupted request has to answer before the kernel is stuck

    def __init__(self, channel: Channel, kc: Any, km: Any) -> None:
        self.channel, self.kc, self.km = channel, kc, km
        self.cell_id: str | None = None
        self.stuck = False
        self.abort: AssertionError | None = None  # a test's verdict raised by a callback

    # ------------------------------------------------------------------ test cells

    def open_cell(self) -> None:
        """Start the agent in the kernel (a silent execute; its completion is not awaited)."""
        self.cell_id = self.kc.execute(
            SERVE, silent=True, store_history=False, allow_stdin=False, stop_on_error=False
        )

    def close_cell(self, timeout: float = 30, log: Callable[[dict], None] | None = None) -> None:
        """End the agent and wait for the end of its execution in the kernel. Every iopub
        message of that execution (what the student printed during the test, rich outputs,
        errors) is dropped; ``log`` sees each one if given."""
        if self.cell_id is None:
            return
        cell_id, self.cell_id = self.cell_id, None
        if self.stuck:
            raise StudentTimeout("the kernel is stuck in the student's code")
        try:
            self.channel.send({"op": "done"})
        except ChannelError as error:
            raise StudentError("KernelDied", "the kernel stopped answering") from error
        deadline = time.monotonic() + timeout
        self._wait(self.kc.get_shell_msg, cell_id, "execute_reply", deadline, log)
        self._wait(self.kc.get_iopub_msg, cell_id, "status", deadline, log)

    @staticmethod
    def _wait(get: Callable, cell_id: str, kind: str, deadline: float, log: Callable | None):
        while True:
            try:
                msg = get(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - queue.Empty; any other failure to read also means no answer
                raise StudentTimeout("the kernel did not finish the test cell") from None
            if msg.get("parent_header", {}).get("msg_id") != cell_id:
                continue
            if log is not None:
                log(msg)
            if msg["msg_type"] == kind and (
                kind != "status" or msg["content"].get("execution_state") == "idle"
            ):
                return

    # ------------------------------------------------------------------ the ops

    def call(
        self,
        name: str,
        *args: Any,
        stubs: Sequence[str] | None = None,
        callbacks: Mapping[str, Callable] | None = None,
        timeout: float = 30,
        **kwargs: Any,
    ) -> Any:
        """``name(*args, **kwargs)`` in the kernel. Each helper in ``stubs`` (default: every
        key of ``callbacks``) is answered while the call runs by ``callbacks[helper]`` here."""
        callbacks = dict(callbacks or {})
        stubs = list(callbacks if stubs is None else stubs)
        request = {"op": "call", "name": name, "args": list(args), "kwargs": kwargs}
        if stubs:
            request["stubs"] = {helper: True for helper in stubs}
        return self._request(request, name, timeout, callbacks)

    def new(self, cls: str, *args: Any, timeout: float = 30, **kwargs: Any) -> int:
        """A new instance of the student's class ``cls``; returns its handle."""
        request = {"op": "new", "class": cls, "args": list(args), "kwargs": kwargs}
        handle = self._request(request, cls, timeout)
        if type(handle) is not int:
            raise StudentError("ProtocolError", "the kernel sent a handle that is not an int")
        return handle

    def method(self, handle: int, name: str, *args: Any, timeout: float = 30, **kwargs: Any):
        """``instance.name(*args, **kwargs)`` on the instance of ``handle``."""
        request = {"op": "method", "handle": handle, "name": name, "args": list(args)}
        return self._request(request | {"kwargs": kwargs}, name, timeout)

    def param_shapes(self, handle: int, timeout: float = 30) -> dict[str, tuple[int, ...]]:
        """``{name: shape}`` of the parameters of the ``nn.Module`` of ``handle``."""
        shapes = self._request({"op": "param_shapes", "handle": handle}, "param_shapes", timeout)
        if not isinstance(shapes, dict) or not all(
            isinstance(s, list) and all(type(d) is int for d in s) for s in shapes.values()
        ):
            raise StudentError("ProtocolError", "the kernel sent shapes that are not shapes")
        return {k: tuple(s) for k, s in shapes.items()}

    def load_state(self, handle: int, state: Mapping[str, Any], timeout: float = 30) -> None:
        """``load_state_dict(state, strict=True)`` on the ``nn.Module`` of ``handle``."""
        request = {"op": "load_state", "handle": handle, "state": dict(state)}
        self._request(request, "load_state_dict", timeout)

    def drop(self, handle: int, timeout: float = 30) -> None:
        """Forget the instance of ``handle``."""
        self._request({"op": "drop", "handle": handle}, "drop", timeout)

    def vjp(
        self, name: str, args: Sequence, cotangent: Any, wrt: Sequence[int], timeout: float = 30
    ) -> list:
        """The gradients of ``<cotangent, name(*args)>`` with respect to ``args[i]`` for each
        ``i`` in ``wrt``, computed by autograd in the kernel (None where there is no path)."""
        request = {"op": "vjp", "name": name, "args": list(args), "cotangent": cotangent}
        grads = self._request(request | {"wrt": list(wrt)}, name, timeout)
        if not isinstance(grads, list) or len(grads) != len(wrt):
            raise StudentError("ProtocolError", "the kernel sent gradients that do not match")
        return grads

    def canary(self, path: str, timeout: float = 10) -> bool:
        """Ask the kernel to open ``path`` (a canary under ``CANARY_PREFIX``), which its audit
        hook must report; True if the kernel says it did (the report is checked outside)."""
        try:
            self._request({"op": "canary", "path": path}, "canary", timeout)
        except (StudentError, StudentTimeout):
            return False
        return True

    def get(self, name: str, timeout: float = 30) -> Any:
        """The value of ``name`` in the student's namespace (data only)."""
        return self._request({"op": "get", "name": name}, name, timeout)

    # ------------------------------------------------------------------ the protocol

    def _request(
        self, request: dict, name: str, timeout: float, callbacks: Mapping | None = None
    ) -> Any:
        if self.cell_id is None:
            raise RuntimeError("open_cell() first")
        if self.stuck:
            raise StudentTimeout(f"{name} was not called: the kernel is stuck")
        deadline = time.monotonic() + timeout
        try:
            self.channel.send(request)
            while True:
                message = self.channel.recv(max(0.0, deadline - time.monotonic()))
                if isinstance(message, dict) and message.get("op") == "callback":
                    self._answer_callback(message, callbacks or {})
                    continue
                reply = Reply.parse(message)
                if self.abort is not None:  # a callback (a stub) failed the test: that is the verdict
                    abort, self.abort = self.abort, None
                    raise abort
                if not reply.ok:
                    raise reply.error
                return reply.value
        except ChannelTimeout:
            self._interrupt()
            raise StudentTimeout(f"{name} did not return within {timeout:g} s") from None
        except CodecError as error:
            raise StudentError(
                "ProtocolError", f"the kernel sent something else than data: {error}"
            ) from None
        except ChannelError as error:
            raise StudentError("KernelDied", f"the kernel stopped answering ({error})") from None

    def _answer_callback(self, message: dict, callbacks: Mapping) -> None:
        helper, args = message.get("name"), message.get("args", [])
        kwargs = message.get("kwargs", {})
        try:
            if helper not in callbacks or not isinstance(args, list):
                raise LookupError(f"no callback {helper!r}")
            reply = {"ok": True, "value": callbacks[helper](*args, **(kwargs or {}))}
            self.channel.send(reply)
        except AssertionError as verdict:  # the test's own judgement (a stub's "did not expect ...")
            self.abort = verdict
            self.channel.send({"ok": False, "error": {"type": "TestStopped", "message": "the test stopped here"}})
        except CodecError as error:
            self.channel.send({"ok": False, "error": {"type": "CodecError", "message": str(error)}})
        except Exception as error:  # noqa: BLE001 - the student's arguments broke the reference helper
            message = f"{type(error).__name__}: {error}"[: agent.MAX_MESSAGE]
            self.channel.send({"ok": False, "error": {"type": "CallbackError", "message": message}})

    def _interrupt(self) -> None:
        """Interrupt the kernel and read the interrupted request's reply (dropped). The
        kernel is ``stuck`` if none comes within :attr:`grace` s, twice."""
        for _ in range(2):
            self.km.interrupt_kernel()
            deadline = time.monotonic() + self.grace
            try:
                while True:
                    message = self.channel.recv(max(0.0, deadline - time.monotonic()))
                    if not (isinstance(message, dict) and message.get("op") == "callback"):
                        return
                    refused = {"type": "StudentTimeout", "message": "the call timed out"}
                    self.channel.send({"ok": False, "error": refused})
            except ChannelTimeout:
                continue
            except (ChannelError, CodecError):
                return
        self.stuck = True


def start_kernel_with_channel(
    cwd: str | Path, env: Mapping[str, str] | None = None, kernel_name: str = "python3"
) -> tuple[Any, Any, StudentProcess]:
    """Start an ipykernel in ``cwd`` that holds one end of a socketpair, and return
    ``(km, kc, student)``; shut down with ``kc.stop_channels(); km.shutdown_kernel()``.

    How the fd gets there (jupyter_client 8.10): ``KernelManager.start_kernel(**kw)`` hands
    ``kw`` through the provisioner to ``launch_kernel`` and on to ``subprocess.Popen``, so
    ``pass_fds=(fd,)`` keeps the kernel's end open, at the same number, in the kernel. On
    POSIX ``launch_kernel`` leaves ``close_fds=True``, so ``os.set_inheritable`` alone does
    not work (checked: the kernel then finds another file at that number). The number is in
    ``$COURSE_JUDGE_FD``. The judge closes its copy of the kernel's end, so the channel
    reports the kernel's death. ``km.restart_kernel`` would reuse the closed fd: start a new
    kernel instead.
    """
    from jupyter_client import KernelManager

    judge_end, kernel_end = socket.socketpair()
    fd = kernel_end.fileno()
    km = KernelManager(kernel_name=kernel_name)
    kernel_env = {**os.environ, **(env or {}), agent.FD_ENV: str(fd)}
    try:
        km.start_kernel(cwd=str(cwd), env=kernel_env, pass_fds=(fd,))
    finally:
        kernel_end.close()
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
    except RuntimeError:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        judge_end.close()
        raise
    return km, kc, StudentProcess(Channel(judge_end), kc, km)
