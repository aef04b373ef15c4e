"""The built site as a reader meets it: headless Chromium on a loopback server, no network.

Every page of _build/html loads with no console error and no failed request, asks nothing of
any other host, shows every image, typesets every equation with the MathJax the site serves
itself; the search box finds a chapter's term; no internal link or anchor is broken.
Screenshots of the home page and Chapter 1 are left in _build/screenshots/ for people to see.
"""

import html as html_lib
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urldefrag
from urllib.request import urlopen

import numpy as np
import pytest
from browser import leaves_origin, serve

BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("book")]  # with test_book's builds

SEARCH_TERM = "cross-entropy"  # a term Chapter 1 explains
CHAPTER_1 = "chapters/01_neurons.html"


@pytest.fixture(scope="module")
def site(root) -> Path:
    """_build/html, brought up to date with `make book`'s command (cached: seconds).

    SITE_HTML=path/to/html tests a site already built elsewhere (`--path-output`) instead.
    """
    if os.environ.get("SITE_HTML"):
        return Path(os.environ["SITE_HTML"]).resolve()
    proc = subprocess.run([str(BIN / "jupyter-book"), "build", ".", "-n", "-W", "--keep-going"],
                          cwd=root, capture_output=True, text=True, timeout=1500)
    warnings = [line for line in proc.stdout.splitlines() + proc.stderr.splitlines()
                if "WARNING" in line or "ERROR" in line]
    assert proc.returncode == 0 and not warnings, "\n".join(warnings) or proc.stderr[-3000:]
    return root / "_build" / "html"


@pytest.fixture(scope="module")
def base_url(site):
    with serve(site) as url:
        yield url


@pytest.fixture(scope="module")
def pages(site) -> list[str]:
    """Every HTML page of the site, as paths relative to its root."""
    found = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if not p.relative_to(site).parts[0].startswith("_"))
    assert CHAPTER_1 in found and "intro.html" in found
    return found


@pytest.fixture(scope="module")
def visits(browser, base_url, pages) -> dict:
    """Each page loaded once, as a reader's browser loads it."""
    return {page: browser.visit(base_url + page) for page in pages}


def test_every_page_loads_without_console_errors_or_failed_requests(visits):
    problems = []
    for page, visit in visits.items():
        assert "error" not in visit.dom, f"{page}: {visit.dom.get('error')}"
        problems += [f"{page}: console: {message}" for message in visit.console_errors]
        problems += [f"{page}: request failed: {failure}" for failure in visit.failed]
    assert not problems, "\n".join(problems)


def test_no_page_asks_anything_of_another_host(visits, base_url):
    outside = {f"{page}: {url}" for page, visit in visits.items() for url in visit.requests
               if leaves_origin(url, base_url)}
    assert not outside, "requests leaving the site:\n" + "\n".join(sorted(outside))
    assert all(visit.requests for visit in visits.values()), "the network log recorded nothing"


def test_each_page_has_one_title_numbered_once(visits):
    for page, visit in visits.items():
        if page in ("genindex.html", "index.html"):  # Sphinx's index; the redirect to intro
            continue
        titles = visit.dom["h1"]
        assert len(titles) == 1, f"{page}: titles {titles}"
        # The table of contents numbers chapters; a number typed in the title shows twice.
        assert not re.match(r"(\d+)\.\s*\1\.", titles[0]), f"{page}: '{titles[0]}'"


def test_each_chapter_offers_its_notebook_and_names_its_exercise(visits, base_url, root):
    chapters = [page for page in visits if re.fullmatch(r"chapters/\d\d_\w+\.html", page)]
    assert chapters
    for page in chapters:
        visit, stem = visits[page], Path(page).stem
        hrefs = {link["href"] for link in visit.dom["links"]}
        assert base_url + f"_sources/chapters/{stem}.ipynb" in hrefs, f"{page}: no .ipynb download"
        assert base_url + "exercises_overview.html" in hrefs, f"{page}: no link to the exercises"
        exercise = f"exercises/{stem}/{stem}.ipynb"
        assert exercise in visit.dom["text"], f"{page} does not name {exercise}"
        assert (root / exercise).is_file(), exercise


def test_every_image_loads_and_figures_have_alt_text(visits):
    images = [(page, image) for page, visit in visits.items() for image in visit.dom["images"]]
    broken = [f"{page}: {image['src']}" for page, image in images if image["width"] <= 0]
    assert not broken, "images that did not load:\n" + "\n".join(broken)
    no_alt = [f"{page}: {image['src']}" for page, image in images
              if image["inMain"] and len((image["alt"] or "").strip()) < 10]
    assert not no_alt, "figures without alt text:\n" + "\n".join(no_alt)
    assert sum(page == CHAPTER_1 for page, _ in images) >= 3, "Chapter 1's figures"


