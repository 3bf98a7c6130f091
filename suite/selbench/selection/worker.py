"""Run one selector in this process: the body of the isolated selection subprocess.

``python -m selbench.selection.worker REQUEST.json`` loads the selector and the pool (from the
canonical Arrow cache: the worker never sees evaluation data or other pools), runs ``select``
under a CostMeter, validates the output and writes ``result.json``. Any failure is written
there too, as one line plus the traceback for the log. When the request carries the spec (its
JSON form, for the base model and judge), the context gets lazy services built from it
(:class:`selbench.services.Services`); scores they cache go under the request's ``cache_dir``.

Evaluation data guard: the parent starts the worker with an environment that does not name
the evaluation data (``SELBENCH_EVAL_DATA`` is removed) and hands it the folders to refuse
(``deny_read``). Before the plugin is imported the worker installs an audit hook
(:func:`sys.addaudithook`, PEP 578) that refuses ``open``, directory listings and ``os.chdir``
into those folders (symlinks resolved) and remembers the attempt, so the cell fails with a clear
reason even when the plugin swallows the error. An audit hook is a tripwire for honest
mistakes, not a sandbox: code that spawns ``cat``, uses ctypes or a C extension bypasses it.
The hard boundaries are the kernel's (Landlock and a network namespace, applied by
:mod:`selbench.sandbox.launch` before this module is imported; what was applied is returned
as ``isolation``) and, in the container, the container itself.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from selbench.atomic import atomic_write_json
from selbench.errors import SelbenchError, SelectorError
from selbench.pools.pool import Pool
from selbench.sandbox.policy import applied_report
from selbench.selection.context import SelectionContext
from selbench.selection.registry import resolve_selector
from selbench.selection.validate import check_budget, validate_selection


_DENIED: list[str] = []  # evaluation paths the plugin tried to read (kept even if it catches the error)
_GUARD_EVENTS = {"open", "os.listdir", "os.scandir", "os.chdir", "shutil.copyfile", "shutil.copytree", "os.link",
                 "os.symlink", "os.rename"}


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def install_eval_guard(roots: list[str]) -> None:
    """Refuse reads under ``roots`` (evaluation data) for the rest of this process."""
    resolved = tuple(sorted({os.path.realpath(r) for r in roots if r}))
    if not resolved:
        return
    busy = False

    def hook(event: str, args: tuple[Any, ...]) -> None:
        nonlocal busy
        if busy or event not in _GUARD_EVENTS:
            return
        busy = True
        try:
            for arg in args[:2]:
                if isinstance(arg, (str, bytes, os.PathLike)):
                    raw = os.fsdecode(arg)
                    real = os.path.realpath(raw)
                    if _under(real, resolved) or _under(os.path.abspath(raw), resolved):
                        _DENIED.append(real)
                        raise PermissionError(f"selbench: selectors may not read evaluation data ({real})")
        finally:
            busy = False

    sys.addaudithook(hook)


def denied_reads() -> list[str]:
    return list(dict.fromkeys(_DENIED))


def open_cached_pool(cache_dir: str) -> Pool:
    import datasets

    datasets.disable_caching()  # a plugin's .map() results go to its TMPDIR: the pool cache is read-only to it
    meta = json.loads((Path(cache_dir) / "pool.json").read_text("utf-8"))
    return Pool(
        name=meta["name"],
        data=datasets.load_from_disk(str(Path(cache_dir) / "data")),
        fingerprint=meta["fingerprint"],
        provenance=meta["provenance"],
        cache_dir=cache_dir,
    )


def make_context(request: dict[str, Any]) -> SelectionContext:
    """The selector's context: seed, scratch dir, meter, and services built from the spec (if any)."""
    from selbench.services import Services

    spec = None
    if request.get("spec") is not None:
        from selbench.specs.models import Spec

        spec = Spec.model_validate(request["spec"])
    ctx = SelectionContext(seed=request["seed"], scratch_dir=Path(request["scratch_dir"]), spec=spec,
                           base_model=spec.base_model.model_dump(mode="json") if spec is not None else None)
    ctx.services = Services(ctx.meter, spec=spec, cache_dir=request.get("cache_dir"), scratch_dir=ctx.scratch_dir)
    if request.get("query_set") is not None:
        from selbench.targeted.query_set import QuerySet

        ctx.query_set = QuerySet.from_json(request["query_set"])
    return ctx


