"""Test-only selectors that know the tiny world's hidden answer key.

The key is keyed by the install's secret, which a selector cannot read or regenerate, so the test
computes the labels in the parent (:func:`write_labels`) and hands the oracles the file through
``SELBENCH_PLUGIN_ORACLE_LABELS`` (a setting a user gives a plugin on purpose). ``oracle-clean``
keeps only uncorrupted examples, ``oracle-corrupt`` takes corrupted ones first. The known-answer
test needs the first to beat random and the second to lose, through the whole pipeline.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from selbench.selection import Selection, Selector

ENV_LABELS = "SELBENCH_PLUGIN_ORACLE_LABELS"


def write_labels(path: Path, pool_args: dict) -> Path:
    """The answer key of the pool ``pool_args`` makes in this install, as {instruction\\toutput: kind}."""
    from selbench.tinyworld.pool import labelled_rows

    path.write_text(json.dumps({f"{r['instruction']}\t{r['output']}": r["kind"] for r in labelled_rows(**pool_args)}))
    return path


def _kinds(pool) -> list[str]:
    labels = json.loads(Path(os.environ[ENV_LABELS]).read_text())
    return [labels[f"{i}\t{o}"] for i, o in zip(pool.data["instruction"], pool.data["output"])]


class OracleClean(Selector):
    """Uncorrupted examples only (a seeded shuffle of them)."""

    name = "oracle-clean"

    def select(self, pool, budget, ctx):
        ids = pool.data["id"]
        clean = [i for i, k in zip(ids, _kinds(pool)) if k == "clean"]
        random.Random(0).shuffle(clean)
        return Selection(ids=clean[:budget])


class OracleCorrupt(Selector):
    """Corrupted examples first, then clean ones if the budget needs more."""

    name = "oracle-corrupt"

    def select(self, pool, budget, ctx):
        ids = pool.data["id"]
        kinds = _kinds(pool)
        bad = [i for i, k in zip(ids, kinds) if k != "clean"]
        good = [i for i, k in zip(ids, kinds) if k == "clean"]
        random.Random(0).shuffle(bad)
        random.Random(0).shuffle(good)
        return Selection(ids=(bad + good)[:budget])
