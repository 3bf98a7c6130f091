"""Parsers that turn a query-set source into (prompt, label) items.

``read_query_rows(qs)`` dispatches on ``qs.format`` (``auto`` detects it from the source):

``hub``
    A hub dataset loaded with ``datasets.load_dataset(hub_id, config, split=..., revision=...)``
    (``SELBENCH_HUB_MIRROR/<hub_id>/`` stands in for the hub when set, as for pools). The paper's
    processed set ``Harvard-DCML/targeted-query-set-processed`` (configs bbh, codex, gsm8k, tydiqa,
    mmlu_pro; split ``dev``) has ``prompts``/``labels``; any row layout of ``rows`` is accepted.
    Prompts that carry the Tulu chat markup (``<|user|>\\n...\\n<|assistant|>\\n``) are unwrapped
    to the user text (+ the answer prefix after the assistant tag): the suite applies the recipe's
    chat template itself.
``less-bbh``
    LESS's ``bbh-three-shot.json`` ({task: description + 3 CoT exemplars}): one item per exemplar,
    the other two as in-context examples (LESS ``get_bbh_dataset``): 27 x 3 = 81 items.
``bbh-shots``
    The same file, one item per exemplar with the task description only (Ivison et al.'s
    ``BBHShots``): 81 items.
``less-tydiqa``
    LESS's ``tydiqa-one-shot(-zh).json`` ({language: [{id, context, question, answers}]}), one
    item per example (9 languages x 1 locally).
``tydiqa-squad``
    SQuAD-layout TyDiQA GoldP (``data[].paragraphs[].qas[]``; the language is the id's prefix).
``gsm8k``
    GSM8K rows (``question``/``answer``; a JSONL file or a hub dataset); the first ``limit`` rows
    (default 8, the size of Ivison et al.'s GSM8K query set). The label is the rationale without the calculator
    annotations, ending "So the answer is N." (the CoT exemplars' style).
``mmlu-dev``
    MMLU dev CSVs (headerless ``question,A,B,C,D,answer``): a folder of ``*_dev.csv`` (or one
    holding ``dev/``) or one CSV; every row, subjects sorted (57 x 5 = 285).
``mmlu-pro``
    MMLU-Pro rows (``question``, ``options``, ``answer``, ``cot_content``, ``category``; a file or
    a hub dataset), e.g. the 70-row ``validation`` split of ``TIGER-Lab/MMLU-Pro`` (5 CoT
    exemplars per category; the paper's ``mmlu_pro`` query set has 70 items): the label is the
    worked answer.
``rows``
    JSON list / JSONL rows in one of the layouts ``prompts``/``labels``, ``prompt``/``label``,
    ``prompt``/``completion``, ``instruction`` (+ ``input``)/``output``, ``question``/``answer``
    or ``messages`` (the last assistant turn is the label).

Ids are stable: a row's own ``id`` when it has one, else derived from the source position
(``bbh/date_understanding/0``, ``mmlu/anatomy/3``, ``gsm8k/5``, ``row-0007``). ``qs.sha256`` is
checked against the file (or, for a folder, the hash of its sorted (name, sha256) list).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selbench.hashing import sha256_file, sha256_json
from selbench.targeted.query_item import QueryItem, QuerySetError, resolve_local

FORMATS = ("auto", "hub", "less-bbh", "bbh-shots", "less-tydiqa", "tydiqa-squad", "gsm8k", "mmlu-dev", "mmlu-pro",
           "rows")
#: formats that read rows, from a local JSON/JSONL file or from a hub dataset
ROW_FORMATS = ("rows", "gsm8k", "mmlu-pro")
#: Ivison et al.'s GSM8K query set size (the 8 CoT exemplars); the default of the ``gsm8k`` format
GSM8K_DEFAULT = 8
#: one instruction for every TyDiQA language (the per-language instructions of LESS/open-instruct
#: are not reproduced here; the processed hub set carries the paper's own prompts)
TYDIQA_TEMPLATE = "Answer the question using the information in the passage.\n\nPassage: {context}\nQuestion: {question}\nAnswer:"
MMLU_HEADER = "The following are multiple choice questions (with answers) about {subject}.\n\n"


def read_query_rows(qs: Any) -> tuple[list[QueryItem], dict[str, Any]]:
    """The items of a :class:`selbench.specs.models.QuerySetSpec` with a ``hub_id`` or ``path``,
    and their provenance (source, format, hashes)."""
    fmt = (qs.format or "auto").strip().lower()
    if fmt not in FORMATS:
        raise QuerySetError(f"unknown query-set format {qs.format!r} (known: {', '.join(FORMATS)})")
    if qs.hub_id is not None:
        if fmt not in ("auto", "hub", *ROW_FORMATS):
            raise QuerySetError(f"format {fmt!r} reads a local file; hub query sets use hub (auto), "
                                f"{', '.join(ROW_FORMATS)}")
        if qs.sha256 is not None:
            raise QuerySetError(f"query set {qs.hub_id}: `sha256` checks a local `path`; hub query sets are "
                                "pinned by `revision`")
        return _from_hub(qs, fmt)
    if qs.path is None:
        raise QuerySetError("a query set needs a `hub_id`, a `path` or a `generator`")
    path = resolve_local(qs.path)
    if not path.exists():
        raise QuerySetError(f"query set file not found: {path} (from path {qs.path!r}; relative paths are "
                            "under SELBENCH_EVAL_DATA)")
    digest = _digest(path)
    if qs.sha256 is not None and qs.sha256 != digest:
        raise QuerySetError(f"query set {qs.path}: sha256 mismatch: spec says {qs.sha256}, the data has {digest}")
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "hub":
        raise QuerySetError("format hub needs a `hub_id`")
    items = PARSERS[fmt](path, qs)
    provenance = {"kind": "local", "format": fmt, "path": str(path), "sha256": digest, "items": len(items)}
    return items, provenance


# ---- hub -------------------------------------------------------------------------------------

def _from_hub(qs: Any, fmt: str) -> tuple[list[QueryItem], dict[str, Any]]:
    import datasets

    from selbench.paths import cache_root, hub_mirror
    from selbench.pools.sources import quiet_datasets

    mirror = hub_mirror()
    mirrored = mirror / qs.hub_id if mirror is not None else None
    use_mirror = mirrored is not None and mirrored.is_dir()
    where = f"{qs.hub_id}@{qs.revision}" + (f" (config {qs.config})" if qs.config else "")
    try:
        with quiet_datasets():
            if use_mirror:
                assert mirrored is not None
                data = datasets.load_dataset(str(mirrored), qs.config, split=qs.split,
                                             cache_dir=str(cache_root() / "hf-datasets"))
            else:
                data = datasets.load_dataset(qs.hub_id, qs.config, split=qs.split, revision=qs.revision)
    except Exception as exc:  # datasets raises many types (offline, missing config/split, ...)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise QuerySetError(
            f"cannot load query set {where}, split {qs.split!r}: {first}; the hub is unreachable or the revision "
            f"is not cached: set SELBENCH_HUB_MIRROR to a folder holding {qs.hub_id}/, or give the query set a "
            "local `path`") from None
    rows = [dict(r) for r in data]
    stripped = 0
    if fmt in ("gsm8k", "mmlu-pro"):
        items = ROW_PARSERS[fmt](rows, where, qs)
    else:
        fmt = "hub"
        items = []
        prefix = qs.config or "row"
        for i, row in enumerate(rows):
            prompt, label = _row_pair(row, f"{where} row {i}")
            unwrapped = _strip_tulu(prompt)
            stripped += unwrapped != prompt
            items.append(QueryItem(_row_id(row, f"{prefix}-{i:04d}"), unwrapped, label))
    if not items:
        raise QuerySetError(f"query set {where}, split {qs.split!r} has no rows")
    provenance = {"kind": "hub", "format": fmt, "hub_id": qs.hub_id, "revision": qs.revision, "config": qs.config,
                  "split": qs.split, "loaded_from": f"mirror:{mirrored}" if use_mirror else "hub",
                  "items": len(items), "chat_markup_stripped": stripped}
    if use_mirror and mirrored is not None:
        provenance["mirror_sha256"] = _digest(mirrored)
    return items, provenance


_TULU = re.compile(r"^(?:<s>\s*)?<\|user\|>\n(?P<user>.*?)\n?<\|assistant\|>\n?(?P<prefix>.*)$", re.S)


def _strip_tulu(prompt: str) -> str:
    """``<|user|>\\nU\\n<|assistant|>\\nA:`` -> ``U\\nA:`` (single-turn Tulu markup only)."""
    match = _TULU.match(prompt)
    if match is None or "<|user|>" in match["user"]:
        return prompt
    user, prefix = match["user"].rstrip("\n"), match["prefix"].strip()
    return f"{user}\n{prefix}" if prefix else user


# ---- detection ---------------------------------------------------------------------------------

def detect_format(path: Path) -> str:
    """The parser for a local file or folder (``auto``)."""
    if path.is_dir():
        if any(path.glob("*_dev.csv")) or any((path / "dev").glob("*_dev.csv")):
            return "mmlu-dev"
        raise QuerySetError(f"cannot detect a query-set format for folder {path} (only MMLU dev folders, "
                            "*_dev.csv, are read as folders)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "mmlu-dev"
    if suffix == ".jsonl":
        first = next((json.loads(line) for line in _lines(path) if line.strip()), None)
        if isinstance(first, dict) and {"question", "answer"} <= set(first) and "####" in str(first["answer"]):
            return "gsm8k"
        return "rows"
    if suffix == ".json":
        data = _load_json(path)
        if isinstance(data, list):
            return "rows"
        if isinstance(data, dict):
            if isinstance(data.get("data"), list) and data["data"] and "paragraphs" in data["data"][0]:
                return "tydiqa-squad"
            values = list(data.values())
            if values and all(isinstance(v, str) for v in values):
                return "less-bbh"
            if values and all(isinstance(v, list) and v and isinstance(v[0], dict) and "context" in v[0]
                              for v in values):
                return "less-tydiqa"
    raise QuerySetError(f"cannot detect the query-set format of {path}: give `format` "
                        f"({', '.join(f for f in FORMATS if f not in ('auto', 'hub'))})")


# ---- local parsers -----------------------------------------------------------------------------

def _bbh_tasks(path: Path) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """task -> (description, [(question, answer)]) of a bbh-three-shot.json."""
    data = _load_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise QuerySetError(f"{path}: expected a JSON object {{task: few-shot prompt text}} (LESS bbh-three-shot.json)")
    out = {}
    for task, text in data.items():
        parts = text.split("\n\n")
        if len(parts) < 4:
            raise QuerySetError(f"{path}: task {task!r} does not hold a description and 3 exemplars")
        shots = []
        for ex in parts[-3:]:
            question, sep, answer = ex.partition("\nA:")
            if not sep:
                raise QuerySetError(f"{path}: an exemplar of task {task!r} has no '\\nA:' answer")
            shots.append((question, answer.strip()))
        out[task] = ("\n\n".join(parts[:-3]).strip(), shots)
    return out


def _less_bbh(path: Path, qs: Any) -> list[QueryItem]:
    items = []
    for task, (description, shots) in _bbh_tasks(path).items():
        for i, (question, answer) in enumerate(shots):
            icl = "".join(f"{q}\nA: {a}\n\n" for j, (q, a) in enumerate(shots) if j != i)
            items.append(QueryItem(f"bbh/{task}/{i}", f"{description}\n\n{icl}{question}\nA:", answer))
    return items


def _bbh_shots(path: Path, qs: Any) -> list[QueryItem]:
    return [QueryItem(f"bbh/{task}/{i}", f"{description}\n\n{question}\nA:", answer)
            for task, (description, shots) in _bbh_tasks(path).items() for i, (question, answer) in enumerate(shots)]


def _tydiqa_item(example: dict[str, Any], lang: str, where: str) -> QueryItem:
    try:
        context, question, answers = example["context"], example["question"], example["answers"]
        label = answers[0]["text"]
    except (KeyError, IndexError, TypeError):
        raise QuerySetError(f"{where}: a TyDiQA example needs context, question and answers[0].text") from None
    prompt = TYDIQA_TEMPLATE.format(context=context.strip(), question=question.strip())
    return QueryItem(str(example.get("id") or f"tydiqa/{lang}"), prompt, str(label).strip())


def _less_tydiqa(path: Path, qs: Any) -> list[QueryItem]:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise QuerySetError(f"{path}: expected a JSON object {{language: [examples]}} (LESS tydiqa-one-shot.json)")
    return [_tydiqa_item(ex, lang, f"{path} ({lang})") for lang, examples in data.items() for ex in examples]


def _tydiqa_squad(path: Path, qs: Any) -> list[QueryItem]:
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise QuerySetError(f"{path}: expected SQuAD layout {{data: [{{paragraphs: [{{context, qas}}]}}]}}")
    items = []
    for article in data["data"]:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                example = {"id": qa.get("id"), "context": paragraph.get("context"), "question": qa.get("question"),
                           "answers": qa.get("answers")}
                items.append(_tydiqa_item(example, str(qa.get("id", "")).split("-")[0], str(path)))
    return items


_CALC = re.compile(r"<<[^>]*>>")


def gsm8k_label(answer: str) -> str:
    """GSM8K's ``rationale\\n#### N`` as a CoT answer ending "So the answer is N."."""
    rationale, sep, final = answer.rpartition("####")
    if not sep:
        raise QuerySetError("a GSM8K answer has no '#### <number>' line")
    rationale = _CALC.sub("", rationale).strip()
    return f"{rationale}\nSo the answer is {final.strip()}." if rationale else f"So the answer is {final.strip()}."


