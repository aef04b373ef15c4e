"""What the feedback may show: hidden tests removed, student content as text only. Used by
the worker (which writes the feedback) and by the tests that read it."""

from __future__ import annotations

import re

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

#: the output types a feedback page shows (none of them can run code in a browser)
SAFE_MIMETYPES = ("text/plain", "image/png", "image/jpeg")


def as_text_block(text: str) -> str:
    """Markdown that shows ``text`` verbatim (escaped) in a code fence it cannot close."""
    longest = max((len(run) for run in re.findall(r"`+|~+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def split_hidden(source: str) -> tuple[str, list[str]]:
    """``source`` without its hidden-test blocks, and the stripped lines that were removed."""
    kept, removed, inside = [], [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN_BEGIN:
            inside = True
            kept.append("# (hidden tests, run when grading, are not shown)")
        elif line.strip() == HIDDEN_END:
            inside = False
        elif inside:
            removed.append(line.strip())
        else:
            kept.append(line)
    return "\n".join(kept), removed


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def scrub(text: str, hidden: set[str]) -> str:
    """Replace every line of ``text`` that quotes a hidden line."""
    if not hidden or not text:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        plain = _ANSI.sub("", line)
        if any(h in plain for h in hidden):
            lines[i] = "    (a line of a hidden test)"
    return "\n".join(lines)

