"""Turn the ``--pool`` argument into a PoolSpec: a built-in spec's pool name, or a file path."""

from __future__ import annotations

import re
from pathlib import Path

from selbench.errors import PoolError
from selbench.specs.loader import builtin_spec_names, load_spec
from selbench.specs.models import PoolSpec, Spec
from selbench.suggest import did_you_mean


def _looks_like_path(text: str) -> bool:
    return Path(text).expanduser().exists() or "/" in text or bool(re.search(r"\.(jsonl?|parquet|csv)(\.\w+)?$", text))


def resolve_pool_arg(pool: str, spec_name: str | None) -> tuple[PoolSpec, Spec | None]:
    """The pool named by ``pool`` and the spec it comes from (None for an ad-hoc file)."""
    if _looks_like_path(pool):
        path = Path(pool).expanduser().resolve()
        if not path.exists():
            raise PoolError(f"pool file not found: {path}")
        stem = path.name.split(".")[0] if path.is_file() else path.name
        name = re.sub(r"[^a-z0-9_.-]+", "-", stem.lower()).strip("-.") or "pool"
        return PoolSpec(name=name, path=str(path)), None
    specs = [load_spec(spec_name)] if spec_name else [load_spec(n) for n in builtin_spec_names()]
    found = [(s, p) for s in specs for p in s.pools if p.name == pool]
    if len(found) == 1:
        spec, pool_spec = found[0]
        return pool_spec, spec
    if len(found) > 1:
        names = ", ".join(s.id for s, _ in found)
        raise PoolError(f"pool '{pool}' is in several specs ({names}); choose one with --spec")
    known = [p.name for s in specs for p in s.pools]
    raise PoolError(f"unknown pool '{pool}'{did_you_mean(pool, known)} (or give a path to a .json/.jsonl/.parquet file)")
