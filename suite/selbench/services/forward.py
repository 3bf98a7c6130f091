"""Batched forward passes with a causal LM: per-example answer losses and next-token logits.

``answer_losses(prompts, answers)`` is the mean token cross-entropy of each answer given its
prompt (the prompt tokens are context, not scored): IFD needs it twice, with the instruction and
without. Examples are sorted by length and padded on the right per batch, so one batch wastes
little compute on padding; results come back in input order and match one-at-a-time evaluation
(``benchmarks/selection_cost.py`` measures the speedup).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selbench.cost.meter import CostMeter, transformer_forward_flops
from selbench.models.padding import length_sorted_batches, right_pad
from selbench.services.model import LoadedModel


class ForwardService:
    def __init__(self, loaded: LoadedModel, meter: CostMeter, *, batch_size: int = 16, max_length: int = 512) -> None:
        self.loaded = loaded
        self.meter = meter
        self.batch_size = max(1, int(batch_size))
        self.max_length = int(max_length)

    @property
    def tokenizer(self):  # noqa: ANN201 - a transformers tokenizer
        return self.loaded.tokenizer

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _pairs(self, prompts: Sequence[str], answers: Sequence[str]) -> list[tuple[list[int], list[int]]]:
        pairs = []
        for prompt, answer in zip(prompts, answers, strict=True):
            p, a = self.encode(prompt), self.encode(answer)
            a = a[: max(1, self.max_length - 1)]
            p = p[-max(1, self.max_length - len(a)):] if p else p  # keep the prompt's end
            pairs.append((p, a))
        return pairs

    def _batches(self, lengths: list[int]) -> list[np.ndarray]:
        return length_sorted_batches(lengths, self.batch_size)

    def answer_losses(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        """Mean CE (nats/token) of each answer given its prompt; NaN for an empty answer.

        An empty prompt scores the answer from its first token on, conditioned on nothing but
        the tokens before it (the first answer token itself is not scored then).
        """
        import torch

        pairs = self._pairs(prompts, answers)
        out = np.full(len(pairs), np.nan, dtype=np.float64)
        pad = self.tokenizer.pad_token_id or 0
        model, device = self.loaded.model, self.loaded.device
        for batch in self._batches([len(p) + len(a) for p, a in pairs]):
            seqs = [pairs[i][0] + pairs[i][1] for i in batch]
            ids, attn = right_pad(seqs, pad)
            labels = torch.full(ids.shape, -100, dtype=torch.long)
            for row, i in enumerate(batch):
                p, a = pairs[i]
                s = p + a
                start = max(len(p), 1)
                labels[row, start: len(s)] = torch.tensor(s[start:], dtype=torch.long)
            with torch.inference_mode():
                logits = model(input_ids=ids.to(device), attention_mask=attn.to(device)).logits.float()
            shift_logits, shift_labels = logits[:, :-1], labels[:, 1:].to(device)
            ce = torch.nn.functional.cross_entropy(
                shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1), reduction="none", ignore_index=-100
            ).view(shift_labels.shape)
            mask = (shift_labels != -100).float()
            counts = mask.sum(1)
            means = (ce * mask).sum(1) / counts.clamp_min(1)
            means[counts == 0] = float("nan")
            out[batch] = means.double().cpu().numpy()
            tokens = int(attn.sum())
            self.meter.add_tokens(tokens, transformer_forward_flops(self.loaded.n_params, tokens))
        return out

    def next_token_logits(self, prompts: Sequence[str], token_ids: Sequence[int]) -> np.ndarray:
        """Logits of ``token_ids`` for the token after each prompt: shape (len(prompts), len(token_ids))."""
        import torch

        encoded = [self.encode(p)[-self.max_length:] or [self.tokenizer.bos_token_id or 0] for p in prompts]
        out = np.zeros((len(encoded), len(token_ids)), dtype=np.float64)
        pad = self.tokenizer.pad_token_id or 0
        wanted = torch.tensor(list(token_ids), dtype=torch.long)
        for batch in self._batches([len(e) for e in encoded]):
            ids, attn = right_pad([encoded[i] for i in batch], pad)
            with torch.inference_mode():
                logits = self.loaded.model(input_ids=ids.to(self.loaded.device), attention_mask=attn.to(self.loaded.device)).logits
            last = attn.sum(1) - 1
            picked = logits[torch.arange(len(batch)), last.to(logits.device)][:, wanted.to(logits.device)]
            out[batch] = picked.double().cpu().numpy()
            tokens = int(attn.sum())
            self.meter.add_tokens(tokens, transformer_forward_flops(self.loaded.n_params, tokens))
        return out
