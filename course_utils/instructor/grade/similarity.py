"""The similarity report of a grading run: ``DIR/similarity.csv`` (``a,b,score,cells``).

It flags pairs of submissions for a person to look at; it is not a verdict. Two students
who followed the same hint, or a solution short enough to have one natural form, can
share code honestly.

1. **Normalise** each solution cell's syntax tree: identifiers become their position of
   first use in the cell (``x``, ``probs`` -> ``#0``, ``#1``), docstrings, comments and
   formatting disappear, string constants become ``STR``. Renaming variables and
   rewording comments changes nothing.
2. **Fingerprint** the token stream by winnowing (Schleimer, Wilkerson and Aiken 2003):
   hash every k-gram, keep the smallest hash of every window of ``w`` consecutive hashes.
3. **Ignore** the k-grams of the release stub, of the reference solution and those that
   more than ``common`` (20%) of the class share: they say nothing about copying.
4. **Compare** only the pairs that share a fingerprint (an inverted index), and score a
   pair by the Jaccard index of their fingerprint sets; ``cells`` names the solution cells
   whose fingerprints they share.
"""

from __future__ import annotations

import ast
import csv
import io
import itertools
import keyword
import tokenize
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

K = 10  #: tokens per k-gram
WINDOW = 4  #: winnowing window (every shared run of K + WINDOW - 1 tokens is caught)
COMMON = 0.20  #: fingerprints shared by more than this share of the class are ignored


def _tokens_from_ast(tree: ast.AST) -> list[str]:
    names: dict[str, str] = {}

    def name(text: str) -> str:
        return names.setdefault(text, f"#{len(names)}")

    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]  # a docstring says nothing
    for node in _walk(tree):
        out.append(type(node).__name__)
        if isinstance(node, ast.Name):
            out.append(name(node.id))
        elif isinstance(node, ast.arg):
            out.append(name(node.arg))
        elif isinstance(node, ast.keyword):
            out.append(f"{node.arg}=")  # a keyword names the library's parameter: content, not a choice
        elif isinstance(node, ast.Attribute):
            out.append("." + node.attr)  # library attributes (np.exp) stay: they are the content
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append(name(node.name))
        elif isinstance(node, ast.Constant):
            out.append("STR" if isinstance(node.value, str) else repr(node.value))
    return out


def _walk(node: ast.AST) -> Iterable[ast.AST]:
    """Depth-first, in source order (``ast.walk`` is breadth-first, which scatters a statement)."""
    yield node
    for child in ast.iter_child_nodes(node):
        yield from _walk(child)


def _tokens_from_text(source: str) -> list[str]:
    """For code that does not parse: Python's tokens, names by position, no comments."""
    names: dict[str, str] = {}
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                            tokenize.ENDMARKER):
                continue
            if tok.type == tokenize.NAME and keyword.iskeyword(tok.string):
                out.append(tok.string)
            elif tok.type == tokenize.NAME:
                out.append(names.setdefault(tok.string, f"#{len(names)}"))
            elif tok.type == tokenize.STRING:
                out.append("STR")
            else:
                out.append(tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def normalise(source: str) -> list[str]:
    """The token stream of one cell: see the module's doc."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]  # magics
    text = "\n".join(lines)
    try:
        return _tokens_from_ast(ast.parse(text))
    except (SyntaxError, ValueError, RecursionError):
        return _tokens_from_text(text)


def kgram_hashes(tokens: list[str], k: int = K) -> list[int]:
    """A stable 32-bit hash of each k-gram (the same in every process)."""
    if len(tokens) < k:
        return [zlib.crc32("\x1f".join(tokens).encode())] if tokens else []
    return [zlib.crc32("\x1f".join(tokens[i:i + k]).encode()) for i in range(len(tokens) - k + 1)]


def winnow(hashes: list[int], window: int = WINDOW) -> set[int]:
    """The smallest hash of every window of ``window`` consecutive hashes."""
    if len(hashes) <= window:
        return {min(hashes)} if hashes else set()
    return {min(hashes[i:i + window]) for i in range(len(hashes) - window + 1)}


def solution_cells(nb) -> dict[str, str]:
    """grade_id -> source of each solution cell of a notebook (nbformat node or dict)."""
    cells = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and meta.get("solution") and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            cells[meta.get("grade_id", "")] = "".join(source) if isinstance(source, list) else source
    return cells


def fingerprints(cells: dict[str, str], k: int = K, window: int = WINDOW) -> dict[str, set[int]]:
    """grade_id -> winnowed fingerprints of each cell."""
    return {gid: winnow(kgram_hashes(normalise(src), k), window) for gid, src in cells.items()}


def all_kgrams(cells: dict[str, str], k: int = K) -> set[int]:
    """Every k-gram hash of ``cells`` (for the k-grams to ignore: stub and reference)."""
    return {h for src in cells.values() for h in kgram_hashes(normalise(src), k)}


def similar_pairs(students: dict[str, dict[str, str]], ignore: set[int] = frozenset(), *, k: int = K,
                  window: int = WINDOW, common: float = COMMON, minimum: float = 0.0
                  ) -> list[tuple[str, str, float, list[str]]]:
    """``[(a, b, score, cells)]``, most similar first, for every pair sharing a fingerprint.

    Args:
        students: student -> {grade_id: source of the solution cell}.
        ignore: k-gram hashes never counted (the stub's and the reference's).
        common: a fingerprint held by more than this share of the students is ignored.
        minimum: leave out pairs scoring below this.
    """
    prints: dict[str, set[tuple[str, int]]] = {}
    for student, cells in students.items():
        fp = fingerprints(cells, k, window)
        prints[student] = {(gid, h) for gid, hs in fp.items() for h in hs if h not in ignore}
    holders: dict[tuple[str, int], list[str]] = defaultdict(list)
    for student, fp in prints.items():
        for f in fp:
            holders[f].append(student)
    limit = max(2, common * len(students))
    kept: dict[str, set[tuple[str, int]]] = {s: {f for f in fp if len(holders[f]) <= limit} for s, fp in prints.items()}
    shared: Counter = Counter()
    for f, who in holders.items():
        if 2 <= len(who) <= limit:
            for a, b in itertools.combinations(sorted(who), 2):
                shared[a, b] += 1
    pairs = []
    for (a, b), n in shared.items():
        union = len(kept[a]) + len(kept[b]) - n
        score = n / union if union else 0.0
        if score >= minimum:
            cells = sorted({gid for gid, _ in kept[a] & kept[b]})
            pairs.append((a, b, round(score, 4), cells))
    pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
    return pairs


def write_similarity(path: Path, pairs: list[tuple[str, str, float, list[str]]], limit: int = 500) -> None:
    """``a,b,score,cells`` for the ``limit`` most similar pairs."""
    from .reports import csv_cell

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "score", "cells"])
        for a, b, score, cells in pairs[:limit]:
            writer.writerow([csv_cell(a), csv_cell(b), f"{score:.4f}", " ".join(cells)])
