"""Submission format: validation rejects hostile and broken folders naming file and field; submit,
validate and verify end to end on a real tiny run; the published JSON Schema is up to date."""

from __future__ import annotations

import gzip
import os
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from selbench.submissions.errors import SubmissionError
from selbench.submissions.fixture import make_tiny_run
from selbench.submissions.jsonschema import schemas
from selbench.submissions.schema import LIMITS
from selbench.submissions.validate import load_submission
from selbench.submissions.verify import load_records, status_of

from lb_helpers import run_cli, small_submission

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_run(tmp_path_factory.mktemp("run") / "run")


@pytest.fixture()
def good(tmp_path: Path) -> Path:
    return small_submission(tmp_path, "Good")


def _meta(folder: Path) -> dict:
    return json.loads((folder / "metadata.json").read_text())


def _set_meta(folder: Path, **changes) -> None:
    (folder / "metadata.json").write_text(json.dumps(_meta(folder) | changes))


def _reject(folder: Path, *fragments: str) -> None:
    with pytest.raises(SubmissionError) as info:
        load_submission(folder)
    for f in fragments:
        assert f in str(info.value), str(info.value)


def test_published_json_schema_is_up_to_date() -> None:
    for name, text in schemas().items():
        path = REPO / "submissions" / "schema" / name
        assert path.is_file() and path.read_text() == text, f"regenerate: python -m selbench.submissions.jsonschema submissions/schema ({name})"
    row = json.loads((REPO / "submissions/schema/result-row.schema.json").read_text())
    assert {"kind", "pool_fingerprint", "selection_ids_sha256", "selection_cost", "finetune_cost", "item_scores"} <= set(row["properties"])
    assert json.loads((REPO / "submissions/schema/metadata.schema.json").read_text())["additionalProperties"] is False


def test_a_good_submission_validates(good: Path) -> None:
    sub = load_submission(good)
    # 2 pools x 2 budgets x 2 benchmarks x (3 selector seeds + 3 random seeds) + 2 pools x 2 benchmarks x (full, zero-shot)
    assert sub.slug == "good" and len(sub.rows) == 2 * 2 * 2 * 6 + 2 * 2 * 2 and len(sub.content_sha256) == 64
    assert sub.partial == []


def test_one_seed_per_cell_is_valid_but_partial(tmp_path: Path) -> None:
    """Old submissions carried one selector row per cell: valid, with a clear partial message."""
    sub = load_submission(small_submission(tmp_path, "Old Style", train_seeds=(0,)))
    assert len(sub.partial) == 1
    assert "fewer selector runs than the spec's 3 training seeds" in sub.partial[0] and "ranked apart" in sub.partial[0]
    proc = run_cli("submissions", "validate", str(tmp_path / "old-style"))
    assert proc.returncode == 0 and "partial" in proc.stdout and "training seeds" in proc.stdout


def test_seeded_selector_rows_are_accepted(tmp_path: Path) -> None:
    """Several selector rows in one cell (one per seed, each with its own selection) validate."""
    sub = load_submission(small_submission(tmp_path, "Seeded", train_seeds=(0, 1, 2, 3)))
    cell = [r for r in sub.rows if r.kind == "selector" and r.pool == "alpaca" and r.budget == 1000 and r.benchmark == "ifeval"]
    assert sorted(r.seed for r in cell) == [0, 1, 2, 3] and len({r.selection for r in cell}) == 4 and sub.partial == []


@pytest.mark.parametrize("key", ["verified", "status"])
def test_submitter_cannot_set_verified(good: Path, key: str) -> None:
    _set_meta(good, **{key: True if key == "verified" else "verified"})
    _reject(good, "good/metadata.json", f"field '{key}'", "selbench submissions verify")


def test_a_verification_file_inside_a_submission_is_rejected(good: Path) -> None:
    (good / "verification.json").write_text('{"status": "verified"}')
    _reject(good, "good/verification.json", "unexpected file")


