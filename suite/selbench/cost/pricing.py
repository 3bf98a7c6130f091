"""Turn measured usage into dollars with the spec's cost model.

GPU-seconds are priced at the GPU-hour rate, CPU-seconds at the core-hour rate only when no GPU
was used (a GPU rental includes its host), API tokens at the per-1k-token rates.
"""

from __future__ import annotations

from selbench.cost.meter import CostRecord, Usage
from selbench.specs.models import CostModelSpec


def usage_usd(usage: Usage, model: CostModelSpec) -> float:
    compute = usage.gpu_s / 3600.0 * model.usd_per_gpu_hour if usage.gpu_s > 0 else usage.cpu_s / 3600.0 * model.usd_per_cpu_core_hour
    api = (
        usage.api_input_tokens / 1000.0 * model.usd_per_1k_api_input_tokens
        + usage.api_output_tokens / 1000.0 * model.usd_per_1k_api_output_tokens
    )
    return compute + api


def price(record: CostRecord, model: CostModelSpec) -> CostRecord:
    """``record`` with its ``usd`` filled: per phase and total."""
    per_budget = usage_usd(record.per_budget, model)
    amortised = usage_usd(record.amortised, model)
    record.usd = {"per_budget": round(per_budget, 6), "amortised": round(amortised, 6), "total": round(per_budget + amortised, 6)}
    return record
