"""The student-facing half of the grader's judge, which runs an exercise's tests outside
the student's process and calls the student's functions through a narrow channel that
carries data only, never objects or code.

Modules: ``codec`` (values to bytes and back: numbers, strings, lists, tuples, dicts,
numpy arrays, tensors; nothing else) and ``channel`` (length-prefixed frames over a
socket). Later: the task proxies, the visible-test runner and the diagnosis. This package
imports only the standard library and numpy (torch only once a tensor is met), since it
ships to students too.
"""

from .channel import Channel, ChannelError, ChannelTimeout
from .codec import CodecError, check_data, decode, encode

__all__ = [
    "Channel",
    "ChannelError",
    "ChannelTimeout",
    "CodecError",
    "check_data",
    "decode",
    "encode",
]
