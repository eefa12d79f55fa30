"""A real headless Chromium for the console's browser tests (Debian's chromium + chromedriver,
driven by Selenium). :func:`missing` says why none can run here; the tests then skip with
:data:`SKIP_MARK` in the reason, and conftest's summary says so loudly."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

SKIP_MARK = "BROWSER TESTS SKIPPED"
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
