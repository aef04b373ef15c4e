"""Schematic diagrams and chapter endings (issue 16, items 3 and 4).

Every ``chapters/figures/*.svg`` is a hand-written SVG that must read on a phone and in dark
mode without any network:

- the root ``<svg>`` has the SVG namespace and a ``viewBox`` at most 720 units wide, and no
  ``width``/``height`` in absolute units larger than the viewBox;
- a ``<title>``;
- its first drawn child is an opaque light background,
  ``<rect width="100%" height="100%" fill="#ffffff"/>`` (a ``<title>``/``<desc>`` may precede it);
- every ``<text>``/``<tspan>`` has a font size (its own, or inherited from an ancestor's
  ``font-size`` attribute or ``style``) of at least viewBox width / 40, so that text is 8 CSS
  pixels or more when the figure is 350 pixels wide on a 390-pixel phone;
- its font family is a system ``sans-serif`` (no ``@font-face``, no ``@import``);
- its text is dark: no lighter than ``#444`` (relative luminance), on the white background;
- no ``<script>``, no ``<foreignObject>``, no external ``href`` or ``url(...)``.

Every SVG is shown by a ``{figure}`` directive with ``:alt:`` text in some chapter, and every
chapter has at least one such figure, a "## Further reading" section and a
"## Check your understanding" section with 4 to 6 ``{dropdown}`` answers. The per-chapter
tests are parametrised over the chapters, so a failure names the chapter.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "chapters" / "figures"
SVGS = sorted(FIGURES.glob("*.svg"))
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MAX_VIEWBOX_WIDTH = 720
DARKEST_ALLOWED_TEXT = "#444444"  # text may be this dark or darker
NAMED_COLOURS = {"black": "#000000", "white": "#ffffff"}


# --------------------------------------------------------------------------- colour and style


def _style(element: ET.Element) -> dict[str, str]:
    """The element's presentation attributes, overridden by its ``style`` declarations."""
    props = {k: v.strip() for k, v in element.attrib.items() if "}" not in k}
    for declaration in element.get("style", "").split(";"):
        if ":" in declaration:
            key, value = declaration.split(":", 1)
            props[key.strip().lower()] = value.strip()
    return props


def _rgb(colour: str) -> tuple[float, float, float] | None:
    colour = NAMED_COLOURS.get(colour.strip().lower(), colour.strip().lower())
    if re.fullmatch(r"#[0-9a-f]{3}", colour):
        colour = "#" + "".join(c * 2 for c in colour[1:])
    if re.fullmatch(r"#[0-9a-f]{6}", colour):
        return tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    match = re.fullmatch(r"rgb\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)", colour)
    if match:
        return tuple(int(g) / 255 for g in match.groups())
    return None


