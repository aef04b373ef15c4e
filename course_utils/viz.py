"""The course's plot style and the plots every chapter uses.

Call :func:`use_style` once per notebook. Chinese labels need a CJK font: Debian's
``fonts-noto-cjk`` (installed by CI) is used when present. Pass every label that may hold
Chinese through :func:`cjk_label`: it checks, character by character, whether one of the
plot's fonts has a glyph for it (the fonts' character maps), and writes only the characters
no font can draw in a legible form: a Chinese character as its pinyin (from snownlp's table),
an accented letter as its base letter, anything else as its Unicode name. The first time a
label falls back, one line goes to stderr, which the book removes from its pages and keeps
in the executed notebook; the book's `_ext/cjk_cache.py` finds that line in the execution
cache and runs the chapter again once a font can draw those characters.

``COURSE_UTILS_NO_CJK_FONT=1`` pretends that no CJK font is installed (to see the fallback).
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import font_manager

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "SimHei",
             "AR PL UMing CN"]
LATIN_FONT = "DejaVu Sans"
# The first words of the stderr line written when a label falls back; _ext/cjk_cache.py looks
# for it in cached notebooks, and reads the characters between the colon and " (".
FALLBACK_NOTE = "course_utils.viz: no installed font draws"
_NOTE_PATTERN = re.compile(re.escape(FALLBACK_NOTE) + r" these characters: (.*?) \(")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Name of an installed font with Chinese glyphs, or None.

    Matplotlib caches its font list; a CJK font installed after that cache was written
    is found on disk and registered here.
    """
    if os.environ.get("COURSE_UTILS_NO_CJK_FONT"):
        return None
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is None:
        for path in font_manager.findSystemFonts():
            if "CJK" in path or "wqy" in path.lower():
                font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
        found = next((name for name in CJK_FONTS if name in installed), None)
    return found


def font_families() -> list[str]:
    """The fonts a course plot uses, in fallback order: Latin from DejaVu, Chinese from CJK."""
    font = cjk_font()
    return [LATIN_FONT] + ([font] if font else [])


@lru_cache(maxsize=4)
def _drawable(families: tuple[str, ...]) -> frozenset[int]:
    """Code points that at least one of the named fonts has a glyph for (its charmap)."""
    from matplotlib.ft2font import FT2Font

    points: set[int] = set()
    for family in families:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family),
                                         fallback_to_default=False)
        except ValueError:  # not installed
            continue
        points.update(FT2Font(path).get_charmap())
    return frozenset(points)


def can_draw(char: str) -> bool:
    """Whether one of the course's plot fonts has a glyph for ``char`` (whitespace: always)."""
    return char.isspace() or ord(char) in _drawable(tuple(font_families()))


@lru_cache(maxsize=1)
def _pinyin() -> dict[str, str]:
    """Character -> pinyin without tones (the first reading), from snownlp's table."""
    table: dict[str, str] = {}
    text = resources.files("snownlp").joinpath("normal", "pinyin.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 1:
            table.setdefault(parts[0], parts[1])
    return table


def _spell(char: str) -> str:
    """A legible stand-in for a character no font can draw (never its code point)."""
    try:
        reading = _pinyin().get(char)
    except (ModuleNotFoundError, FileNotFoundError):  # snownlp missing: fall through
        reading = None
    if reading:
        return reading
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and base != char and all(can_draw(c) for c in base):
        return base
    return unicodedata.name(char, "?").lower()


_reported: set[str] = set()


def cjk_label(text: str) -> str:
    """``text`` as a plot label: every character a plot font can draw is kept as it is; only
    the others are replaced, a Chinese character by its pinyin (neighbours separated by a
    space, e.g. "2047年" -> "2047 nian"), an accented letter by its base letter, anything
    else by its Unicode name. Never an empty box, never a code point."""
    missing = [c for c in text if not can_draw(c)]
    if not missing:
        return text
    new = "".join(dict.fromkeys(c for c in missing if c not in _reported))
    if new:
        _reported.update(new)
        print(f"{FALLBACK_NOTE} these characters: {new} (install a CJK font, e.g. Debian's "
              "fonts-noto-cjk; plot labels show them as pinyin)", file=sys.stderr)
    pieces: list[str] = []
    spelled_last = False
    for char in text:
        if can_draw(char):
            if spelled_last and char.isalnum():
                pieces.append(" ")
            pieces.append(char)
            spelled_last = False
            continue
        if pieces and not pieces[-1][-1].isspace():
            pieces.append(" ")
        pieces.append(_spell(char))
        spelled_last = True
    return "".join(pieces)


def cjk_ticks(ax, labels: Sequence[str], axis: str = "x", **kwargs) -> list[str]:
    """One tick per label at 0, 1, ..., through :func:`cjk_label`; labels that fell back to
    pinyin are longer than one character, so x tick labels are then turned upright."""
    shown = [cjk_label(label) for label in labels]
    fell_back = shown != list(labels)
    if axis == "x":
        kwargs.setdefault("rotation", 90 if fell_back else 0)
        ax.set_xticks(range(len(shown)), shown, **kwargs)
    else:
        ax.set_yticks(range(len(shown)), shown, **kwargs)
    return shown


def characters_in_note(text: str) -> str:
    """The characters a fallback note (the stderr line of :func:`cjk_label`) names, or ''."""
    return "".join(match.group(1) for match in _NOTE_PATTERN.finditer(text))


def use_style() -> None:
    """Apply the course's matplotlib style (sizes, grid, colours, a CJK fallback font)."""
    plt.rcParams.update({
        "figure.figsize": (6.4, 3.6),
        "figure.dpi": 110,
        "savefig.dpi": 110,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        "axes.titlesize": "medium",
        "legend.frameon": False,
        # A list of families is a per-glyph fallback: Latin from DejaVu, Chinese from CJK.
        "font.family": font_families(),
        "axes.unicode_minus": False,
    })


def plot_loss(histories: dict[str, Sequence[float]] | Sequence[float], ax=None, *, log: bool = False,
              xlabel: str = "epoch", ylabel: str = "training loss", title: str | None = None):
    """Loss curves: one line per named history (a dict) or a single history (a list).

    Returns:
        the matplotlib Axes.
    """
    if ax is None:
        _, ax = plt.subplots()
    curves = histories if isinstance(histories, dict) else {None: histories}
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, marker="o" if len(values) <= 30 else None,
                markersize=3, label=name)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if isinstance(histories, dict):
        ax.legend()
    return ax

