"""Results of ``selbench run``: one :class:`~selbench.results.schema.ResultRow` per cell and
benchmark, per-item scores beside it (gzip-compressed JSONL)."""

from selbench.results.schema import RESULT_SCHEMA, PhaseCost, ResultRow, RowKind, StageCost

__all__ = ["RESULT_SCHEMA", "PhaseCost", "ResultRow", "RowKind", "StageCost"]