def test_equations_are_typeset_by_the_sites_own_mathjax(visits):
    chapter = visits[CHAPTER_1].dom
    assert chapter["mathjaxVersion"] and chapter["mathjaxVersion"].startswith("3."), chapter
    assert chapter["mathSource"] >= 10, "Chapter 1 writes its maths in LaTeX"
    for page, visit in visits.items():
        dom = visit.dom
        if dom["mathSource"]:
            assert dom["mathjax"], f"{page} has maths but no MathJax"
            assert dom["mathTypeset"] >= dom["mathSource"], (
                f"{page}: {dom['mathTypeset']} of {dom['mathSource']} equations typeset")
        assert not dom["mathErrors"], f"{page}: TeX errors {dom['mathErrors']}"
    mathjax = [url for visit in visits.values() for url in visit.requests if "mathjax" in url]
    assert mathjax and all("/_static/mathjax/" in url for url in mathjax), mathjax


def test_no_internal_link_is_broken(visits, base_url):
    ids = {base_url + page: set(visit.dom["ids"]) | set(visit.dom["names"])
           for page, visit in visits.items()}
    status: dict[str, int] = {}
    broken = []
    for page, visit in visits.items():
        for link in visit.dom["links"]:
            href = link["href"]
            if not href.startswith(base_url):
                continue
            target, fragment = urldefrag(href)
            target = target.split("?")[0]
            if target.endswith("/"):
                target += "index.html"
            if target not in ids and target not in status:
                try:
                    with urlopen(target, timeout=10) as response:
                        status[target] = response.status
                except HTTPError as err:
                    status[target] = err.code
            if target not in ids and status[target] != 200:
                broken.append(f"{page}: '{link['text']}' -> {href} ({status[target]})")
            elif fragment and target in ids and fragment not in ids[target]:
                broken.append(f"{page}: '{link['text']}' -> {href} (no such anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)
    checked = sum(href["href"].startswith(base_url) for v in visits.values()
                  for href in v.dom["links"])
    assert checked > 20, "the pages link to each other"


def test_search_box_finds_a_term_from_a_chapter(browser, base_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser.driver
    browser.visit(base_url + "intro.html")
    wait = WebDriverWait(driver, 20)
    button = next(b for b in driver.find_elements(By.CSS_SELECTOR, "button.search-button__button")
                  if b.is_displayed())
    button.click()
    field = wait.until(ec.visibility_of_element_located(
        (By.CSS_SELECTOR, "#pst-search-dialog input[name=q]")))
    field.send_keys(SEARCH_TERM, Keys.ENTER)
    wait.until(ec.url_contains("search.html"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "search-results"), "Search finished"))
    results = [a.get_attribute("href")
               for a in driver.find_elements(By.CSS_SELECTOR, "#search-results ul.search li a")]
    assert any(CHAPTER_1 in href for href in results), results
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_screenshots_of_the_home_page_and_chapter_1(browser, base_url, site):
    from selenium.webdriver.common.by import By

    out = site.parent / "screenshots"  # _build/screenshots
    browser.visit(base_url + "intro.html")
    shots = [browser.screenshot(out / "home.png")]
    visit = browser.visit(base_url + CHAPTER_1)
    assert visit.dom["mathTypeset"] > 0
    shots.append(browser.screenshot(out / "chapter01.png"))
    # The first displayed equation, for a look at the typeset maths.
    equation = browser.driver.find_element(By.CSS_SELECTOR, "mjx-container[display=true]")
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", equation)
    shots.append(browser.screenshot(out / "chapter01_equations.png"))
    for shot in shots:
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, shot


PHONE = (390, 844)
DESKTOP = (1280, 900)


@pytest.fixture
def phone(browser):
    browser.viewport(*PHONE)
    yield browser
    browser.reset_viewport()


def test_no_page_is_wider_than_a_phone(phone, base_url, pages):
    """At 390 CSS pixels nothing pans sideways: wide code, tables and maths scroll in their box."""
    measure = "return [document.documentElement.scrollWidth, window.innerWidth];"
    wide = []
    for page in pages:
        phone.visit(base_url + page)
        scroll_width, inner_width = phone.driver.execute_script(measure)
        assert inner_width == PHONE[0], "the emulated phone window"
        if scroll_width > inner_width:
            wide.append(f"{page}: {scroll_width} px in a {inner_width}-px window")
    assert not wide, "pages wider than a phone:\n" + "\n".join(wide)


# The search entries a reader can see: the theme's search fields, its search icon, a search form.
_VISIBLE_SEARCH = """
const seen = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.opacity !== '0'
         && r.right > 0 && r.left < innerWidth && r.bottom > 0 && r.top < innerHeight; };
return Array.from(document.querySelectorAll(
  '.search-button-field, button.search-button, form.bd-search, input[type=search]')).filter(seen)
  .map(e => e.className || e.tagName);
"""


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_each_page_shows_one_search_box(browser, base_url, pages, size):
    browser.viewport(*size)
    try:
        counts = {}
        for page in pages:
            if page in ("search.html", "index.html"):  # the results page; the redirect
                continue
            browser.visit(base_url + page)
            counts[page] = browser.driver.execute_script(_VISIBLE_SEARCH)
    finally:
        browser.reset_viewport()
    wrong = {page: found for page, found in counts.items() if len(found) != 1}
    assert not wrong, f"pages at {size[0]} px without exactly one search box: {wrong}"


def test_no_page_prints_a_generator_object(site, pages):
    """`torch.manual_seed(0)` as a cell's last line prints `<torch._C.Generator at 0x...>`."""
    pattern = re.compile(r"<torch\._C\.Generator|Generator\(PCG64\) at 0x|object at 0x[0-9a-f]{6,}")
    found = [f"{page}: {match.group(0)}" for page in pages
             for match in [pattern.search(html_lib.unescape((site / page).read_text(encoding="utf-8")))]
             if match]
    assert not found, "object reprs in pages:\n" + "\n".join(found)


_DARK = "return [document.documentElement.dataset.theme, matchMedia('(prefers-color-scheme: dark)').matches];"
_DIAGRAMS = """
return Array.from(document.querySelectorAll('main img'))
  .filter(img => /\\.svg$/.test(new URL(img.currentSrc || img.src).pathname))
  .map(img => { img.scrollIntoView({block: 'center'});
                return {src: img.currentSrc || img.src, width: img.getBoundingClientRect().width,
                        loaded: img.naturalWidth > 0}; });
"""


def _smallest_text_ratio(svg: str) -> float:
    """The smallest font size of an SVG over its viewBox width."""
    width = float(re.search(r'viewBox="[-\d.]+[ ,]+[-\d.]+[ ,]+([\d.]+)', svg).group(1))
    sizes = [float(s) for s in re.findall(r'font-size(?:="|:\s*)([\d.]+)', svg)]
    return min(sizes) / width


@pytest.mark.parametrize("how", ["toggle", "system"])
def test_diagrams_read_in_dark_mode_on_a_phone(browser, base_url, pages, how):
    """With the theme's dark toggle, or a system in dark mode, at 390 px: every diagram loads,
    keeps its light background with dark text on it, and its smallest text is at least 8 CSS px."""
    from io import BytesIO

    import matplotlib.image as mpimg
    from selenium.webdriver.common.by import By

    chapters = [p for p in pages if p.startswith("chapters/")]
    browser.viewport(*PHONE)
    if how == "system":
        browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
            "features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    problems, seen = [], 0
    try:
        for page in chapters:
            browser.visit(base_url + page)
            if how == "toggle":  # what the theme's toggle stores, then the page as it loads
                browser.driver.execute_script("localStorage.setItem('mode', 'dark');")
                browser.visit(base_url + page)
            theme, system_dark = browser.driver.execute_script(_DARK)
            assert theme == "dark", f"{page}: the theme is {theme!r} ({how}, system dark: {system_dark})"
            for image, element in zip(browser.driver.execute_script(_DIAGRAMS),
                                      [e for e in browser.driver.find_elements(By.CSS_SELECTOR, "main img")
                                       if e.get_attribute("src").endswith(".svg")], strict=True):
                seen += 1
                name = image["src"].rsplit("/", 1)[1]
                if not image["loaded"]:
                    problems.append(f"{page}: {name} did not load")
                    continue
                smallest = image["width"] * _smallest_text_ratio(urlopen(image["src"]).read().decode())
                if smallest < 8:
                    problems.append(f"{page}: {name}'s smallest text is {smallest:.1f} CSS px")
                pixels = mpimg.imread(BytesIO(element.screenshot_as_png))[..., :3].mean(axis=-1)
                if np.median(pixels) < 0.6 or np.quantile(pixels, 0.005) > 0.45:
                    problems.append(f"{page}: {name} reads badly (median {np.median(pixels):.2f}, "
                                    f"darkest 0.5% {np.quantile(pixels, 0.005):.2f})")
    finally:
        browser.driver.execute_script("localStorage.removeItem('mode');")
        browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        browser.reset_viewport()
    assert seen >= len(chapters), f"only {seen} diagrams found in {len(chapters)} chapters"
    assert not problems, "\n".join(problems)
