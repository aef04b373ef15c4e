"""Frames of the codec over a stream socket: the judge's transport.

A message is an 8-byte big-endian length followed by that many bytes of a
:func:`~course_utils.judge.codec.encode` frame. A declared length above
:data:`~course_utils.judge.codec.MAX_FRAME` is refused before anything of the frame is
read. Messages are plain values (dicts like ``{"op": "call", "name": "softmax", "args":
[...], "kwargs": {...}}``); what they mean is decided elsewhere, not here.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from typing import Any

from . import codec

_LENGTH = struct.Struct(">Q")


class ChannelError(ConnectionError):
    """The channel is closed, or the other side sent something that is not a frame."""


class ChannelTimeout(ChannelError, TimeoutError):
    """No whole message arrived in time (what did arrive is kept for the next recv)."""


class Channel:
    """Send and receive values over a connected stream socket (e.g. from ``socketpair``)."""

    def __init__(self, sock: socket.socket) -> None:
        sock.settimeout(None)  # blocking; recv waits through a selector, not a socket timeout
        self.sock = sock
        self._buffer = bytearray()
        self._send_lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, selectors.EVENT_READ)

    @classmethod
    def from_fd(cls, fd: int) -> Channel:
        """A channel over the socket of file descriptor ``fd``, which it takes over."""
        return cls(socket.socket(fileno=fd))

    def send(self, value: Any) -> None:
        """Encode ``value`` and send it as one message (raises CodecError if it cannot)."""
        payload = codec.encode(value)
        with self._send_lock:
            try:
                self.sock.sendall(_LENGTH.pack(len(payload)))
                self.sock.sendall(payload)
            except OSError as error:
                raise ChannelError(f"cannot send: {error}") from error

    def recv(self, timeout: float | None = None) -> Any:
        """The next value; raise ChannelTimeout if it has not all come within ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._fill(_LENGTH.size, deadline)
        (length,) = _LENGTH.unpack_from(self._buffer)
        if length > codec.MAX_FRAME:
            raise ChannelError(
                f"the other side announced a message of {length} bytes "
                f"(at most {codec.MAX_FRAME} are accepted)"
            )
        self._fill(_LENGTH.size + length, deadline)
        frame = bytes(self._buffer[_LENGTH.size : _LENGTH.size + length])
        del self._buffer[: _LENGTH.size + length]
        return codec.decode(frame)

    def _fill(self, size: int, deadline: float | None) -> None:
        while len(self._buffer) < size:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                ready = self._selector.select(remaining)
                chunk = self.sock.recv(min(size - len(self._buffer), 2**20)) if ready else None
            except OSError as error:
                raise ChannelError(f"cannot receive: {error}") from error
            if chunk is None:
                raise ChannelTimeout("no message arrived in time")
            if not chunk:
                raise ChannelError("the other side closed the channel")
            self._buffer += chunk

    def fileno(self) -> int:
        """The socket's file descriptor (for ``select``)."""
        return self.sock.fileno()

    def close(self) -> None:
        """Close the socket."""
        self._selector.close()
        self.sock.close()

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
