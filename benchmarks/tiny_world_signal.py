"""Does the tiny scale give a real signal? clean-only vs random vs corrupted-first, with CIs.

Builds the tiny-world pool and the (pretrained) tiny base model, makes selections of one budget
(clean-only and corrupted-first from the hidden key, random with several seeds), fine-tunes each
with the real training stage (LoRA, the spec's recipe with overrides) and scores the held-out
question templates with HF + peft:

- pair accuracy / mean margin: log p(correct answer) vs log p(wrong-twin answer), given the
  held-out question through the chat template (LLMBar-style likelihood pairs);
- exact match of the greedy answer (up to ``<|end|>``) with the correct answer sentence.

Gains over the random mean come with a 95% paired bootstrap CI: pairs resampled (the same
indices for every model) and the random seeds resampled too. Single-threaded torch (this runs
beside other work on a 2-core machine); one run per process.

    python benchmarks/tiny_world_signal.py --budget 250 --random-seeds 5 \\
        --model '{"hidden_size":64,"num_layers":2,"num_heads":2,"head_dim":32,"vocab_size":4096,"pretrain_steps":600}' \\
        --recipe '{"learning_rate":3e-3,"epochs":10,"lora":{"r":16,"alpha":32}}'
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default="tiny")
    ap.add_argument("--pool", default=None, help="tiny-world generator args as JSON (default: the spec's)")
    ap.add_argument("--model", default=None, help="tiny-llama builder args as JSON (default: the spec's)")
    ap.add_argument("--recipe", default="{}", help="recipe overrides as JSON (lora given as a dict is merged)")
    ap.add_argument("--budget", type=int, default=None, help="default: the spec's first budget")
    ap.add_argument("--random-seeds", type=int, default=5)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="/tmp/tiny-world-signal")
    ap.add_argument("--no-em", action="store_true", help="skip greedy exact match")
    ap.add_argument("--json", default=None, help="write the results here too")
    opts = ap.parse_args()

    import numpy as np
    import torch
    from peft import PeftModel

    from selbench.hashing import ids_sha256
    from selbench.models.loader import load_base_model, load_tokenizer, resolve_base_model
    from selbench.pools import load_pool
    from selbench.specs import load_spec
    from selbench.specs.models import LoraSpec, PoolSpec
    from selbench.tinyworld.pool import labelled_rows
    from selbench.tinyworld.world import ATTRIBUTES, make_world
    from selbench.training.stage import run_training

    torch.set_num_threads(opts.threads)
    out = Path(opts.out)
    cache = out / "cache"
    spec = load_spec(opts.spec)
    pool_args = json.loads(opts.pool) if opts.pool else dict(spec.pools[0].generator_args)
    budget = opts.budget or spec.budgets[0]
    base_spec = spec.base_model
    if opts.model:
        base_spec = base_spec.model_copy(update={"builder_args": json.loads(opts.model)})
    overrides = json.loads(opts.recipe)
    if "lora" in overrides:
        overrides["lora"] = LoraSpec(**{**spec.recipe.lora.model_dump(), **overrides["lora"]})
    recipe = spec.recipe.model_copy(update=overrides)

    # the pool as the suite loads it, and the hidden key recomputed from the same arguments
    path = out / f"pool-{abs(hash(json.dumps(pool_args, sort_keys=True))) % 10**8}.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    from selbench.tinyworld.pool import generate_tiny_world_pool

    path.write_text("".join(json.dumps(r) + "\n" for r in generate_tiny_world_pool(**pool_args)))
    pool = load_pool(PoolSpec(name="tiny-world", path=str(path), fields=dict(spec.pools[0].fields)), cache=cache)
    key = {(r["instruction"], r["output"]): r["kind"] for r in labelled_rows(**pool_args)}
    kinds = [key[(i, o)] for i, o in zip(pool.data["instruction"], pool.data["output"])]
    ids = list(pool.data["id"])
    clean = [i for i, k in zip(ids, kinds) if k == "clean"]
    corrupt = [i for i, k in zip(ids, kinds) if k != "clean"]

    def selection(name: str, chosen: list[str], seed: int = 0) -> dict:
        return {"ids": chosen, "ids_sha256": ids_sha256(chosen), "budget": budget, "seed": seed,
                "pool": {"name": pool.name, "fingerprint": pool.fingerprint}, "selector": {"name": name}}

    selections = {
        "clean-only": selection("oracle-clean", random.Random(0).sample(clean, min(budget, len(clean)))),
        "corrupted-first": selection("oracle-corrupt", (random.Random(0).sample(corrupt, len(corrupt)) + random.Random(1).sample(clean, len(clean)))[:budget]),
    }
    for s in range(opts.random_seeds):
        selections[f"random-{s}"] = selection("random", random.Random(100 + s).sample(ids, budget), s)

    t0 = time.perf_counter()
    resolved = resolve_base_model(base_spec, cache=cache)
    build_s = time.perf_counter() - t0
    meta = json.loads((Path(resolved.source) / "selbench_model.json").read_text())
    tok = load_tokenizer(resolved)
    end_id = tok.convert_tokens_to_ids("<|end|>")

    from selbench.tinyworld.key import world_key

    world = make_world(pool_args.get("entities", 24), pool_args.get("seed", 0), key=world_key())  # the pool's world
    items = [(q.format(e=f.entity), f.answer(), f.answer(f.wrong)) for f in world.facts for q in ATTRIBUTES[f.attribute][1]]
    prompts = [tok(tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False),
                   add_special_tokens=False)["input_ids"] for q, _, _ in items]

    def answer_logprob(model, prompt: list[int], answer: str) -> float:
        a = tok(answer + "<|end|>", add_special_tokens=False)["input_ids"]
        x = torch.tensor([prompt + a])
        logp = torch.log_softmax(model(x).logits[0, :-1].float(), -1)
        return logp[torch.arange(len(prompt) - 1, len(prompt) - 1 + len(a)), torch.tensor(a)].sum().item()

    def score(model) -> dict:
        model.eval()
        margins, em = [], []
        with torch.no_grad():
            for prompt, (_, good, bad) in zip(prompts, items):
                margins.append(answer_logprob(model, prompt, good) - answer_logprob(model, prompt, bad))
                if not opts.no_em:
                    gen = model.generate(torch.tensor([prompt]), max_new_tokens=24, do_sample=False,
                                         eos_token_id=[end_id, tok.eos_token_id], pad_token_id=tok.pad_token_id)
                    text = tok.decode(gen[0, len(prompt):], skip_special_tokens=True).strip()
                    em.append(float(text == good))
        return {"margins": np.array(margins), "em": np.array(em) if em else None}

    results: dict[str, dict] = {}
    base = load_base_model(resolved)
    results["zero-shot base"] = score(base)
    train_s: dict[str, float] = {}
    for name, sel in selections.items():
        t = time.perf_counter()
        art = run_training(sel, spec, out / "runs", pool=pool, recipe=recipe, base_model=base_spec, progress=False, cache=cache)
        train_s[name] = time.perf_counter() - t
        model = PeftModel.from_pretrained(load_base_model(resolved), str(art.path / "adapter"))
        results[name] = score(model)
        results[name]["loss"] = art.record.get("loss_curve", [{}])[-1] if isinstance(art.record.get("loss_curve"), list) else None
        acc = (results[name]["margins"] > 0).mean()
        print(f"{name:16s} acc {acc:.3f} margin {results[name]['margins'].mean():+.3f} "
              f"em {results[name]['em'].mean() if results[name]['em'] is not None else float('nan'):.3f} "
              f"train {train_s[name]:.1f}s", file=sys.stderr, flush=True)

    rng = np.random.default_rng(0)
    n = len(items)
    random_names = [k for k in results if k.startswith("random-")]
    pair_idx = rng.integers(0, n, size=(opts.boot, n))
    seed_idx = rng.integers(0, len(random_names), size=(opts.boot, len(random_names)))

    def metric(name: str, which: str) -> np.ndarray:
        r = results[name]
        return (r["margins"] > 0).astype(float) if which == "acc" else r["margins"] if which == "margin" else r["em"]

    def gain(name: str, which: str) -> tuple[float, float, float]:
        x = metric(name, which)
        rand = np.stack([metric(k, which) for k in random_names])  # seeds x pairs
        point = x.mean() - rand.mean()
        boots = x[pair_idx].mean(1) - np.stack([rand[seed_idx[b]][:, pair_idx[b]].mean() for b in range(opts.boot)])
        lo, hi = np.percentile(boots, [2.5, 97.5])
        return float(point), float(lo), float(hi)

    table = {"config": {"pool": pool_args, "budget": budget, "model": base_spec.builder_args, "recipe": recipe.model_dump(),
                        "pairs": n, "random_seeds": len(random_names), "pool_size": len(ids), "clean_in_pool": len(clean)},
             "model": {"parameters": meta["parameters"], "pretraining": meta.get("pretraining"), "build_or_load_s": round(build_s, 1)},
             "rows": {}, "gains": {}, "train_s": {k: round(v, 1) for k, v in train_s.items()},
             "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    for name, r in results.items():
        table["rows"][name] = {"pair_acc": round(float((r["margins"] > 0).mean()), 4), "margin": round(float(r["margins"].mean()), 4),
                               "em": None if r["em"] is None else round(float(r["em"].mean()), 4)}
    which_list = ["acc", "margin"] + ([] if opts.no_em else ["em"])
    for name in ("clean-only", "corrupted-first"):
        table["gains"][name] = {w: [round(v, 4) for v in gain(name, w)] for w in which_list}

    rows = table["rows"]
    rand = [rows[k] for k in random_names]
    print(f"\nbudget {budget}, pool {pool_args}, {n} held-out pairs, model {meta['parameters']} params, pretraining {meta.get('pretraining')}")
    print("| selector | pair acc | mean margin | exact match | train s |\n|---|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['pair_acc']:.3f} | {row['margin']:+.3f} | {row['em'] if row['em'] is not None else '-'} | {table['train_s'].get(name, '-')} |")
    print(f"| random mean ({len(rand)} seeds) | {np.mean([r['pair_acc'] for r in rand]):.3f} +- {np.std([r['pair_acc'] for r in rand]):.3f} "
          f"| {np.mean([r['margin'] for r in rand]):+.3f} | {np.mean([r['em'] for r in rand]) if not opts.no_em else '-'} | |")
    print("\n| gain over random mean | pair acc [95% CI] | margin [95% CI] | exact match [95% CI] |\n|---|---|---|---|")
    for name, g in table["gains"].items():
        cells = [f"{v[0]:+.3f} [{v[1]:+.3f}, {v[2]:+.3f}]" for v in g.values()]
        print(f"| {name} | " + " | ".join(cells) + (" | - |" if opts.no_em else " |"))
    print(f"\npeak RSS {table['peak_rss_mb']} MB; base build/load {build_s:.1f}s")
    if opts.json:
        Path(opts.json).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
