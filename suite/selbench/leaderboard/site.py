"""Render the static leaderboard site from a :class:`Leaderboard` (jinja2, autoescape on).

The site is self-contained (no CDN, works from ``file://``): HTML pages, one CSS file, one small
vanilla-JS file, inline SVG plots, and CSV / JSON downloads. Data embedded for the scripts goes
in ``<script type="application/json">`` blocks encoded by :func:`json_for_html` (``<``, ``>``,
``&``, U+2028/9 escaped), so no submitted string can close the block or start markup.
"""

from __future__ import annotations

import json
import math
import re
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

#: dates: the day each entry landed in this repository (git log)
CHANGELOG = [
    {"date": "2026-12-04", "what": "metrics v2", "detail": "Every selector cell has several runs (the spec's train_seeds); gain = mean of the selector's runs - mean of random's, with a calibrated 95% interval (run and item variance, t quantile; checked by simulation) and the minimum detectable effect. Headline: gain over compute-matched random, in seed-sds, averaged over benchmarks; query loss reported apart. Replaces the cost-adjusted gain (it ranked expensive losers above free ones). Partial submissions ranked apart."},
    {"date": "2026-11-23", "what": "chasing-random-v1@v1", "detail": "The Chasing Random grid: 4 pools x budgets 1k/5k/10k, LLaMA-7B + LoRA, IFEval, AlpacaEval, LLMBar, OpenLLM."},
    {"date": "2026-11-23", "what": "tiny@v1", "detail": "Offline tiny scale with a known-answer benchmark (CI and plugin development)."},
    {"date": "2026-11-23", "what": "metrics v1", "detail": "Gain over random with a 95% paired bootstrap CI (items and random seeds); cost-adjusted gain = mean gain / (1 + selection $ / fine-tune $); break-even flag; rank intervals."},
    {"date": "2026-11-23", "what": "results schema selbench.result/v1", "detail": "One JSON line per cell; per-item scores as gzip JSONL."},
]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas (OWASP's CSV injection advice:
    a cell starting with = + - @ tab or CR gets a leading apostrophe); numbers are untouched."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(lambda v: f"'{v}" if isinstance(v, str) and v.startswith(_FORMULA_START) else v)
    return out


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


def precision(value: float, digits: int = 2) -> int:
    """Decimals that show ``digits`` significant digits (at least 2, at most 8): no "+0.000"."""
    if value == 0 or not math.isfinite(value):
        return digits
    return int(min(8, max(digits, digits - 1 - math.floor(math.log10(abs(value))))))


def _fmt(value: Any, digits: int = 2) -> str:
    """A signed number with enough precision that a non-zero value never reads as zero."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if v == 0:
            return "0"
        return f"{v:+.{precision(v, digits)}f}"
    return str(value)


def _num(value: Any, digits: int = 2) -> str:
    """An unsigned number (costs, hours) with the same precision rule."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    v = float(value)
    return "0" if v == 0 else f"{v:.{precision(v, digits)}f}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    v = 100 * float(value)
    return "0%" if v == 0 else f"{v:.{precision(v, 2)}f}%"


def inline_code(text: Any) -> Markup:
    """Escape ``text``, then show `backtick` spans as <code> (descriptions are written in Markdown style)."""
    escaped = str(Markup.escape("" if text is None else text))
    return Markup(re.sub(r"`([^`<>]{1,200})`", r"<code>\1</code>", escaped))


def _usd(value: Any) -> str:
    """Dollars in one format everywhere: $1,234 / $12.34 / $0.0012 (two significant digits below a cent)."""
    if value is None or not math.isfinite(float(value)):
        return "–"
    v = float(value)
    if v >= 100:
        return f"${v:,.0f}"
    if v >= 0.01:
        return f"${v:,.2f}"
    return f"${v:.{precision(v, 2)}f}" if v > 0 else "$0"


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


def _nice_step(span: float) -> float:
    raw = span / 5 if span > 0 else 0.1
    base = 10 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= raw)


