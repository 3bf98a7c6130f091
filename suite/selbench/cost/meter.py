"""CostMeter: what a stage (selection, training, evaluation) consumed.

It measures wall time, process CPU-seconds (self + waited children), GPU-seconds (wall time x
GPUs visible, i.e. the GPU time paid for) and peak GPU memory when CUDA is in use, and it
accumulates what services report: tokens processed, analytic FLOPs, API calls and API tokens.
Work done once per pool (scoring every example) is kept apart, as *amortised*, from work done
per budget (picking the top-k), because a leaderboard reader pays the first only once.

The hot path (``add_tokens``/``add_api_call``) is a few integer additions; start/stop read two
clocks and ``getrusage``. ``benchmarks/cost_meter_overhead.py`` measures it.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

Phase = Literal["per_budget", "amortised"]


@dataclass
class Usage:
    """Resources consumed in one phase."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    gpu_s: float = 0.0
    peak_gpu_mem_bytes: int = 0
    peak_rss_bytes: int = 0
    tokens: int = 0
    flops: float = 0.0
    api_calls: int = 0
    api_input_tokens: int = 0
    api_output_tokens: int = 0

    def merge(self, other: Usage) -> Usage:
        out = Usage()
        for f in fields(Usage):
            a, b = getattr(self, f.name), getattr(other, f.name)
            setattr(out, f.name, max(a, b) if f.name.startswith("peak_") else a + b)
        return out

    def since(self, before: Usage) -> Usage:
        """What was used between the snapshot ``before`` and this one (peaks: this snapshot's)."""
        out = Usage()
        for f in fields(Usage):
            a, b = getattr(self, f.name), getattr(before, f.name)
            setattr(out, f.name, a if f.name.startswith("peak_") else a - b)
        return out


@dataclass
class CostRecord:
    """The serialisable result: usage per phase, devices, and dollars per the spec's cost model."""

    per_budget: Usage = field(default_factory=Usage)
    amortised: Usage = field(default_factory=Usage)
    gpus: int = 0
    gpu_name: str | None = None
    usd: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> Usage:
        return self.per_budget.merge(self.amortised)

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_budget": asdict(self.per_budget),
            "amortised": asdict(self.amortised),
            "total": asdict(self.total),
            "gpus": self.gpus,
            "gpu_name": self.gpu_name,
            "usd": self.usd,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostRecord:
        return cls(
            per_budget=Usage(**data.get("per_budget", {})),
            amortised=Usage(**data.get("amortised", {})),
            gpus=int(data.get("gpus", 0)),
            gpu_name=data.get("gpu_name"),
            usd=dict(data.get("usd", {})),
        )


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_bytes() -> int:
    # ru_maxrss is KiB on Linux
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024


def _cuda() -> Any | None:
    """torch.cuda if torch is already imported and a GPU is usable (never imports torch itself)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return torch.cuda if torch.cuda.is_available() else None
    except Exception:  # a broken CUDA install must not break metering
        return None


class CostMeter:
    """Accumulates :class:`Usage` while running; ``record()`` gives the :class:`CostRecord`.

    Use as a context manager around a stage, or ``start()``/``stop()``. Inside, ``with
    meter.amortised():`` routes time and reported work to the amortised phase.
    """

    def __init__(self) -> None:
        self._usage: dict[Phase, Usage] = {"per_budget": Usage(), "amortised": Usage()}
        self._phase: Phase = "per_budget"
        self._current = self._usage["per_budget"]  # the hot path skips the dict lookup
        self._mark: tuple[float, float] | None = None
        self._gpus = 0
        self._gpu_name: str | None = None

    # -- timing ---------------------------------------------------------------------------
    def start(self) -> CostMeter:
        cuda = _cuda()
        if cuda is not None:
            self._gpus = cuda.device_count()
            self._gpu_name = cuda.get_device_name(0)
            cuda.reset_peak_memory_stats()
        self._mark = (time.perf_counter(), _cpu_seconds())
        return self

    def _flush(self) -> None:
        """Charge the time since the last mark to the current phase."""
        if self._mark is None:
            return
        wall0, cpu0 = self._mark
        wall1, cpu1 = time.perf_counter(), _cpu_seconds()
        usage = self._usage[self._phase]
        usage.wall_s += wall1 - wall0
        usage.cpu_s += cpu1 - cpu0
        if self._gpus == 0:
            cuda = _cuda()  # torch may have been imported (and CUDA started) after start()
            if cuda is not None:
                self._gpus, self._gpu_name = cuda.device_count(), cuda.get_device_name(0)
        usage.gpu_s += (wall1 - wall0) * self._gpus
        usage.peak_rss_bytes = max(usage.peak_rss_bytes, _peak_rss_bytes())
        cuda = _cuda() if self._gpus else None
        if cuda is not None:
            peak = max(cuda.max_memory_allocated(i) for i in range(self._gpus))
            usage.peak_gpu_mem_bytes = max(usage.peak_gpu_mem_bytes, int(peak))
        self._mark = (wall1, cpu1)

    def stop(self) -> CostRecord:
        self._flush()
        self._mark = None
        return self.record()

    def __enter__(self) -> CostMeter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextmanager
    def amortised(self) -> Iterator[None]:
        """Charge everything inside to the amortised (once-per-pool) phase."""
        self._flush()
        previous, self._phase = self._phase, "amortised"
        self._current = self._usage["amortised"]
        try:
            yield
        finally:
            self._flush()
            self._phase = previous
            self._current = self._usage[previous]

    @contextmanager
    def measure_amortised(self) -> Iterator[Usage]:
        """Like :meth:`amortised`, and the yielded :class:`Usage` is filled, on a normal exit, with
        what the block used.

        Cached once-per-pool work (score arrays, the LESS warm-up) stores this usage with its
        result, so that a later cache hit can charge the same amount again.
        """
        measured = Usage()
        with self.amortised():
            before = self.record().amortised
            yield measured
        used = self.record().amortised.since(before)
        for f in fields(Usage):
            setattr(measured, f.name, getattr(used, f.name))

    # -- reported work (hot path) -------------------------------------------------------------
    def add_tokens(self, tokens: int, flops: float = 0.0) -> None:
        usage = self._current
        usage.tokens += tokens
        usage.flops += flops

    def add_api_call(self, input_tokens: int, output_tokens: int, calls: int = 1) -> None:
        usage = self._current
        usage.api_calls += calls
        usage.api_input_tokens += input_tokens
        usage.api_output_tokens += output_tokens

    def add_usage(self, usage: Usage, phase: Phase = "per_budget") -> None:
        """Fold in usage measured elsewhere (e.g. a selector's worker process)."""
        merged = self._usage[phase].merge(usage)
        for f in fields(Usage):
            setattr(self._usage[phase], f.name, getattr(merged, f.name))

    def record(self) -> CostRecord:
        return CostRecord(
            per_budget=Usage(**asdict(self._usage["per_budget"])),
            amortised=Usage(**asdict(self._usage["amortised"])),
            gpus=self._gpus,
            gpu_name=self._gpu_name,
        )


def transformer_forward_flops(params: float, tokens: int) -> float:
    """Analytic FLOPs of a forward pass: 2 x parameters x tokens (Kaplan et al. 2020)."""
    return 2.0 * params * tokens


def transformer_train_flops(params: float, tokens: int) -> float:
    """Forward + backward: 6 x parameters x tokens."""
    return 6.0 * params * tokens