def _gsm8k_rows(rows: list[dict[str, Any]], where: str, qs: Any) -> list[QueryItem]:
    n = qs.limit or GSM8K_DEFAULT
    items = []
    for i, row in enumerate(rows):
        if len(items) == n:
            break
        if not isinstance(row, dict) or not {"question", "answer"} <= set(row):
            raise QuerySetError(f"{where}: row {i} has no question/answer (GSM8K layout)")
        prompt = f"Answer the following question.\n\nQuestion: {str(row['question']).strip()}\nAnswer:"
        items.append(QueryItem(_row_id(row, f"gsm8k/{i}"), prompt, gsm8k_label(str(row["answer"]))))
    return items


def _mmlu_pro_rows(rows: list[dict[str, Any]], where: str, qs: Any) -> list[QueryItem]:
    items = []
    for i, row in enumerate(rows):
        try:
            question, options, answer = row["question"], row["options"], str(row["answer"]).strip()
        except (KeyError, TypeError):
            raise QuerySetError(f"{where}: row {i} has no question/options/answer (MMLU-Pro layout)") from None
        letters = "ABCDEFGHIJKLMNOP"
        if not isinstance(options, list) or not 2 <= len(options) <= len(letters) or answer not in letters[:len(options)]:
            raise QuerySetError(f"{where}: row {i}: options must be a list of choices and answer one of their letters")
        subject = str(row.get("category") or "various subjects").replace("_", " ")
        choices = "".join(f"\n{letters[k]}. {opt}" for k, opt in enumerate(options))
        prompt = MMLU_HEADER.format(subject=subject) + f"Question: {str(question).strip()}\nOptions:{choices}\nAnswer:"
        cot = str(row.get("cot_content") or "").strip()
        label = cot[2:].strip() if cot.startswith("A:") else cot
        items.append(QueryItem(f"mmlu_pro/{row.get('question_id', i)}", prompt, label or f"The answer is ({answer})."))
    return items


