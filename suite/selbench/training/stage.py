"""The fine-tuning stage: a selection + the spec's recipe + a seed -> a LoRA adapter and a record.

The artifact folder ``<out>/train/<pool>/<selector>/b<budget>-s<selection seed>-t<seed>-<key>``
is keyed by the hash of the selected ids, the pool fingerprint, the recipe, the template text,
the seed, the base model's identity and the suite version. It holds:

- ``adapter/``: the peft adapter (``adapter_config.json`` + ``adapter_model.safetensors``),
  loadable by vLLM ``--enable-lora`` and by lm-eval ``peft=``, plus ``selbench_adapter.json``
  naming the template and base model (``model/`` instead for full fine-tuning);
- ``tokenizer/``: the base tokenizer with the training template as its chat template (serve
  with ``--tokenizer`` / ``--chat-template tokenizer/chat_template.jinja``);
- ``training.json``: the record (recipe, seed, loss curve, tokens, steps, cost, dollars).

The folder appears atomically when training ends; a rerun with the same inputs returns it
without training. While training, checkpoints go to a sibling ``<folder>.work/``; a killed run
resumes from the last complete checkpoint there (model, optimizer, scheduler, RNG and data
position, as transformers' Trainer restores them) and the work folder is removed at the end.

The trainer is transformers' ``Trainer`` with peft: on the tiny CPU scale it measured about
3x faster per step than TRL's ``SFTTrainer`` (``benchmarks/train_speed.py``), and masking
(``{% generation %}`` spans via ``apply_chat_template``) and padding-free batching
(``DataCollatorWithFlattening``) come from transformers itself; constant-length packing is
``selbench.training.packing`` (blocks with restarting position ids, no attention mask).

``method: full`` trains every weight and saves a complete model folder (``model/``: weights,
config, tokenizer with the training chat template). The weights are trained in fp32 (master
weights) under bf16/fp16 autocast even when the spec loads the base in bf16: a bf16 weight
cannot hold a 2e-5-sized update (its spacing near 1.0 is 2^-7), so pure-bf16 training would
silently round most steps away. The evaluation stage serves such a folder with vLLM as a model
of its own (``selbench.evaluation.stage``), and LoRA adapters on the base model.

Speed knobs that keep the recipe's semantics: token-budget micro-batches
(``selbench.training.microbatch``), Liger kernels and per-layer ``torch.compile``
(``selbench.training.speed``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from selbench import __version__
from selbench.atomic import atomic_directory, atomic_write_json, atomic_write_text
from selbench.cost.meter import CostMeter, Usage, transformer_train_flops
from selbench.cost.pricing import price
from selbench.hashing import ids_sha256, sha256_json
from selbench.models.loader import ResolvedModel, load_base_model, load_tokenizer, resolve_base_model
from selbench.models.quiet import quiet_transformers
from selbench.pools.pool import Pool
from selbench.specs.models import ModelSpec, PoolSpec, RecipeSpec, Spec
from selbench.training.data import SelectionMismatchError, selection_rows, tokenize_rows
from selbench.training.packing import BlockCollator
from selbench.training.errors import RecipeError, TrainingError
from selbench.training.microbatch import TokenBudgetCollator, token_budget_trainer_class
from selbench.training.speed import apply_speed_options, check_speed_options
from selbench.training.templates import get_template

SCHEMA = "selbench.training/v1"
RECORD = "training.json"
ADAPTER_META = "selbench_adapter.json"
_COST_SNAPSHOT = "selbench_cost.json"
_CHECKPOINTS = "checkpoints"
_NEEDS_BITSANDBYTES = ("adamw_8bit", "paged_adamw_32bit")
_PACKING_IMPL = {"none": None, "padding_free": "DataCollatorWithFlattening",
                 "constant_length": "selbench.training.packing (constant-length blocks)"}


@dataclass(frozen=True)
class TrainArtifact:
    path: Path
    record: dict[str, Any]
    reused: bool

    @property
    def adapter_dir(self) -> Path:
        return self.path / ("adapter" if self.record["recipe"]["method"] == "lora" else "model")

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / "tokenizer"


# -- inputs ----------------------------------------------------------------------------------------

def read_selection(selection: str | Path | dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The selection data and where it came from (a ``selection.json`` or its folder)."""
    if isinstance(selection, dict):
        return selection, None
    path = Path(selection).expanduser()
    if path.is_dir():
        path = path / "selection.json"
    if not path.is_file():
        raise TrainingError(f"selection file not found: {path}")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingError(f"{path}: not a readable selection.json ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("ids"), list):
        raise TrainingError(f"{path}: not a selection.json (no `ids` list)")
    return data, str(path.resolve())


def pool_spec_for(selection: dict[str, Any], spec: Spec) -> PoolSpec:
    """The spec pool the selection was made on (by name), or its local file."""
    info = selection.get("pool") or {}
    name = info.get("name")
    for pool in spec.pools:
        if pool.name == name:
            return pool
    provenance = info.get("provenance") or {}
    if provenance.get("kind") == "local" and provenance.get("path"):
        return PoolSpec(name=name or "pool", path=provenance["path"])
    known = ", ".join(p.name for p in spec.pools)
    raise TrainingError(f"the selection's pool '{name}' is not in spec {spec.id} (pools: {known}) and is not a local file")


def _devices() -> tuple[str, int]:
    """('cuda'|'cpu', number of data-parallel devices)."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if torch.cuda.is_available():
        return "cuda", world if world > 1 else max(1, torch.cuda.device_count())
    return "cpu", world


def token_budget(recipe: RecipeSpec) -> bool:
    """Micro-batches of variable example count by a token budget (the non-block packings)."""
    return recipe.micro_batch_tokens is not None and recipe.packing != "constant_length"


def batch_plan(recipe: RecipeSpec, devices: int) -> tuple[int, int]:
    """(per-device batch, gradient accumulation) giving exactly ``effective_batch_size``.

    With a token budget the data loader hands over a device's whole share of a step (accumulation
    1) and :mod:`selbench.training.microbatch` splits it; with constant-length blocks the budget
    is simply ``micro_batch_tokens // max_length`` blocks."""
    eff = recipe.effective_batch_size
    if eff % devices:
        raise RecipeError(f"effective_batch_size {eff} is not divisible by the {devices} devices in use")
    per_device_total = eff // devices
    if token_budget(recipe):
        return per_device_total, 1
    wanted = recipe.per_device_batch_size
    if recipe.micro_batch_tokens is not None:  # constant-length blocks: all max_length long
        wanted = max(1, recipe.micro_batch_tokens // recipe.max_length)
    per_device = min(wanted, per_device_total)
    while per_device_total % per_device:
        per_device -= 1
    return per_device, per_device_total // per_device


def _precision(recipe: RecipeSpec, device: str) -> str:
    if recipe.precision != "auto":
        return recipe.precision
    if device == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def train_key(ids_hash: str, pool_fingerprint: str, recipe: RecipeSpec, seed: int, base: ResolvedModel) -> str:
    return sha256_json({
        "stage": "train", "ids_sha256": ids_hash, "pool": pool_fingerprint,
        "recipe": recipe.model_dump(mode="json"), "template_sha256": get_template(recipe.template).sha256,
        "seed": seed, "base_model": base.identity, "suite_version": __version__,
    })


def _label(text: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text or "unknown")).strip("-.") or "unknown"


