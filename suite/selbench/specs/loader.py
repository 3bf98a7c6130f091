"""Find, parse and validate specs, reporting every problem with its field path.

A spec is named by a built-in name (``tiny``, ``chasing-random-v1``, ``targeted-v1``; YAML
shipped as package data) or by a path to a YAML file. Relative pool/model paths in a user's
file are resolved against that file's directory, so a spec travels with its data.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from selbench.errors import SpecError
from selbench.specs.models import Spec
from selbench.suggest import did_you_mean

DEFAULT_SPEC = "tiny"


def builtin_spec_names() -> list[str]:
    folder = resources.files("selbench.specs") / "builtin"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{origin}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{origin}: a spec must be a YAML mapping, got {type(data).__name__}")
    return data


def _loc(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Render a pydantic error location as ``pools[1](dolly).revision``."""
    out = ""
    node: Any = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                out += f"({node['name']})"
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def format_validation_error(exc: ValidationError, data: dict[str, Any], origin: str) -> str:
    errors = []
    for err in exc.errors():
        # union branches add noise to the location
        loc = tuple(p for p in err["loc"] if p not in ("str", "FieldMapping", "function-after"))
        errors.append((loc, err["type"], err["msg"].removeprefix("Value error, ").replace("Tuple should", "List should")))
    # a list whose items failed is also reported "too short" by pydantic: drop that echo
    errors = [
        e for e in errors
        if not (e[1] == "too_short" and any(o[0][: len(e[0])] == e[0] and len(o[0]) > len(e[0]) for o in errors))
    ]
    lines = [f"{origin}: {len(errors)} error(s)"]
    lines += [f"  {_loc(loc, data)}: {msg}" for loc, _, msg in errors]
    return "\n".join(lines)


def _resolve_relative_paths(data: dict[str, Any], base: Path) -> None:
    def fix(entry: Any) -> None:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            path = Path(entry["path"]).expanduser()
            if not path.is_absolute() and "://" not in entry["path"]:
                entry["path"] = str((base / path).resolve())

    for pool in data.get("pools") or []:
        fix(pool)
    fix(data.get("base_model"))
    for bench in data.get("benchmarks") or []:
        fix(bench)


def parse_spec(text: str, origin: str, base_dir: Path | None = None) -> Spec:
    data = _read_yaml(text, origin)
    if base_dir is not None:
        _resolve_relative_paths(data, base_dir)
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, data, origin)) from None


def load_spec(name_or_path: str | Path = DEFAULT_SPEC) -> Spec:
    """Load a built-in spec by name, or a spec file by path."""
    text_name = str(name_or_path)
    names = builtin_spec_names()
    if text_name in names:
        text = (resources.files("selbench.specs") / "builtin" / f"{text_name}.yaml").read_text("utf-8")
        return parse_spec(text, f"spec '{text_name}'")
    path = Path(text_name).expanduser()
    if path.is_file():
        return parse_spec(path.read_text("utf-8"), str(path), base_dir=path.resolve().parent)
    if path.suffix in (".yaml", ".yml") or "/" in text_name:
        raise SpecError(f"spec file not found: {path}")
    raise SpecError(f"unknown spec '{text_name}'{did_you_mean(text_name, names)}")
