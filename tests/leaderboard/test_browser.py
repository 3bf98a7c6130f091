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
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    driver.set_window_size(1400, 1000)
    driver.get((hostile_site / "index.html").as_uri())
    assert "Leaderboard" in driver.title
    alerts = driver.execute_script("return typeof window.alert")  # page ran, and no hostile script did
    assert alerts == "function"
    names = _names(driver)
    assert len(names) == 3 and names[0] == "Good Method"  # default: headline (compute-matched), descending
    assert any(n.startswith("Evil <script>alert(1)</script>") for n in names)  # shown as text
    assert driver.find_element(By.CSS_SELECTOR, 'th[data-key="headline"]').get_attribute("aria-sort") == "descending"
    verdict = driver.find_element(By.CSS_SELECTOR, ".verdict").text
    assert "Good Method" in verdict and "95% CI" in verdict and "W/T/L" in verdict
    ci = driver.find_element(By.CSS_SELECTOR, "#board tbody tr td:nth-child(5)").text
    assert ci.startswith("[") and ci.endswith("]")
    # sort by selection $ with the keyboard: the costly method goes first
    th = driver.find_element(By.CSS_SELECTOR, 'th[data-key="selection_usd"]')
    th.send_keys(Keys.ENTER)
    assert _names(driver)[0] == "Costly Method"
    th.send_keys(Keys.ENTER)  # ascending
    assert _names(driver)[-1] == "Costly Method"
    assert "sort=selection_usd" in driver.execute_script("return location.hash")
    # filter: no API / external model hides the costly method; a benchmark filter re-aggregates and hides ranks
    Select(driver.find_element(By.ID, "filter-api")).select_by_value("no")
    assert _names(driver) == ["Good Method"]  # the costly one uses an API, the evil one lists an external model
    assert driver.find_element(By.ID, "shown").text == "1 of 3 selectors"
    assert not driver.find_element(By.CSS_SELECTOR, '#cost-gain a[data-slug="costly-method"]').is_displayed()
    Select(driver.find_element(By.ID, "filter-api")).select_by_value("yes")
    assert "Good Method" not in _names(driver) and len(_names(driver)) == 2
    Select(driver.find_element(By.ID, "filter-api")).select_by_value("")
    before = driver.find_element(By.CSS_SELECTOR, "#board tbody tr td:nth-child(7)").text
    dot = '#cost-gain a[data-slug="good-method"] circle'
    cy_before = driver.find_element(By.CSS_SELECTOR, dot).get_attribute("cy")
    Select(driver.find_element(By.ID, "filter-benchmark")).select_by_value("ifeval")
    after = driver.find_element(By.CSS_SELECTOR, "#board tbody tr td:nth-child(7)").text
    assert driver.find_element(By.CSS_SELECTOR, dot).get_attribute("cy") != cy_before  # the plot follows the filter
    assert sum(map(int, after.split(" / "))) * 2 == sum(map(int, before.split(" / ")))  # half the cells
    assert driver.find_element(By.ID, "rank-note").is_displayed()
    assert driver.find_element(By.CSS_SELECTOR, "#board tbody tr td:nth-child(1)").text == "–"
    # the state is in the URL: reloading with it restores the filter
    url = driver.current_url
    assert "benchmark=ifeval" in url
    driver.get("about:blank")
    driver.get(url)
    assert Select(driver.find_element(By.ID, "filter-benchmark")).first_selected_option.get_attribute("value") == "ifeval"
    Select(driver.find_element(By.ID, "filter-benchmark")).select_by_value("")
    # verified only: nobody is verified here, and the page says so
    Select(driver.find_element(By.ID, "filter-verified")).select_by_value("yes")
    assert _names(driver) == [] and driver.find_element(By.ID, "empty").is_displayed()
    Select(driver.find_element(By.ID, "filter-verified")).select_by_value("")
    # back to the default sort for the screenshot
    hd = driver.find_element(By.CSS_SELECTOR, 'th[data-key="headline"]')
    hd.click()
    if hd.get_attribute("aria-sort") != "descending":
        hd.click()
    (REPO / "docs").mkdir(exist_ok=True)
    assert driver.save_screenshot(str(REPO / "docs" / "leaderboard.png"))
    assert driver.find_element(By.CSS_SELECTOR, "figure.plot").screenshot(str(REPO / "docs" / "leaderboard-plot.png"))
    # open a selector page from the table
    driver.find_element(By.LINK_TEXT, "Good Method").click()
    assert driver.current_url.endswith("selectors/good-method.html")
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Good Method")
    assert len(driver.find_elements(By.CSS_SELECTOR, "table.cells tbody tr")) == 8  # 2 pools x 2 budgets x 2 benchmarks
    assert "`" not in driver.find_element(By.TAG_NAME, "main").text
    driver.get((hostile_site / "selectors" / "evil.html").as_uri())
    assert "<script>alert(1)</script>" in driver.find_element(By.CSS_SELECTOR, "dl.meta").text
    assert driver.execute_script("return document.querySelectorAll('img').length") == 0


def test_phone_width_never_scrolls_the_page_sideways(driver, hostile_site: Path) -> None:
    """At 390 px every page fits; wide tables scroll inside their own box."""
    driver.set_window_size(390, 844)
    pages = sorted(p.relative_to(hostile_site).as_posix() for p in hostile_site.rglob("*.html"))
    assert "how-to-submit.html" in pages and len(pages) >= 7
    try:
        for page in pages:
            driver.get((hostile_site / page).as_uri())
            inner, scroll = driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
            assert scroll <= inner, (page, scroll, inner)
        driver.get((hostile_site / "index.html").as_uri())
        wrap = driver.find_element(By_CSS(), ".table-wrap")
        assert driver.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", wrap)  # the table scrolls in its box
        assert driver.save_screenshot(str(REPO / "docs" / "leaderboard-390.png"))
    finally:
        driver.set_window_size(1400, 1000)


def By_CSS() -> str:  # noqa: N802 - selenium's By is imported lazily (the module must import without selenium)
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR
