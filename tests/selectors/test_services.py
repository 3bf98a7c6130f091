"""The shared services on the tiny base model: batching does not change results; cache hits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from selbench.cost.meter import CostMeter
from selbench.services import Services


def test_batched_losses_match_one_at_a_time(tiny_spec) -> None:  # noqa: ANN001
    meter = CostMeter()
    services = Services(meter, spec=tiny_spec)
    prompts = ["<s><|user|>\nWhat is 2 plus 2?<|end|>\n<|assistant|>\n", "", "<s><|assistant|>\n"]
    answers = ["It is 4.", "A longer answer with many more tokens than the others.", "x"]
    batched = services.forward(batch_size=8).answer_losses(prompts, answers)
    single = services.forward(batch_size=1).answer_losses(prompts, answers)
    np.testing.assert_allclose(batched, single, rtol=1e-4)
    assert np.isfinite(batched).all() and meter.record().per_budget.tokens > 0
    emb_b = services.embedder(batch_size=8).embed(answers, pooling="last")
    emb_1 = services.embedder(batch_size=1).embed(answers, pooling="last")
    np.testing.assert_allclose(emb_b, emb_1, rtol=1e-4, atol=1e-5)


def test_score_cache_charges_stored_cost_as_amortised(tmp_path: Path) -> None:
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        meter.add_tokens(100, 1e6)
        return {"x": np.arange(3)}

    meter = CostMeter().start()
    cache = Services(meter, cache_dir=tmp_path).cache
    arrays, info = cache.get_or_compute("t", {"pool": "p"}, compute)
    assert info["cached"] is False and arrays["x"].tolist() == [0, 1, 2]
    meter2 = CostMeter().start()
    arrays2, info2 = Services(meter2, cache_dir=tmp_path).cache.get_or_compute("t", {"pool": "p"}, compute)
    assert info2["cached"] is True and len(calls) == 1 and arrays2["x"].tolist() == [0, 1, 2]
    rec = meter2.stop()
    assert rec.amortised.tokens == 100 and rec.per_budget.tokens == 0
