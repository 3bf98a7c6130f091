"""Embeddings from a causal LM's last hidden layer: mean-, last-token or position-weighted pooled.

DEITA embeds with the last layer's hidden state of the last token (Mistral-7B, max_length 512);
mean pooling over non-padding tokens is the other common choice (Cherry's k-means). RDS+
(Ivison et al. 2025, after SGPT) uses ``position_weighted``: the mean with weight
``t / sum(1..T)`` on the t-th of the T real tokens, so later tokens (which have attended to more
of the text) count more. Sequences are padded on the right per length-sorted batch, so the real
tokens are positions 1..T of each row and results match one-at-a-time embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from selbench.cost.meter import CostMeter, transformer_forward_flops
from selbench.services.errors import ServiceError
from selbench.services.model import LoadedModel
from selbench.models.padding import length_sorted_batches, right_pad

Pooling = Literal["mean", "last", "position_weighted"]
POOLINGS = ("mean", "last", "position_weighted")


class EmbeddingService:
    def __init__(self, loaded: LoadedModel, meter: CostMeter, *, batch_size: int = 16, max_length: int = 512,
                 add_special_tokens: bool = True) -> None:
        self.loaded = loaded
        self.meter = meter
        self.batch_size = max(1, int(batch_size))
        self.max_length = int(max_length)
        # False for text already rendered by a chat template (it starts with the BOS token itself)
        self.add_special_tokens = bool(add_special_tokens)

    def embed(self, texts: Sequence[str], pooling: Pooling = "mean") -> np.ndarray:
        """float32 array of shape (len(texts), hidden_size)."""
        import torch

        if pooling not in POOLINGS:
            raise ServiceError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        tok = self.loaded.tokenizer
        encoded = [list(tok(t, add_special_tokens=self.add_special_tokens)["input_ids"])[: self.max_length]
                   or [tok.bos_token_id or 0] for t in texts]
        hidden = getattr(self.loaded.model.config, "hidden_size", None)
        out = np.zeros((len(encoded), hidden or 1), dtype=np.float32)
        pad = tok.pad_token_id or 0
        for batch in length_sorted_batches([len(e) for e in encoded], self.batch_size):
            ids, attn = right_pad([encoded[i] for i in batch], pad)
            device = self.loaded.device
            with torch.inference_mode():
                states = self.loaded.model(input_ids=ids.to(device), attention_mask=attn.to(device),
                                           output_hidden_states=True).hidden_states[-1].float()
            mask = attn.to(device).unsqueeze(-1).float()
            if pooling == "mean":
                pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1)
            elif pooling == "position_weighted":
                pooled = (states * position_weights(attn.to(device)).unsqueeze(-1)).sum(1)
            else:
                pooled = states[torch.arange(len(batch), device=device), (attn.sum(1) - 1).to(device)]
            out[batch] = pooled.cpu().numpy()
            tokens = int(attn.sum())
            self.meter.add_tokens(tokens, transformer_forward_flops(self.loaded.n_params, tokens))
        return out


def position_weights(attention_mask: Any) -> Any:
    """SGPT/RDS+ weights of right-padded rows: ``t / sum(1..T)`` on real token t (1-based), 0 on padding."""
    positions = attention_mask.float().cumsum(1) * attention_mask.float()
    return positions / positions.sum(1, keepdim=True).clamp_min(1)