def _luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG relative luminance of an sRGB colour."""
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _font_size(value: str, inherited: float | None) -> float | None:
    """A font size in user units: a number, ``px``, or ``em`` of the inherited size."""
    match = re.fullmatch(r"([0-9.]+)\s*(px|em)?", value.strip())
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2)
    if unit == "em":
        return None if inherited is None else number * inherited
    return number


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# --------------------------------------------------------------------------- the checker


def svg_problems(text: str) -> list[str]:
    """Every convention the SVG source ``text`` breaks, as readable sentences (empty: all kept)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as error:
        return [f"not well-formed XML: {error}"]
    problems = []
    if root.tag != f"{{{SVG_NS}}}svg":
        return [f"the root is {root.tag!r}, not <svg> in the namespace {SVG_NS}"]
    box = root.get("viewBox", "").replace(",", " ").split()
    if len(box) != 4:
        return ["the root <svg> has no viewBox"]
    width, height = float(box[2]), float(box[3])
    if width > MAX_VIEWBOX_WIDTH:
        problems.append(f"viewBox width {width:g} is more than {MAX_VIEWBOX_WIDTH}")
    for attribute, limit in (("width", width), ("height", height)):
        value = root.get(attribute)
        if value is None or value.strip().endswith("%"):
            continue
        match = re.fullmatch(r"([0-9.]+)\s*(px)?", value.strip())
        if not match:
            problems.append(f"root {attribute}={value!r} is in an absolute unit other than px")
        elif float(match.group(1)) > limit:
            problems.append(f"root {attribute}={value!r} is larger than the viewBox ({limit:g})")

    children = [c for c in root if _local(c.tag) not in {"title", "desc", "metadata"}]
    titles = [c for c in root if _local(c.tag) == "title"]
    if not titles or not "".join(titles[0].itertext()).strip():
        problems.append("no <title> (with text) as a child of the root")
    if not children or _local(children[0].tag) != "rect":
        problems.append(
            'the first drawn child is not the background <rect width="100%" height="100%" fill="#ffffff"/>'
        )
    else:
        background = _style(children[0])
        fill = _rgb(background.get("fill", "black"))
        if background.get("width") != "100%" or background.get("height") != "100%":
            problems.append("the background <rect> does not cover 100% x 100%")
        if fill is None or _luminance(fill) < 0.9:
            problems.append(
                f"the background fill {background.get('fill')!r} is not an opaque light colour"
            )
        for key in ("opacity", "fill-opacity"):
            if key in background and float(background[key]) < 1:
                problems.append(f"the background has {key}={background[key]}: it must be opaque")

    minimum = width / 40
    darkest = _luminance(_rgb(DARKEST_ALLOWED_TEXT))

    def walk(element: ET.Element, inherited: dict) -> None:
        name = _local(element.tag)
        if name in {"script", "foreignObject"}:
            problems.append(f"<{name}> is not allowed")
        for key, value in element.attrib.items():
            if _local(key) == "href" and not value.startswith("#"):
                problems.append(f"external reference {value!r} (no network, no other file)")
            if re.search(r"url\(\s*['\"]?(?!#)", value):
                problems.append(f"external url(...) in {_local(key)}={value!r}")
        if name == "style":
            css = "".join(element.itertext())
            if re.search(r"@font-face|@import|url\(\s*['\"]?(?!#)", css):
                problems.append("<style> loads a font or a file (@font-face, @import or url())")
        style = _style(element)
        state = dict(inherited)
        if "font-size" in style:
            state["font-size"] = _font_size(style["font-size"], inherited.get("font-size"))
            if state["font-size"] is None:
                problems.append(f"font-size {style['font-size']!r} is not a number, px or em")
                state["font-size"] = 0.0
        if "font-family" in style:
            state["font-family"] = style["font-family"]
        if "fill" in style:
            state["fill"] = style["fill"]
        if name in {"text", "tspan"} and "".join(element.itertext()).strip():
            label = " ".join("".join(element.itertext()).split())[:40]
            size = state.get("font-size")
            if size is None:
                problems.append(f"text {label!r} has no font-size (own or inherited)")
            elif size < minimum - 1e-9:
                problems.append(
                    f"text {label!r} has font-size {size:g} < viewBox width / 40 = {minimum:g}"
                )
            families = [
                f.strip().strip("'\"").lower() for f in state.get("font-family", "").split(",")
            ]
            if "sans-serif" not in families:
                problems.append(
                    f"text {label!r} has font-family {state.get('font-family')!r}, not sans-serif"
                )
            colour = _rgb(state.get("fill", "#000000"))
            if colour is None:
                problems.append(
                    f"text {label!r} has fill {state.get('fill')!r}, not a colour the test can read"
                )
            elif _luminance(colour) > darkest + 1e-9:
                problems.append(
                    f"text {label!r} has fill {state.get('fill')!r}, lighter than {DARKEST_ALLOWED_TEXT}"
                )
        for child in element:
            walk(child, state)

    walk(root, {})
    return problems


# --------------------------------------------------------------------------- chapters


def figures_in(markdown: str) -> dict[str, str]:
    """``{svg file name: alt text}`` of the ``{figure}`` directives that show chapters/figures/."""
    found = {}
    for match in re.finditer(
        r"^(`{3,}|:{3,})\{figure\}\s+(\S+)\s*\n((?::[\w-]+:.*\n)*)", markdown, re.M
    ):
        target, options = match.group(2), match.group(3)
        if not target.startswith("figures/") or not target.endswith(".svg"):
            continue
        alt = re.search(r"^:alt:\s*(.*)$", options, re.M)
        found[target.removeprefix("figures/")] = alt.group(1).strip() if alt else ""
    return found


def section(markdown: str, heading: str) -> str | None:
    """The text of a level-2 section, up to the next level-2 heading; None if absent."""
    parts = re.split(rf"^## {re.escape(heading)}[ \t]*$", markdown, maxsplit=1, flags=re.M)
    if len(parts) < 2:
        return None
    return re.split(r"^## ", parts[1], maxsplit=1, flags=re.M)[0]


def dropdowns(text: str) -> int:
    return len(re.findall(r"^[ \t]*(?:`{3,}|:{3,})\{dropdown\}", text, re.M))


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("svg", SVGS, ids=[p.name for p in SVGS])
def test_diagram_follows_the_svg_conventions(svg):
    problems = svg_problems(svg.read_text(encoding="utf-8"))
    assert not problems, f"{svg.name}:\n- " + "\n- ".join(problems)


