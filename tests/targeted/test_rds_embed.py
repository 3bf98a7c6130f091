"""RDS+ and EMBED representations (arXiv 2602.14696 §2.3) on tiny local models.

- position weights by hand (3 tokens: 1/6, 2/6, 3/6) through the embedding service on a fake LM,
  and padding invariance on the tiny LLaMA;
- RDS+ end to end: vectors equal a hand computation on one example, pool vectors cached and
  charged as amortised on a second call;
- EMBED end to end through the ``tiny-sentence-encoder`` builder, and the hub code path
  (``SentenceTransformer("sentence-transformers/gtr-t5-base", revision=<sha>)``) served offline
  from a local hub cache that holds the tiny encoder under gtr-t5-base's name and revision.

Models are small (a random-init tiny LLaMA, a 4-step trained encoder), so the module runs in
well under a minute on a CPU.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
# found, not imported: importing it here would import huggingface_hub before the session fixtures set HF_HUB_OFFLINE
if importlib.util.find_spec("sentence_transformers") is None:
    pytest.skip("EMBED needs sentence-transformers (the `select` extra)", allow_module_level=True)

PREFIX = "Instruct: Given a sample, find the passages closest to that sample.\nQuery: "
# random init (no pretraining): builds in about a second
TINY_LLAMA_ARGS = {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "head_dim": 32, "vocab_size": 4096}
ENCODER_ARGS = {"train_steps": 4, "train_batch_size": 8}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from selbench.pools.loader import load_pool
    from selbench.specs.loader import load_spec
    from selbench.specs.models import ModelSpec
    from selbench.targeted.generators import tiny_world_queries
    from selbench.targeted.query_set import QuerySet

    base = load_spec("tiny")
    spec = base.model_copy(update={"base_model": ModelSpec(name="tiny-llama-rand", builder="tiny-llama",
                                                           builder_args=TINY_LLAMA_ARGS, dtype="float32")})
    pool = load_pool(spec.pools[0].model_copy(update={"max_rows": 48}))
    queries = QuerySet("pet", tuple(tiny_world_queries("pet", 24, 0)[:5]))
    encoder = ModelSpec(name="tiny-sentence-encoder", builder="tiny-sentence-encoder", builder_args=ENCODER_ARGS)
    return {"spec": spec, "pool": pool, "queries": queries, "encoder": encoder,
            "cache": tmp_path_factory.mktemp("rds-embed-cache")}


def _ctx(setup: dict[str, Any], spec: Any = "default") -> Any:
    from selbench.cost.meter import CostMeter
    from selbench.selection.context import SelectionContext
    from selbench.services import Services

    spec = setup["spec"] if spec == "default" else spec
    meter = CostMeter().start()
    services = Services(meter, spec=spec, cache_dir=setup["cache"], device="cpu")
    return SelectionContext(seed=0, scratch_dir=setup["cache"], meter=meter, services=services, spec=spec)


# -- position-weighted pooling ------------------------------------------------------------------
class _FakeTokenizer:
    pad_token_id = 0
    bos_token_id = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [int(w) for w in text.split()]}


class _FakeLM:
    """Hidden state of token t = (its id, 1): pooling can be checked by hand."""

    config = SimpleNamespace(hidden_size=2)

    def __call__(self, input_ids: Any, attention_mask: Any, output_hidden_states: bool) -> Any:
        import torch

        states = torch.stack([input_ids.float(), torch.ones_like(input_ids, dtype=torch.float32)], -1)
        return SimpleNamespace(hidden_states=(states * 0, states))


def _fake_embedder(batch_size: int) -> Any:
    from selbench.cost.meter import CostMeter
    from selbench.services.embed import EmbeddingService
    from selbench.services.model import LoadedModel

    loaded = LoadedModel("fake", _FakeLM(), _FakeTokenizer(), "cpu", 10, {"kind": "fake"}, "fake")
    return EmbeddingService(loaded, CostMeter(), batch_size=batch_size)


def test_position_weights_by_hand() -> None:
    import torch

    from selbench.services.embed import position_weights

    w = position_weights(torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]]))
    expected = [[1 / 6, 2 / 6, 3 / 6], [1 / 3, 2 / 3, 0.0], [1.0, 0.0, 0.0]]
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    # through the service: tokens 3, 6, 9 -> (1*3 + 2*6 + 3*9) / 6 = 7; the mean is 6, the last 9
    texts = ["3 6 9", "1 2 3 4 5 6 7", "5"]
    for batch_size in (1, 3):
        emb = _fake_embedder(batch_size)
        np.testing.assert_allclose(emb.embed(texts, pooling="position_weighted")[0], [7.0, 1.0], rtol=1e-6)
        np.testing.assert_allclose(emb.embed(texts, pooling="mean")[0], [6.0, 1.0], rtol=1e-6)
        np.testing.assert_allclose(emb.embed(texts, pooling="last")[0], [9.0, 1.0], rtol=1e-6)
        # 7 tokens: sum(t * t) / sum(t) = 140 / 28 = 5
        np.testing.assert_allclose(emb.embed(texts, pooling="position_weighted")[1], [5.0, 1.0], rtol=1e-6)
        np.testing.assert_allclose(emb.embed(texts, pooling="position_weighted")[2], [5.0, 1.0], rtol=1e-6)


def test_position_weighted_padding_invariance(setup: dict[str, Any]) -> None:
    services = _ctx(setup).services
    text = "<s><|user|>\nWhat pet does Bo have?<|end|>\n<|assistant|>\nBo has a pet cat.<|end|></s>"
    longer = [text + " and a much longer tail of words" * k for k in (1, 3, 5)]
    alone = services.embedder(batch_size=1, add_special_tokens=False).embed([text], pooling="position_weighted")
    batched = services.embedder(batch_size=8, add_special_tokens=False).embed(longer + [text], pooling="position_weighted")
    np.testing.assert_allclose(batched[-1], alone[0], rtol=1e-4, atol=1e-5)
    assert not np.allclose(batched[0], alone[0], atol=1e-3)  # the other rows differ: the check can fail


# -- RDS+ ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rds_first(setup: dict[str, Any]) -> tuple[Any, Any]:
    from selbench.representations.rds import rds_features

    ctx = _ctx(setup)
    features = rds_features(setup["pool"], setup["queries"], ctx, max_length=64)
    return features, ctx.meter.stop()


def _weighted_by_hand(loaded: Any, text: str, max_length: int) -> np.ndarray:
    import torch

    ids = loaded.tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]
    assert ids.count(loaded.tokenizer.bos_token_id) == 1  # the template's BOS, not a second one
    with torch.inference_mode():
        states = loaded.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1][0].numpy()
    t = np.arange(1, len(ids) + 1, dtype=np.float64)
    v = (states * (t / t.sum())[:, None]).sum(0)
    return v / np.linalg.norm(v)


def test_rds_vectors_match_a_hand_computation(setup: dict[str, Any], rds_first: tuple[Any, Any]) -> None:
    from selbench.training.templates import get_template

    features, record = rds_first
    assert (features.n_query, features.n_pool) == (5, 48)
    assert features.similarity().shape == (5, 48)
    block = features.blocks[0]
    np.testing.assert_allclose(np.linalg.norm(block.pool, axis=1), 1.0, rtol=1e-5)
    assert features.info["representation"] == "rds+" and features.info["pooling"] == "position_weighted"
    assert features.info["template"] == "tiny-chat" and features.info["pool_cache"]["cached"] is False
    loaded = _ctx(setup).services.model()
    tmpl = get_template("tiny-chat").chat_template
    row = setup["pool"].data[7]
    text = loaded.tokenizer.apply_chat_template(row["messages"], chat_template=tmpl, tokenize=False).strip()
    assert text.startswith("<s><|user|>\n") and text.endswith(row["output"] + "<|end|></s>")
    np.testing.assert_allclose(block.pool[7], _weighted_by_hand(loaded, text, 64), rtol=1e-4, atol=1e-5)
    # a query is its prompt + label, as a user turn and the answer
    q = setup["queries"].items[2]
    qtext = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": q.prompt}, {"role": "assistant", "content": q.label}], chat_template=tmpl,
        tokenize=False).strip()
    np.testing.assert_allclose(block.query[2], _weighted_by_hand(loaded, qtext, 64), rtol=1e-4, atol=1e-5)
    # the pool pass is amortised, the queries are per selection
    assert record.amortised.tokens > record.per_budget.tokens > 0 and record.amortised.flops > 0


def test_rds_pool_vectors_cached_and_amortised(setup: dict[str, Any], rds_first: tuple[Any, Any]) -> None:
    from selbench.representations.rds import rds_features

    first, first_record = rds_first
    ctx = _ctx(setup)
    again = rds_features(setup["pool"], setup["queries"], ctx, max_length=64)
    record = ctx.meter.stop()
    assert again.info["pool_cache"]["cached"] is True
    assert again.info["pool_cache"]["key"] == first.info["pool_cache"]["key"]
    np.testing.assert_array_equal(again.blocks[0].pool, first.blocks[0].pool)
    np.testing.assert_allclose(again.blocks[0].query, first.blocks[0].query, rtol=1e-6)
    # the stored pool usage is charged again as amortised; the queries are recomputed
    assert record.amortised.tokens == first_record.amortised.tokens
    assert record.per_budget.tokens == first_record.per_budget.tokens > 0
    # another max_length is another pool computation
    third = rds_features(setup["pool"], setup["queries"], _ctx(setup), max_length=8)
    assert third.info["pool_cache"]["cached"] is False
    assert not np.allclose(third.blocks[0].pool, first.blocks[0].pool, atol=1e-3)


def test_rds_adds_no_second_bos_with_a_llama_like_tokenizer(setup: dict[str, Any]) -> None:
    """LLaMA's tokenizer prepends <s> itself; the template already wrote it, so RDS+ must not add another."""
    from tokenizers.processors import TemplateProcessing

    from selbench.representations.rds import rds_features
    from selbench.training.templates import get_template

    ctx = _ctx(setup)
    loaded = ctx.services.model()
    tok = loaded.tokenizer
    tok._tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)])
    assert tok("hi")["input_ids"][0] == tok.bos_token_id  # now adds BOS like LLaMA's
    features = rds_features(setup["pool"], setup["queries"], ctx, max_length=63)  # max_length 63: not the cached entry
    row = setup["pool"].data[5]
    text = tok.apply_chat_template(row["messages"], chat_template=get_template("tiny-chat").chat_template,
                                   tokenize=False).strip()
    np.testing.assert_allclose(features.blocks[0].pool[5], _weighted_by_hand(loaded, text, 63), rtol=1e-4, atol=1e-5)