ROW_PARSERS: dict[str, Callable[[list[dict[str, Any]], str, Any], list[QueryItem]]] = {
    "gsm8k": _gsm8k_rows, "mmlu-pro": _mmlu_pro_rows,
}


def _mmlu_dev(path: Path, qs: Any) -> list[QueryItem]:
    if path.is_dir():
        folder = path / "dev" if (path / "dev").is_dir() and not any(path.glob("*_dev.csv")) else path
        files = sorted(folder.glob("*_dev.csv"))
        if not files:
            raise QuerySetError(f"{path}: no *_dev.csv files (MMLU dev)")
    else:
        files = [path]
    items = []
    for file in files:
        subject = file.name[: -len("_dev.csv")] if file.name.endswith("_dev.csv") else file.stem
        with open(file, encoding="utf-8", newline="") as fh:
            for i, row in enumerate(csv.reader(fh)):
                if len(row) < 6 or row[5].strip() not in ("A", "B", "C", "D"):
                    raise QuerySetError(f"{file}: row {i} is not question,A,B,C,D,answer-letter")
                choices = "".join(f"\n{letter}. {text}" for letter, text in zip("ABCD", row[1:5]))
                prompt = MMLU_HEADER.format(subject=subject.replace("_", " ")) + f"{row[0]}{choices}\nAnswer:"
                items.append(QueryItem(f"mmlu/{subject}/{i}", prompt, row[5].strip()))
    return items


