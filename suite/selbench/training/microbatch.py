"""Micro-batches sized by a token budget instead of a fixed number of examples.

Why: a fixed 8 examples a micro-batch is ~1.5k tokens of a 7B model's step, far too little to
fill a large GPU (the H200 measurement in issue 19 used 14 GiB of 141), while a fixed larger
count runs out of memory on a batch of long examples. A token budget keeps each forward near the
same size whatever the lengths.

How, without changing the recipe's semantics: the data loader hands the trainer one device's
whole share of an optimizer step (``effective_batch_size / devices`` examples, drawn by the same
seeded sampler as the fixed path, so a step holds the same examples), and :class:`TokenBudgetCollator`
splits it into micro-batches of at most ``budget`` tokens (longest first, so padding is small).
The whole step's labels are collated too, so the trainer counts the step's label tokens exactly as
it does over accumulated micro-batches; every micro-batch's loss is its token sum divided by that
count (the model's ``num_items_in_batch``), and the gradients of all micro-batches add up before
the one optimizer step. So the loss and gradient of a step equal the fixed-size path's (tested in
``tests/training/test_microbatch.py``), only the summation order differs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

MICRO_BATCHES = "micro_batches"


def plan_micro_batches(lengths: Sequence[int], budget: int, *, padded: bool, multiple: int = 1) -> list[list[int]]:
    """Indices of each micro-batch: longest first, greedily filled up to ``budget`` tokens.

    ``padded``: a micro-batch costs ``count x its longest (rounded up to multiple)`` (padded rows);
    else the sum of its lengths (one flattened row). An example longer than the budget is alone."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))

    def cost(batch: list[int]) -> int:  # longest first: a padded batch's longest is its first
        if padded:
            return len(batch) * -(-lengths[batch[0]] // multiple) * multiple
        return sum(lengths[i] for i in batch)

    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and cost([*current, i]) > budget:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


class TokenBudgetCollator:
    """Collates a step's examples into token-budget micro-batches (plus the whole step, for counting)."""

    def __init__(self, inner: Callable[[list[dict[str, Any]]], dict[str, Any]], budget: int, *, padded: bool,
                 multiple: int = 1) -> None:
        self.inner = inner
        self.budget = budget
        self.padded = padded
        self.multiple = multiple

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        lengths = [len(f["input_ids"]) for f in features]
        plan = plan_micro_batches(lengths, self.budget, padded=self.padded, multiple=self.multiple)
        # copies: transformers' padding collators may rewrite a feature's labels while padding
        parts = [self.inner([dict(features[i]) for i in idx]) for idx in plan]
        whole = self.inner([dict(f) for f in features])  # the trainer counts label and input tokens on it
        whole[MICRO_BATCHES] = parts
        return whole


def token_budget_trainer_class() -> type:
    """A ``transformers.Trainer`` whose training step runs the micro-batches one after another."""
    from transformers import Trainer

    class TokenBudgetTrainer(Trainer):
        """One ``training_step`` = one device's share of an optimizer step (accumulation 1)."""

        def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
            if MICRO_BATCHES not in inputs:
                return super().training_step(model, inputs, num_items_in_batch)
            model.train()
            if hasattr(self.optimizer, "train") and callable(self.optimizer.train):
                self.optimizer.train()
            parts = self._prepare_inputs(inputs)[MICRO_BATCHES]
            total = None
            for k, part in enumerate(parts):
                last = k == len(parts) - 1
                sync = contextlib.nullcontext() if last or self.accelerator.num_processes == 1 else \
                    self.accelerator.no_sync(model)
                with sync:
                    with self.compute_loss_context_manager():
                        loss = self.compute_loss(model, part, num_items_in_batch=num_items_in_batch)
                    if num_items_in_batch is None:  # a model without loss kwargs: a mean per micro-batch
                        loss = loss / len(parts)
                    self.accelerator.backward(loss)
                total = loss.detach() if total is None else total + loss.detach()
            return total

    return TokenBudgetTrainer
