"""``selbench leaderboard build``: submissions/ -> validated -> aggregated -> static site."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from selbench.leaderboard.aggregate import N_BOOT, Leaderboard, aggregate
from selbench.leaderboard.site import build_site
from selbench.submissions.errors import SubmissionError
from selbench.submissions.validate import Submission, discover, load_submission
from selbench.submissions.verify import load_records, status_of


@dataclass
class BuildResult:
    site: Path
    leaderboard: Leaderboard
    submissions: list[Submission]
    rejected: list[tuple[str, str]]


def _load(folder: Path) -> Submission | str:
    try:
        return load_submission(folder, check_selections=False)
    except SubmissionError as exc:
        return str(exc)


def build(submissions: str | Path = "submissions", out: str | Path = "leaderboard/site", *,
          verified: str | Path = "leaderboard/verified.json", spec_id: str | None = None,
          n_boot: int = N_BOOT, seed: int = 0) -> BuildResult:
    subs, rejected = [], []
    folders = discover(submissions)
    workers = min(os.cpu_count() or 1, 8) if len(folders) >= 16 else 1
    if workers > 1:  # reading per-item files dominates: spread submissions over processes
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_load, folders, chunksize=4))
    else:
        results = [_load(f) for f in folders]
    for folder, res in zip(folders, results):
        if isinstance(res, str):
            rejected.append((folder.name, res))
        else:
            subs.append(res)
    records = load_records(verified)
    statuses = {s.slug: status_of(s, records) for s in subs}
    lb = aggregate(subs, statuses=statuses, spec_id=spec_id, n_boot=n_boot, seed=seed)
    lb.skipped.extend((slug, f"invalid: {reason}") for slug, reason in rejected)
    site = build_site(lb, subs, out)
    return BuildResult(site, lb, subs, rejected)
