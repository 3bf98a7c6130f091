"""What identifies a selector's code without importing it (used in artifact keys).

Built-ins are identified by the suite version, installed plugins by their distribution's
version, plugin files by the sha256 of the file. The parent process can therefore decide that a
selection is already done without running any untrusted code.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from selbench import __version__
from selbench.errors import SelectorError
from selbench.hashing import sha256_file
from selbench.selection.registry import BUILTIN, ENTRY_POINT_GROUP, is_file_spec, known_selectors
from selbench.suggest import did_you_mean


def selector_identity(spec: str) -> dict[str, Any]:
    if is_file_spec(spec):
        path_text, _, attr = spec.rpartition(":")
        if not path_text:
            path_text, attr = spec, ""
        path = Path(path_text).expanduser().resolve()
        if not path.is_file():
            raise SelectorError(spec, f"file not found: {path}")
        return {"kind": "file", "file": path.name, "attr": attr, "code_sha256": sha256_file(path)}
    if spec in BUILTIN:
        return {"kind": "builtin", "target": BUILTIN[spec], "suite_version": __version__}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            dist = ep.dist
            return {"kind": "entry_point", "target": ep.value,
                    "distribution": dist.name if dist else None, "version": dist.version if dist else None}
    if ":" in spec:
        return {"kind": "module", "target": spec}
    raise SelectorError(spec, f"unknown selector{did_you_mean(spec, known_selectors())}")


def selector_label(spec: str) -> str:
    """A short folder-safe name: the registry name, or ``<file stem>.<Class>`` for files."""
    if is_file_spec(spec):
        path_text, _, attr = spec.rpartition(":")
        stem = Path(path_text or spec).stem
        label = f"{stem}.{attr}" if attr and path_text else stem
    else:
        label = spec.replace(":", ".")
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in label)


#: Names a plugin cannot take: the reference rows' and the built-ins' (a file plugin that calls
#: itself "random" would otherwise be filed, ranked and compared as random).
RESERVED_NAMES = frozenset({"random", "full", "zero-shot", "zero_shot", *BUILTIN})


def check_declared_name(spec: str, metadata: dict[str, Any], worker_ref: dict[str, Any]) -> None:
    """Refuse a plugin (file, module or entry point) whose declared name is a built-in's."""
    name = str(metadata.get("name", ""))
    if spec not in BUILTIN and name in RESERVED_NAMES:
        raise SelectorError(spec, f"declares the name {name!r}, which belongs to a built-in or reference row; "
                                  "choose another `name`")


def parent_ref(spec: str) -> dict[str, Any]:
    """Where the selector's code lives, as this process sees it (the worker's own claim is ignored)."""
    identity = selector_identity(spec)
    kind = identity["kind"]
    target = identity.get("target") or f"{spec.rpartition(':')[0] or spec}:{identity.get('attr', '')}"
    return {"spec": spec, "kind": kind, "target": target, "code_sha256": identity.get("code_sha256")}
