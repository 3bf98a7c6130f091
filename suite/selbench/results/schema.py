"""The result-row contract: what ``selbench run`` writes and the leaderboard consumes.

A run folder (and a submission) holds ``results.jsonl``: one :class:`ResultRow` per
(pool, budget, selector, seed, benchmark) cell, plus reference rows (``random`` seeds,
``full`` pool, ``zero-shot``). Each row points to a gzip-compressed JSONL file of per-item
scores (``{"id": ..., "score": ...}`` per line, see :mod:`selbench.results.items`) and, for
rows that fine-tuned on a selection, to the ``selection.json`` it used.

``score`` is the benchmark's summary number; when it is the mean of the per-item scores (the
usual case) the bootstrap CI is exact, otherwise the CI of the item-level mean is shifted onto
the reported score.

Paths inside a row are relative to the folder holding ``results.jsonl``, POSIX, without ``..``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

RESULT_SCHEMA = "selbench.result/v1"

RowKind = Literal["selector", "random", "full", "zero-shot"]
Track = Literal["general", "targeted"]

HEX64 = r"^[0-9a-f]{64}$"
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
# a benchmark row may name one variant of its benchmark: ``alpaca-eval/standard``
BENCH_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?$"

#: ``0-1``: a fraction (accuracy); ``0-100``: a percentage (AlpacaEval win rate; its per-item
#: scores are still fractions in [0, 1]); ``nats``: a cross-entropy (query loss).
Scale = Literal["0-1", "0-100", "nats"]
#: whether a larger score is better; aggregation flips ``lower`` rows, never averages them in raw.
Direction = Literal["higher", "lower"]
#: how ``score`` is made from the per-item scores: their ``mean`` (x100 at scale 0-100), or the
#: ``task-macro`` average: the mean of each task's item mean, a task being the first ``/``
#: segment of the item id (``mmlu/abstract_algebra/12`` -> ``mmlu``); a bootstrap resamples
#: items within each task and re-averages.
Aggregate = Literal["mean", "task-macro"]
# relative POSIX path: segments of safe characters, no empty / '.' / '..' segments
_REL_PATH = re.compile(r"^(?!/)(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})(?:/[A-Za-z0-9_][A-Za-z0-9._-]{0,127}){0,7}$")


def check_relative_path(value: str) -> str:
    """``value`` if it is a safe relative path inside a folder, else ValueError (path traversal,
    absolute paths, backslashes, odd characters)."""
    if not isinstance(value, str) or not _REL_PATH.match(value) or any(p in (".", "..") for p in value.split("/")):
        raise ValueError(f"unsafe path {value!r}: use a relative path of letters, digits, '.', '_', '-' "
                         "and '/', with no '..', no leading '/' and no backslash")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)  # "0.5" is not 0.5


class PhaseCost(_Strict):
    """Resources of one phase (amortised = once per pool; per_budget = for this budget)."""

    usd: float = Field(0.0, ge=0, description="Dollars, priced with the spec's cost model.")
    gpu_s: float = Field(0.0, ge=0, description="GPU-seconds (wall time x GPUs held).")
    cpu_s: float = Field(0.0, ge=0, description="Process CPU-seconds.")
    flops: float = Field(0.0, ge=0, description="Analytic FLOPs estimate.")
    tokens: int = Field(0, ge=0)
    api_input_tokens: int = Field(0, ge=0)
    api_output_tokens: int = Field(0, ge=0)


class StageCost(_Strict):
    """The cost of a stage (selection or fine-tuning), amortised kept apart from per-budget."""

    amortised: PhaseCost = Field(default_factory=PhaseCost)
    per_budget: PhaseCost = Field(default_factory=PhaseCost)
    gpus: int = Field(0, ge=0)
    gpu_name: str | None = Field(None, max_length=200)

    @property
    def usd(self) -> float:
        """Total dollars: what producing this one artifact from scratch cost."""
        return self.amortised.usd + self.per_budget.usd

    @property
    def gpu_s(self) -> float:
        return self.amortised.gpu_s + self.per_budget.gpu_s

    @property
    def flops(self) -> float:
        return self.amortised.flops + self.per_budget.flops

    @classmethod
    def from_cost_record(cls, record: dict[str, Any]) -> StageCost:
        """From :meth:`selbench.cost.meter.CostRecord.to_dict` (the ``cost`` of a selection.json)."""
        usd = record.get("usd") or {}
        phases = {}
        for phase in ("amortised", "per_budget"):
            u = record.get(phase) or {}
            phases[phase] = PhaseCost(
                usd=float(usd.get(phase, 0.0)), gpu_s=float(u.get("gpu_s", 0.0)), cpu_s=float(u.get("cpu_s", 0.0)),
                flops=float(u.get("flops", 0.0)), tokens=int(u.get("tokens", 0)),
                api_input_tokens=int(u.get("api_input_tokens", 0)), api_output_tokens=int(u.get("api_output_tokens", 0)),
            )
        return cls(**phases, gpus=int(record.get("gpus", 0)), gpu_name=record.get("gpu_name"))


class ResultRow(_Strict):
    """One JSON line of ``results.jsonl``: a benchmark score of one fine-tuned (or zero-shot) model."""

    schema_: Literal["selbench.result/v1"] = Field(RESULT_SCHEMA, alias="schema")
    kind: RowKind = Field(description="selector: the method under test; random / full / zero-shot: reference rows.")
    spec: str = Field(pattern=NAME, description="Spec name, e.g. chasing-random-v1.")
    spec_version: int = Field(ge=1)
    track: Track
    pool: str = Field(pattern=NAME)
    pool_fingerprint: str = Field(pattern=HEX64, description="sha256 of the sorted pool ids.")
    budget: int | None = Field(ge=1, description="Examples selected; null for full and zero-shot rows.")
    selector: str = Field(pattern=NAME, description="Selector registry name ('random', 'full', 'zero-shot' for reference rows).")
    selector_version: str = Field(min_length=1, max_length=64)
    seed: int = Field(ge=0)
    benchmark: str = Field(pattern=BENCH_NAME, description="Benchmark name, or name/variant (alpaca-eval/standard, alpaca-eval/pooled-random).")
    target: str | None = Field(None, pattern=NAME, description="Targeted track: the target task whose query set the selector was given; null for reference rows and the general track.")
    metric: str = Field(pattern=NAME, description="Metric name, e.g. prompt_level_strict_acc.")
    score: float = Field(allow_inf_nan=False)
    scale: Scale = Field("0-1", description="0-1 (fraction), 0-100 (percentage; items are fractions) or nats.")
    direction: Direction = Field("higher", description="higher: larger is better; lower: smaller is better (query loss).")
    aggregate: Aggregate = Field("mean", description="How the score is made from the items: mean, or task-macro (mean of per-task means; task = first '/' segment of the item id).")
    extra_metrics: dict[str, float] = Field(default_factory=dict, description="Other numbers of the same evaluation, e.g. inst_level_strict_acc, tasks.mmlu, Natural.accuracy, length_controlled_winrate.")
    n_items: int = Field(ge=1)
    item_scores: str = Field(description="Relative path of the gzip JSONL of per-item scores.")
    item_scores_sha256: str = Field(pattern=HEX64)
    selection_ids_sha256: str | None = Field(None, pattern=HEX64, description="ids_sha256 of the selection fine-tuned on; null for zero-shot.")
    selection: str | None = Field(None, description="Relative path of the selection.json; required for selector and random rows.")
    selection_cost: StageCost = Field(default_factory=StageCost)
    finetune_cost: StageCost = Field(default_factory=StageCost)

    _check_item_path = field_validator("item_scores")(classmethod(lambda cls, v: check_relative_path(v)))

    @field_validator("selection")
    @classmethod
    def _check_selection_path(cls, v: str | None) -> str | None:
        return None if v is None else check_relative_path(v)

    @model_validator(mode="after")
    def _consistent(self) -> ResultRow:
        if self.kind in ("selector", "random"):
            if self.budget is None:
                raise ValueError(f"a {self.kind} row needs a budget")
            if self.selection is None or self.selection_ids_sha256 is None:
                raise ValueError(f"a {self.kind} row needs `selection` and `selection_ids_sha256`")
        if self.kind in ("full", "zero-shot") and self.budget is not None:
            raise ValueError(f"a {self.kind} row has no budget (use null)")
        if self.kind == "zero-shot" and (self.selection is not None or self.finetune_cost.usd > 0):
            raise ValueError("a zero-shot row has no selection and no fine-tune cost")
        if self.kind != "zero-shot" and self.finetune_cost.usd <= 0:
            raise ValueError("finetune_cost.usd must be > 0 for a fine-tuned row (the cost-adjusted gain divides by it)")
        if self.kind == "random" and self.selector != "random":
            raise ValueError("a random row must have selector 'random'")
        if len(self.extra_metrics) > 200 or any(len(k) > 120 for k in self.extra_metrics):
            raise ValueError("extra_metrics: at most 200 entries with names of at most 120 characters")
        if not all(math.isfinite(v) for v in self.extra_metrics.values()):
            raise ValueError("extra_metrics: every value must be finite")
        return self

    @property
    def spec_id(self) -> str:
        return f"{self.spec}@v{self.spec_version}"

    def to_json_line(self) -> str:
        return self.model_dump_json(by_alias=True) + "\n"