def artifact_dir(out: Path, selection: dict[str, Any], seed: int, key: str) -> Path:
    pool = _label((selection.get("pool") or {}).get("name"))
    selector = _label((selection.get("selector") or {}).get("name"))
    return out / "train" / pool / selector / (
        f"b{selection.get('budget', len(selection['ids']))}-s{selection.get('seed', 0)}-t{seed}-{key[:12]}"
    )


# -- checkpoints -------------------------------------------------------------------------------------

def last_complete_checkpoint(work: Path) -> Path | None:
    """The newest checkpoint whose cost snapshot (written last) exists."""
    folder = work / _CHECKPOINTS
    if not folder.is_dir():
        return None
    done = []
    for ckpt in folder.glob("checkpoint-*"):
        step = ckpt.name.removeprefix("checkpoint-")
        if step.isdigit() and (ckpt / _COST_SNAPSHOT).is_file() and (ckpt / "trainer_state.json").is_file():
            done.append((int(step), ckpt))
    return max(done)[1] if done else None


def _callbacks(meter: CostMeter, progress: bool) -> list[Any]:
    from transformers import TrainerCallback

    class CostSnapshot(TrainerCallback):
        """Writes the usage so far into each checkpoint (last, so it marks it complete)."""

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                record = meter.stop()
                meter.start()
                atomic_write_json(ckpt / _COST_SNAPSHOT, record.to_dict())

    callbacks: list[Any] = [CostSnapshot()]
    if progress:
        callbacks.append(_progress_callback())
    return callbacks