def _generic_rows(path: Path, qs: Any) -> list[QueryItem]:
    rows = _rows(path)
    items = []
    for i, row in enumerate(rows):
        prompt, label = _row_pair(row, f"{path} row {i}")
        items.append(QueryItem(_row_id(row, f"row-{i:04d}"), prompt, label))
    return items


PARSERS: dict[str, Callable[[Path, Any], list[QueryItem]]] = {
    "less-bbh": _less_bbh, "bbh-shots": _bbh_shots, "less-tydiqa": _less_tydiqa, "tydiqa-squad": _tydiqa_squad,
    "gsm8k": lambda path, qs: _gsm8k_rows(_rows(path), str(path), qs),
    "mmlu-pro": lambda path, qs: _mmlu_pro_rows(_rows(path), str(path), qs),
    "mmlu-dev": _mmlu_dev, "rows": _generic_rows,
}


# ---- row layouts -------------------------------------------------------------------------------

_PAIRS = (("prompts", "labels"), ("prompt", "label"), ("prompt", "completion"), ("question", "answer"))


def _row_pair(row: dict[str, Any], where: str) -> tuple[str, str]:
    if not isinstance(row, dict):
        raise QuerySetError(f"{where}: a row must be a JSON object")
    for p, l in _PAIRS:
        if p in row and l in row:
            return _text(row[p], where, p), _text(row[l], where, l)
    if "instruction" in row and "output" in row:
        extra = str(row.get("input") or "").strip()
        instruction = _text(row["instruction"], where, "instruction")
        return (f"{instruction}\n\n{extra}" if extra else instruction), _text(row["output"], where, "output")
    if "messages" in row:
        return _messages_pair(row["messages"], where)
    raise QuerySetError(f"{where}: no known layout in fields {sorted(row)} (prompts/labels, prompt/label, "
                        "prompt/completion, instruction/output, question/answer or messages)")


