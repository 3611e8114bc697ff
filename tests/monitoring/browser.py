"""A headless Chromium for the dashboard tests, driven by selenium.

Selenium is handed the paths of the system's chromium and chromedriver, so it
never runs Selenium Manager (which would download a browser). Without them
the tests skip, unless DISTCACHE_REQUIRE_BROWSER=1 (CI sets it): then they fail,
so a missing browser cannot hide them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRE_BROWSER = os.environ.get("DISTCACHE_REQUIRE_BROWSER") == "1"

ARGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1280,1000")


def _unavailable(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason}, and DISTCACHE_REQUIRE_BROWSER=1", pytrace=False)
    pytest.skip(reason)


def _webdriver() -> Any:
    if not REQUIRE_BROWSER:
        return pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                   "(pip install -e '.[test]')")
    try:
        from selenium import webdriver
    except ImportError as exc:
        _unavailable(f"selenium cannot be imported ({exc})")
    return webdriver


@pytest.fixture(name="browser")
def browser_fixture() -> Iterator[Any]:
    """A selenium Chrome driver of headless Chromium, its console log kept; quit after."""
    webdriver = _webdriver()
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        missing = " and ".join(n for n, p in (("chromium", chromium),
                                              ("chromedriver", chromedriver)) if p is None)
        _unavailable(f"{missing} not on PATH (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ARGS:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.set_page_load_timeout(20)
        driver.set_script_timeout(20)
        yield driver
    finally:
        driver.quit()


def console_problems(driver: Any) -> list[dict[str, Any]]:
    """The console's SEVERE and WARNING entries since the last call (reading drains them)."""
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