def test_unknown_field_names_file_and_field(good: Path) -> None:
    _set_meta(good, homepage="https://x.org")
    _reject(good, "good/metadata.json: field 'homepage': unknown field")
    row = json.loads((good / "results.jsonl").read_text().splitlines()[2]) | {"bonus": 1}
    lines = (good / "results.jsonl").read_text().splitlines()
    lines[2] = json.dumps(row)
    (good / "results.jsonl").write_text("\n".join(lines) + "\n")
    _set_meta(good, homepage=None)
    meta = _meta(good); meta.pop("homepage"); (good / "metadata.json").write_text(json.dumps(meta))
    _reject(good, "good/results.jsonl line 3: field 'bonus': unknown field")


def test_javascript_urls_are_rejected(good: Path) -> None:
    _set_meta(good, code="javascript:alert(1)")
    _reject(good, "field 'code'", "http(s)")


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "items/../../x.jsonl.gz", "items\\x.jsonl.gz"])
def test_path_traversal_is_rejected(good: Path, path: str) -> None:
    lines = (good / "results.jsonl").read_text().splitlines()
    lines[0] = json.dumps(json.loads(lines[0]) | {"item_scores": path})
    (good / "results.jsonl").write_text("\n".join(lines) + "\n")
    _reject(good, "good/results.jsonl line 1: field 'item_scores'", "unsafe path")


def test_symlinks_are_rejected(good: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    (good / "items" / "leak.jsonl.gz").symlink_to(tmp_path / "secret.txt")
    _reject(good, "good/items/leak.jsonl.gz", "symlinks are not accepted")


def test_oversized_files_are_rejected(good: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LIMITS, "metadata", 100)
    _reject(good, "good/metadata.json", "file too large", "limit 100")


def test_malformed_json_and_yaml_are_rejected(good: Path) -> None:
    (good / "metadata.json").write_text('{"name": ')
    _reject(good, "good/metadata.json", "malformed JSON")
    (good / "metadata.json").unlink()
    (good / "metadata.yaml").write_text("name: [unclosed\n")
    _reject(good, "good/metadata.yaml", "malformed YAML")
    (good / "metadata.yaml").write_text("- just\n- a list\n")
    _reject(good, "good/metadata.yaml", "must be a mapping")


def test_metadata_yaml_is_accepted(good: Path) -> None:
    import yaml

    meta = _meta(good)
    (good / "metadata.json").unlink()
    (good / "metadata.yaml").write_text(yaml.safe_dump(meta))
    assert load_submission(good).metadata.name == "Good"


def test_tampered_items_and_selections_are_rejected(good: Path) -> None:
    row = json.loads((good / "results.jsonl").read_text().splitlines()[0])
    item = good / row["item_scores"]
    item.write_bytes(gzip.compress(b'{"id": "x", "score": 1.0}\n'))
    _reject(good, f"good/{row['item_scores']}", "does not match item_scores_sha256")


def test_a_score_that_its_items_do_not_give_is_refused(good: Path) -> None:
    """The forged-score attack: results.jsonl says 0.99 while the per-item file averages less."""
    lines = (good / "results.jsonl").read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "selector")
    row = json.loads(lines[n])
    row["score"] = 0.99
    lines[n] = json.dumps(row)
    (good / "results.jsonl").write_text("\n".join(lines) + "\n")
    _reject(good, f"good/results.jsonl line {n + 1}: field 'score'", "does not match its per-item file")


@pytest.mark.parametrize("field,value", [("score", "0.578"), ("seed", "0"), ("n_items", 12.0)])
def test_numbers_in_quotes_are_refused_not_coerced(good: Path, field: str, value: object) -> None:
    lines = (good / "results.jsonl").read_text().splitlines()
    row = json.loads(lines[0])
    row[field] = value
    (good / "results.jsonl").write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    _reject(good, "good/results.jsonl line 1", field)


def test_control_characters_are_stripped_from_submitted_text(good: Path) -> None:
    _set_meta(good, name="Nice\x1b[2J\x1b]0;pwned\x07 Method", description="line one\nline two\x00")
    sub = load_submission(good)
    assert sub.metadata.name == "Nice Method" and sub.metadata.description == "line one\nline two"