def cost_gain_plot(sel: pd.DataFrame, refs: dict[str, tuple[float, float]] | None = None,
                   width: int = 640, height: int = 380) -> dict[str, Any]:
    """Geometry of the cost-vs-gain SVG: x = log10 selection $, y = headline (seed-sds over
    compute-matched random); random and the full pool as reference points; Pareto frontier labelled.
    ``refs``: kind -> (dollars, headline-equivalent gain) of the reference points."""
    pad_l, pad_r, pad_t, pad_b = 64, 24, 20, 45
    sel = sel[sel["headline"].notna()]
    refs = refs or {}
    usd = np.concatenate([sel["selection_usd"].to_numpy(dtype=float), [c for c, _ in refs.values()]])
    positive = usd[usd > 0]
    # free selectors sit one decade below the cheapest paid one (CPU-scale runs cost micro-dollars)
    floor = 10.0 ** (math.floor(math.log10(positive.min())) - 1) if len(positive) else 1e-3
    xs_all = np.log10(np.maximum(usd, floor))
    ys_all = np.concatenate([sel["headline"].to_numpy(dtype=float), [g for _, g in refs.values()]])
    ys_all = np.where(np.isfinite(ys_all), ys_all, 0.0)
    x0, x1 = (math.floor(xs_all.min()), math.ceil(xs_all.max())) if len(xs_all) else (0, 1)
    if x1 <= x0:
        x1 = x0 + 1
    ylo, yhi = (min(0.0, ys_all.min()), max(0.0, ys_all.max())) if len(ys_all) else (-1.0, 1.0)
    span = (yhi - ylo) or 1.0
    ylo, yhi = ylo - 0.08 * span, yhi + 0.08 * span

    def sx(x: float) -> float:
        return pad_l + (x - x0) / (x1 - x0) * (width - pad_l - pad_r)

    def sy(y: float) -> float:
        return pad_t + (yhi - y) / (yhi - ylo) * (height - pad_t - pad_b)

    n = len(sel)
    pts = [{"x": round(sx(x), 1), "y": round(sy(y), 1), "slug": s, "name": nm, "gain": y, "usd": u}
           for x, y, s, nm, u in zip(xs_all[:n], ys_all[:n], sel["slug"], sel["name"], sel["selection_usd"])]
    ref_pts = [{"x": round(sx(x), 1), "y": round(sy(y), 1), "kind": k, "gain": y, "usd": u}
               for (k, (u, _)), x, y in zip(refs.items(), xs_all[n:], ys_all[n:])]
    front = pareto_front([(p["x"], -p["y"], p["slug"]) for p in pts])  # screen y grows downwards
    labels = []
    for x, y, slug in front[:8]:
        name = next(p["name"] for p in pts if p["slug"] == slug)
        name = name if len(name) <= 22 else name[:21] + "…"
        right = x > width * 0.6  # labels near the right edge run leftwards: never clipped
        labels.append({"x": round(x - 8 if right else x + 8, 1), "y": round(-y - 8, 1), "anchor": "end" if right else "start",
                       "text": name, "slug": slug})
    ticks_x = [{"x": round(sx(e), 1), "label": _usd(10.0 ** e) if e > x0 or not (usd == 0).any() else "free"} for e in range(x0, x1 + 1)]
    step = _nice_step(yhi - ylo)
    decimals = max(0, -math.floor(math.log10(step)))
    ticks_y = []
    for k in range(math.ceil(ylo / step), math.floor(yhi / step) + 1):
        v = round(k * step, decimals + 2)
        ticks_y.append({"y": round(sy(v), 1), "label": "0" if v == 0 else f"{v:+.{decimals}f}"})
    axis = {"ylo": ylo, "yhi": yhi, "top": pad_t, "bottom": height - pad_b}
    return {"width": width, "height": height, "points": pts, "refs": ref_pts, "zero": round(sy(0.0), 1), "axis": axis,
            "front": " ".join(f"{x},{-y}" for x, y, _ in front), "front_slugs": {s for _, _, s in front}, "labels": labels,
            "ticks_x": ticks_x, "ticks_y": ticks_y[:12], "left": pad_l, "right": width - pad_r, "bottom": height - pad_b, "top": pad_t}


def units_label(cells: pd.DataFrame) -> str:
    """The unit of one benchmark's gains, from its rows' scale and direction."""
    from selbench.leaderboard.units import unit_label

    return unit_label(str(cells["scale"].iloc[0]), str(cells["direction"].iloc[0]))


def _gpu_price(spec_id: str, subs: list[Submission]) -> float | None:
    """$ per GPU-hour of the spec's cost model (built-in specs), else implied by the selection costs."""
    from selbench.errors import SelbenchError
    from selbench.specs.loader import builtin_spec_names, load_spec

    name, _, version = spec_id.partition("@v")
    try:
        if name in builtin_spec_names():
            spec = load_spec(name)
            if str(spec.version) == version:
                return spec.cost_model.usd_per_gpu_hour
    except SelbenchError:
        pass
    usd = gpu_s = 0.0
    for sub in subs:
        for r in sub.rows:
            if r.kind == "selector":
                usd += r.selection_cost.usd
                gpu_s += r.selection_cost.gpu_s
    return usd / (gpu_s / 3600.0) if gpu_s > 0 else None


