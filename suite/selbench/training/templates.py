"""Prompt templates, as Jinja chat templates with ``{% generation %}`` tags.

One template string serves training and inference alike: training renders a conversation with
``tokenizer.apply_chat_template(..., return_assistant_tokens_mask=True)`` (the library's
completion-only masking: the ``{% generation %}`` spans are the response tokens), and the same
string is saved as the fine-tuned model's chat template so vLLM (``--chat-template`` or the saved
tokenizer) and lm-eval (``--apply_chat_template``) prompt the model exactly as it was trained.
Base models such as LLaMA-1 have no chat template of their own, so this matters.

Templates (``recipe.template``):
- ``tiny-chat``: the tiny model's format (``<|user|>``/``<|assistant|>``/``<|end|>`` specials).
- ``tulu``: Tulu/open-instruct (the targeted paper): ``<|user|>\\n…\\n<|assistant|>\\n…</s>\\n``.
- ``alpaca``: Stanford Alpaca's "### Instruction: / ### Response:" with its preamble.
- ``chasing-random``: the exact prompt string of the Chasing Random code (first turn only).

This module imports nothing heavy; the spec validator uses :data:`TEMPLATE_NAMES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from selbench.hashing import sha256_bytes


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    chat_template: str
    first_turn_only: bool = False

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.chat_template.encode("utf-8"))


_TINY_CHAT = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}<|system|>\n"
    "{{ m['content'] }}<|end|>\n"
    "{% elif m['role'] == 'user' %}<|user|>\n"
    "{{ m['content'] }}<|end|>\n"
    "{% elif m['role'] == 'assistant' %}<|assistant|>\n"
    "{% generation %}{{ m['content'] }}<|end|>{% endgeneration %}{{ eos_token }}\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_TULU = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}<|system|>\n"
    "{{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}<|user|>\n"
    "{{ m['content'] }}\n"
    "{% elif m['role'] == 'assistant' %}<|assistant|>\n"
    "{% generation %}{{ m['content'] }}{{ eos_token }}{% endgeneration %}{{ '\\n' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_ALPACA_PREAMBLE = "Below is an instruction that describes a task. Write a response that appropriately completes the request."
_ALPACA = (
    "{{ bos_token }}{% if messages and messages[0]['role'] == 'system' %}{{ messages[0]['content'] }}\n\n"
    "{% else %}" + _ALPACA_PREAMBLE + "\n\n{% endif %}"
    "{% for m in messages %}{% if m['role'] == 'user' %}### Instruction:\n{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'assistant' %}### Response:\n"
    "{% generation %}{{ m['content'] }}{{ eos_token }}{% endgeneration %}{{ '\\n\\n' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}### Response:\n{% endif %}"
)

# Note: transformers renders chat templates with trim_blocks, so a newline right after a block tag
# is dropped; write it as {{ '\\n' }} there.

# src/train.py of ippolito-cmu/ChasingRandom (llama prompt), spaces and all.
_CR_PROMPT = (
    "Below is an instruction that is optionally paired with some additional context. Respond appropriately "
    "follows using the context (if any) \n \n ### Instruction: "
)
_CHASING_RANDOM = (
    "{{ bos_token }}{% set ns = namespace(done=false) %}{% for m in messages %}"
    "{% if m['role'] == 'user' and not ns.done %}{{ cr_prompt }}{{ m['content'] }} \n ### Response: "
    "{% elif m['role'] == 'assistant' and not ns.done %}"
    "{% generation %}{{ m['content'] }}{{ eos_token }}{% endgeneration %}{% set ns.done = true %}"
    "{% endif %}{% endfor %}"
).replace("{{ cr_prompt }}", _CR_PROMPT)

TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("tiny-chat", "the tiny model's chat format with <|user|>/<|assistant|>/<|end|> specials", _TINY_CHAT),
        Template("tulu", "Tulu / open-instruct chat format (targeted paper)", _TULU),
        Template("alpaca", "Stanford Alpaca instruction/response format", _ALPACA),
        Template("chasing-random", "the Chasing Random code's prompt string, first turn only", _CHASING_RANDOM,
                 first_turn_only=True),
    )
}
TEMPLATE_NAMES = tuple(TEMPLATES)


def get_template(name: str) -> Template:
    try:
        return TEMPLATES[name]
    except KeyError:
        from selbench.errors import SelbenchError
        from selbench.suggest import did_you_mean

        raise SelbenchError(f"unknown prompt template '{name}'{did_you_mean(name, list(TEMPLATES))}") from None
