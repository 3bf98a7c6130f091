"""Render the static leaderboard site from a :class:`Leaderboard` (jinja2, autoescape on).

The site is self-contained (no CDN, works from ``file://``): HTML pages, one CSS file, one small
vanilla-JS file, inline SVG plots, and CSV / JSON downloads. Data embedded for the scripts goes
in ``<script type="application/json">`` blocks encoded by :func:`json_for_html` (``<``, ``>``,
``&``, U+2028/9 escaped), so no submitted string can close the block or start markup.
"""

from __future__ import annotations

import json
import math
import shutil
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from selbench import __version__
from selbench.leaderboard.aggregate import Leaderboard
from selbench.submissions.validate import Submission

CHANGELOG = [
    {"date": "2025-01-01", "what": "chasing-random-v1@v1", "detail": "The Chasing Random grid: 4 pools x budgets 1k/5k/10k, LLaMA-7B + LoRA, IFEval, AlpacaEval, LLMBar, OpenLLM."},
    {"date": "2025-01-01", "what": "tiny@v1", "detail": "Offline tiny scale with a known-answer benchmark (CI and plugin development)."},
    {"date": "2025-01-01", "what": "metrics v1", "detail": "Gain over random with a 95% paired bootstrap CI (items and random seeds); cost-adjusted gain = mean gain / (1 + selection $ / fine-tune $); break-even flag; rank intervals."},
    {"date": "2025-01-01", "what": "results schema selbench.result/v1", "detail": "One JSON line per cell; per-item scores as gzip JSONL."},
]


def site_files() -> Path:
    """The folder holding ``templates/`` and ``assets/``: the installed package's ``web`` link
    (to the repository's ``leaderboard/``) or, from a source tree, ``leaderboard/`` itself."""
    candidates = []
    try:
        candidates.append(Path(str(resources.files("selbench.leaderboard") / "web")))
    except (ModuleNotFoundError, TypeError):
        pass
    candidates.append(Path(__file__).resolve().parents[3] / "leaderboard")
    for c in candidates:
        if (c / "templates" / "base.html").is_file():
            return c
    raise FileNotFoundError("leaderboard templates not found (expected selbench/leaderboard/web/templates or leaderboard/templates)")


