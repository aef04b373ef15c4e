"""What a sandboxed kernel's run reports, one JSON line per event: ``{"kind", "detail"}``.

The kinds are one enumeration shared by the three processes that use them: the kernel
(its audit hook reports), the launcher outside it (limits, leftovers, a blinded audit
channel) and the grader (which turns events into a student's status). A kind added on one
side only fails at import, not silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

#: paths the judge asks the kernel to open, to probe its audit hook (they never exist)
CANARY_PREFIX = "/.course-audit-canary/"


class Event(StrEnum):
    """The kinds of event, and who reports them."""

    # reported by the kernel's audit hook (reporting only: the enforcement is outside)
    NETWORK = "network"  #: a socket call to the network
    PROCESS = "process"  #: a child process started
    HIDDEN_PATH = "hidden_path"  #: a hidden path opened or listed
    OUTPUT_TRUNCATED = "output_truncated"  #: more output than the kernel's cap
    CANARY = "canary"  #: the judge's probe of the audit hook (a nonce path opened on request)
    # reported by the launcher, outside the kernel
    SANDBOX = "sandbox"  #: a part of the sandbox could not be set up
    WALL_LIMIT = "wall_limit"  #: the notebook ran past its wall limit; the kernel was killed
    KERNEL_DIED = "kernel_died"  #: the kernel was killed by a signal it did not expect
    CHILD_PROCESS = "child_process"  #: processes left behind by the kernel were killed
    AUDIT_BLINDED = "audit_blinded"  #: the kernel closed or silenced its audit channel
    KERNEL_EXIT = "kernel_exit"  #: the kernel ended (always the last event)


@dataclass(frozen=True)
class SandboxEvent:
    """One reported event."""

    kind: Event
    detail: str = ""

    def to_json(self) -> str:
        return json.dumps({"kind": str(self.kind), "detail": self.detail})

    @classmethod
    def from_dict(cls, data: object) -> SandboxEvent | None:
        """The event of a decoded JSON line, or None for anything that is not one (a kernel
        can write what it likes on its pipe; unknown kinds are dropped)."""
        if not isinstance(data, dict):
            return None
        try:
            kind = Event(str(data.get("kind")))
        except ValueError:
            return None
        return cls(kind, str(data.get("detail", ""))[:300])


def read_events(path: str | Path) -> list[SandboxEvent]:
    """The events of a launcher's JSON-lines file (missing file: none; bad lines skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    events = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = SandboxEvent.from_dict(json.loads(line))
        except ValueError:
            continue
        if event is not None:
            events.append(event)
    return events
