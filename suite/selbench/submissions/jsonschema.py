"""Publish JSON Schema files for the submission format (``submissions/schema/*.json``).

``python -m selbench.submissions.jsonschema submissions/schema`` regenerates them; a test
checks the committed files are up to date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from selbench.results.schema import ResultRow
from selbench.submissions.schema import Metadata, Provenance, Sample

MODELS = {"result-row": ResultRow, "metadata": Metadata, "provenance": Provenance, "sample": Sample}


def schemas() -> dict[str, str]:
    out = {}
    for name, model in MODELS.items():
        schema = model.model_json_schema(by_alias=True)
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"selbench/{name}.schema.json", **schema}
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in schemas().items():
        (folder / name).write_text(text, "utf-8")
        paths.append(folder / name)
    return paths


if __name__ == "__main__":
    for p in write(sys.argv[1] if len(sys.argv) > 1 else "submissions/schema"):
        print(p)
