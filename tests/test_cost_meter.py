"""CostMeter: measures time, separates amortised work, prices with the cost model."""

from __future__ import annotations

import time

from selbench.cost import CostMeter, CostRecord, price
from selbench.cost.meter import Usage, transformer_forward_flops, transformer_train_flops
from selbench.specs.models import CostModelSpec


def _busy(cpu_seconds: float) -> None:
    """Burn this much process CPU time (not wall time: the machine may be loaded)."""
    end = time.process_time() + cpu_seconds
    x = 0
    while time.process_time() < end:
        x += 1


def test_measures_wall_and_cpu_time() -> None:
    with CostMeter() as meter:
        _busy(0.3)
        time.sleep(0.2)
    rec = meter.record()
    assert 0.3 <= rec.per_budget.cpu_s < 0.3 + 0.25
    assert rec.per_budget.wall_s >= rec.per_budget.cpu_s + 0.19  # sleeping costs wall time, no CPU
    assert rec.per_budget.peak_rss_bytes > 0
    assert rec.gpus == 0 and rec.per_budget.gpu_s == 0


def test_amortised_phase_is_kept_apart() -> None:
    meter = CostMeter().start()
    with meter.amortised():
        _busy(0.2)
        meter.add_tokens(1000, flops=transformer_forward_flops(1e6, 1000))
        meter.add_api_call(input_tokens=300, output_tokens=5)
    meter.add_tokens(10)
    _busy(0.05)
    rec = meter.stop()
    assert rec.amortised.cpu_s >= 0.2 > rec.per_budget.cpu_s >= 0.05
    assert (rec.amortised.tokens, rec.per_budget.tokens) == (1000, 10)
    assert rec.amortised.flops == 2e9 and rec.amortised.api_calls == 1
    assert rec.total.tokens == 1010


def test_pricing_uses_gpu_rate_when_gpus_were_used_else_cpu_rate() -> None:
    model = CostModelSpec(usd_per_gpu_hour=3.0, usd_per_cpu_core_hour=0.1,
                          usd_per_1k_api_input_tokens=0.5, usd_per_1k_api_output_tokens=2.0)
    gpu = price(CostRecord(per_budget=Usage(wall_s=3600, cpu_s=7200, gpu_s=7200)), model)
    assert gpu.usd["per_budget"] == 6.0
    cpu = price(CostRecord(per_budget=Usage(cpu_s=1800), amortised=Usage(api_input_tokens=2000, api_output_tokens=500)), model)
    assert cpu.usd == {"per_budget": 0.05, "amortised": 2.0, "total": 2.05}


def test_record_round_trips_through_json() -> None:
    rec = CostRecord(per_budget=Usage(wall_s=1.5, tokens=7), amortised=Usage(flops=3.0), gpus=2, gpu_name="H100")
    again = CostRecord.from_dict(rec.to_dict())
    assert again.to_dict() == rec.to_dict()
    assert transformer_train_flops(10, 2) == 3 * transformer_forward_flops(10, 2)
