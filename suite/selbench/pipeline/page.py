"""The run's leaderboard page: each selector of the run as a local submission, then the site.

The run folder already holds ``results.jsonl`` in the submission row format; each selector is
copied (with the shared reference rows) into ``<run>/submissions/<slug>/`` through the same
``submit`` + validation path a PR takes, and ``<run>/site/`` is built from them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from selbench.leaderboard.build import build
from selbench.results.schema import ResultRow
from selbench.submissions.submit import submit

PROJECT_URL = "https://github.com/selbench/selbench"


def build_run_page(run_dir: Path, rows: list[ResultRow]) -> Path | None:
    selectors = sorted({r.selector for r in rows if r.kind == "selector"})
    if not selectors:
        return None
    subs = run_dir / "submissions"
    if subs.exists():
        shutil.rmtree(subs)
    for name in selectors:
        submit(run_dir, name=name, authors=["local run"], paper=None, code=PROJECT_URL, out=subs,
               description=f"Local `selbench run` of {rows[0].spec_id}.", only_selector=name)
    # a local run is its own reference (the leaderboard's stored rows are for published submissions)
    build(subs, run_dir / "site", verified=run_dir / "verified.json", spec_id=rows[0].spec_id, reference=None)
    return run_dir / "site" / "index.html"