def json_for_html(obj: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: no '<', '>', '&' or line separators."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for raw, esc in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, esc)
    return Markup(text)


def _clean(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else round(float(value), 6)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:+.{digits}f}" if digits >= 0 else f"{value:.3g}"
    return str(value)


def _usd(value: Any) -> str:
    if value is None or not math.isfinite(float(value)):
        return "–"
    v = float(value)
    return f"${v:,.0f}" if v >= 100 else f"${v:,.2f}" if v >= 0.01 else (f"${v:.2g}" if v > 0 else "$0")


def _color(delta: float, scale: float) -> str:
    """A diverging colour for a gain: blue above random, red below, white at zero."""
    if delta is None or not math.isfinite(delta):
        return "#eee"
    t = max(-1.0, min(1.0, delta / scale)) if scale > 0 else 0.0
    if t >= 0:
        r, g, b = 255 - int(180 * t), 255 - int(120 * t), 255
    else:
        r, g, b = 255, 255 - int(160 * -t), 255 - int(180 * -t)
    return f"#{r:02x}{g:02x}{b:02x}"


def pareto_front(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Points not dominated by a cheaper-or-equal point with a higher-or-equal gain."""
    front, best = [], -math.inf
    for x, y, key in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y, key))
            best = y
    return front


def cost_gain_plot(sel: pd.DataFrame, width: int = 640, height: int = 380) -> dict[str, Any]:
    """Geometry of the cost-vs-gain SVG: x = log10 selection $, y = mean gain; Pareto frontier."""
    pad_l, pad_r, pad_t, pad_b = 60, 20, 20, 45
    usd = sel["selection_usd"].to_numpy(dtype=float)
    positive = usd[usd > 0]
    # free selectors sit one decade below the cheapest paid one (CPU-scale runs cost micro-dollars)
    floor = 10.0 ** (math.floor(math.log10(positive.min())) - 1) if len(positive) else 1e-3
    xs = np.log10(np.maximum(usd, floor))
    ys = sel["mean_gain"].to_numpy(dtype=float)
    x0, x1 = (math.floor(xs.min()), math.ceil(xs.max())) if len(xs) else (0, 1)
    if x1 <= x0:
        x1 = x0 + 1
    ylo, yhi = (min(0.0, ys.min()), max(0.0, ys.max())) if len(ys) else (-1, 1)
    span = (yhi - ylo) or 1.0
    ylo, yhi = ylo - 0.08 * span, yhi + 0.08 * span

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * (width - pad_l - pad_r)

    def sy(y: float) -> float:
        return pad_t + (yhi - y) / (yhi - ylo) * (height - pad_t - pad_b)

    pts = [{"x": round(sx(x), 1), "y": round(sy(y), 1), "slug": s, "name": n, "gain": y, "usd": u}
           for x, y, s, n, u in zip(xs, ys, sel["slug"], sel["name"], sel["selection_usd"])]
    front = pareto_front([(p["x"], -p["y"], p["slug"]) for p in pts])  # screen y grows downwards
    ticks_x = [{"x": round(sx(e), 1), "label": _usd(10.0 ** e)} for e in range(x0, x1 + 1)]
    step = 10 ** math.floor(math.log10(span / 2)) if span > 0 else 0.1
    ticks_y = [{"y": round(sy(v), 1), "label": f"{v:+.3g}"} for v in np.arange(math.ceil(ylo / step) * step, yhi, step)][:12]
    return {"width": width, "height": height, "points": pts, "zero": round(sy(0.0), 1),
            "front": " ".join(f"{x},{-y}" for x, y, _ in front), "front_slugs": {s for _, _, s in front},
            "ticks_x": ticks_x, "ticks_y": ticks_y, "left": pad_l, "right": width - pad_r, "bottom": height - pad_b, "top": pad_t}


def environment(files: Path) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(files / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=_fmt, usd=_usd, json_html=json_for_html)
    env.globals.update(color=_color)
    return env


def build_site(lb: Leaderboard, subs: list[Submission], out: str | Path) -> Path:
    """Write the site into ``out`` (replaced atomically enough: built aside, then swapped in)."""
    out = Path(out)
    files = site_files()
    env = environment(files)
    tmp = out.with_name(f".tmp-{out.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "selectors").mkdir(parents=True)
    (tmp / "assets").mkdir()
    for asset in (files / "assets").iterdir():
        if asset.is_file():
            shutil.copyfile(asset, tmp / "assets" / asset.name)

    sel, cells, refs = lb.selectors, lb.cells, lb.references
    by_slug = {s.slug: s for s in subs}
    built = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    common = {"spec_id": lb.spec_id, "built": built, "suite_version": __version__, "n_boot": lb.n_boot}
    filters = {
        "pool": sorted(cells["pool"].unique()), "budget": sorted(int(b) for b in cells["budget"].unique()),
        "benchmark": sorted(cells["benchmark"].unique()), "track": sorted(sel["track"].unique()),
    }
    ref_cells = refs[refs["kind"].isin(["full", "zero-shot"])]
    data = {
        "selectors": records(sel[["slug", "name", "authors", "track", "uses_api", "uses_external_model", "status", "rank", "rank_low",
                                  "rank_high", "break_even", "plugin", "plugin_version"]]),
        "cells": [[c["slug"], c["pool"], c["budget"], c["benchmark"], c["delta"], c["outcome"][0], c["selection_usd"], c["finetune_usd"]]
                  for c in records(cells)],
        "references": [[r["kind"], r["pool"], r["budget"], r["benchmark"], r["delta"], r["finetune_usd"]] for r in records(ref_cells)],
    }
    ref_summary = (ref_cells.groupby("kind").agg(mean_gain=("delta", "mean"), finetune_usd=("finetune_usd", "mean")).reset_index())
    plot = cost_gain_plot(sel)
    heat_cols = cells[["pool", "budget", "benchmark"]].drop_duplicates().sort_values(["pool", "budget", "benchmark"]).to_records(index=False).tolist()
    heat = {s: {(c["pool"], c["budget"], c["benchmark"]): c for c in records(g)} for s, g in cells.groupby("slug")}
    scale = float(np.nanquantile(np.abs(cells["delta"]), 0.95)) if len(cells) else 1.0

    pages = {
        "index.html": env.get_template("index.html").render(
            **common, page="index", selectors=records(sel), refs=records(ref_summary), filters=filters, data=data, plot=plot,
            skipped=lb.skipped),
        "heatmap.html": env.get_template("heatmap.html").render(
            **common, page="heatmap", selectors=records(sel), columns=heat_cols, heat=heat, scale=scale),
        "how-ranking-works.html": env.get_template("how.html").render(**common, page="how"),
        "changelog.html": env.get_template("changelog.html").render(**common, page="changelog", changelog=CHANGELOG),
    }
    for row in records(sel):
        sub = by_slug[row["slug"]]
        pages[f"selectors/{row['slug']}.html"] = env.get_template("selector.html").render(
            **common, page="selector", s=row, meta=sub.metadata, prov=sub.provenance, samples=sub.samples,
            cells=records(cells[cells["slug"] == row["slug"]]), scale=scale)
    for name, html in pages.items():
        (tmp / name).write_text(html, "utf-8")
    sel.to_csv(tmp / "leaderboard.csv", index=False)
    cells.to_csv(tmp / "cells.csv", index=False)
    (tmp / "leaderboard.json").write_text(json.dumps(
        {"spec": lb.spec_id, "built": built, "selectors": records(sel), "cells": records(cells), "references": records(refs),
         "skipped": [{"slug": s, "reason": r} for s, r in lb.skipped]}, indent=1, allow_nan=False), "utf-8")
    if out.exists():
        old = out.with_name(f".old-{out.name}")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(out)
    return out
