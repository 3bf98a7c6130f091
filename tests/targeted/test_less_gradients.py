"""LESS per-example gradients: one padded batch gives each example's own gradient.

The reference is the one-backward-per-example loop on the unpadded example (what LESS's own
code runs). The tiny LLaMA of the tiny spec gets LoRA on every linear layer with random ``B``
matrices (peft initialises ``B = 0``, which would make every ``A`` gradient zero and the test
vacuous) and dropout 0.1 (it must be off: both paths run in eval mode).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def lora_model(tiny_spec_less: Any) -> tuple[Any, Any]:
    from peft import LoraConfig, get_peft_model

    from selbench.models.loader import load_base_model, load_tokenizer, resolve_base_model

    resolved = resolve_base_model(tiny_spec_less.base_model)
    tokenizer = load_tokenizer(resolved)
    model = get_peft_model(load_base_model(resolved), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1,
                                                                 target_modules="all-linear", task_type="CAUSAL_LM"))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.05, generator=gen)
    model.eval()
    return model, tokenizer


@pytest.fixture(scope="module")
def tiny_spec_less() -> Any:
    from selbench.specs.loader import load_spec

    return load_spec("tiny")


def _examples(tokenizer: Any) -> list[tuple[list[int], list[int]]]:
    """Real chat examples of different lengths (response-only labels), plus one without labels."""
    from selbench.representations.less.features import encode_conversations
    from selbench.training.templates import get_template

    convs = [
        [{"role": "user", "content": "Tell me about the pet of Fingruth."}, {"role": "assistant", "content": "A horse."}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there, how can I help you today?"}],
        [{"role": "user", "content": "What colour does Amber like, and which city does she live in?"},
         {"role": "assistant", "content": "Blue; Paris."}],
        [{"role": "user", "content": "Say x"}, {"role": "assistant", "content": "x"}],
    ]
    return encode_conversations(convs, tokenizer, get_template("tiny-chat"), max_length=128, loss_on="response")


def _collect(store: dict[str, list[Any]]) -> Any:
    def consumer(name: str, grads: Any) -> None:
        store.setdefault(name, []).append(grads.detach().clone())

    return consumer


def test_batched_per_sample_gradients_equal_one_at_a_time(lora_model: tuple[Any, Any]) -> None:
    from selbench.representations.less.per_sample import batched_gradients, looped_gradients, lora_layers

    model, tokenizer = lora_model
    examples = _examples(tokenizer)
    lengths = [len(e[0]) for e in examples]
    assert len(set(lengths)) == len(lengths), "the batch must need padding"
    layers = lora_layers(model)
    assert len(layers) == 2 * 7 * 2  # A and B of 7 linear layers in 2 decoder layers
    batched: dict[str, list[Any]] = {}
    looped: dict[str, list[Any]] = {}
    loss_b = batched_gradients(model, layers, examples, _collect(batched), tokenizer.pad_token_id, "cpu")
    loss_l = looped_gradients(model, layers, examples, _collect(looped), "cpu")
    torch.testing.assert_close(loss_b, loss_l, rtol=1e-5, atol=1e-6)
    for name in layers:
        b = batched[name][0]
        ref = torch.cat(looped[name])
        assert b.shape == (len(examples), *layers[name].weight.shape)
        assert ref.abs().max() > 0, f"{name}: zero reference gradient, the test would be vacuous"
        err = (b - ref).abs().max() / ref.abs().max()
        assert err < 1e-4, f"{name}: per-sample gradient differs from the one-at-a-time one by {err:.2e}"
    # each example's gradient is its own, not the batch mean
    any_name = next(iter(layers))
    assert not torch.allclose(batched[any_name][0][0], batched[any_name][0][1])


def test_batched_gradients_do_not_touch_weight_grads(lora_model: tuple[Any, Any]) -> None:
    from selbench.representations.less.per_sample import batched_gradients, lora_layers

    model, tokenizer = lora_model
    layers = lora_layers(model)
    batched_gradients(model, layers, _examples(tokenizer)[:2], lambda n, g: None, tokenizer.pad_token_id, "cpu")
    assert all(m.weight.grad is None for m in layers.values())


def test_gradient_features_batched_equal_loop_with_adam(lora_model: tuple[Any, Any]) -> None:
    from selbench.representations.less.per_sample import gradient_features, lora_layers
    from selbench.representations.less.projection import CountSketch

    model, tokenizer = lora_model
    examples = _examples(tokenizer)
    examples.insert(2, (examples[0][0], [-100] * len(examples[0][0])))  # no label token: a zero row
    gen = torch.Generator().manual_seed(1)
    adam = {n: (torch.randn(m.weight.shape, generator=gen) * 1e-3, torch.rand(m.weight.shape, generator=gen) * 1e-6)
            for n, m in lora_layers(model).items()}
    proj = CountSketch(512, seed=3)
    common = dict(pad_id=tokenizer.pad_token_id, device="cpu", adam_state=adam)
    batched = gradient_features(model, examples, proj, batch_size=3, mode="batched", **common)
    loop = gradient_features(model, examples, proj, batch_size=3, mode="loop", **common)
    assert batched.empty == 1 and not batched.features[2].any() and np.isnan(batched.losses[2])
    assert batched.tokens == sum(len(e[0]) for i, e in enumerate(examples) if i != 2)
    keep = [0, 1, 3, 4]
    np.testing.assert_allclose(batched.losses[keep], loop.losses[keep], rtol=1e-5)
    np.testing.assert_allclose(batched.features, loop.features, rtol=1e-3, atol=1e-3 * np.abs(loop.features).max())
    cos = (batched.features[keep] * loop.features[keep]).sum(1) / (
        np.linalg.norm(batched.features[keep], axis=1) * np.linalg.norm(loop.features[keep], axis=1))
    assert cos.min() > 0.99999
    # plain (query) gradients differ from the preconditioned ones
    plain = gradient_features(model, examples, proj, batch_size=3, pad_id=tokenizer.pad_token_id, device="cpu")
    assert not np.allclose(plain.features[0] / np.linalg.norm(plain.features[0]),
                           batched.features[0] / np.linalg.norm(batched.features[0]), atol=1e-3)


def test_mixed_precision_path_agrees(lora_model: tuple[Any, Any]) -> None:
    """A bf16 base model (the GPU setting) runs under autocast with bf16 einsums: batched still
    equals the loop, and both stay close to the float32 features."""
    import copy

    from selbench.representations.less.per_sample import amp_dtype_of, gradient_features
    from selbench.representations.less.projection import CountSketch

    model, tokenizer = lora_model
    half = copy.deepcopy(model)
    for name, p in half.named_parameters():
        if "lora_" not in name:
            p.data = p.data.to(torch.bfloat16)
    assert amp_dtype_of(half) == torch.bfloat16 and amp_dtype_of(model) is None
    examples = _examples(tokenizer)
    proj = CountSketch(512, seed=0)
    runs = {mode: gradient_features(half, examples, proj, batch_size=4, pad_id=tokenizer.pad_token_id, device="cpu",
                                    mode=mode) for mode in ("batched", "loop")}
    ref = gradient_features(model, examples, proj, batch_size=4, pad_id=tokenizer.pad_token_id, device="cpu")
    assert runs["batched"].stats["amp_dtype"] == "torch.bfloat16"

    def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))

    assert cos(runs["batched"].features, runs["loop"].features).min() > 0.999
    assert cos(runs["batched"].features, ref.features).min() > 0.99
