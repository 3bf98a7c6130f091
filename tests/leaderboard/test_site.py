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
    for name in ("index.html", "heatmap.html", "how-ranking-works.html", "changelog.html", "leaderboard.csv", "cells.csv",
                 "leaderboard.json", "assets/site.css", "assets/leaderboard.js", "selectors/good-method.html", "selectors/evil.html"):
        assert (hostile_site / name).is_file(), name
    data = json.loads((hostile_site / "leaderboard.json").read_text())
    assert data["spec"] == "chasing-random-v1@v1" and len(data["selectors"]) == 3
    assert "cost-adjusted gain" in (hostile_site / "how-ranking-works.html").read_text().lower()
    index = (hostile_site / "index.html").read_text()
    assert "<svg" in index and "polyline" in index and 'class="front"' in index
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
