"""The strings representations are computed on, from a canonical pool row."""

from __future__ import annotations

from typing import Any

from selbench.pools.schema import user_text


def user_turn(row: dict[str, Any]) -> str:
    """Instruction plus optional input, as the user turn."""
    return user_text(row.get("instruction") or "", row.get("input") or "")


def rows(pool: Any) -> list[dict[str, Any]]:
    """The pool's rows as dicts with instruction, input and output."""
    data = pool.data.select_columns(["instruction", "input", "output"])
    return [dict(zip(("instruction", "input", "output"), t)) for t in zip(data["instruction"], data["input"], data["output"])]


def render_prompt(tokenizer: Any, chat_template: str | None, user: str | None) -> str:
    """The text before the answer: the template's user turn + assistant header, or the header
    alone when ``user`` is None (the "answer without its instruction" context of IFD)."""
    kwargs: dict[str, Any] = {"tokenize": False}
    if chat_template:
        kwargs["chat_template"] = chat_template
    if user is not None:
        return tokenizer.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True, **kwargs)
    probe = [{"role": "user", "content": "\x00"}]
    with_header = tokenizer.apply_chat_template(probe, add_generation_prompt=True, **kwargs)
    without = tokenizer.apply_chat_template(probe, add_generation_prompt=False, **kwargs)
    header = with_header[len(without):] if with_header.startswith(without) else ""
    return (tokenizer.bos_token or "") + header
