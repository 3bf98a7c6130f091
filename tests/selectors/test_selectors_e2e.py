"""Alpagasus, Cherry and DEITA end to end on a small pool with the tiny spec's model.

Most runs are in-process (``isolate=False``) to keep the folder fast; one Cherry run goes through
the ``selbench select`` CLI (isolated worker, spec handed through), and one Alpagasus run uses a
real vLLM judge server (the tiny base model).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sel_helpers import spec_with_judge
from sb_testing import run_cli
from selbench.selection.stage import run_selection


def _select(pool, spec, selector, budget, out, cache, **params):  # noqa: ANN001, ANN202
    return run_selection(pool, selector, budget, 0, out, params=params, cost_model=spec.cost_model, spec=spec,
                         cache_dir=cache, isolate=False)


def test_alpagasus_with_an_api_judge(small_pool, tiny_spec, fake_judge, tmp_path: Path) -> None:  # noqa: ANN001
    api_base, judge = fake_judge
    spec = spec_with_judge(tiny_spec, api_base)
    art = _select(small_pool, spec, "alpagasus", 30, tmp_path / "out", tmp_path / "cache")
    rows = {r["id"]: r for r in small_pool.data}
    for id_ in art.ids[:20]:  # 40 of 60 are right: every pick among the first 40 is rated 5
        m = re.search(r"What is (\d+) plus (\d+)\?", rows[id_]["instruction"])
        assert f" is {int(m[1]) + int(m[2])}." in rows[id_]["output"]
    assert art.data["info"]["ratings"]["unparsed"] == 0  # "5.0", "Score: 5", "I rate it 5" all parsed
    assert art.data["info"]["rating_histogram"] == {"1": 20, "5": 40}
    cost = art.data["cost"]
    assert cost["amortised"]["api_calls"] == 60 and cost["amortised"]["api_input_tokens"] > 0
    assert cost["per_budget"]["api_calls"] == 0 and cost["usd"]["amortised"] > 0
    assert judge.calls == 60
    # fallback: budget 50 > 40 passing; the cached ratings are reused (no new calls) and their cost re-charged
    again = _select(small_pool, spec, "alpagasus", 50, tmp_path / "out", tmp_path / "cache")
    assert judge.calls == 60 and again.data["info"]["ratings"]["cached"] is True
    assert again.data["cost"]["amortised"]["api_calls"] == 60
    rule = again.data["info"]["rule"]
    assert rule["passed_rule"] == 40 and rule["filled_by_fallback"] == 10 and "lower the threshold" in rule["note"]


def test_deita_deterministic_with_cost(small_pool, tiny_spec, tmp_path: Path) -> None:  # noqa: ANN001
    a = _select(small_pool, tiny_spec, "deita", 20, tmp_path / "a", tmp_path / "cache-a", scorer="base")
    b = _select(small_pool, tiny_spec, "deita", 20, tmp_path / "b", tmp_path / "cache-b", scorer="base")
    assert a.ids == b.ids and len(set(a.ids)) == 20
    cost = a.data["cost"]
    assert cost["amortised"]["tokens"] > 0 and cost["amortised"]["flops"] > 0 and cost["amortised"]["wall_s"] > 0
    info = a.data["info"]
    assert info["quality"]["cached"] is False and info["rule"]["threshold"] == 0.9
    kept = a.data["scores"][: info["rule"]["passed_rule"]]
    assert kept == sorted(kept, reverse=True)  # the walk is score-first; the fallback fills after


def test_cherry_via_cli_isolated_and_deterministic(small_pool, tiny_spec, small_pool_file: Path, tmp_path: Path) -> None:  # noqa: ANN001
    args = ["select", "--spec", "tiny", "--pool", str(small_pool_file), "--budget", "15", "--selector", "cherry",
            "--param", "clusters=3", "--param", "per_cluster=4", "--json"]
    first = run_cli(*args, "--out", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    s1 = json.loads(first.stdout)
    assert s1["size"] == 15
    data = json.loads(Path(s1["path"]).read_text())
    assert data["spec"].startswith("tiny@v")
    assert data["info"]["pre_experience"]["examples"] == 12
    assert data["cost"]["amortised"]["tokens"] > 0 and data["cost"]["total"]["wall_s"] > 0
    ifd = data["scores"]
    assert all(s <= 1.0 for s in ifd[: data["info"]["rule"]["passed_rule"]])
    # recomputed from scratch (fresh score cache: new pre-experienced model, new IFD) in-process: same ids
    again = _select(small_pool, tiny_spec, "cherry", 15, tmp_path / "b", tmp_path / "fresh-cache", clusters=3, per_cluster=4)
    assert again.data["info"]["ifd"]["cached"] is False
    assert again.data["ids_sha256"] == s1["ids_sha256"]


def test_model_selector_without_spec_is_a_clear_error(small_pool, tmp_path: Path) -> None:  # noqa: ANN001
    from selbench.errors import SelbenchError

    with pytest.raises(SelbenchError, match="--spec tiny"):
        run_selection(small_pool, "deita", 5, 0, tmp_path, isolate=False)


@pytest.mark.timeout(400) if hasattr(pytest.mark, "timeout") else (lambda f: f)
def test_alpagasus_real_vllm_judge(small_pool_file: Path, tmp_path: Path) -> None:
    """The one vLLM-backed test: the tiny base model served by vLLM rates a 60-row pool."""
    proc = run_cli("select", "--spec", "tiny", "--pool", str(small_pool_file), "--budget", "10", "--selector",
                   "alpagasus", "--json", "--out", str(tmp_path / "out"), timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    data = json.loads(Path(summary["path"]).read_text())
    ratings = data["info"]["ratings"]
    assert ratings["constrained_to_digits"] is True and ratings["unparsed"] == 0 and ratings["rejected"] == 0
    assert data["cost"]["amortised"]["tokens"] > 0 and data["cost"]["amortised"]["api_calls"] == 0
    assert summary["size"] == 10