def test_uses_api_must_be_a_boolean(good: Path) -> None:
    _set_meta(good, uses_api="no")
    _reject(good, "uses_api")


def test_selection_hash_is_recomputed(good: Path) -> None:
    row = json.loads((good / "results.jsonl").read_text().splitlines()[0])
    sel_path = good / row["selection"]
    sel = json.loads(sel_path.read_text())
    sel["ids"][0] = "alpaca-forged"
    sel_path.write_text(json.dumps(sel))
    _reject(good, f"good/{row['selection']}: field 'ids_sha256'", "recomputed")


def test_random_rows_are_required(tmp_path: Path) -> None:
    folder = small_submission(tmp_path, "Lonely", random_seeds=(0,))
    _reject(folder, "lonely/results.jsonl line", "at least 2 seeds")


def test_submit_validate_verify_end_to_end(tiny_run: Path, tmp_path: Path) -> None:
    subs = tmp_path / "submissions"
    proc = run_cli("submit", str(tiny_run), "--name", "Longest Baseline", "--authors", "Ada, Bob", "--paper",
                   "https://arxiv.org/abs/2410.15225", "--code", "https://github.com/selbench/selbench", "--out", str(subs))
    assert proc.returncode == 0, proc.stderr
    folder = subs / "longest-baseline"
    meta = _meta(folder)
    assert meta["authors"] == ["Ada", "Bob"] and meta["plugin"]["name"] == "longest" and meta["spec"] == "tiny"
    assert "verified" not in json.dumps(meta)
    again = run_cli("submit", str(tiny_run), "--name", "Longest Baseline", "--authors", "A", "--code", "https://x.org", "--out", str(subs))
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    bad_url = run_cli("submit", str(tiny_run), "--name", "X", "--authors", "A", "--code", "javascript:alert(1)", "--out", str(subs))
    assert bad_url.returncode == 2 and "error:" in bad_url.stderr and "--code" in bad_url.stderr and not (subs / "x").exists()
    val = run_cli("submissions", "validate", str(subs))
    assert val.returncode == 0 and "ok" in val.stdout and "longest-baseline" in val.stdout
    record = tmp_path / "verified.json"
    ver = run_cli("submissions", "verify", str(folder), "--record", str(record), "--out", str(tmp_path / "verify"), "--max-selections", "1")
    assert ver.returncode == 0, ver.stderr
    assert "same" in ver.stdout and "verified" in ver.stdout
    recs = load_records(record)
    assert recs["longest-baseline"]["status"] == "verified"
    assert status_of(load_submission(folder), recs) == "verified"
    # editing a verified submission drops it back to community
    _set_meta(folder, description="changed after verification")
    assert status_of(load_submission(folder), recs) == "community"


