"""A reader's browser for the tests: the built site served on loopback, headless Chromium.

`serve(directory)` serves a folder over HTTP on 127.0.0.1 (an ephemeral port) in a thread.
`chromium(profile_dir)` starts Debian's Chromium through its chromedriver, with DNS mapped to
nowhere for every host but loopback, so a page that needs the network fails visibly instead
of quietly reaching out. `Browser.visit(url)` loads a page the way a reader does and reports
what happened: console errors, every request made, the failed ones, and a summary of the DOM
(images, equations, links, element ids) once MathJax has typeset and web fonts are loaded.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# Debian's packages `chromium` and `chromium-driver` (.ci/run installs them).
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_CANDIDATES = ("chromedriver",)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    # Any host name but loopback resolves to nothing: the site must not need the network.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--window-size=1280,1000",
    "--lang=en-US",
]


def find_chromium() -> tuple[str, str] | None:
    """(browser, driver) executables, or None when Chromium or its driver is not installed."""
    browser = next(filter(None, map(shutil.which, CHROMIUM_CANDIDATES)), None)
    driver = next(filter(None, map(shutil.which, DRIVER_CANDIDATES)), None)
    return (browser, driver) if browser and driver else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # `format`: the base class's signature
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve `directory` on http://127.0.0.1:<free port>/ for the duration of the block."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Visit:
    """What a reader's browser did and saw on one page."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dom: dict = field(default_factory=dict)


# Runs in the page once it has loaded: waits for MathJax (where the page uses it), for every
# image to finish loading or fail, and for web fonts; then summarises the DOM.
_SETTLE_AND_SUMMARISE = r"""
const done = arguments[arguments.length - 1];
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await Promise.all(Array.from(document.images, img => {
    img.loading = "eager";
    return img.complete ? null : new Promise(ok => { img.onload = img.onerror = ok; });
  }));
  await document.fonts.ready;
  const main = document.querySelector("main") || document.body;
  done({
    title: document.title,
    text: main.innerText,
    h1: Array.from(main.querySelectorAll("h1"), h => h.closest(".onlyprint") ? null
                   : h.textContent.replace(/[#¶\s]+/g, " ").trim()).filter(Boolean),
    mathjax: Boolean(window.MathJax && MathJax.version),
    mathjaxVersion: window.MathJax && MathJax.version || null,
    mathSource: document.querySelectorAll(".math").length,
    mathTypeset: document.querySelectorAll("mjx-container").length,
    mathErrors: Array.from(document.querySelectorAll("mjx-merror"),
                           e => e.getAttribute("data-mjx-error") || e.textContent),
    images: Array.from(document.images, img => ({
      src: img.currentSrc || img.src, alt: img.getAttribute("alt"),
      width: img.naturalWidth, inMain: main.contains(img)})),
    links: Array.from(document.querySelectorAll("a[href]"),
                      a => ({href: a.href, text: a.textContent.replace(/\s+/g, " ").trim().slice(0, 80)})),
    ids: Array.from(document.querySelectorAll("[id]"), e => e.id),
    names: Array.from(document.querySelectorAll("a[name]"), e => e.getAttribute("name")),
  });
})().catch(err => done({error: String(err)}));
"""


class Browser:
    """One headless Chromium; `visit` loads pages and reports on each."""

    def __init__(self, driver):
        self.driver = driver

    def _events(self) -> list[dict]:
        return [json.loads(entry["message"])["message"]
                for entry in self.driver.get_log("performance")]

    def drain(self) -> None:
        """Forget the logs so far (the browser's own start-up pages)."""
        self.driver.get_log("performance")
        self.driver.get_log("browser")

    def visit(self, url: str, settle: float = 0.3, timeout: float = 20) -> Visit:
        from selenium.common.exceptions import WebDriverException

        self.drain()
        self.driver.get(url)
        for attempt in range(3):
            try:
                dom = self.driver.execute_async_script(_SETTLE_AND_SUMMARISE)
                break
            except WebDriverException as err:  # a redirect (index.html) unloaded the page
                if attempt == 2 or "unload" not in str(err):
                    raise
                time.sleep(0.5)
        events = self._events()
        # Requests still in flight (a late font, a lazy chunk): read until the log stays quiet.
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < settle and time.monotonic() < deadline:
            time.sleep(0.1)
            more = self._events()
            if more:
                events += more
                quiet_since = time.monotonic()
        visit = Visit(url=url, dom=dom)
        urls = {}
        for event in events:
            method, params = event["method"], event["params"]
            if method == "Network.requestWillBeSent":
                urls[params["requestId"]] = params["request"]["url"]
                visit.requests.append(params["request"]["url"])
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                visit.failed.append(f"{params['response']['status']} {params['response']['url']}")
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                # (A request cancelled by leaving the page is no failure a reader sees.)
                what = urls.get(params["requestId"], params["requestId"])
                visit.failed.append(f"{params['errorText']} {what}")
        visit.console_errors = [entry["message"] for entry in self.driver.get_log("browser")
                                if entry["level"] == "SEVERE"]
        return visit

    def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        """Lay pages out at `width` x `height` CSS pixels, as a phone when `mobile` (a headless
        window cannot be narrower than 500 pixels, so this emulates the device instead)."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def reset_viewport(self) -> None:
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path


def leaves_origin(url: str, origin: str) -> bool:
    """True when a request for `url` would leave the site served at `origin`."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return False
    return f"{parts.scheme}://{parts.netloc}/" != origin


@contextlib.contextmanager
def chromium(profile_dir: Path):
    """A headless Chromium with a fresh profile in `profile_dir`, logging console and network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_chromium()
    if found is None:
        raise RuntimeError("Chromium and chromedriver are needed: "
                           "apt-get install chromium chromium-driver")
    browser_path, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # An explicit driver path: Selenium Manager (which would download drivers) never runs.
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        driver.set_page_load_timeout(60)
        driver.set_script_timeout(60)
        driver.get("about:blank")
        browser = Browser(driver)
        browser.drain()
        yield browser
    finally:
        driver.quit()
