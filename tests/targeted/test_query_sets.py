"""Query-set formats (selbench.targeted.query_formats) on the real local files in ../shared/data,
the hub path through a local stand-in, and the errors a user sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selbench.specs.models import QuerySetSpec
from selbench.targeted.query_formats import FORMATS, detect_format, gsm8k_label, read_query_rows
from selbench.targeted.query_set import QuerySetError, load_query_set, load_query_set_spec

BBH = "eval/bbh/less_targets/bbh-three-shot.json"
TYDIQA = "eval/tydiqa/less_targets/tydiqa-one-shot.json"
HUB_ID = "Harvard-DCML/targeted-query-set-processed"


@pytest.fixture(autouse=True)
def _data_root(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELBENCH_EVAL_DATA", str(shared_data))
    monkeypatch.delenv("SELBENCH_HUB_MIRROR", raising=False)


def load(**kwargs) -> object:
    return load_query_set_spec(QuerySetSpec(**kwargs), "t")


def test_less_bbh_81_items_with_the_other_two_shots_in_context(shared_data: Path) -> None:
    qs = load(path=BBH)
    assert len(qs) == 81 and qs.provenance["format"] == "less-bbh"
    tasks = {i.id.split("/")[1] for i in qs.items}
    assert len(tasks) == 27 and tasks == {p.stem for p in (shared_data / "eval/bbh/bbh").glob("*.json")}
    item = next(i for i in qs.items if i.id == "bbh/date_understanding/1")
    assert item.prompt.startswith("Infer the date from context.\n\nQ: Today is Christmas Eve of 1937")
    assert item.prompt.endswith("\nA:") and item.prompt.count("\nQ: ") == 3  # the other two exemplars + its own
    assert item.label.startswith("Let's think step by step.") and item.label.endswith("So the answer is (B).")
    assert item.label not in item.prompt  # its own answer is never in the prompt
    shots = load(path=BBH, format="bbh-shots")
    assert len(shots) == 81 and [i.id for i in shots.items] == [i.id for i in qs.items]
    assert all(s.label == q.label and s.prompt.count("\nQ:") == 1 for s, q in zip(shots.items, qs.items))


@pytest.mark.parametrize("name", ["tydiqa-one-shot.json", "tydiqa-one-shot-zh.json", "tydiqa-goldp-v1.1-dev_ini.json"])
def test_tydiqa_targets_as_found(name: str) -> None:
    qs = load(path=f"eval/tydiqa/less_targets/{name}")
    assert len(qs) == 9
    assert qs.provenance["format"] == ("tydiqa-squad" if "goldp" in name else "less-tydiqa")
    langs = {i.id.split("-")[0] for i in qs.items}
    assert langs == {"arabic", "bengali", "english", "finnish", "indonesian", "korean", "russian", "swahili", "telugu"}
    fi = next(i for i in qs.items if i.id.startswith("finnish"))
    assert "Passage: " in fi.prompt and fi.prompt.endswith("\nAnswer:")
    if "zh" not in name:
        assert fi.label == "Kigali" and "Ruandan" in fi.prompt


def test_gsm8k_first_8_training_problems_with_cot_labels(shared_data: Path) -> None:
    qs = load(path="eval/gsm8k/train.jsonl")
    assert len(qs) == 8 and qs.provenance["format"] == "gsm8k"
    first = json.loads((shared_data / "eval/gsm8k/train.jsonl").read_text().splitlines()[0])
    assert first["question"] in qs.items[0].prompt and qs.items[0].prompt.endswith("\nAnswer:")
    assert qs.items[0].label.endswith("So the answer is 72.") and "<<" not in qs.items[0].label
    assert [i.id for i in qs.items] == [f"gsm8k/{k}" for k in range(8)]
    assert len(load(path="eval/gsm8k/train.jsonl", limit=20)) == 20
    assert gsm8k_label("a = <<1+1=2>>2\n#### 2") == "a = 2\nSo the answer is 2."


@pytest.mark.parametrize("path", ["eval/mmlu/dev", "eval/mmlu"])
def test_mmlu_dev_285(path: str) -> None:
    qs = load(path=path)
    assert len(qs) == 285 and qs.provenance["format"] == "mmlu-dev"
    subjects = {i.id.split("/")[1] for i in qs.items}
    assert len(subjects) == 57 and all(sum(i.id.split("/")[1] == s for i in qs.items) == 5 for s in subjects)
    first = qs.items[0]
    assert first.id == "mmlu/abstract_algebra/0" and first.label == "B"
    assert first.prompt.startswith("The following are multiple choice questions (with answers) about abstract algebra.")
    assert "\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer:" in first.prompt
    one = load(path="eval/mmlu/dev/anatomy_dev.csv")
    assert len(one) == 5 and one.items[0].id == "mmlu/anatomy/0"


def test_plain_rows_layouts(tmp_path: Path) -> None:
    rows = [
        {"prompt": "p0", "label": "l0"},
        {"instruction": "do", "input": "this", "output": "done"},
        {"prompt": "p2", "completion": "c2"},
        {"id": "custom", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {"prompts": "P", "labels": "L"},
        {"question": "q?", "answer": "a"},
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items, prov = read_query_rows(QuerySetSpec(path=str(path)))
    assert prov["format"] == "rows"
    assert [(i.id, i.prompt, i.label) for i in items] == [
        ("row-0000", "p0", "l0"), ("row-0001", "do\n\nthis", "done"), ("row-0002", "p2", "c2"),
        ("custom", "hi", "hello"), ("row-0004", "P", "L"), ("row-0005", "q?", "a")]
    as_json = tmp_path / "q.json"
    as_json.write_text(json.dumps({"prompts": ["a", "b"], "labels": ["1", "2"]}))
    assert [(i.prompt, i.label) for i in read_query_rows(QuerySetSpec(path=str(as_json), format="rows"))[0]] == [
        ("a", "1"), ("b", "2")]


def test_mmlu_pro_rows(tmp_path: Path) -> None:
    row = {"question_id": 7, "question": "What is 2+2?", "options": ["3", "4", "5"], "answer": "B",
           "cot_content": "A: Let's think step by step. 2+2=4. The answer is (B).", "category": "math"}
    path = tmp_path / "mp.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (item,), prov = read_query_rows(QuerySetSpec(path=str(path), format="mmlu-pro"))
    assert item.id == "mmlu_pro/7" and item.label == "Let's think step by step. 2+2=4. The answer is (B)."
    assert "about math." in item.prompt and item.prompt.endswith("Options:\nA. 3\nB. 4\nC. 5\nAnswer:")


def test_sha256_is_checked(shared_data: Path) -> None:
    good = "1b165791c9207f2eff7e86cf07d6633d1a782cab53875364a0e3ca2535acc554"
    assert load(path=BBH, sha256=good).provenance["sha256"] == good
    with pytest.raises(QuerySetError, match="sha256 mismatch"):
        load(path=BBH, sha256="0" * 64)
    folder = load(path="eval/mmlu/dev").provenance["sha256"]
    assert load(path="eval/mmlu/dev", sha256=folder).provenance["sha256"] == folder


def test_ids_and_items_are_stable() -> None:
    a, b = load(path=BBH), load(path=BBH)
    assert a.fingerprint == b.fingerprint and len({i.id for i in a.items}) == 81


def test_errors_are_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(QuerySetError, match="not found"):
        load(path="eval/nowhere.json")
    with pytest.raises(QuerySetError, match="unknown query-set format 'csv2'"):
        load(path=BBH, format="csv2")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "no layout"}) + "\n")
    with pytest.raises(QuerySetError, match=r"no known layout in fields \['text'\]"):
        load(path=str(bad))
    gsm = tmp_path / "g.jsonl"
    gsm.write_text(json.dumps({"question": "q", "answer": "no final line"}) + "\n")
    with pytest.raises(QuerySetError, match="'#### <number>'"):
        load(path=str(gsm), format="gsm8k")
    empty = tmp_path / "e.json"
    empty.write_text("[]")
    with pytest.raises(QuerySetError, match="is empty"):
        load(path=str(empty))
    weird = tmp_path / "w.json"
    weird.write_text(json.dumps({"a": 1}))
    with pytest.raises(QuerySetError, match="cannot detect the query-set format"):
        detect_format(weird)
    with pytest.raises(QuerySetError, match="reads a local file"):
        load(hub_id=HUB_ID, revision="r", config="bbh", format="less-bbh")
    monkeypatch.delenv("SELBENCH_EVAL_DATA")
    monkeypatch.delenv("SELBENCH_DATA_DIR", raising=False)
    with pytest.raises(QuerySetError, match="no evaluation data root"):
        load(path=BBH)
    assert "auto" in FORMATS


def _mirror(root: Path) -> Path:
    """A local stand-in for the processed hub set: one config per task, split dev, prompts/labels
    (prompts in the Tulu chat markup, as the processed set's loaders feed them to the model)."""
    repo = root / HUB_ID
    configs = {"bbh": 3, "gsm8k": 2}
    card = ["---", "configs:"]
    for name, n in configs.items():
        (repo / name).mkdir(parents=True)
        (repo / name / "dev.jsonl").write_text("".join(
            json.dumps({"prompts": f"<|user|>\nQuestion {name} {i}?\n<|assistant|>\nA:", "labels": f" answer {i}"}) + "\n"
            for i in range(n)))
        card += [f"- config_name: {name}", "  data_files:", "  - split: dev", f"    path: {name}/dev.jsonl"]
    (repo / "README.md").write_text("\n".join([*card, "---", ""]))
    return root


def test_hub_query_set_through_a_local_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELBENCH_HUB_MIRROR", str(_mirror(tmp_path / "mirror")))
    qs = load(hub_id=HUB_ID, revision="0" * 40, config="bbh")
    assert [(i.id, i.prompt, i.label) for i in qs.items] == [
        (f"bbh-{i:04d}", f"Question bbh {i}?\nA:", f" answer {i}") for i in range(3)]
    prov = qs.provenance
    assert prov["kind"] == "hub" and prov["hub_id"] == HUB_ID and prov["config"] == "bbh" and prov["split"] == "dev"
    assert prov["loaded_from"].startswith("mirror:") and prov["chat_markup_stripped"] == 3
    assert len(load(hub_id=HUB_ID, revision="0" * 40, config="gsm8k")) == 2
    with pytest.raises(QuerySetError, match="cannot load query set"):
        load(hub_id=HUB_ID, revision="0" * 40, config="bbh", split="test")


def test_hub_query_set_calls_load_dataset_with_the_pinned_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []

    def fake(path, name=None, *, split=None, revision=None, **kwargs):
        calls.append((path, name, split, revision))
        return datasets.Dataset.from_dict({"prompts": ["p"], "labels": ["l"]})

    monkeypatch.setattr(datasets, "load_dataset", fake)
    qs = load(hub_id=HUB_ID, revision="abc123", config="tydiqa")
    assert calls == [(HUB_ID, "tydiqa", "dev", "abc123")] and qs.items[0].prompt == "p"
    assert qs.provenance["loaded_from"] == "hub"


def test_hub_unreachable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(QuerySetError, match="SELBENCH_HUB_MIRROR"):
        load(hub_id="Harvard-DCML/no-such-set-for-selbench-tests", revision="abc", config="bbh")
    with pytest.raises(ValueError, match="pinned by `revision`"):  # refused by the spec model itself
        load(hub_id=HUB_ID, revision="abc", config="bbh", sha256="0" * 64)


def test_targeted_v1_query_sets_and_benchmarks() -> None:
    from selbench.specs.loader import load_spec

    spec = load_spec("targeted-v1")
    names = [t.name for t in spec.targeted.targets]
    assert names == ["bbh", "gsm8k", "tydiqa", "mmlu_pro", "mmlu"]
    sizes = {"bbh": 81, "gsm8k": 8, "tydiqa": 9, "mmlu": 285}
    for name, size in sizes.items():
        assert len(load_query_set(spec, name)) == size  # local copies, sha256-checked
    kinds = {b.name: b.kind for b in spec.benchmarks}
    for target in spec.targeted.targets:
        assert f"{target.name}-query-loss" in target.benchmarks
        assert kinds[f"{target.name}-query-loss"] == "query_loss"
        assert any(kinds[b] == "lm_eval" for b in target.benchmarks)
    mp = spec.targeted.target("mmlu_pro").query_set
    assert (mp.hub_id, mp.split, mp.format) == ("TIGER-Lab/MMLU-Pro", "validation", "mmlu-pro") and len(mp.revision) == 40
