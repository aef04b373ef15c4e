"""The course's plot style and the plots every chapter uses.

Call :func:`use_style` once per notebook. Chinese labels need a CJK font: Debian's
``fonts-noto-cjk`` (installed by CI) is used when present; when no CJK font is found,
:func:`use_style` says so once and :func:`cjk_label` writes Chinese characters as their
code points, so a label never renders as empty boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import font_manager

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "SimHei", "AR PL UMing CN"]


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Name of an installed font with Chinese glyphs, or None.

    Matplotlib caches its font list; a CJK font installed after that cache was written
    is found on disk and registered here.
    """
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is None:
        for path in font_manager.findSystemFonts():
            if "CJK" in path or "wqy" in path.lower():
                font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
        found = next((name for name in CJK_FONTS if name in installed), None)
    return found


_warned = False


def use_style() -> None:
    """Apply the course's matplotlib style (sizes, grid, colours, a CJK fallback font)."""
    global _warned
    font = cjk_font()
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
        "font.family": ["DejaVu Sans"] + ([font] if font else []),
        "axes.unicode_minus": False,
    })
    if font is None and not _warned:
        _warned = True
        print("Note: no CJK font is installed (Debian: apt-get install fonts-noto-cjk); "
              "Chinese labels are shown as their Unicode code points.")


def cjk_label(text: str) -> str:
    """``text`` as a plot label: unchanged if a CJK font is installed, else with each
    non-Latin character written as ``U+XXXX`` so it cannot render as an empty box."""
    if cjk_font() is not None or text.isascii():
        return text
    return "".join(c if c.isascii() else f"U+{ord(c):04X} " for c in text).strip()


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

