"""The submission folder format (``submissions/<slug>/``).

```
metadata.json | metadata.yaml   Metadata: name, authors, links, plugin, spec, track, API use
results.jsonl                   one ResultRow (selbench.results.schema) per line
provenance.json                 Provenance: package versions, Python, platform, GPU, image digest
samples.jsonl                   optional: a few {benchmark, prompt, output} examples to show
items/*.jsonl.gz                per-item scores, one file per result row
selections/*.json               the selection.json (ids, ids_sha256, cost) of every fine-tuned row
plugin/<name>.py                a file plugin's code (metadata plugin.file + plugin.sha256), re-run by verify
```
Every file is referenced by a row or is one of the fixed names above; anything else (including a
``verification.json`` or symlink) is rejected. "verified" is never part of a submission: it is
recorded by ``selbench submissions verify`` in ``leaderboard/verified.json``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from selbench.results.schema import HEX64, NAME
from selbench.safe_text import printable

SUBMISSION_SCHEMA = "selbench.submission/v1"
_URL = re.compile(r"^https?://[^\s<>\"'`]+$")

# size limits, bytes
LIMITS = {
    "metadata": 64 << 10,
    "results.jsonl": 16 << 20,
    "provenance.json": 256 << 10,
    "samples.jsonl": 256 << 10,
    "items": 8 << 20,
    "selections": 32 << 20,
    "plugin": 1 << 20,
    "total": 1 << 30,
    "files": 50_000,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, strict=True)  # no coercion


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not _URL.match(value) or len(value) > 500:
        raise ValueError("must be an http(s):// URL (no spaces, quotes or angle brackets, at most 500 characters)")
    return value


class Plugin(_Strict):
    name: str = Field(pattern=NAME, description="Selector registry name (built-in or entry point), as in the result rows.")
    version: str = Field(min_length=1, max_length=64)
    install: str | None = Field(None, max_length=300, description="How CI gets the plugin: a pip requirement (e.g. 'my-sel==1.0') or null for built-ins.")
    file: str | None = Field(None, pattern=r"^plugin/[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\.py$",
                             description="A file plugin: its code inside the submission (plugin/<name>.py); verify re-runs it from there.")
    sha256: str | None = Field(None, pattern=HEX64, description="sha256 of the plugin file's bytes.")
    attr: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$", description="The Selector class in the file.")

    @model_validator(mode="after")
    def _file_and_hash(self) -> Plugin:
        if (self.file is None) != (self.sha256 is None):
            raise ValueError("a file plugin needs both `file` and `sha256`")
        if self.attr is not None and self.file is None:
            raise ValueError("`attr` names the class of a file plugin: give `file` too")
        return self


class Metadata(_Strict):
    """``metadata.json`` / ``metadata.yaml``."""

    schema_: Literal["selbench.submission/v1"] = Field(SUBMISSION_SCHEMA, alias="schema")
    name: str = Field(min_length=1, max_length=100)
    authors: list[str] = Field(min_length=1, max_length=50)
    paper: str | None = Field(None, description="http(s) URL of the paper.")
    code: str = Field(description="http(s) URL of the code.")
    description: str = Field("", max_length=2000)
    plugin: Plugin
    spec: str = Field(pattern=NAME)
    spec_version: int = Field(ge=1)
    track: Literal["general", "targeted"]
    uses_api: bool = False
    external_models: list[str] = Field(default_factory=list, max_length=20)
    submitted: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, populate_by_name=True, strict=True)

    @field_validator("authors", "external_models")
    @classmethod
    def _short_strings(cls, v: list[str]) -> list[str]:
        for s in v:
            if not s or len(s) > 200:
                raise ValueError("each entry must be 1 to 200 characters")
        return v

    _urls = field_validator("paper", "code")(classmethod(lambda cls, v: _http_url(v)))

    @field_validator("name", "description", "authors", "external_models", mode="before")
    @classmethod
    def _no_control_characters(cls, v: Any) -> Any:
        """Submitted text is shown on the page and echoed by the CLI: terminal escapes and other
        control characters are removed (newlines and tabs kept)."""
        if isinstance(v, str):
            return printable(v, limit=100_000)
        if isinstance(v, list):
            return [printable(x, limit=100_000) if isinstance(x, str) else x for x in v]
        return v

    @property
    def uses_external_model(self) -> bool:
        return bool(self.external_models)


class Provenance(_Strict):
    """``provenance.json``: the environment that produced the results."""

    suite_version: str = Field(max_length=64)
    python: str = Field(max_length=64)
    platform: str = Field(max_length=200)
    packages: dict[str, str] = Field(default_factory=dict, max_length=500)
    gpu: str | None = Field(None, max_length=200)
    gpus: int = Field(0, ge=0)
    container_image_digest: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$")
    created: str = Field(max_length=40)


class Sample(_Strict):
    """One line of ``samples.jsonl``: an example output shown on the selector's page."""

    benchmark: str = Field(pattern=NAME)
    prompt: str = Field(max_length=4000)
    output: str = Field(max_length=4000)