def execute(request: dict[str, Any], pool: Pool | None = None) -> dict[str, Any]:
    """Run the request; return the result dict (``ok`` with the selection, or ``error``)."""
    label = request["selector"]
    try:
        cls, ref = resolve_selector(label)
        try:
            selector = cls(**request.get("params", {}))
        except TypeError as exc:
            raise SelectorError(label, f"bad parameters {request.get('params')}: {exc}") from None
        pool = pool or open_cached_pool(request["pool_cache_dir"])
        check_budget(request["budget"], len(pool), pool.name, ignores_budget=cls.ignores_budget)
        expected = len(pool) if cls.ignores_budget else request["budget"]
        ctx = make_context(request)
        ctx.scratch_dir.mkdir(parents=True, exist_ok=True)
        try:
            with ctx.meter:
                try:
                    raw = selector.select(pool, request["budget"], ctx)
                except SelbenchError:
                    raise
                except Exception as exc:
                    raise SelectorError(label, f"raised {type(exc).__name__}: {exc}{_offline_hint(exc)}") from exc
        finally:
            close = getattr(ctx.services, "close", None)
            if close is not None:
                close()
        if denied_reads():
            raise SelectorError(label, f"tried to read evaluation data: {', '.join(denied_reads()[:3])} "
                                       "(selectors see only the pool; evaluation files are off limits)")
        selection = validate_selection(label, raw, set(pool.data["id"]), expected)
        return {
            "ok": True,
            "ids": selection.ids,
            "scores": selection.scores,
            "info": selection.info,
            "metadata": cls.metadata(),
            "params": selector.params,
            "ref": ref.__dict__,
            "cost": ctx.meter.record().to_dict(),
            "isolation": applied_report(),
        }
    except SelectorError as exc:
        if denied_reads() and "evaluation data" not in exc.problem:
            return {"ok": False, "problem": f"tried to read evaluation data: {', '.join(denied_reads()[:3])} "
                                            f"(selectors see only the pool; evaluation files are off limits); then {exc.problem}",
                    "traceback": traceback.format_exc()}
        return {"ok": False, "problem": exc.problem, "traceback": traceback.format_exc()}
    except SelbenchError as exc:
        return {"ok": False, "problem": str(exc), "error_kind": type(exc).__name__, "traceback": traceback.format_exc()}


def _offline_hint(exc: BaseException) -> str:
    """Say why a network call failed when the worker runs without the network."""
    report = applied_report() or {}
    if not report.get("network", "").startswith("none"):
        return ""
    seen: BaseException | None = exc
    while seen is not None:
        if _is_network_error(seen):
            return (" (selectors run without network: allow it with --selector-network, or give the spec's judge "
                    "an api_base)")
        seen = seen.__cause__ or seen.__context__
    return ""


def _is_network_error(exc: BaseException) -> bool:
    import errno
    import socket
    import urllib.error

    unreachable = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.EADDRNOTAVAIL}
    return isinstance(exc, (ConnectionError, socket.gaierror, urllib.error.URLError)) or (
        isinstance(exc, OSError) and exc.errno in unreachable)


def describe(spec: str) -> dict[str, Any]:
    """The selector's metadata, or the problem loading it (``--describe`` mode)."""
    try:
        cls, ref = resolve_selector(spec)
    except SelectorError as exc:
        return {"ok": False, "problem": exc.problem}
    return {"ok": True, "metadata": cls.metadata(), "ref": ref.__dict__}


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[1] == "--describe":
        if len(argv) == 5 and argv[3] == "--deny-read":
            install_eval_guard(json.loads(argv[4]))
        print(json.dumps(describe(argv[2])))
        return 0
    request_path = Path(argv[1])
    request = json.loads(request_path.read_text("utf-8"))
    install_eval_guard(request.get("deny_read") or [])
    try:
        result = execute(request)
    except BaseException as exc:  # a bug in selbench or an import-time crash: still report it
        result = {"ok": False, "problem": f"worker failed: {type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    try:
        atomic_write_json(request["result_path"], result)
    except (TypeError, ValueError) as exc:  # info/params that are not JSON
        atomic_write_json(request["result_path"], {"ok": False, "problem": f"output is not JSON-serialisable: {exc}"})
    if not result["ok"] and result.get("traceback"):
        print(result["traceback"], file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
