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
import keyword
import tokenize
import zlib
from collections import Counter
from pathlib import Path

K = 10  #: tokens per k-gram
WINDOW = 4  #: winnowing window (every shared run of K + WINDOW - 1 tokens is caught)
COMMON = 0.20  #: fingerprints shared by more than this share of the class are ignored


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)
_SKIPPED_FIELDS = {"ctx", "type_comment", "kind"}


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _tokens_from_ast(tree: ast.AST) -> list[str]:
    """Node types in source order (depth first), identifiers as positions, docstrings dropped."""
    names: dict[str, str] = {}
    out: list[str] = []
    append = out.append
    stack = [tree]
    while stack:
        node = stack.pop()
        cls = type(node)
        append(cls.__name__)
        if cls is ast.Name:
            append(names.setdefault(node.id, f"#{len(names)}"))
        elif cls is ast.arg:
            append(names.setdefault(node.arg, f"#{len(names)}"))
        elif cls is ast.Attribute:
            append("." + node.attr)  # library attributes (np.exp) stay: they are the content
        elif cls is ast.keyword:
            append(f"{node.arg}=")  # a keyword names the library's parameter: content, not a choice
        elif cls is ast.Constant:
            append("STR" if isinstance(node.value, str) else repr(node.value))
        elif cls in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            append(names.setdefault(node.name, f"#{len(names)}"))
        children: list[ast.AST] = []
        for name in node._fields:
            if name in _SKIPPED_FIELDS:
                continue
            value = getattr(node, name, None)
            if isinstance(value, ast.AST):
                children.append(value)
            elif isinstance(value, list):
                items = [v for v in value if isinstance(v, ast.AST)]
                if name == "body" and isinstance(node, _SCOPES) and items and _is_docstring(items[0]):
                    items = items[1:]  # a docstring says nothing
                children.extend(items)
        stack.extend(reversed(children))
    return out


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
                  window: int = WINDOW, common: float = COMMON, minimum: float = 0.0, limit: int | None = None
                  ) -> list[tuple[str, str, float, list[str]]]:
    """``[(a, b, score, cells)]``, most similar first, for the pairs sharing a fingerprint.

    Args:
        students: student -> {grade_id: source of the solution cell}.
        ignore: k-gram hashes never counted (the stub's and the reference's).
        common: a fingerprint held by more than this share of the students is ignored.
        minimum: leave out pairs scoring below this; limit: keep only the ``limit`` best.

    The shared counts of all pairs at once are one sparse product ``X @ X.T`` (students x
    fingerprints), which only ever touches pairs that share a fingerprint.
    """
    import numpy as np
    from scipy import sparse

    names = sorted(students)
    prints: list[set[tuple[str, int]]] = []
    for student in names:
        fp = fingerprints(students[student], k, window)
        prints.append({(gid, h) for gid, hs in fp.items() for h in hs if h not in ignore})
    holders: Counter = Counter(f for fp in prints for f in fp)
    cap = max(2, common * len(names))
    columns = {f: i for i, f in enumerate(f for f, n in holders.items() if 2 <= n <= cap)}
    kept = [{f for f in fp if f in columns} for fp in prints]
    rows = np.repeat(np.arange(len(names)), [len(fp) for fp in kept])
    cols = np.fromiter((columns[f] for fp in kept for f in fp), dtype=np.int64, count=len(rows))
    matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(names), len(columns)))
    shared = sparse.triu(matrix @ matrix.T, k=1).tocoo()
    sizes = np.array([len(fp) for fp in kept])
    union = sizes[shared.row] + sizes[shared.col] - shared.data
    scores = np.round(shared.data / np.maximum(union, 1), 4)
    order = np.lexsort((shared.col, shared.row, -scores))
    pairs = []
    for i in order:
        if scores[i] < minimum or (limit is not None and len(pairs) >= limit):
            break
        a, b = int(shared.row[i]), int(shared.col[i])
        cells = sorted({gid for gid, _ in kept[a] & kept[b]})
        pairs.append((names[a], names[b], float(scores[i]), cells))
    return pairs


def write_similarity(path: Path, pairs: list[tuple[str, str, float, list[str]]], limit: int = 500) -> None:
    """``a,b,score,cells`` for the ``limit`` most similar pairs."""
    from .reports import csv_cell

    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["a", "b", "score", "cells"])
        for a, b, score, cells in pairs[:limit]:
            writer.writerow([csv_cell(a), csv_cell(b), f"{score:.4f}", " ".join(cells)])
