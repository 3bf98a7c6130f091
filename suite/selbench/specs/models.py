"""The typed shape of a spec.

A spec pins everything that makes two results comparable: pools (hub id + revision or a local
file + sha256), budgets, seeds, the base model, the fine-tuning recipe, benchmarks, judge,
decoding and the cost model. Results are compared only within one ``name``/``version``.
Unknown keys are errors (``extra="forbid"``) so a typo never silently becomes a default.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator

_NAME = r"^[a-z0-9][a-z0-9_.-]*$"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldMapping(_Strict):
    """Which source columns hold the canonical fields.

    Either ``messages`` (a chat list), or ``instruction``/``output`` (with optional ``input``),
    or ``prompt``/``completion``. ``strip_suffixes`` removes end markers such as T0's
    ``<|endoftext|>`` from outputs; ``first_turn_only`` keeps the first user/assistant pair of a
    conversation (Chasing Random's treatment of Evol-Instruct).
    """

    id: str | None = None
    source: str | None = None
    instruction: str | None = None
    input: str | None = None
    output: str | None = None
    prompt: str | None = None
    completion: str | None = None
    messages: str | None = None
    role_key: str = "role"
    content_key: str = "content"
    role_aliases: dict[str, str] = Field(default_factory=dict)
    first_turn_only: bool = False
    strip_suffixes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_layout(self) -> FieldMapping:
        layouts = [
            self.messages is not None,
            self.instruction is not None or self.output is not None,
            self.prompt is not None or self.completion is not None,
        ]
        if sum(layouts) != 1:
            raise ValueError(
                "map exactly one layout: `messages`, or `instruction`+`output` (+`input`), "
                "or `prompt`+`completion`"
            )
        if layouts[1] and (self.instruction is None or self.output is None):
            raise ValueError("`instruction` and `output` must both be mapped")
        if layouts[2] and (self.prompt is None or self.completion is None):
            raise ValueError("`prompt` and `completion` must both be mapped")
        return self


class _OneSource(_Strict):
    """Exactly one of ``hub_id`` (pinned by ``revision``), ``path`` (optionally checked by
    ``sha256``) or ``generator``: shared by pools and query sets."""

    _what: ClassVar[str] = "source"

    @field_validator("sha256", check_fields=False)
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value):
            raise ValueError("must be 64 lowercase hex characters")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> _OneSource:
        sources = [s for s in ("hub_id", "path", "generator") if getattr(self, s) is not None]
        if len(sources) != 1:
            raise ValueError(f"give exactly one of hub_id, path, generator (got {sources or 'none'})")
        if getattr(self, "hub_id") is not None and not getattr(self, "revision"):
            raise ValueError(f"a hub {self._what} needs a pinned `revision` (a commit sha or tag)")
        if getattr(self, "sha256") is not None and getattr(self, "path") is None:
            raise ValueError(f"`sha256` checks a local `path`; hub {self._what}s are pinned by `revision`")
        return self


class PoolSpec(_OneSource):
    """One candidate pool: exactly one of ``hub_id`` (+ ``revision``), ``path`` or ``generator``."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    hub_id: str | None = None
    revision: str | None = None
    config: str | None = None
    split: str = "train"
    path: str | None = None
    sha256: str | None = None
    generator: str | None = None
    generator_args: dict[str, Any] = Field(default_factory=dict)
    fields: str | FieldMapping = "auto"
    max_rows: int | None = Field(default=None, gt=0)
    subsample_seed: int = 0
    licence: str | None = None

    _what: ClassVar[str] = "pool"


class ModelSpec(_Strict):
    """The base model: a hub id at a pinned revision, a local directory, or a builder."""

    name: str
    hub_id: str | None = None
    revision: str | None = None
    path: str | None = None
    builder: str | None = None
    builder_args: dict[str, Any] = Field(default_factory=dict)
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    chat_template: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        sources = [s for s in ("hub_id", "path", "builder") if getattr(self, s) is not None]
        if len(sources) != 1:
            raise ValueError(f"give exactly one of hub_id, path, builder (got {sources or 'none'})")
        if self.hub_id is not None and not self.revision:
            raise ValueError("a hub model needs a pinned `revision`")
        return self


class LoraSpec(_Strict):
    """LoRA hyperparameters (peft ``LoraConfig``); ``target_modules`` names linear layers or
    ``all-linear``."""

    r: int = Field(default=8, gt=0)
    alpha: int = Field(default=16, gt=0)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: tuple[str, ...] | Literal["all-linear"] = "all-linear"

    @field_validator("target_modules")
    @classmethod
    def _some_modules(cls, value: tuple[str, ...] | str) -> tuple[str, ...] | str:
        if not isinstance(value, str) and (not value or any(not m.strip() for m in value)):
            raise ValueError("list at least one module name (e.g. q_proj), or write all-linear")
        return value


LrScheduler = Literal[
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
    "inverse_sqrt", "cosine_with_min_lr", "warmup_stable_decay",
]


class RecipeSpec(_Strict):
    """The fixed fine-tuning recipe (the fine-tuning stage, ``selbench.training``, reads it).

    ``effective_batch_size`` is examples per optimizer step over all devices; gradient
    accumulation is derived from it, ``per_device_batch_size`` and the device count at run time,
    so results do not depend on the number of GPUs. ``packing``:

    - ``none``: each example truncated at ``max_length``, micro-batches padded;
    - ``padding_free`` (``true`` in older specs): each example truncated at ``max_length``, a
      micro-batch's examples concatenated into one row with restarting position ids (no padding);
    - ``constant_length``: the paper's packing (TRL ``packing=True``): all examples concatenated
      and cut into ``max_length`` blocks, nothing truncated; a training row, and so the unit of
      ``effective_batch_size``/``per_device_batch_size``, is a block. Position ids restart per
      example, so packed examples never attend to each other (``selbench.training.packing``).

    ``template`` is a prompt template of ``selbench.training.templates``; it is saved with the
    adapter. ``precision: auto`` is bf16 on GPUs that support it and fp32 on CPU. ``method: full``
    trains every weight (the papers' own method: lr 2e-5, bf16; pair it with
    ``gradient_checkpointing`` and ``optimizer: adamw_torch_fused`` or ``adamw_8bit`` on one GPU).

    Speed knobs (the examples, schedule, loss normalisation and masks stay the recipe's):
    ``micro_batch_tokens`` sizes micro-batches by a token budget instead of
    ``per_device_batch_size`` examples (:mod:`selbench.training.microbatch`; with
    ``constant_length`` packing it is ``budget // max_length`` blocks); ``kernels: liger`` patches
    the model with Liger's fused Triton kernels (CUDA only); ``compile: true`` compiles each decoder
    layer with ``torch.compile`` (:mod:`selbench.training.speed`). Left at their defaults they are
    not in the recipe's dump, so adding them changed no training artifact's key.
    """

    name: str
    method: Literal["lora", "full"] = "lora"
    lora: LoraSpec = Field(default_factory=LoraSpec)
    template: str = "alpaca"
    learning_rate: float = Field(default=2e-5, gt=0)
    lr_scheduler: LrScheduler = "cosine"
    warmup_ratio: float = Field(default=0.03, ge=0.0, lt=1.0)
    epochs: float = Field(default=3.0, gt=0)
    max_steps: int | None = Field(default=None, gt=0)
    effective_batch_size: int = Field(default=128, gt=0)
    per_device_batch_size: int = Field(default=8, gt=0)
    max_length: int = Field(default=512, gt=0)
    packing: Literal["none", "padding_free", "constant_length"] = "padding_free"
    loss_on: Literal["response", "all"] = "response"
    weight_decay: float = Field(default=0.0, ge=0.0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    optimizer: Literal["adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_32bit", "sgd"] = "adamw_torch"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    gradient_checkpointing: bool = False
    micro_batch_tokens: int | None = Field(default=None, gt=0)
    kernels: Literal["none", "liger"] = "none"
    compile: bool = False

    _SPEED_KNOBS: ClassVar[tuple[str, ...]] = ("micro_batch_tokens", "kernels", "compile")

    @model_serializer(mode="wrap")
    def _dump_without_default_speed_knobs(self, handler: Any) -> dict[str, Any]:
        # training keys hash this dump: fields added after recipes shipped stay out at their defaults
        data = handler(self)
        for name in self._SPEED_KNOBS:
            default = type(self).model_fields[name].default
            if data.get(name, default) == default:
                data.pop(name, None)
        return data

    @field_validator("template")
    @classmethod
    def _known_template(cls, value: str) -> str:
        from selbench.suggest import did_you_mean
        from selbench.training.templates import TEMPLATE_NAMES

        if value not in TEMPLATE_NAMES:
            raise ValueError(f"unknown prompt template '{value}'{did_you_mean(value, TEMPLATE_NAMES)}")
        return value

    @field_validator("packing", mode="before")
    @classmethod
    def _packing_bool(cls, value: Any) -> Any:
        # specs written before constant-length packing existed say true/false
        if value is True:
            return "padding_free"
        if value is False:
            return "none"
        return value

    @model_validator(mode="after")
    def _batches(self) -> RecipeSpec:
        if self.per_device_batch_size > self.effective_batch_size:
            raise ValueError(
                f"per_device_batch_size ({self.per_device_batch_size}) exceeds effective_batch_size "
                f"({self.effective_batch_size})"
            )
        return self


class BenchmarkSpec(_Strict):
    """One evaluation; ``options`` are passed to the benchmark's harness wrapper."""

    name: str = Field(pattern=_NAME)
    kind: Literal["ifeval", "alpaca_eval", "llmbar", "openllm", "query_loss", "known_answer", "lm_eval"]
    hub_id: str | None = None
    revision: str | None = None
    path: str | None = None
    limit: int | None = Field(default=None, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)


class DecodingSpec(_Strict):
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(default=512, gt=0)
    seed: int = 0


class JudgeSpec(_Strict):
    """The judge for AlpacaEval / Alpagasus: an open model served by vLLM, or an API endpoint."""

    model: ModelSpec | None = None
    api_base: str | None = None
    api_model: str | None = None
    usd_per_1k_input_tokens: float = Field(default=0.0, ge=0.0)
    usd_per_1k_output_tokens: float = Field(default=0.0, ge=0.0)
    # A random tiny judge never puts "m"/"M" in its top logprobs; bias them (CI only, see cpu-stack.md §4).
    force_choice_tokens: bool = False


class CostModelSpec(_Strict):
    """Prices that turn measured resources into dollars (``cost`` package)."""

    gpu_type: str = "H100-80GB"
    usd_per_gpu_hour: float = Field(default=2.5, ge=0.0)
    usd_per_cpu_core_hour: float = Field(default=0.04, ge=0.0)
    gpu_peak_flops: float = Field(default=989e12, gt=0)
    usd_per_1k_api_input_tokens: float = Field(default=0.0025, ge=0.0)
    usd_per_1k_api_output_tokens: float = Field(default=0.01, ge=0.0)


class QuerySetSpec(_OneSource):
    """A target task's query set: a few examples of the task, never its test items.

    Exactly one source: ``hub_id`` (+ pinned ``revision``, ``config``, ``split``), ``path`` (a
    local file; relative paths are under ``SELBENCH_EVAL_DATA``) or ``generator`` (tiny scale).
    ``format`` names the parser that turns the source's rows into (prompt, label) pairs
    (:mod:`selbench.targeted.query_formats`). The selection stage loads it in the parent process
    and hands the items to the selector (the selector never opens evaluation folders itself).
    """

    hub_id: str | None = None
    revision: str | None = None
    config: str | None = None
    split: str = "dev"
    path: str | None = None
    sha256: str | None = None
    generator: str | None = None
    generator_args: dict[str, Any] = Field(default_factory=dict)
    format: str = "auto"
    limit: int | None = Field(default=None, gt=0)

    _what: ClassVar[str] = "query set"


class TargetSpec(_Strict):
    """One target task of the targeted track: its query set and the benchmarks that test it.

    ``benchmarks`` name entries of the spec's ``benchmarks`` that test this task (its test set,
    and usually a ``query_loss`` benchmark with ``options: {target: <name>}``, the loss on this
    query set). Targeted cells are evaluated on their target's benchmarks only; reference cells
    (random, full, zero-shot) on every target's."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    query_set: QuerySetSpec
    benchmarks: tuple[str, ...] = Field(min_length=1)


class LessSpec(_Strict):
    """LESS gradient features (Xia et al. 2024, as run by arXiv 2602.14696 §2.3).

    A warm-up LoRA is trained on a random ``warmup_fraction`` of the pool with ``warmup_recipe``
    (checkpoints at every epoch), then per-example LoRA gradients at each checkpoint are
    projected to ``projection_dim`` with a seeded sparse JL projection (CountSketch: the paper
    used a dense Rademacher one, infeasible for 7B LoRA gradients) and compared by a
    learning-rate-weighted cosine."""

    warmup_fraction: float = Field(default=0.05, gt=0.0, le=1.0)
    warmup_seed: int = 0
    warmup_recipe: RecipeSpec
    projection_dim: int = Field(default=8192, gt=0)
    projection_seed: int = 0
    max_length: int = Field(default=2048, gt=0)
    batch_size: int = Field(default=8, gt=0)


class TargetedSpec(_Strict):
    """The targeted track's settings: target tasks and the representations' models."""

    targets: tuple[TargetSpec, ...] = Field(min_length=1)
    less: LessSpec | None = None
    #: EMBED: a sentence-embedding model (gtr-t5-base in the paper)
    embedding_model: ModelSpec | None = None
    #: RDS+: max tokens of the base model's forward pass (2048 in the paper)
    rds_max_length: int = Field(default=2048, gt=0)
    #: prompt prefix of EMBED queries (the paper's instruction)
    embed_query_prefix: str = "Instruct: Given a sample, find the passages closest to that sample.\nQuery: "

    def target(self, name: str) -> TargetSpec:
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)


class Spec(_Strict):
    """A whole benchmark configuration; ``name`` + ``version`` identify a comparable grid."""

    name: str = Field(pattern=_NAME)
    version: int = Field(ge=1)
    description: str = ""
    track: Literal["general", "targeted"] = "general"
    pools: tuple[PoolSpec, ...] = Field(min_length=1)
    budgets: tuple[int, ...] = Field(min_length=1)
    random_seeds: tuple[int, ...] = Field(min_length=3)
    #: every selector cell is fine-tuned with each of these seeds (one run each; a seeded
    #: selector also selects with it): 7B runs differ by 0.7-0.9 points from seed to seed, so the
    #: leaderboard needs several runs per arm to tell a gain from seed noise.
    train_seeds: tuple[int, ...] = Field((0, 1, 2), min_length=1)
    selectors: tuple[str, ...] = ("random", "longest", "full")
    base_model: ModelSpec
    recipe: RecipeSpec
    benchmarks: tuple[BenchmarkSpec, ...] = ()
    #: the benchmarks `selbench run` evaluates every cell on (default: all of `benchmarks`);
    #: the others stay available to `selbench evaluate --benchmarks`.
    run_benchmarks: tuple[str, ...] | None = None
    judge: JudgeSpec | None = None
    decoding: DecodingSpec = Field(default_factory=DecodingSpec)
    cost_model: CostModelSpec = Field(default_factory=CostModelSpec)
    #: the targeted track's targets and representation settings (required when track is targeted)
    targeted: TargetedSpec | None = None

    @field_validator("budgets")
    @classmethod
    def _positive_unique(cls, budgets: tuple[int, ...]) -> tuple[int, ...]:
        if any(b <= 0 for b in budgets):
            raise ValueError("budgets must be positive integers")
        if len(set(budgets)) != len(budgets):
            raise ValueError("budgets must be unique")
        return budgets

    @field_validator("random_seeds", "train_seeds")
    @classmethod
    def _unique_seeds(cls, seeds: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be unique")
        return seeds

    @model_validator(mode="after")
    def _unique_names(self) -> Spec:
        for what, names in (
            ("pool", [p.name for p in self.pools]),
            ("benchmark", [b.name for b in self.benchmarks]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {what} names: {', '.join(dupes)}")
        unknown = sorted(set(self.run_benchmarks or ()) - {b.name for b in self.benchmarks})
        if unknown:
            raise ValueError(f"run_benchmarks names unknown benchmarks: {', '.join(unknown)}")
        if (self.track == "targeted") != (self.targeted is not None):
            raise ValueError("a `targeted` section is required on the targeted track, and only there")
        if self.targeted is not None:
            names = [t.name for t in self.targeted.targets]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate target names: {', '.join(dupes)}")
            known = {b.name for b in self.benchmarks}
            for target in self.targeted.targets:
                missing = sorted(set(target.benchmarks) - known)
                if missing:
                    raise ValueError(f"target {target.name} names unknown benchmarks: {', '.join(missing)}")
        return self

    @property
    def grid_benchmarks(self) -> tuple[str, ...]:
        """The benchmark names `selbench run` evaluates."""
        return self.run_benchmarks if self.run_benchmarks is not None else tuple(b.name for b in self.benchmarks)

    @property
    def id(self) -> str:
        return f"{self.name}@v{self.version}"

    def pool(self, name: str) -> PoolSpec:
        for pool in self.pools:
            if pool.name == name:
                return pool
        raise KeyError(name)