@pytest.mark.parametrize("svg", SVGS, ids=[p.name for p in SVGS])
def test_diagram_is_a_figure_with_alt_text_in_a_chapter(svg):
    assert re.fullmatch(r"\d\d_[\w-]+\.svg", svg.name), (
        f"{svg.name}: name it NN_topic.svg after its chapter"
    )
    shown = {chapter.name: figures_in(chapter.read_text(encoding="utf-8")) for chapter in CHAPTERS}
    alts = [figs[svg.name] for figs in shown.values() if svg.name in figs]
    assert alts, f"{svg.name} is not shown by any {{figure}} directive of chapters/*.md"
    assert all(len(alt) >= 20 for alt in alts), (
        f"{svg.name}: every {{figure}} needs an :alt: of a sentence"
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_has_a_schematic_diagram(chapter):
    shown = figures_in(chapter.read_text(encoding="utf-8"))
    assert shown, (
        f"{chapter.name} shows no SVG diagram from chapters/figures/ with a {{figure}} directive"
    )
    missing = [name for name in shown if not (FIGURES / name).is_file()]
    assert not missing, f"{chapter.name} shows figures that do not exist: {missing}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_ends_with_further_reading_and_questions(chapter):
    text = chapter.read_text(encoding="utf-8")
    reading = section(text, "Further reading")
    assert reading is not None, f'{chapter.name} has no "## Further reading" section'
    assert len(re.findall(r"^\s*[-*] ", reading, re.M)) >= 1, (
        f"{chapter.name}: Further reading lists no reference"
    )
    questions = section(text, "Check your understanding")
    assert questions is not None, f'{chapter.name} has no "## Check your understanding" section'
    n = dropdowns(questions)
    assert 4 <= n <= 6, (
        f'{chapter.name}: "Check your understanding" has {n} {{dropdown}} answers, not 4 to 6'
    )
    assert text.index("## Further reading") < text.index("## Check your understanding"), (
        chapter.name
    )


# --------------------------------------------------------------------------- the checker catches what it must

GOOD = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 200" font-family="sans-serif" font-size="12">
<title>ok</title><rect width="100%" height="100%" fill="#ffffff"/>
<g font-size="11"><text x="10" y="20" fill="#333">a<tspan font-size="1em">b</tspan></text></g></svg>"""


def test_the_checker_accepts_a_conforming_svg():
    assert svg_problems(GOOD) == []


@pytest.mark.parametrize(
    "change, expected",
    [
        (('font-size="11"', 'font-size="9"'), "font-size 9"),
        (('<rect width="100%" height="100%" fill="#ffffff"/>', ""), "first drawn child"),
        (('fill="#ffffff"', 'fill="#222222"'), "background fill"),
        (('fill="#ffffff"', 'fill="#ffffff" fill-opacity="0.5"'), "opaque"),
        (("<title>ok</title>", ""), "<title>"),
        (('font-family="sans-serif"', 'font-family="Roboto"'), "not sans-serif"),
        (('fill="#333"', 'fill="#777777"'), "lighter than"),
        (('viewBox="0 0 400 200"', 'viewBox="0 0 800 200"'), "more than 720"),
        (('viewBox="0 0 400 200"', 'viewBox="0 0 400 200" width="900"'), "larger than the viewBox"),
        (("</svg>", "<script>alert(1)</script></svg>"), "<script>"),
        (("</svg>", "<foreignObject/></svg>"), "<foreignObject>"),
        (("</svg>", '<image href="https://example.org/a.png"/></svg>'), "external reference"),
        (("</svg>", "<style>@import url(https://fonts.example/x.css);</style></svg>"), "@import"),
        (('<g font-size="11">', '<g style="font-size: 0.5em">'), "font-size 6"),
        (('xmlns="http://www.w3.org/2000/svg" ', ""), "namespace"),
    ],
)
def test_the_checker_finds_each_broken_convention(change, expected):
    old, new = change
    assert old in GOOD
    problems = svg_problems(GOOD.replace(old, new, 1))
    assert any(expected in p for p in problems), problems


def test_the_chapter_parsers_find_figures_sections_and_dropdowns():
    page = """# T

```{figure} figures/01_x.svg
:alt: A neuron with three inputs and one output.
:name: fig-x

Caption.
```

```{figure} figures/01_y.svg
:name: fig-y
```

## Further reading

- A. Author (2000). *Title*. Venue. Read it for X.

## Check your understanding

1. Q?

   ```{dropdown} Answer
   A.
   ```

:::{dropdown} Answer
B.
:::

## Exercise
```{dropdown} not counted
```
"""
    assert figures_in(page) == {
        "01_x.svg": "A neuron with three inputs and one output.",
        "01_y.svg": "",
    }
    assert dropdowns(section(page, "Check your understanding")) == 2
    assert section(page, "Missing") is None
