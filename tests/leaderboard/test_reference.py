"""Gains are computed against the leaderboard's own reference rows, never a submitter's: a
submission that lowers its own random rows (consistently with their per-item files, so it
validates) gains nothing by it."""

from __future__ import annotations

import html
import json
from pathlib import Path

from selbench.hashing import sha256_file
from selbench.leaderboard.aggregate import LeaderboardError
from selbench.leaderboard.build import build
from selbench.results.items import read_item_scores, write_item_scores
from selbench.submissions.validate import load_submission

from lb_helpers import small_submission


def _lower_own_random_rows(folder: Path, factor: float) -> None:
    lines = []
    for line in (folder / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["kind"] == "random":
            path = folder / row["item_scores"]
            ids, scores = read_item_scores(path)
            write_item_scores(path, ids, scores * factor)
            row["item_scores_sha256"] = sha256_file(path)
            row["score"] = float((scores * factor).mean()) * (100.0 if row.get("scale") == "0-100" else 1.0)
        lines.append(json.dumps(row))
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n")


def _headline(site: Path, slug: str) -> float:
    data = json.loads((site / "leaderboard.json").read_text())
    return next(s["headline"] for s in data["selectors"] if s["slug"] == slug)


def test_a_submitter_cannot_lower_its_own_random_rows(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    small_submission(reference, "maintainers", quality=0.0, shared_reference=True)
    subs = tmp_path / "submissions"
    honest = small_submission(subs, "honest", quality=0.0, shared_reference=True)
    cheat = small_submission(subs, "cheat", quality=0.0, shared_reference=True)
    _lower_own_random_rows(cheat, 0.2)
    load_submission(cheat)  # still valid: its scores match its (lowered) items
    own = build(subs, tmp_path / "own", verified=tmp_path / "v.json", n_boot=200, reference=None)
    ours = build(subs, tmp_path / "ours", verified=tmp_path / "v.json", n_boot=200, reference=reference)
    assert _headline(tmp_path / "own", "cheat") > _headline(tmp_path / "own", "honest") + 1.0  # the attack, unchecked
    assert abs(_headline(tmp_path / "ours", "cheat") - _headline(tmp_path / "ours", "honest")) < 1.0
    data = json.loads((tmp_path / "ours" / "leaderboard.json").read_text())
    assert "the leaderboard's own" in data["reference_rows"] and "own (no leaderboard" not in data["reference_rows"]
    assert "the leaderboard's own" in html.unescape((tmp_path / "ours" / "index.html").read_text())
    assert own.leaderboard.reference_rows.startswith("each submission's own")
    assert ours.leaderboard.skipped == []


def _state_pool_provenance(folder: Path, **provenance) -> None:
    for path in (folder / "selections").glob("*.json"):
        sel = json.loads(path.read_text())
        sel["pool"]["provenance"] = {"kind": "generator", "generator": "tiny-world", "version": 2, "args": {"seed": 0},
                                     **provenance}
        path.write_text(json.dumps(sel))


def test_rows_of_another_tiny_world_are_told_apart_from_another_version(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    _state_pool_provenance(small_submission(reference, "maintainers", quality=0.0, shared_reference=True), world_key="aaaa")
    subs = tmp_path / "submissions"
    same = small_submission(subs, "same-world", quality=0.0, shared_reference=True)
    other = small_submission(subs, "other-world", quality=0.0, shared_reference=True)
    older = small_submission(subs, "older-pool", quality=0.0, shared_reference=True)
    _state_pool_provenance(same, world_key="aaaa")
    _state_pool_provenance(other, world_key="bbbb")
    _state_pool_provenance(older, world_key="bbbb", version=1)
    result = build(subs, tmp_path / "site", verified=tmp_path / "v.json", n_boot=200, reference=reference)
    skipped = dict(result.leaderboard.skipped)
    assert "same-world" not in skipped
    assert "another tiny world" in skipped["other-world"] and "bbbb" in skipped["other-world"]
    assert "another version" in skipped["older-pool"] and "tiny world" not in skipped["older-pool"]
    only_other = tmp_path / "only-other"
    only_other.mkdir()
    other.rename(only_other / other.name)
    try:
        build(only_other, tmp_path / "site2", verified=tmp_path / "v.json", n_boot=200, reference=reference)
    except LeaderboardError as exc:
        assert "another tiny world" in str(exc)  # the reason, not "no valid submissions"
    else:
        raise AssertionError("a board with nothing comparable was built")