# -- EMBED ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def encoder_folder(setup: dict[str, Any]) -> Path:
    from selbench.models.loader import resolve_base_model

    return Path(resolve_base_model(setup["encoder"]).source)


def test_tiny_encoder_builds_a_sentence_transformers_folder(setup: dict[str, Any], encoder_folder: Path,
                                                            tmp_path: Path) -> None:
    import json

    from sentence_transformers import SentenceTransformer

    from selbench.models.tiny_encoder import build_tiny_encoder, identity

    meta = json.loads((encoder_folder / "selbench_model.json").read_text())
    assert meta["builder"] == "tiny-sentence-encoder" and meta["training"]["steps"] == 4
    assert json.loads((encoder_folder / "config.json").read_text())["model_type"] == "t5"
    model = SentenceTransformer(str(encoder_folder), device="cpu")
    assert type(model[0].auto_model).__name__ == "T5EncoderModel"
    assert model.tokenizer.bos_token is None and model.tokenizer("a b")["input_ids"][-1] == model.tokenizer.eos_token_id
    # deterministic: a fresh build elsewhere has the same weights
    again = build_tiny_encoder(ENCODER_ARGS, cache=tmp_path)
    assert (again / "model.safetensors").read_bytes() == (encoder_folder / "model.safetensors").read_bytes()
    assert identity(ENCODER_ARGS)["key"] != identity({**ENCODER_ARGS, "seed": 1})["key"]
    assert "train_lr" not in identity({"train_steps": 0})["args"]