def test_verify_detects_a_different_selection(tiny_run: Path, tmp_path: Path) -> None:
    subs = tmp_path / "s"
    run_cli("submit", str(tiny_run), "--name", "Forged", "--authors", "A", "--code", "https://x.org", "--out", str(subs))
    folder = subs / "forged"
    rows = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    row = next(r for r in rows if r["kind"] == "selector")
    sel = json.loads((folder / row["selection"]).read_text())
    sel["ids"] = list(reversed(sel["ids"]))  # same ids, another order: a different selection hash
    from selbench.hashing import ids_sha256

    sel["ids_sha256"] = ids_sha256(sel["ids"])
    (folder / row["selection"]).write_text(json.dumps(sel))
    for r in rows:
        if r.get("selection") == row["selection"]:
            r["selection_ids_sha256"] = sel["ids_sha256"]
    (folder / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_submission(folder)  # still a valid submission ...
    ver = run_cli("submissions", "verify", str(folder), "--no-record", "--out", str(tmp_path / "v"), "--max-selections", "1")
    assert ver.returncode == 2 and "DIFFERENT" in ver.stdout and "differs" in ver.stderr  # ... but not verified


def test_validate_cli_reports_the_reason(good: Path) -> None:
    _set_meta(good, verified=True)
    proc = run_cli("submissions", "validate", str(good.parent))
    assert proc.returncode == 2 and "invalid" in proc.stdout and "field 'verified'" in " ".join(proc.stdout.split())
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


SEEDED_PLUGIN = """
from selbench.selection.base import Selection, Selector


class EveryOther(Selector):
    \"\"\"A seeded file plugin: a seeded shuffle of the even positions.\"\"\"

    name = "every-other"
    version = "0.1.0"
    seeded = True

    def select(self, pool, budget, ctx):
        ids = pool.data["id"][::2]
        order = ctx.np_rng().permutation(len(ids))[:budget]
        return Selection(ids=[ids[int(i)] for i in order])
"""


def test_seeded_file_plugin_submits_verifies_and_is_ranked(tmp_path: Path) -> None:
    """The issue's done-when: a seeded file plugin run on the tiny spec submits (its code travels with
    it), verifies from that copy, and appears with its headline, CI and MDE."""
    from selbench.leaderboard.build import build

    plugin = tmp_path / "src" / "every_other.py"
    plugin.parent.mkdir()
    plugin.write_text(SEEDED_PLUGIN)
    run = make_tiny_run(tmp_path / "run", selector=f"{plugin}:EveryOther", budgets=(100,))
    subs = tmp_path / "submissions"
    # the plugin named as a user types it, relative to their working folder (matched by its sha256)
    proc = run_cli("submit", str(run), "--selector", "src/every_other.py:EveryOther", "--name", "Every Other",
                   "--authors", "Ada", "--code", "https://x.org", "--out", str(subs), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    folder = subs / "every-other"
    meta = _meta(folder)
    assert meta["plugin"]["file"] == "plugin/every_other.py" and meta["plugin"]["attr"] == "EveryOther"
    assert (folder / "plugin" / "every_other.py").read_text() == SEEDED_PLUGIN
    sub = load_submission(folder)
    assert sub.partial == [] and len([r for r in sub.rows if r.kind == "selector"]) == 3  # the spec's 3 train seeds
    plugin.unlink()  # verify runs the copy inside the submission, not the author's file
    record = tmp_path / "verified.json"
    ver = run_cli("submissions", "verify", str(folder), "--record", str(record), "--out", str(tmp_path / "verify"))
    assert ver.returncode == 0, ver.stderr + ver.stdout
    assert load_records(record)["every-other"]["status"] == "verified"
    res = build(subs, tmp_path / "site", verified=record, n_boot=200)
    row = res.leaderboard.selectors.set_index("slug").loc["every-other"]
    assert row["status"] == "verified" and np.isfinite(row["headline"]) and row["headline_mde"] > 0
    assert row["headline_ci_low"] <= row["headline"] <= row["headline_ci_high"]
    # a tampered plugin file no longer matches its hash
    (folder / "plugin" / "every_other.py").write_text(SEEDED_PLUGIN + "# changed\n")
    with pytest.raises(SubmissionError, match="does not match plugin.sha256"):
        load_submission(folder)


def test_verify_retrain_catches_scores_no_training_gives(tiny_run: Path, tmp_path: Path) -> None:
    """The fixture's selections are real but its scores are made up: re-training one sampled cell
    and re-evaluating it through vLLM gives another score, so the submission is not verified."""
    import shutil as _shutil

    if _shutil.which("vllm") is None and not (Path(os.sys.executable).with_name("vllm")).is_file():
        pytest.skip("vllm is not installed")
    subs = tmp_path / "s"
    run_cli("submit", str(tiny_run), "--name", "Made Up", "--authors", "A", "--code", "https://x.org", "--out", str(subs))
    ver = run_cli("submissions", "verify", str(subs / "made-up"), "--no-record", "--out", str(tmp_path / "v"),
                  "--max-selections", "1", "--retrain", "1", "--tolerance", "0.001")
    assert ver.returncode == 2, ver.stdout + ver.stderr
    assert "scores: recomputed from" in ver.stdout and "re-trained" in ver.stdout and "DIFFERENT" in ver.stdout
    assert "re-trained score differs" in ver.stderr and "Traceback" not in ver.stderr