def environment(files: Path) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(files / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=_fmt, num=_num, pct=_pct, usd=_usd, json_html=json_for_html, code=inline_code)
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
    sel_cols = ["slug", "name", "authors", "track", "uses_api", "uses_external_model", "status", "rank", "rank_low", "rank_high",
                "partial", "partial_reason", "headline", "headline_ci_low", "headline_ci_high", "headline_mde", "wins", "ties",
                "losses", "cells", "selector_runs_min", "selection_gpu_h", "selection_usd", "selection_share_of_full",
                "gain_per_gpu_h", "break_even", "plugin", "plugin_version"]
    head = cells["in_headline"].to_numpy()
    data = {
        "selectors": records(sel[sel_cols]),
        # slug, pool, budget, benchmark, headline value (seed-sds; null: not in the headline), its se, outcome, $, GPU-h, share of full FT
        "cells": [[c["slug"], c["pool"], c["budget"], c["benchmark"], c["std_value"] if h else None,
                   (c["se"] / c["bench_sd"]) if h and c["bench_sd"] else None, c["outcome"][0], c["selection_usd"],
                   c["selection_gpu_h"], c["selection_share_of_full"]]
                  for c, h in zip(records(cells), head)],
        "references": [[r["kind"], r["pool"], r["budget"], r["benchmark"], r["std_delta"], r["finetune_usd"]] for r in records(ref_cells)],
    }
    ref_summary = (ref_cells.groupby("kind").agg(mean_gain=("std_delta", "mean"), finetune_usd=("finetune_usd", "mean")).reset_index())
    ref_points = {"random": (0.0, 0.0)}
    for r in records(ref_summary):
        if r["kind"] == "full" and r["mean_gain"] is not None:
            ref_points["full pool"] = (r["finetune_usd"] or 0.0, r["mean_gain"])
    plot = cost_gain_plot(sel, ref_points)
    data["plot"] = plot["axis"]
    heat_cols = cells[["pool", "budget", "benchmark"]].drop_duplicates().sort_values(["pool", "budget", "benchmark"]).to_records(index=False).tolist()
    heat = {s: {(c["pool"], c["budget"], c["benchmark"]): c for c in records(g)} for s, g in cells.groupby("slug")}
    scale = 3.0  # heatmap colours saturate at 3 seed-sds
    bench_units = {b: units_label(g) for b, g in cells.groupby("benchmark")}
    price = _gpu_price(lb.spec_id, subs)

    pages = {
        "index.html": env.get_template("index.html").render(
            **common, page="index", selectors=records(sel), refs=records(ref_summary), filters=filters, data=data, plot=plot,
            skipped=lb.skipped, verdict=lb.verdict, bench_units=bench_units, price=price,
            reference_rows=lb.reference_rows or "each submission's own"),
        "heatmap.html": env.get_template("heatmap.html").render(
            **common, page="heatmap", selectors=records(sel), columns=heat_cols, heat=heat, scale=scale),
        "how-ranking-works.html": env.get_template("how.html").render(**common, page="how"),
        "how-to-submit.html": env.get_template("submit.html").render(**common, page="submit"),
        "changelog.html": env.get_template("changelog.html").render(**common, page="changelog", changelog=CHANGELOG),
    }
    for row in records(sel):
        sub = by_slug[row["slug"]]
        pages[f"selectors/{row['slug']}.html"] = env.get_template("selector.html").render(
            **common, page="selector", s=row, meta=sub.metadata, prov=sub.provenance, samples=sub.samples,
            cells=records(cells[cells["slug"] == row["slug"]]), scale=scale, bench_units=bench_units)
    for name, html in pages.items():
        (tmp / name).write_text(html, "utf-8")
    csv_safe(sel).to_csv(tmp / "leaderboard.csv", index=False)
    csv_safe(cells).to_csv(tmp / "cells.csv", index=False)
    (tmp / "leaderboard.json").write_text(json.dumps(
        {"spec": lb.spec_id, "built": built, "verdict": lb.verdict, "reference_rows": lb.reference_rows, "units": bench_units, "gpu_hour_usd": price,
         "selectors": records(sel), "cells": records(cells), "references": records(refs),
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