def _messages_pair(messages: Any, where: str) -> tuple[str, str]:
    if not isinstance(messages, list) or len(messages) < 2 or not all(isinstance(m, dict) for m in messages):
        raise QuerySetError(f"{where}: `messages` must be a list of at least two {{role, content}} turns")
    last = messages[-1]
    if last.get("role") != "assistant":
        raise QuerySetError(f"{where}: the last message must be the assistant's (it is the label)")
    before = messages[:-1]
    if len(before) == 1:
        prompt = _text(before[0].get("content"), where, "messages[0].content")
    else:
        prompt = "\n\n".join(f"{m.get('role')}: {_text(m.get('content'), where, 'content')}" for m in before)
    return prompt, _text(last.get("content"), where, "messages[-1].content")


def _text(value: Any, where: str, key: str) -> str:
    if isinstance(value, list) and len(value) == 1:  # some processed sets store one-element lists
        value = value[0]
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or str(value).strip() == "":
        raise QuerySetError(f"{where}: field {key!r} must be a non-empty string")
    return str(value)


def _row_id(row: dict[str, Any], default: str) -> str:
    value = row.get("id")
    return str(value) if isinstance(value, (str, int)) and str(value) != "" else default


# ---- files -------------------------------------------------------------------------------------

def _lines(path: Path) -> list[str]:
    try:
        return path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuerySetError(f"cannot read query set {path}: {exc}") from None


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise QuerySetError(f"cannot read query set {path} as JSON: {exc}") from None


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(_lines(path), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise QuerySetError(f"{path}: line {n} is not JSON: {exc}") from None
        return rows
    data = _load_json(path)
    if isinstance(data, dict) and isinstance(data.get("prompts"), list) and isinstance(data.get("labels"), list):
        if len(data["prompts"]) != len(data["labels"]):
            raise QuerySetError(f"{path}: {len(data['prompts'])} prompts but {len(data['labels'])} labels")
        return [{"prompts": p, "labels": l} for p, l in zip(data["prompts"], data["labels"])]
    if not isinstance(data, list):
        raise QuerySetError(f"{path}: expected a JSON list of rows (or JSONL)")
    return data


def _digest(path: Path) -> str:
    if path.is_file():
        return sha256_file(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return sha256_json([(p.relative_to(path).as_posix(), sha256_file(p)) for p in files])
