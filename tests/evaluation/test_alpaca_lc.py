"""The length-controlled AlpacaEval win rate, through alpaca-eval's own GLM, on a local
df_gamed.csv (the file the Docker image bakes in; here a synthetic one of the same columns).

A model that wins exactly where its answer is longer than the reference has a raw win rate far
above 50; controlling for length must bring it down. No server: annotations are made by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from selbench.evaluation.alpaca import _lc_winrate


def _gamed(path: Path, n: int, rng: np.random.Generator) -> Path:
    """Two 'gamed' baselines (verbose / concise prompts of the reference model), as in alpaca-eval's
    df_gamed.csv: per instruction its difficulty, the length difference and the preference."""
    difficulty = rng.normal(0, 1, n)
    rows = []
    for model, sign in (("verbose", 1.0), ("concise", -1.0)):
        delta = sign * np.abs(rng.normal(1.0, 0.3, n))
        p = 1 / (1 + np.exp(-(2.0 * np.tanh(delta) - 0.5 * difficulty)))
        rows.append(pd.DataFrame({"model": model, "index": np.arange(n), "instruction_difficulty": difficulty,
                                  "std_delta_len": delta, "preference": rng.binomial(1, p).astype(float),
                                  "not_gamed_baseline": False}))
    pd.concat(rows).to_csv(path, index=False)
    return path


def _annotations(n: int, rng: np.random.Generator) -> pd.DataFrame:
    longer = rng.random(n) < 0.8  # the model's answer is longer on 80% of the instructions ...
    ref_len = rng.integers(200, 400, n)
    model_len = np.where(longer, ref_len * 3, ref_len // 3)
    return pd.DataFrame({
        "index": np.arange(n),
        "output_1": ["r" * int(k) for k in ref_len],  # output_1: the reference (generator_1)
        "output_2": ["m" * int(k) for k in model_len],
        "generator_1": "reference", "generator_2": "model", "annotator": "test-judge",
        "preference": np.where(longer, 2.0, 1.0),  # ... and wins exactly there (2: output_2 preferred)
    })


def test_length_control_discounts_wins_bought_by_length(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    gamed = _gamed(tmp_path / "df_gamed.csv", n, rng)
    annotations = _annotations(n, rng)
    raw = 100 * (annotations["preference"] == 2.0).mean()
    result = _lc_winrate(annotations, gamed)
    assert result["length_controlled_status"] == f"computed with {gamed}", result
    lc = result["length_controlled_winrate"]
    assert 0 <= lc <= 100
    assert raw > 75 and lc < raw - 15, (raw, lc)


def test_a_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    result = _lc_winrate(_annotations(20, np.random.default_rng(1)), tmp_path / "absent.csv")
    assert result == {"length_controlled_status": f"not computed: {tmp_path / 'absent.csv'} not found"}
