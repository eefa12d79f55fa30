"""A real headless Chromium for the console's browser tests (Debian's chromium + chromedriver,
driven by Selenium). :func:`missing` says why none can run here; the tests then skip with
:data:`SKIP_MARK` in the reason, and conftest's summary says so loudly. :class:`Console` is what
the tests drive: one stack, its agents and one browser (tests/test_console_browser.py and
tests/test_console_pages.py). Set ``AGENTOS_SCREENSHOTS=1`` to refresh the README's screenshots
in docs/img/ (they are always taken, into the test's tmp dir otherwise)."""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SKIP_MARK = "BROWSER TESTS SKIPPED"
IMG_DIR = Path(__file__).resolve().parent.parent / "docs" / "img"
WAIT_S = 15.0
# This machine's network is closed: without these Chromium retries Google's hosts at start-up.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US")


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


def chromium() -> str | None:
    """The Chromium binary, if installed."""
    return _find(os.environ.get("CHROMIUM_BIN", ""), "chromium", "/usr/bin/chromium", "chromium-browser")


def chromedriver() -> str | None:
    """The ChromeDriver binary, if installed."""
    return _find(os.environ.get("CHROMEDRIVER_BIN", ""), "chromedriver", "/usr/bin/chromedriver")


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if os.environ.get("AGENTOS_NO_BROWSER"):
        return f"{SKIP_MARK}: AGENTOS_NO_BROWSER is set"
    if chromium() is None or chromedriver() is None:
        return f"{SKIP_MARK}: no Chromium/ChromeDriver (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"{SKIP_MARK}: selenium is not installed (pip install -r requirements-dev.txt)"
    return None


def start(profile_dir: Path) -> Any:
    """A headless Chromium with a fresh profile, driven through chromedriver."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not try to download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium())
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(chromedriver())))
    driver.set_page_load_timeout(30)
    return driver


def unique(label: str) -> str:
    return f"console-{label}-{time.time_ns()}"


class Console:
    """The running stack, its agents and one browser."""

    def __init__(self, stack: Any, agents: dict[str, Any], driver: Any, shots: Path, token: str | None) -> None:
        self.stack, self.agents, self.driver, self.shots, self.token = stack, agents, driver, shots, token

    @property
    def url(self) -> str:
        return f"http://localhost:{self.stack.port}/console"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """The API with the token, as a script would call it."""
        import requests

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return requests.request(method, f"{self.stack.base}{path}", json=body, timeout=10, headers=headers)

    def create(self, **fields: Any) -> dict[str, Any]:
        answer = self.api("POST", "/jobs", {"payload": {}, **fields})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def open(self, fragment: str = "/", token: str | None = "") -> None:
        """Load the page at ``#fragment`` with ``token`` (by default the stack's; None: none) already in
        this tab's sessionStorage."""
        token = self.token if token == "" else token
        self.driver.get(self.url + "#/")
        self.driver.execute_script(
            "sessionStorage.clear(); if (arguments[0]) sessionStorage.setItem('agentos.console.token', arguments[0]);",
            token)
        self.driver.get(f"{self.url}#{fragment}")
        self.driver.refresh()

    def wait(self, condition: Callable[[], Any], timeout: float = WAIT_S, what: str = "") -> Any:
        """Poll ``condition`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = condition()
            except Exception as exc:  # an element not there yet, or replaced meanwhile
                last = exc
            if last and not isinstance(last, Exception):
                return last
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what or condition}: last {last!r}")

    def by_id(self, element_id: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.ID, element_id)

    def css(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def heading(self) -> str:
        return self.css("main h1")[0].text

    def type(self, element_id: str, text: str) -> None:
        field = self.by_id(element_id)
        field.clear()
        field.send_keys(text)

    def shot(self, name: str) -> None:
        """A screenshot of the page; into docs/img/ too when AGENTOS_SCREENSHOTS is set."""
        path = self.shots / name
        self.driver.save_screenshot(str(path))
        if os.environ.get("AGENTOS_SCREENSHOTS"):
            IMG_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, IMG_DIR / name)

    def run_rows(self) -> list[dict[str, str]]:
        """The runs table of a job page (or the runs view), one dict (column label -> text) per row."""
        return self.rows("runs-table")

    def rows(self, table_id: str) -> list[dict[str, str]]:
        """The rows of the table ``#table_id``, one dict (column label -> text) per row, and its key."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#' + arguments[0] + ' tbody tr')].map(tr => Object.assign("
            "Object.fromEntries([...tr.children].map(td => [td.dataset.label, td.textContent])), "
            "{key: tr.dataset.key}))", table_id)
