"""The built site: pages, downloads, escaping of hostile strings (HTML and JSON-in-HTML)."""

from __future__ import annotations

import html.parser
import json
import re
from pathlib import Path

from selbench.leaderboard.site import json_for_html, site_files

from lb_helpers import HOSTILE, run_cli, small_submission


class _Scan(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self.handlers: list[tuple[str, str]] = []
        self.hrefs: list[str] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k, v in attrs:
            if k.startswith("on"):
                self.handlers.append((tag, k))
            if k in ("href", "src") and v:
                self.hrefs.append(v)
        if tag in ("img", "svg") and any(k.startswith("on") for k in a):
            self.handlers.append((tag, "on*"))
        if tag == "script":
            self._in_script = {"attrs": a, "text": ""}

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script["text"] += data

    def handle_endtag(self, tag):
        if tag == "script" and self._in_script is not None:
            self.scripts.append(self._in_script)
            self._in_script = None


def _scan(path: Path) -> _Scan:
    p = _Scan()
    p.feed(path.read_text("utf-8"))
    return p


def test_json_for_html_is_safe_and_round_trips() -> None:
    obj = {"name": HOSTILE, "n": 1}
    text = str(json_for_html(obj))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == obj


def test_site_has_every_page_and_download(hostile_site: Path) -> None:
    for name in ("index.html", "heatmap.html", "how-ranking-works.html", "how-to-submit.html", "changelog.html", "leaderboard.csv", "cells.csv",
                 "leaderboard.json", "assets/site.css", "assets/leaderboard.js", "selectors/good-method.html", "selectors/evil.html"):
        assert (hostile_site / name).is_file(), name
    data = json.loads((hostile_site / "leaderboard.json").read_text())
    assert data["spec"] == "chasing-random-v1@v1" and len(data["selectors"]) == 3
    how = (hostile_site / "how-ranking-works.html").read_text().lower()
    assert "compute-matched random" in how and "minimum detectable effect" in how and "seed-sd" in how
    index = (hostile_site / "index.html").read_text()
    assert "<svg" in index and "polyline" in index and 'class="front"' in index
    assert 'class="verdict"' in index and "How to submit" in index and 'class="refpt"' in index
    assert "http://" not in index.replace('"http://www.w3.org', "") and "cdn" not in index.lower()  # no external resources


def test_hostile_strings_are_text_everywhere(hostile_site: Path) -> None:
    pages = sorted(hostile_site.rglob("*.html"))
    for page in pages:
        text = page.read_text("utf-8")
        assert "<script>alert" not in text and "<img src=x" not in text and "<svg onload" not in text, page
        scan = _scan(page)
        assert not scan.handlers, (page, scan.handlers)
        for script in scan.scripts:
            assert script["attrs"].get("src", "").startswith(("assets/", "../assets/")) or script["attrs"].get("type") == "application/json", script
            if script["attrs"].get("type") == "application/json":
                data = json.loads(script["text"])  # the block is intact: hostile text did not close it
                assert any(HOSTILE in s["name"] and HOSTILE in s["authors"] for s in data["selectors"])
        for href in scan.hrefs:
            assert not href.lower().startswith("javascript:"), href
    evil = (hostile_site / "selectors" / "evil.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in evil and "onerror=alert(2)&gt;" in evil


def test_templates_are_found_from_the_package() -> None:
    files = site_files()
    assert (files / "templates" / "index.html").is_file() and (files / "assets" / "leaderboard.js").is_file()


def test_leaderboard_build_cli(tmp_path: Path) -> None:
    subs = tmp_path / "submissions"
    small_submission(subs, "One", quality=0.5)
    small_submission(subs, "Two", quality=-0.5)
    broken = small_submission(subs, "Broken", quality=0.1)
    (broken / "metadata.json").write_text("{")
    proc = run_cli("leaderboard", "build", "--submissions", str(subs), "--out", str(tmp_path / "site"),
                   "--verified", str(tmp_path / "v.json"), "--bootstrap", "200")
    assert proc.returncode == 0, proc.stderr
    assert "2 selectors" in proc.stdout and "broken" in proc.stderr and "malformed JSON" in proc.stderr
    csv = (tmp_path / "site" / "leaderboard.csv").read_text().splitlines()
    assert csv[0].startswith("slug,") and csv[1].startswith("one,")
    index = (tmp_path / "site" / "index.html").read_text()
    assert re.search(r"broken: invalid: broken/metadata.json: malformed JSON", index)


def test_downloads_carry_every_number_the_page_shows(hostile_site: Path) -> None:
    import csv

    data = json.loads((hostile_site / "leaderboard.json").read_text())
    want_sel = {"headline", "headline_ci_low", "headline_ci_high", "headline_mde", "rank", "rank_low", "rank_high", "wins",
                "ties", "losses", "selector_runs_min", "selection_gpu_h", "selection_usd", "selection_share_of_full",
                "gain_per_gpu_h", "break_even", "partial", "partial_reason"}
    want_cell = {"delta", "ci_low", "ci_high", "mde", "outcome", "seeds", "selector_runs", "random_runs", "value",
                 "matched_budget", "std_gain", "std_value", "scale", "direction", "selection_gpu_h", "selection_usd"}
    assert want_sel <= set(data["selectors"][0]) and want_cell <= set(data["cells"][0])
    assert data["verdict"]["slug"] and data["gpu_hour_usd"] == 2.5 and data["units"]
    with (hostile_site / "leaderboard.csv").open() as f:
        assert want_sel <= set(next(csv.reader(f)))
    with (hostile_site / "cells.csv").open() as f:
        assert want_cell <= set(next(csv.reader(f)))


def test_numbers_never_read_as_zero_and_ticks_are_clean(hostile_site: Path) -> None:
    from selbench.leaderboard.site import _fmt, _usd

    assert _fmt(0.0004) == "+0.00040" and _fmt(-0.0004) == "-0.00040" and _fmt(1.234) == "+1.23" and _fmt(0.0) == "0"
    assert _usd(0.00042) == "$0.00042" and _usd(12.3) == "$12.30" and _usd(1234.0) == "$1,234"
    for page in sorted(hostile_site.rglob("*.html")):
        text = page.read_text("utf-8")
        assert not re.search(r"[+-]0\.0+(?![0-9])", text), page  # no "+0.000" / "-0.00"
        assert not re.search(r"\de-\d", re.sub(r"<script.*?</script>", "", text, flags=re.S)), page  # no "-4.16e-17" ticks


def test_backticks_become_code_and_stay_escaped() -> None:
    from selbench.leaderboard.site import inline_code

    assert str(inline_code("Local `selbench run` of tiny")) == "Local <code>selbench run</code> of tiny"
    assert "<script>" not in str(inline_code("`<script>`x")) and "&lt;script&gt;" in str(inline_code("`<script>`x"))


def test_csv_cells_never_start_a_formula(tmp_path: Path) -> None:
    """A submitted name like =HYPERLINK(...) is written as text, not a spreadsheet formula."""
    import csv

    from selbench.leaderboard.build import build

    subs = tmp_path / "submissions"
    small_submission(subs, "plain", quality=0.5, selection_usd=1.0)
    small_submission(subs, "formula", quality=0.5, selection_usd=1.0,
                     text={"name": "=HYPERLINK(\"http://x\")", "authors": ["+1 @attacker"]})
    build(subs, tmp_path / "site", verified=tmp_path / "verified.json", n_boot=100)
    site = tmp_path / "site"
    for name in ("leaderboard.csv", "cells.csv"):
        with (site / name).open() as f:
            for row in csv.reader(f):
                for cell in row:
                    assert not cell.startswith(("=", "+", "@")) and not (cell.startswith("-") and not _number(cell)), (name, cell)
    assert "'=HYPERLINK" in (site / "leaderboard.csv").read_text()


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