@pytest.fixture(scope="module")
def embed_first(setup: dict[str, Any]) -> tuple[Any, Any]:
    from selbench.representations.sentence_embed import embed_features

    ctx = _ctx(setup)
    features = embed_features(setup["pool"], setup["queries"], ctx, model=setup["encoder"], query_prefix=PREFIX)
    return features, ctx.meter.stop()


def test_embed_end_to_end_through_the_tiny_encoder(setup: dict[str, Any], encoder_folder: Path,
                                                   embed_first: tuple[Any, Any]) -> None:
    from sentence_transformers import SentenceTransformer

    from selbench.representations.sentence_embed import query_texts
    from selbench.training.templates import get_template

    features, record = embed_first
    assert (features.n_query, features.n_pool) == (5, 48)
    assert features.info["representation"] == "embed" and features.info["pool_cache"]["cached"] is False
    q = setup["queries"].items[0]
    texts = query_texts(setup["queries"], PREFIX)
    assert texts[0] == f"Instruct: Given a sample, find the passages closest to that sample.\nQuery: {q.prompt} {q.label}"
    model = SentenceTransformer(str(encoder_folder), device="cpu")
    row = setup["pool"].data[3]
    pool_text = model.tokenizer.apply_chat_template(row["messages"], chat_template=get_template("tiny-chat").chat_template,
                                                    tokenize=False).strip()
    assert pool_text.startswith("<|user|>\n") and pool_text.endswith("<|end|></s>")  # no BOS: T5 has none
    direct = model.encode([pool_text, texts[0]], convert_to_numpy=True)
    direct /= np.linalg.norm(direct, axis=1, keepdims=True)
    np.testing.assert_allclose(features.blocks[0].pool[3], direct[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(features.blocks[0].query[0], direct[1], rtol=1e-4, atol=1e-5)
    # tokens (special tokens included) and 2 x params x tokens FLOPs; the pool part amortised
    n_params = sum(p.numel() for p in model.parameters())
    q_tokens = sum(len(model.tokenizer(t)["input_ids"]) for t in texts)
    assert record.per_budget.tokens == q_tokens and record.per_budget.flops == pytest.approx(2.0 * n_params * q_tokens)
    assert record.amortised.tokens > q_tokens

    from selbench.representations.sentence_embed import embed_features

    ctx = _ctx(setup)
    again = embed_features(setup["pool"], setup["queries"], ctx, model=setup["encoder"], query_prefix=PREFIX)
    again_record = ctx.meter.stop()
    assert again.info["pool_cache"]["cached"] is True
    np.testing.assert_array_equal(again.blocks[0].pool, features.blocks[0].pool)
    assert again_record.amortised.tokens == record.amortised.tokens


def test_embed_hub_path_with_pinned_revision_offline(setup: dict[str, Any], encoder_folder: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     embed_first: tuple[Any, Any]) -> None:
    """gtr-t5-base's hub id and pinned revision, answered from a local hub cache (no network)."""
    from selbench.models.errors import ModelError
    from selbench.representations.sentence_embed import GTR_T5_BASE, embed_features, load_sentence_model

    assert GTR_T5_BASE.hub_id == "sentence-transformers/gtr-t5-base"
    assert GTR_T5_BASE.revision is not None and len(GTR_T5_BASE.revision) == 40
    int(GTR_T5_BASE.revision, 16)
    snapshot = tmp_path / "hub" / "models--sentence-transformers--gtr-t5-base" / "snapshots" / GTR_T5_BASE.revision
    shutil.copytree(encoder_folder, snapshot)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path / "hub"))
    loaded = load_sentence_model(GTR_T5_BASE, device="cpu")
    assert loaded.identity == {"kind": "hub", "hub_id": GTR_T5_BASE.hub_id, "revision": GTR_T5_BASE.revision}
    # the same weights as the local folder, through the hub id: same vectors
    spec = setup["spec"].model_copy(update={"targeted": _targeted(setup, GTR_T5_BASE)})
    ctx = _ctx(setup, spec)
    assert ctx.services.sentence_embedder().loaded.identity["kind"] == "hub"  # the spec's embedding model
    features = embed_features(setup["pool"], setup["queries"], ctx, model=GTR_T5_BASE, query_prefix=PREFIX)
    assert features.info["pool_cache"]["cached"] is False  # another model identity, another cache entry
    np.testing.assert_allclose(features.blocks[0].pool, embed_first[0].blocks[0].pool, rtol=1e-4, atol=1e-5)
    # a revision the cache does not hold fails as a model error, without reaching the network
    with pytest.raises(ModelError, match="gtr-t5-base"):
        load_sentence_model(GTR_T5_BASE.model_copy(update={"revision": "0" * 40}), device="cpu")


def _targeted(setup: dict[str, Any], model: Any) -> Any:
    from selbench.specs.models import QuerySetSpec, TargetedSpec, TargetSpec

    target = TargetSpec(name="pet", query_set=QuerySetSpec(generator="tiny-world", generator_args={"attribute": "pet"}),
                        benchmarks=("known-answer",))
    return TargetedSpec(targets=(target,), embedding_model=model)


def test_sentence_embedder_needs_an_embedding_model(setup: dict[str, Any]) -> None:
    from selbench.services.container import ServiceError

    with pytest.raises(ServiceError, match="embedding_model"):
        _ctx(setup).services.sentence_embedder()
