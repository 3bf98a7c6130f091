"""``selbench leaderboard build``: submissions/ -> validated -> aggregated -> static site."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from selbench.leaderboard.aggregate import N_BOOT, Leaderboard, LeaderboardError, aggregate
from selbench.leaderboard.reference import load_reference, mismatch, with_reference
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


def _against_reference(subs: list[Submission], reference: str | Path | None,
                       spec_id: str | None) -> tuple[list[Submission], list[tuple[str, str]], str]:
    """Each submission with the leaderboard's own reference rows for its spec (see
    :mod:`selbench.leaderboard.reference`); those that cannot be compared, with the reason."""
    if reference is None or not subs:
        return subs, [], "each submission's own reference rows (no leaderboard reference given)"
    specs = {(s.metadata.spec, s.metadata.spec_version) for s in subs}
    if spec_id is not None:
        name, _, version = spec_id.partition("@v")
        specs = {(name, int(version))} if version.isdigit() else specs
    out, skipped, used = [], [], []
    for spec, version in sorted(specs):
        ref = load_reference(reference, spec, version)
        for sub in (s for s in subs if (s.metadata.spec, s.metadata.spec_version) == (spec, version)):
            if ref is None:
                out.append(sub)
                continue
            why = mismatch(sub, ref)
            if why is None:
                out.append(with_reference(sub, ref))
            else:
                skipped.append((sub.slug, f"not comparable with the leaderboard's reference rows: {why}"))
        used.append(f"{spec}@v{version}: " + (f"the leaderboard's own ({ref.path.name})" if ref is not None
                                               else "each submission's own (no leaderboard reference for this spec)"))
    out += [s for s in subs if (s.metadata.spec, s.metadata.spec_version) not in specs]
    return out, skipped, "; ".join(used)


def build(submissions: str | Path = "submissions", out: str | Path = "leaderboard/site", *,
          verified: str | Path = "leaderboard/verified.json", spec_id: str | None = None,
          n_boot: int = N_BOOT, seed: int = 0, reference: str | Path | None = None) -> BuildResult:
    """Validate every submission, rank it against the leaderboard's own reference rows
    (``reference``: a folder of reference submissions, one per spec version, e.g.
    :data:`~selbench.leaderboard.reference.REFERENCE_ROOT`, which ``selbench leaderboard build``
    uses; ``None``: each submission's own rows), build the site."""
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
    statuses = {s.slug: status_of(s, records) for s in subs}  # hashes of the files as submitted
    ranked, incomparable, reference_rows = _against_reference(subs, reference, spec_id)
    if not ranked and incomparable:  # say why, rather than "no valid submissions"
        raise LeaderboardError("no submission is comparable with the leaderboard's reference rows: "
                               + "; ".join(f"{slug}: {why.split('reference rows: ', 1)[-1]}" for slug, why in incomparable))
    lb = aggregate(ranked, statuses=statuses, spec_id=spec_id, n_boot=n_boot, seed=seed)
    lb.skipped.extend((slug, f"invalid: {reason}") for slug, reason in rejected)
    lb.skipped.extend(incomparable)
    lb.reference_rows = reference_rows
    site = build_site(lb, subs, out)
    return BuildResult(site, lb, subs, rejected)
