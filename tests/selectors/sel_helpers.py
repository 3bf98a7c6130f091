"""Helpers of the selector tests, in a uniquely named module (several test folders have a
conftest.py, so `from conftest import ...` picks whichever was imported first)."""

from __future__ import annotations

from typing import Any


def spec_with_judge(spec: Any, api_base: str) -> Any:
    from selbench.specs.models import JudgeSpec

    return spec.model_copy(update={"judge": JudgeSpec(api_base=api_base, api_model="fake-judge")})
