"""The site in a real headless Chromium, opened from file://: sort, filter, open a selector page,
take a screenshot (docs/leaderboard.png). Fails (never skips) when chromium is missing: CI installs
it with scripts/ci_browser_deps.sh."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def driver():
    assert Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file(), \
        "headless chromium is required: run scripts/ci_browser_deps.sh (apt-get install chromium chromium-driver)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="selbench-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1000"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _names(drv) -> list[str]:
    from selenium.webdriver.common.by import By

    return [r.find_element(By.CSS_SELECTOR, "td:nth-child(2)").text for r in drv.find_elements(By.CSS_SELECTOR, "#board tbody:first-of-type tr")]


def test_browse_sort_filter_and_screenshot(driver, hostile_site: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get((hostile_site / "index.html").as_uri())
    assert "Leaderboard" in driver.title
    alerts = driver.execute_script("return typeof window.alert")  # page ran, and no hostile script did
    assert alerts == "function"
    names = _names(driver)
    assert len(names) == 3 and names[0] == "Good Method"  # default: cost-adjusted gain, descending
    assert any(n.startswith("Evil <script>alert(1)</script>") for n in names)  # shown as text
    assert driver.find_element(By.CSS_SELECTOR, 'th[data-key="cost_adjusted_gain"]').get_attribute("aria-sort") == "descending"
    # sort by mean gain: the costly method (highest raw gain) goes first
    driver.find_element(By.CSS_SELECTOR, 'th[data-key="mean_gain"]').click()
    assert _names(driver)[0] == "Costly Method"
    driver.find_element(By.CSS_SELECTOR, 'th[data-key="mean_gain"]').click()  # ascending
    assert _names(driver)[-1] == "Costly Method"
    # filter: no API / external model hides the costly method; a benchmark filter re-aggregates
    Select(driver.find_element(By.ID, "filter-api")).select_by_value("no")
    assert _names(driver) == ["Good Method"]  # the costly one uses an API, the evil one lists an external model
    assert driver.find_element(By.ID, "shown").text == "1 of 3 selectors"
    Select(driver.find_element(By.ID, "filter-api")).select_by_value("yes")
    assert "Good Method" not in _names(driver) and len(_names(driver)) == 2
    Select(driver.find_element(By.ID, "filter-api")).select_by_value("")
    before = driver.find_element(By.CSS_SELECTOR, "#board tbody tr td:nth-child(5)").text
    Select(driver.find_element(By.ID, "filter-benchmark")).select_by_value("ifeval")
    after = driver.find_element(By.CSS_SELECTOR, "#board tbody tr td:nth-child(5)").text
    assert sum(map(int, after.split(" / "))) * 2 == sum(map(int, before.split(" / ")))  # half the cells
    Select(driver.find_element(By.ID, "filter-benchmark")).select_by_value("")
    # back to the default sort for the screenshot
    driver.find_element(By.CSS_SELECTOR, 'th[data-key="cost_adjusted_gain"]').click()
    if driver.find_element(By.CSS_SELECTOR, 'th[data-key="cost_adjusted_gain"]').get_attribute("aria-sort") != "descending":
        driver.find_element(By.CSS_SELECTOR, 'th[data-key="cost_adjusted_gain"]').click()
    (REPO / "docs").mkdir(exist_ok=True)
    assert driver.save_screenshot(str(REPO / "docs" / "leaderboard.png"))
    # open a selector page from the table
    driver.find_element(By.LINK_TEXT, "Good Method").click()
    assert driver.current_url.endswith("selectors/good-method.html")
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Good Method")
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.cells tbody tr")) == 8  # 2 pools x 2 budgets x 2 benchmarks
    driver.get((hostile_site / "selectors" / "evil.html").as_uri())
    assert "<script>alert(1)</script>" in driver.find_element(By.CSS_SELECTOR, "dl.meta").text
    assert driver.execute_script("return document.querySelectorAll('img').length") == 0
