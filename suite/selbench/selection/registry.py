"""Find selectors by built-in name, by ``path/to/file.py:Class``, or by entry point.

Built-ins are registered lazily as ``module:attr`` strings (lm-eval's registry style), so
listing them imports nothing heavy. Third-party packages register under the entry-point group
``selbench.selectors``; a pip-installed plugin works without touching this repository.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from selbench.errors import SelectorError
from selbench.hashing import sha256_file
from selbench.selection.base import Selector
from selbench.suggest import did_you_mean

ENTRY_POINT_GROUP = "selbench.selectors"

BUILTIN: dict[str, str] = {
    "random": "selbench.plugins.random_baseline:RandomSelector",
    "longest": "selbench.plugins.longest:LongestSelector",
    "full": "selbench.plugins.full_pool:FullPoolSelector",
    "alpagasus": "selbench.plugins.alpagasus:AlpagasusSelector",
    "cherry": "selbench.plugins.cherry:CherrySelector",
    "deita": "selbench.plugins.deita:DeitaSelector",
    # the targeted track (need a targeted spec: a query set and the representations' settings)
    "less-rr": "selbench.plugins.targeted:LessRoundRobin",
    "less-dg": "selbench.plugins.targeted:LessDoublyGreedy",
    "less-uot": "selbench.plugins.targeted:LessUnbalancedOT",
    "less-knn-unif": "selbench.plugins.targeted:LessKnnUniform",
    "less-knn-kde": "selbench.plugins.targeted:LessKnnKde",
    "rds-rr": "selbench.plugins.targeted:RdsRoundRobin",
    "embed-rr": "selbench.plugins.targeted:EmbedRoundRobin",
}


@dataclass(frozen=True)
class SelectorRef:
    """How a selector was named, and where its code lives (recorded in artifacts)."""

    spec: str
    kind: str  # "builtin" | "entry_point" | "file"
    target: str
    code_sha256: str | None = None


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_selectors() -> dict[str, str]:
    """name -> ``module:attr`` for built-ins and installed plugins (built-ins win on clashes)."""
    return {**_entry_points(), **BUILTIN}


def _check_class(obj: object, label: str) -> type[Selector]:
    if not isinstance(obj, type) or not issubclass(obj, Selector):
        raise SelectorError(label, f"is not a Selector subclass (got {type(obj).__name__} {obj!r:.60})")
    if getattr(obj, "__abstractmethods__", None):
        raise SelectorError(label, f"does not implement {', '.join(sorted(obj.__abstractmethods__))}()")
    problems = obj.metadata_problems()
    if problems:
        raise SelectorError(label, "; ".join(problems))
    return obj


def _import_attr(target: str, label: str) -> object:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise SelectorError(label, f"cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SelectorError(label, f"module {module_name} has no attribute '{attr}'") from None


def _load_file(spec: str) -> tuple[type[Selector], SelectorRef]:
    path_text, _, attr = spec.rpartition(":")
    if not path_text:  # "file.py" without ":Class"
        path_text, attr = spec, ""
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise SelectorError(spec, f"file not found: {path}")
    module_name = f"selbench_user_plugin_{sha256_file(path)[:12]}"
    try:
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        assert loader_spec is not None and loader_spec.loader is not None
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise SelectorError(spec, f"cannot import {path.name}: {type(exc).__name__}: {exc}") from None
    if not attr:
        candidates = [
            v for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, Selector) and v is not Selector and v.__module__ == module_name
        ]
        if len(candidates) != 1:
            raise SelectorError(spec, f"name the class as {path_text}:ClassName ({len(candidates)} Selector classes found)")
        obj: object = candidates[0]
        attr = candidates[0].__name__
    else:
        if not hasattr(module, attr):
            raise SelectorError(spec, f"{path.name} has no attribute '{attr}'")
        obj = getattr(module, attr)
    cls = _check_class(obj, spec)
    return cls, SelectorRef(spec=spec, kind="file", target=f"{path}:{attr}", code_sha256=sha256_file(path))


def is_file_spec(spec: str) -> bool:
    return ".py" in spec or "/" in spec or spec.startswith(".")


def absolute_selector(spec: str) -> str:
    """``spec`` with a plugin file's path made absolute against the caller's working folder.

    Users type relative paths (``./x.py:C``, ``x.py:C``, ``sub/x.py:C``, ``~/x.py:C``); the worker
    runs in its own scratch folder, so a path must be resolved here, in the process the user
    started, before it travels. Names of built-ins and installed plugins are returned as given.
    """
    if not is_file_spec(spec):
        return spec
    path_text, sep, attr = spec.rpartition(":")
    if not path_text or not path_text.endswith(".py") and attr.endswith(".py"):  # "file.py" without ":Class"
        path_text, sep, attr = spec, "", ""
    absolute = str(Path(path_text).expanduser().absolute())
    return f"{absolute}{sep}{attr}"


def resolve_selector(spec: str) -> tuple[type[Selector], SelectorRef]:
    """The Selector class named by ``spec`` and a record of where it came from."""
    if is_file_spec(spec):
        return _load_file(spec)
    if ":" in spec:  # an importable module:Class
        return _check_class(_import_attr(spec, spec), spec), SelectorRef(spec, "module", spec)
    if spec in BUILTIN:
        return _check_class(_import_attr(BUILTIN[spec], spec), spec), SelectorRef(spec, "builtin", BUILTIN[spec])
    plugins = _entry_points()
    if spec in plugins:
        return _check_class(_import_attr(plugins[spec], spec), spec), SelectorRef(spec, "entry_point", plugins[spec])
    raise SelectorError(spec, f"unknown selector{did_you_mean(spec, known_selectors())}")