def _progress_callback() -> Any:
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """A tqdm bar with ETA and the latest loss (instead of printing every log dict)."""

        bar: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="train", unit="step",
                                dynamic_ncols=True)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if self.bar is not None and logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return Progress()


# -- the stage ----------------------------------------------------------------------------------------

def run_training(
    selection: str | Path | dict[str, Any],
    spec: Spec,
    out: Path,
    *,
    seed: int = 0,
    pool: Pool | None = None,
    recipe: RecipeSpec | None = None,
    base_model: ModelSpec | None = None,
    callbacks: Sequence[Any] = (),
    progress: bool = True,
    checkpoint_every: int | None = None,
    cache: Path | None = None,
) -> TrainArtifact:
    """Fine-tune (or reuse) and return the artifact. User mistakes raise SelbenchError subclasses.

    ``recipe``/``base_model`` default to the spec's; ``pool`` to loading the selection's pool
    from the spec; ``callbacks`` are extra transformers ``TrainerCallback``s;
    ``checkpoint_every`` (steps) defaults to about a tenth of the run.
    """
    recipe = recipe or spec.recipe
    template = get_template(recipe.template)
    data, source_path = read_selection(selection)
    meter = CostMeter().start()
    if pool is None:
        from selbench.pools.loader import load_pool

        pool = load_pool(pool_spec_for(data, spec), cache=cache)
    ids = list(data["ids"])
    if data.get("ids_sha256") and data["ids_sha256"] != ids_sha256(ids):
        raise SelectionMismatchError("the selection's ids_sha256 does not match its ids (the file was edited)")
    resolved = resolve_base_model(base_model or spec.base_model, cache=cache)
    key = train_key(ids_sha256(ids), pool.fingerprint, recipe, seed, resolved)
    folder = artifact_dir(out, data, seed, key)
    if (folder / RECORD).is_file():
        # a kill between the artifact's rename and the work folder's removal leaves the work folder
        shutil.rmtree(folder.with_name(folder.name + ".work"), ignore_errors=True)
        return TrainArtifact(folder, json.loads((folder / RECORD).read_text("utf-8")), reused=True)

    import torch
    from transformers import set_seed

    device, devices = _devices()
    if recipe.optimizer in _NEEDS_BITSANDBYTES and importlib.util.find_spec("bitsandbytes") is None:
        raise RecipeError(f"recipe '{recipe.name}': optimizer {recipe.optimizer} needs bitsandbytes "
                          "(pip install bitsandbytes, on a CUDA machine), or use adamw_torch_fused")
    check_speed_options(recipe, device)
    per_device, accumulation = batch_plan(recipe, devices)
    precision = _precision(recipe, device)
    work = folder.with_name(folder.name + ".work")
    resume_from = last_complete_checkpoint(work)
    if resume_from is not None:
        previous = json.loads((resume_from / _COST_SNAPSHOT).read_text("utf-8"))
        meter.add_usage(Usage(**previous["per_budget"]))

    with quiet_transformers():
        tokenizer = load_tokenizer(resolved)
        rows = selection_rows(data, pool)
        dataset, stats = tokenize_rows(rows, tokenizer, template, recipe)
        attn = "flash_attention_2" if device == "cuda" and importlib.util.find_spec("flash_attn") else None
        set_seed(seed)
        model = load_base_model(resolved, device=device, attn_implementation=attn)
        model.config.use_cache = False
        saved_dtype = next(model.parameters()).dtype
        if recipe.method == "full" and saved_dtype in (torch.bfloat16, torch.float16):
            model = model.float()  # fp32 master weights; the forward runs under bf16/fp16 autocast
        total_params = sum(p.numel() for p in model.parameters())
        if recipe.method == "lora":
            from peft import LoraConfig, get_peft_model

            lora = recipe.lora
            target = lora.target_modules if isinstance(lora.target_modules, str) else list(lora.target_modules)
            try:
                model = get_peft_model(model, LoraConfig(
                    r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=target,
                    bias="none", task_type="CAUSAL_LM"))
            except ValueError as exc:
                raise RecipeError(f"recipe '{recipe.name}': LoRA cannot be applied: {str(exc).splitlines()[0]}") from None
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        speed = apply_speed_options(model, recipe, device)

    from transformers import DataCollatorForSeq2Seq, DataCollatorWithFlattening, PrinterCallback, Trainer, TrainingArguments

    # a training row is an example, or a block of max_length tokens with constant-length packing
    steps_per_epoch = -(-len(dataset) // (per_device * accumulation * devices))
    planned = recipe.max_steps or max(1, int(round(steps_per_epoch * recipe.epochs)))
    every = checkpoint_every or max(1, -(-planned // 10))
    args = TrainingArguments(
        output_dir=str(work / _CHECKPOINTS),
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup_ratio,  # a float < 1 is a ratio of the total steps
        num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps or -1,
        weight_decay=recipe.weight_decay,
        max_grad_norm=recipe.max_grad_norm,
        optim=recipe.optimizer,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        gradient_checkpointing=recipe.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if recipe.gradient_checkpointing else None,
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="steps",
        save_steps=every,
        save_total_limit=2,
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=device == "cuda",
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        use_liger_kernel=recipe.kernels == "liger",
        ddp_find_unused_parameters=False if devices > 1 else None,
    )
    collator: Any
    if recipe.packing == "constant_length":
        collator = BlockCollator(pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    elif recipe.packing == "padding_free":
        collator = DataCollatorWithFlattening(return_position_ids=True, separator_id=-100)
    else:
        collator = DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=-100,
                                          pad_to_multiple_of=8 if device == "cuda" else None)
    trainer_class: Any = Trainer
    if token_budget(recipe):
        assert recipe.micro_batch_tokens is not None
        collator = TokenBudgetCollator(collator, recipe.micro_batch_tokens, padded=recipe.packing == "none",
                                       multiple=getattr(collator, "pad_to_multiple_of", None) or 1)
        trainer_class = token_budget_trainer_class()
    trainer = trainer_class(model=model, args=args, train_dataset=dataset, data_collator=collator,
                            processing_class=tokenizer, callbacks=[*_callbacks(meter, progress), *callbacks])
    trainer.remove_callback(PrinterCallback)  # the progress bar shows the loss; the record keeps the curve
    started = time.perf_counter()
    with quiet_transformers():
        result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_wall = time.perf_counter() - started
    state = trainer.state
    tokens_seen = int(state.num_input_tokens_seen)
    resumed_step = int(resume_from.name.split("-")[-1]) if resume_from else 0
    session_steps = state.global_step - resumed_step
    session_tokens = tokens_seen - int(getattr(trainer, "_initial_num_input_tokens_seen", 0) or 0)
    meter.add_tokens(tokens_seen, transformer_train_flops(total_params, tokens_seen))

    curve = [{"step": e["step"], "loss": e["loss"], "lr": e.get("learning_rate"), "epoch": e.get("epoch"),
              "grad_norm": e.get("grad_norm")} for e in state.log_history if "loss" in e]
    with atomic_directory(folder) as scratch, quiet_transformers():
        chat_template = template.chat_template
        meta = {"template": template.name, "template_sha256": template.sha256, "chat_template": chat_template,
                "base_model": {"name": resolved.name, "source": resolved.source, "revision": resolved.revision,
                               "identity": resolved.identity},
                "recipe": recipe.model_dump(mode="json"), "seed": seed, "key": key}
        if recipe.method == "lora":
            trainer.model.save_pretrained(scratch / "adapter", safe_serialization=True)
            atomic_write_json(scratch / "adapter" / ADAPTER_META, meta)
        else:
            tokenizer.chat_template = chat_template
            trainer.model.to(saved_dtype)  # saved in the base model's dtype (bf16 for the 7B specs)
            trainer.model.save_pretrained(scratch / "model", safe_serialization=True)
            tokenizer.save_pretrained(scratch / "model")
            atomic_write_json(scratch / "model" / ADAPTER_META, meta)
        tokenizer.chat_template = chat_template
        tokenizer.save_pretrained(scratch / "tokenizer")
        atomic_write_text(scratch / "chat_template.jinja", chat_template)
        cost = price(meter.stop(), spec.cost_model)
        total = cost.total
        record = {
            "schema": SCHEMA,
            "key": key,
            "spec": spec.id,
            "selection": {"path": source_path, "ids_sha256": ids_sha256(ids), "size": len(ids),
                          "budget": data.get("budget"), "seed": data.get("seed"),
                          "selector": (data.get("selector") or {}).get("name"), "key": data.get("key")},
            "pool": {"name": pool.name, "fingerprint": pool.fingerprint},
            "base_model": {"name": resolved.name, "source": resolved.source, "revision": resolved.revision,
                           "identity": resolved.identity},
            "recipe": recipe.model_dump(mode="json"),
            "template": {"name": template.name, "sha256": template.sha256},
            "seed": seed,
            "trainer": {"backend": "transformers.Trainer", "packing": _PACKING_IMPL[recipe.packing],
                        "device": device, "devices": devices, "per_device_batch_size": per_device,
                        "gradient_accumulation_steps": accumulation, "precision": precision,
                        "attn_implementation": attn or "sdpa", "checkpoint_every": every,
                        "micro_batches": (f"token budget {recipe.micro_batch_tokens}" if token_budget(recipe)
                                          else f"{per_device} rows"), **speed,
                        "resumed_from_step": resumed_step or None},
            "data": stats.to_dict(),
            "parameters": {"total": total_params, "trainable": trainable},
            "steps": int(state.global_step),
            "epochs": state.epoch,
            "tokens_seen": tokens_seen,
            "train_loss": result.training_loss,
            "final_loss": curve[-1]["loss"] if curve else None,
            "loss_curve": curve,
            # of this session (after a resume: the steps run since the checkpoint)
            "throughput": {"train_wall_s": round(train_wall, 3), "steps": session_steps,
                           "steps_per_s": round(session_steps / train_wall, 4) if train_wall else None,
                           "tokens_per_s": round(session_tokens / train_wall, 1) if train_wall else None},
            "wall_s": total.wall_s,
            "cpu_s": total.cpu_s,
            "gpu_s": total.gpu_s,
            "flops": total.flops,
            "usd": cost.usd.get("total"),
            "cost": cost.to_dict(),
            "versions": _versions(),
            "suite_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        atomic_write_json(scratch / RECORD, record)
    shutil.rmtree(work, ignore_errors=True)
    del trainer, model
    if device == "cuda":
        torch.cuda.empty_cache()
    return TrainArtifact(folder, record, reused=False)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "peft", "accelerate", "tokenizers"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
