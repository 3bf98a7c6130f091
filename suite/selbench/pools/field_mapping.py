"""Map a source dataset's columns onto the canonical schema.

Presets cover the pools of the built-in specs (Alpaca, Dolly, Evol-Instruct, FLAN, Tulu) and
generic prompt/completion and messages files; ``auto`` picks a preset from the columns.
"""

from __future__ import annotations

from typing import Any

from selbench.errors import PoolError
from selbench.pools.schema import user_text
from selbench.specs.models import FieldMapping
from selbench.suggest import did_you_mean

_SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system", "user": "user", "assistant": "assistant"}

PRESETS: dict[str, FieldMapping] = {
    "alpaca": FieldMapping(instruction="instruction", input="input", output="output"),
    "dolly": FieldMapping(instruction="instruction", input="context", output="response", source="category"),
    "evol_instruct": FieldMapping(
        messages="conversations", role_key="from", content_key="value",
        role_aliases=_SHAREGPT_ROLES, first_turn_only=True,
    ),
    "sharegpt": FieldMapping(messages="conversations", role_key="from", content_key="value", role_aliases=_SHAREGPT_ROLES),
    "flan": FieldMapping(prompt="inputs", completion="targets", source="task_name"),
    "prompt_completion": FieldMapping(prompt="prompt", completion="completion", strip_suffixes=("<|endoftext|>",)),
    "messages": FieldMapping(messages="messages"),
    "tulu": FieldMapping(messages="messages", source="dataset", id="id"),
}

# Column sets that identify a preset, most specific first.
_AUTO_RULES: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"instruction", "context", "response"}), "dolly"),
    (frozenset({"instruction", "output"}), "alpaca"),
    (frozenset({"conversations"}), "sharegpt"),
    (frozenset({"inputs", "targets"}), "flan"),
    (frozenset({"prompt", "completion"}), "prompt_completion"),
    (frozenset({"messages"}), "messages"),
)


def resolve_mapping(fields: str | FieldMapping, columns: list[str], pool_name: str) -> FieldMapping:
    """The mapping to use for a source with ``columns``; checks every mapped column exists."""
    if isinstance(fields, FieldMapping):
        mapping = fields
    elif fields == "auto":
        present = set(columns)
        preset = next((name for cols, name in _AUTO_RULES if cols <= present), None)
        if preset is None:
            raise PoolError(
                f"pool '{pool_name}': cannot tell the layout from columns {sorted(columns)}; "
                f"set `fields:` to one of {', '.join(PRESETS)} or map the columns explicitly"
            )
        mapping = PRESETS[preset]
    elif fields in PRESETS:
        mapping = PRESETS[fields]
    else:
        raise PoolError(f"pool '{pool_name}': unknown field preset '{fields}'{did_you_mean(fields, PRESETS)}")
    required = [
        getattr(mapping, key)
        for key in ("instruction", "output", "prompt", "completion", "messages")
        if getattr(mapping, key) is not None
    ]
    missing = [col for col in required if col not in columns]
    if missing:
        raise PoolError(
            f"pool '{pool_name}': missing field(s) {', '.join(repr(m) for m in missing)}; "
            f"the file has columns {sorted(columns)}"
        )
    return mapping


def _text(value: Any, column: str, pool_name: str, row_index: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PoolError(f"pool '{pool_name}': row {row_index} column '{column}' is {type(value).__name__}, expected text")
    return value


def _strip(text: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


def _messages(raw: Any, mapping: FieldMapping, pool_name: str, row_index: int) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise PoolError(f"pool '{pool_name}': row {row_index} has no conversation in '{mapping.messages}'")
    out = []
    for turn in raw:
        if not isinstance(turn, dict) or mapping.role_key not in turn or mapping.content_key not in turn:
            raise PoolError(
                f"pool '{pool_name}': row {row_index}: each turn needs '{mapping.role_key}' and '{mapping.content_key}'"
            )
        role = str(turn[mapping.role_key])
        role = mapping.role_aliases.get(role, role)
        out.append({"role": role, "content": _text(turn[mapping.content_key], mapping.content_key, pool_name, row_index)})
    if mapping.first_turn_only:
        first_user = next((i for i, t in enumerate(out) if t["role"] == "user"), None)
        if first_user is None or first_user + 1 >= len(out) or out[first_user + 1]["role"] != "assistant":
            raise PoolError(f"pool '{pool_name}': row {row_index} has no user turn followed by an assistant turn")
        out = out[: first_user + 2]
    return out


def canonical_row(
    raw: dict[str, Any], mapping: FieldMapping, pool_name: str, default_source: str, row_index: int
) -> dict[str, Any] | None:
    """One source row in the canonical schema (without its id); None if its instruction or
    response is empty."""
    source = default_source
    if mapping.source is not None and raw.get(mapping.source) not in (None, ""):
        source = str(raw[mapping.source])
    if mapping.messages is not None:
        messages = _messages(raw.get(mapping.messages), mapping, pool_name, row_index)
        users = [t["content"] for t in messages if t["role"] == "user"]
        answers = [t["content"] for t in messages if t["role"] == "assistant"]
        if not users or not answers:
            raise PoolError(f"pool '{pool_name}': row {row_index} needs a user and an assistant turn")
        answers = [_strip(a, mapping.strip_suffixes) for a in answers]
        instruction, input_text, output = users[0], "", answers[0]
    else:
        if mapping.prompt is not None:
            assert mapping.completion is not None
            instruction = _text(raw.get(mapping.prompt), mapping.prompt, pool_name, row_index)
            input_text = ""
            output = _text(raw.get(mapping.completion), mapping.completion, pool_name, row_index)
        else:
            assert mapping.instruction is not None and mapping.output is not None
            instruction = _text(raw.get(mapping.instruction), mapping.instruction, pool_name, row_index)
            input_text = _text(raw.get(mapping.input), mapping.input, pool_name, row_index) if mapping.input else ""
            output = _text(raw.get(mapping.output), mapping.output, pool_name, row_index)
        output = _strip(output, mapping.strip_suffixes)
        messages = [
            {"role": "user", "content": user_text(instruction, input_text)},
            {"role": "assistant", "content": output},
        ]
    if not instruction.strip() or not output.strip():
        return None  # nothing to learn from; counted in the pool's load report
    return {"source": source, "instruction": instruction, "input": input_text, "output": output, "messages": messages}
