"""Fixtures of the executor tests: a tiny jsonl-pool spec, its planned cells, a local Ray cluster."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray on 127.0.0.1 only

from sb_testing import alpaca_rows, write_jsonl  # noqa: E402
from selbench.pipeline.cell_state import CellState  # noqa: E402
from selbench.specs.loader import load_spec  # noqa: E402
from selbench.specs.models import PoolSpec, Spec  # noqa: E402

HERE = Path(__file__).resolve().parent
PLUGINS = HERE / "plugins.py"


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory):
    """A loaded 40-row pool (with its Arrow cache) for the selection-isolation tests."""
    from selbench.pools import load_pool

    path = write_jsonl(tmp_path_factory.mktemp("pool") / "pool.jsonl", alpaca_rows(40))
    return load_pool(PoolSpec(name="g", path=str(path)))


@pytest.fixture()
def eval_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An evaluation data folder named by SELBENCH_EVAL_DATA; the test plugins read
    ``SELBENCH_PLUGIN_EVAL_TARGET`` (its IFEval file), a path selbench never gives them."""
    folder = tmp_path / "evaldata"
    (folder / "ifeval").mkdir(parents=True)
    (folder / "ifeval" / "input_data.jsonl").write_text('{"prompt": "the secret test prompt"}\n')
    monkeypatch.setenv("SELBENCH_EVAL_DATA", str(folder))
    monkeypatch.setenv("SELBENCH_PLUGIN_EVAL_TARGET", str(folder / "ifeval" / "input_data.jsonl"))
    return folder


@pytest.fixture(scope="session")
def grid_spec(tmp_path_factory: pytest.TempPathFactory) -> Spec:
    """The tiny spec on a 60-row jsonl pool, budgets 10 and 20, three random seeds (validated:
    the spec travels to the selector worker, which validates it again)."""
    pool = write_jsonl(tmp_path_factory.mktemp("grid-pool") / "pool.jsonl", alpaca_rows(60))
    return Spec.model_validate({
        **load_spec("tiny").model_dump(mode="json"),
        "pools": [PoolSpec(name="p", path=str(pool)).model_dump(mode="json")], "budgets": [10, 20],
        "random_seeds": [0, 1, 2], "selectors": ["longest"]})


@pytest.fixture(scope="session")
def planned(grid_spec: Spec) -> list[CellState]:
    from selbench.pipeline.run import plan

    return plan(grid_spec, None, None, None)


@pytest.fixture()
def states(planned: list[CellState]) -> list[CellState]:
    return copy.deepcopy(planned)


@pytest.fixture(scope="session")
def ray_executor() -> Iterator[object]:
    pytest.importorskip("ray")
    from selbench.executors import make_executor

    ex = make_executor("ray", Path("."), num_cpus=2)
    yield ex
    ex.close()
