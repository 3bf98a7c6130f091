"""``selbench leaderboard build``: submissions/ -> validated -> aggregated -> static site."""

from __future__ import annotations

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


def build(submissions: str | Path = "submissions", out: str | Path = "leaderboard/site", *,
          verified: str | Path = "leaderboard/verified.json", spec_id: str | None = None,
          n_boot: int = N_BOOT, seed: int = 0) -> BuildResult:
    subs, rejected = [], []
    for folder in discover(submissions):
        try:
            subs.append(load_submission(folder, check_selections=False))
        except SubmissionError as exc:
            rejected.append((folder.name, str(exc)))
    records = load_records(verified)
    statuses = {s.slug: status_of(s, records) for s in subs}
    lb = aggregate(subs, statuses=statuses, spec_id=spec_id, n_boot=n_boot, seed=seed)
    lb.skipped.extend((slug, f"invalid: {reason}") for slug, reason in rejected)
    site = build_site(lb, subs, out)
    return BuildResult(site, lb, subs, rejected)
