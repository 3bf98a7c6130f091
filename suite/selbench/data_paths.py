"""Where evaluation data comes from: the one place that names its roots.

A real user gets the benchmarks from the Hugging Face hub at the revisions pinned in the spec;
nothing has to be set. An air-gapped machine (a cluster, CI) points ``SELBENCH_EVAL_DATA`` at a
folder holding local copies laid out as the specs' relative ``path`` fields expect
(``eval/ifeval/...``); ``SELBENCH_DATA_DIR`` is the older name for the same root and also holds
data that is not on the hub at all (``${SELBENCH_DATA_DIR}/...`` in spec paths).

The same roots are what a selector must never read: :func:`evaluation_roots` lists them, plus
``SELBENCH_DENY_READ`` (extra folders, ``os.pathsep``-separated), for the sandbox to hide.
Nothing here assumes a folder beside the repository: a clone with nothing beside it works, and
a folder that does not exist is simply not a root.
"""

from __future__ import annotations

import os
from pathlib import Path

from selbench.evaluation.errors import DataMissingError

ENV_EVAL_DATA = "SELBENCH_EVAL_DATA"
ENV_DATA_DIR = "SELBENCH_DATA_DIR"
ENV_DENY_READ = "SELBENCH_DENY_READ"
HOW_TO_PROVIDE = (f"set {ENV_EVAL_DATA} to a folder with local copies of the evaluation data "
                  "(see README, 'Where evaluation data comes from'), or let the hub serve it (unset HF_HUB_OFFLINE)")


def eval_data_root() -> Path | None:
    """The folder relative benchmark and query-set paths are read from, or ``None`` (hub only)."""
    env = os.environ.get(ENV_EVAL_DATA) or os.environ.get(ENV_DATA_DIR)
    return Path(env).expanduser() if env else None


def resolve_eval_path(path: str, what: str) -> Path:
    """``path`` from a spec (``$VARS`` and ``~`` expanded; relative ones under the data root).

    Raises :class:`DataMissingError` naming ``what`` and how to provide the data.
    """
    p = Path(os.path.expandvars(path)).expanduser()
    if not p.is_absolute():
        root = eval_data_root()
        if root is None:
            raise DataMissingError(f"{what}: relative path {path} needs the evaluation data: {HOW_TO_PROVIDE}")
        p = root / p
    if not p.exists():
        raise DataMissingError(f"{what}: {p} not found ({ENV_EVAL_DATA}={os.environ.get(ENV_EVAL_DATA, '(unset)')})")
    return p


def evaluation_roots() -> list[str]:
    """Folders holding evaluation data that exist on this machine, resolved: what a selector must
    never read. Roots that do not exist are left out (there is nothing to hide there)."""
    roots: list[Path] = []
    if os.environ.get(ENV_EVAL_DATA):
        roots.append(Path(os.environ[ENV_EVAL_DATA]).expanduser())
    if os.environ.get(ENV_DATA_DIR):
        roots.append(Path(os.environ[ENV_DATA_DIR]).expanduser() / "eval")
    roots += [Path(p).expanduser() for p in os.environ.get(ENV_DENY_READ, "").split(os.pathsep) if p]
    return list(dict.fromkeys(str(r.resolve()) for r in roots if r.exists()))


def generated_evaluation_paths(run_dir: str | Path | None = None) -> list[str]:
    """What the suite itself writes that a selector must not read: the tiny world's known-answer
    items and the AlpacaEval annotations in the cache, and a run folder's evaluation records and
    per-item scores (its own and its siblings', e.g. ``runs/*/eval``). Only those that exist."""
    from selbench.paths import cache_root

    paths = [cache_root() / "tinyworld", cache_root() / "alpaca_eval"]
    if run_dir is not None:
        run = Path(run_dir)
        for folder in {run, *([run.parent] if run.parent != run else [])}:
            paths += [folder / "eval", folder / "items", *folder.glob("*/eval"), *folder.glob("*/items")]
    return list(dict.fromkeys(str(p.resolve()) for p in paths if p.is_dir()))
