"""Recipe validation: typos and impossible settings are clear user errors, never tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selbench.errors import SelbenchError, SpecError
from selbench.specs.loader import load_spec
from selbench.specs.models import RecipeSpec
from selbench.training.stage import RecipeError, batch_plan, run_training


def _spec_with_recipe(tmp_path: Path, **recipe_changes: object) -> Path:
    from importlib import resources

    data = yaml.safe_load((resources.files("selbench.specs") / "builtin" / "tiny.yaml").read_text("utf-8"))
    data["recipe"].update(recipe_changes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"template": "tiny-chatt"}, "did you mean 'tiny-chat'"),
        ({"lr_scheduler": "cosinus"}, "recipe.lr_scheduler"),
        ({"loss_on": "prompt"}, "recipe.loss_on"),
        ({"learning_rate": -1.0}, "recipe.learning_rate"),
        ({"per_device_batch_size": 64}, "exceeds effective_batch_size"),
        ({"lora": {"target_modules": []}}, "at least one module"),
        ({"precision": "fp8"}, "recipe.precision"),
        ({"packing": "constant"}, "recipe.packing"),
        ({"epochs_typo": 3}, "recipe.epochs_typo"),
    ],
)
def test_bad_recipes_are_spec_errors(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    path = _spec_with_recipe(tmp_path, **changes)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert message in str(info.value)


def test_builtin_recipes_are_the_papers() -> None:
    cr = load_spec("chasing-random-v1").recipe
    assert (cr.template, cr.epochs, cr.effective_batch_size, cr.max_length, cr.packing, cr.loss_on) == (
        "chasing-random", 3, 128, 512, "constant_length", "all")
    tis = load_spec("targeted-v1").recipe
    assert (tis.template, tis.epochs, tis.lr_scheduler, tis.loss_on, tis.packing) == ("tulu", 2, "linear", "response", "none")
    # LoRA at QLoRA's r64/alpha16 rate, 10x the papers' full fine-tuning 2e-5 (issue 19)
    for recipe in (cr, tis):
        assert (recipe.method, recipe.lora.r, recipe.lora.alpha, recipe.learning_rate) == ("lora", 64, 16, 2e-4)


@pytest.mark.parametrize(("value", "expected"), [(True, "padding_free"), (False, "none"), ("constant_length", "constant_length")])
def test_packing_accepts_the_old_booleans(value: object, expected: str) -> None:
    assert RecipeSpec(name="r", template="tiny-chat", packing=value).packing == expected


@pytest.mark.parametrize(("eff", "per_device", "devices"), [(128, 8, 1), (128, 8, 8), (32, 12, 1), (32, 32, 1), (96, 8, 4), (128, 2, 1)])
def test_batch_plan_keeps_the_effective_batch(eff: int, per_device: int, devices: int) -> None:
    recipe = RecipeSpec(name="r", template="tiny-chat", effective_batch_size=eff, per_device_batch_size=per_device)
    got_per_device, accumulation = batch_plan(recipe, devices)
    assert got_per_device * accumulation * devices == eff
    assert 1 <= got_per_device <= per_device


def test_batch_plan_rejects_indivisible_device_counts() -> None:
    recipe = RecipeSpec(name="r", template="tiny-chat", effective_batch_size=128, per_device_batch_size=8)
    with pytest.raises(RecipeError, match="not divisible by the 3 devices"):
        batch_plan(recipe, 3)


def test_unknown_lora_module_is_a_recipe_error(tiny_spec, tiny_pool, make_selection, short_recipe, train_cache, tmp_path) -> None:
    recipe = short_recipe.model_copy(update={"lora": short_recipe.lora.model_copy(update={"target_modules": ("qq_proj",)})})
    with pytest.raises(RecipeError, match="LoRA cannot be applied"):
        run_training(make_selection(16), tiny_spec, tmp_path, pool=tiny_pool, recipe=recipe, progress=False, cache=train_cache)


def test_bad_builder_args_are_model_errors() -> None:
    from selbench.models.errors import ModelError
    from selbench.models.loader import resolve_base_model
    from selbench.specs.models import ModelSpec

    with pytest.raises(ModelError, match="head_dim must be one of"):
        resolve_base_model(ModelSpec(name="t", builder="tiny-llama", builder_args={"head_dim": 16}), build=False)
    with pytest.raises(ModelError, match="did you mean 'tiny-llama'"):
        resolve_base_model(ModelSpec(name="t", builder="tiny-lama"), build=False)
    with pytest.raises(ModelError, match="folder not found"):
        resolve_base_model(ModelSpec(name="t", path="/nonexistent/model"))


def test_cli_reports_user_errors_on_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "selection.json"
    bad_steps = [sys.executable, "-c", "from selbench.cli.main import app; app()", "train", "--spec", "tiny"]
    result = subprocess.run([*bad_steps, "--selection", str(missing)], capture_output=True, text=True, timeout=120)
    assert result.returncode == SelbenchError.exit_code
    assert "error:" in result.stderr and "selection file not found" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run([*bad_steps, "--selection", str(missing), "--max-steps", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == SelbenchError.exit_code and "--max-steps must be positive" in result.stderr


def test_8bit_optimizer_without_bitsandbytes_is_a_recipe_error(tiny_spec, tiny_pool, make_selection, short_recipe, train_cache,
                                                                 tmp_path) -> None:
    import importlib.util

    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed here")
    recipe = short_recipe.model_copy(update={"optimizer": "adamw_8bit"})
    with pytest.raises(RecipeError, match="needs bitsandbytes"):
        run_training(make_selection(16), tiny_spec, tmp_path, pool=tiny_pool, recipe=recipe, progress=False, cache=train_cache)
