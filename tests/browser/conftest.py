"""A real headless Chromium for the page tests: Debian's ``chromium`` and its matching
``chromedriver``, driven by Selenium (no browser download).

Where either is absent the tests skip, saying what to install;
``FLOWGATEWAY_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs both) makes that a
failure, so CI can never pass by skipping them. ``FLOWGATEWAY_CHROMIUM`` and
``FLOWGATEWAY_CHROMEDRIVER`` point at other binaries.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRED = os.environ.get("FLOWGATEWAY_REQUIRE_BROWSER", "") not in ("", "0")
CHROMIUM = os.environ.get("FLOWGATEWAY_CHROMIUM") or shutil.which("chromium") or ""
CHROMEDRIVER = os.environ.get("FLOWGATEWAY_CHROMEDRIVER") or shutil.which("chromedriver") or ""
# Headless, and quiet on a machine without a network (no update, sync or metrics calls).
FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--window-size=1100,900",
)  # fmt: skip


def _absent() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[dev]')"
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER))
               if not (path and os.access(path, os.X_OK))]  # fmt: skip
    if missing:
        return f"{' and '.join(missing)} not found (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="session")
def chrome() -> Iterator[Any]:
    """One headless Chromium for the session (each test opens its own page)."""
    problem = _absent()
    if problem is not None:
        if REQUIRED:
            pytest.fail(f"{problem}; FLOWGATEWAY_REQUIRE_BROWSER is set", pytrace=False)
        pytest.skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="flowgateway-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
