"""Pools: local formats, field mappings, stable ids, fingerprints, caching, errors."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sb_testing import alpaca_rows, assert_user_error, run_cli, write_jsonl
from selbench.errors import PoolError
from selbench.hashing import sha256_file
from selbench.pools import load_pool
from selbench.pools import sources as pool_sources
from selbench.pools.schema import COLUMNS
from selbench.specs.models import FieldMapping, PoolSpec


def _pool(tmp_path: Path, rows: list[dict], name: str = "p", suffix: str = ".jsonl", **kw) -> PoolSpec:
    path = tmp_path / f"{name}{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(rows))
    elif suffix == ".jsonl.gz":
        with gzip.open(path, "wt") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    elif suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path)
    else:
        write_jsonl(path, rows)
    return PoolSpec(name=name, path=str(path), **kw)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".jsonl.gz", ".parquet"])
def test_local_formats_give_the_same_canonical_pool(tmp_path: Path, suffix: str) -> None:
    reference = load_pool(_pool(tmp_path / "ref", alpaca_rows(30)))
    pool = load_pool(_pool(tmp_path, alpaca_rows(30), suffix=suffix))
    assert tuple(pool.data.column_names) == COLUMNS or set(pool.data.column_names) == set(COLUMNS)
    assert pool.ids == reference.ids and pool.fingerprint == reference.fingerprint
    row = pool.data[0]
    assert row["messages"][0] == {"role": "user", "content": "Say the number 0.\n\ncontext 0"}
    assert row["messages"][1]["role"] == "assistant" and row["output"] == row["messages"][1]["content"]


def test_ids_hash_content_and_fingerprint_ignores_order(tmp_path: Path) -> None:
    rows = alpaca_rows(40)
    a = load_pool(_pool(tmp_path / "a", rows))
    b = load_pool(_pool(tmp_path / "b", list(reversed(rows))))
    assert a.fingerprint == b.fingerprint
    assert a.ids == list(reversed(b.ids))
    changed = [dict(r) for r in rows]
    changed[5]["output"] += "!"
    c = load_pool(_pool(tmp_path / "c", changed))
    assert c.fingerprint != a.fingerprint
    assert sum(x != y for x, y in zip(a.ids, c.ids)) == 1


def test_exact_duplicates_are_reported_and_kept_with_unique_ids(tmp_path: Path) -> None:
    rows = alpaca_rows(10)
    pool = load_pool(_pool(tmp_path, rows + rows[:3] + rows[:1]))
    assert len(pool) == 14 and len(set(pool.ids)) == 14
    assert pool.duplicates.groups == 3 and pool.duplicates.extra_rows == 4
    assert any(i.endswith("~3") for i in pool.ids)


def test_field_presets_and_custom_mapping(tmp_path: Path) -> None:
    dolly = load_pool(_pool(tmp_path, [{"instruction": "Q", "context": "C", "response": "A", "category": "qa"}], name="d"))
    assert (dolly.data[0]["input"], dolly.data[0]["output"], dolly.data[0]["source"]) == ("C", "A", "qa")
    evol = [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"},
                               {"from": "human", "value": "more"}, {"from": "gpt", "value": "sure"}]}]
    first = load_pool(_pool(tmp_path, evol, name="e", fields="evol_instruct"))
    assert first.data[0]["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    whole = load_pool(_pool(tmp_path, evol, name="s"))  # auto -> sharegpt keeps every turn
    assert len(whole.data[0]["messages"]) == 4
    pc = load_pool(_pool(tmp_path, [{"prompt": "P?", "completion": "yes<|endoftext|>"}], name="t"))
    assert pc.data[0]["output"] == "yes"
    custom = FieldMapping(instruction="q", output="a")
    mapped = load_pool(_pool(tmp_path, [{"q": "why", "a": "because"}], name="c", fields=custom))
    assert mapped.data[0]["instruction"] == "why"


def test_empty_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = alpaca_rows(5) + [{"instruction": "x", "input": "", "output": ""}]
    pool = load_pool(_pool(tmp_path, rows))
    assert len(pool) == 5


def test_second_load_comes_from_the_arrow_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _pool(tmp_path, alpaca_rows(20))
    first = load_pool(spec)

    def boom(*a, **k):
        raise AssertionError("source re-read although the cache is valid")

    monkeypatch.setattr(pool_sources, "_load_files", boom)
    again = load_pool(spec)
    assert again.cache_dir == first.cache_dir and again.ids == first.ids


def test_edited_file_is_not_served_from_a_stale_cache(tmp_path: Path) -> None:
    spec = _pool(tmp_path, alpaca_rows(20))
    first = load_pool(spec)
    write_jsonl(Path(spec.path), alpaca_rows(21))
    assert len(load_pool(spec)) == 21 and load_pool(spec).cache_dir != first.cache_dir


def test_sha256_is_checked(tmp_path: Path) -> None:
    spec = _pool(tmp_path, alpaca_rows(5))
    good = PoolSpec(name="p", path=spec.path, sha256=sha256_file(spec.path))
    assert len(load_pool(good)) == 5
    with pytest.raises(PoolError, match="sha256 mismatch"):
        load_pool(PoolSpec(name="p", path=spec.path, sha256="0" * 64))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"instruction": "a", "output": "b"}\n{"instruction": "c", "outp', "cannot read"),
        ('{"question": "a", "answer": "b"}\n', "cannot tell the layout"),
    ],
)
def test_malformed_files_give_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(PoolError, match=message):
        load_pool(PoolSpec(name="bad", path=str(path)))


def test_missing_mapped_field_is_named(tmp_path: Path) -> None:
    spec = _pool(tmp_path, [{"instruction": "a", "output": "b"}], fields="dolly")
    with pytest.raises(PoolError, match=r"missing field\(s\) 'response'; the file has columns"):
        load_pool(spec)


def test_unset_data_dir_variable_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SELBENCH_DATA_DIR", raising=False)
    with pytest.raises(PoolError, match="SELBENCH_DATA_DIR"):
        load_pool(PoolSpec(name="f", path="${SELBENCH_DATA_DIR}/flan.jsonl"))


def test_hub_pool_is_read_from_a_mirror_with_its_revision_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> None:
    """The hub code path (`load_dataset(<repo>)`) on a local mirror folder, as air-gapped users run it."""
    mirror = tmp_path / "mirror" / "yahma" / "alpaca-cleaned"
    mirror.mkdir(parents=True)
    shutil.copy(shared_data / "pools/alpaca/subsets/llamafactory_alpaca_en_demo.json", mirror / "alpaca_data_cleaned.json")
    monkeypatch.setenv("SELBENCH_HUB_MIRROR", str(tmp_path / "mirror"))
    from selbench.specs import load_spec

    pool = load_pool(load_spec("chasing-random-v1").pool("alpaca"))
    assert len(pool) == 999
    assert pool.provenance["revision"] == "12567cabf869d7c92e573c7c783905fc160e9639"
    assert pool.provenance["loaded_from"].startswith("mirror:")


def test_hub_pool_offline_without_mirror_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SELBENCH_HUB_MIRROR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    proc = run_cli("select", "--pool", "dolly", "--budget", "10", "--selector", "random", env={"HF_HUB_OFFLINE": "1"})
    assert_user_error(proc, "pool 'dolly': cannot load databricks/databricks-dolly-15k@", "SELBENCH_HUB_MIRROR")


def test_t0_pool_from_shared_data(shared_data: Path, manifest: dict) -> None:
    """The 294-file T0/P3 pool: every row read, file names become sources, duplicates found."""
    folder = shared_data / "pools/t0_train_50k/data_per_template"
    pool = load_pool(PoolSpec(name="t0", path=str(folder)))
    raw = sum(f["rows"] or 0 for f in manifest["files"] if f["path"].startswith("pools/t0_train_50k/data_per_template/"))
    meta = json.loads((Path(pool.cache_dir) / "pool.json").read_text())
    assert meta["raw_rows"] == raw
    assert len(pool) == raw - meta["dropped_empty"] and len(pool) > 0.9 * raw
    assert len(set(pool.data["source"])) > 250
    assert pool.duplicates.extra_rows > 0
    assert not any(o.endswith("<|endoftext|>") for o in pool.data["output"][:2000])


def test_pool_info_cli(small_pool_file: Path) -> None:
    proc = run_cli("pool", "info", str(small_pool_file))
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["rows"] == 120 and len(info["fingerprint"]) == 64


def test_malformed_pool_via_cli(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("this is not json\n")
    assert_user_error(run_cli("select", "--pool", str(bad), "--budget", "1", "--selector", "random"), "pool 'bad': cannot read")
    assert_user_error(run_cli("select", "--pool", str(tmp_path / "nope.jsonl"), "--budget", "1", "--selector", "random"), "pool file not found")
    assert_user_error(run_cli("select", "--pool", "alpacca", "--budget", "1", "--selector", "random"), "did you mean 'alpaca'")


def test_a_pool_that_is_not_utf8_is_one_error_line(tmp_path: Path) -> None:
    bad = tmp_path / "latin.jsonl"
    bad.write_bytes(b'{"instruction":"caf\xe9","input":"","output":"a"}\n{"instruction":"b","input":"","output":"c"}\n')
    assert_user_error(run_cli("pool", "info", str(bad)), "not valid UTF-8", "save the file as UTF-8")


def test_a_gzip_bomb_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.jsonl.gz"
    line = b'{"instruction":"' + b"a" * 1000 + b'","input":"","output":"b"}\n'
    with gzip.open(bomb, "wb") as handle:
        for _ in range(20_000):  # ~20 MB uncompressed from ~60 KB
            handle.write(line)
    proc = run_cli("pool", "info", str(bomb), env={"SELBENCH_MAX_POOL_BYTES": str(5 * 2**20)})
    assert_user_error(proc, "more than", "uncompressed", "SELBENCH_MAX_POOL_BYTES")
    assert bomb.stat().st_size < 200_000


def test_a_pool_cache_edited_after_it_was_written_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selbench.pools import load_pool
    from selbench.specs.models import PoolSpec

    monkeypatch.setenv("SELBENCH_CACHE", str(tmp_path / "cache"))
    spec = PoolSpec(name="p", path=str(write_jsonl(tmp_path / "p.jsonl", alpaca_rows(30))))
    pool = load_pool(spec)
    assert load_pool(spec).fingerprint == pool.fingerprint  # an untouched cache is reused
    arrow = next((Path(pool.cache_dir) / "data").glob("*.arrow"))
    data = bytearray(arrow.read_bytes())
    data[-64] ^= 0xFF
    arrow.write_bytes(bytes(data))
    with pytest.raises(PoolError, match="modified after it was written"):
        load_pool(spec)
