"""Judge generation through an OpenAI-compatible chat endpoint.

Two back ends, one interface (:meth:`JudgeService.chat_many`):

- the spec's ``judge.api_base`` (+ ``judge.api_model``): any OpenAI-compatible API. The key is
  read from ``SELBENCH_JUDGE_API_KEY`` (else ``OPENAI_API_KEY``, else ``EMPTY``). Its prompt and
  completion tokens are charged to the meter as API tokens (priced by the spec's cost model);
- otherwise a vLLM server (:class:`selbench.evaluation.server.VllmServer`) started on
  ``judge.model`` or, when the spec names none, the base model. Its tokens are charged as
  local compute (tokens and 2 x params x tokens FLOPs); its time is the selector's time.

Requests run concurrently (``concurrency``, 4 by default) and come back in input order. A
request the endpoint rejects (HTTP 4xx, e.g. a prompt longer than the judge's context) gives
``None`` for that item instead of failing the whole pool; ``failures`` counts them.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from selbench.cost.meter import CostMeter, transformer_forward_flops
from selbench.services.errors import ServiceError

Messages = list[dict[str, str]]


class OpenAIEndpoint:
    """A minimal OpenAI-compatible client (urllib; no SDK needed)."""

    def __init__(self, base_url: str, api_key: str = "EMPTY", timeout: float = 120.0, retries: int = 2) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.retries = retries

    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        url = self.base_url + (path.removeprefix("/v1") if self.base_url.endswith("/v1") else path)
        data = json.dumps(payload).encode()
        last: Exception | None = None
        for _ in range(self.retries + 1):
            req = urllib.request.Request(url, data=data, headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code < 500 and exc.code != 429:
                    body = exc.read().decode(errors="replace")[:300]
                    raise RejectedRequest(f"HTTP {exc.code}: {body}") from None
                last = exc
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                last = exc
        raise ServiceError(f"judge endpoint {self.base_url} failed after {self.retries + 1} tries: {last}")


class RejectedRequest(Exception):
    """The endpoint refused one request (4xx): that item gets no reply."""


def _safetensors_params(folder: Path) -> int:
    """Parameter count read from safetensors headers (0 when unknown)."""
    total = 0
    try:
        from safetensors import safe_open

        for path in sorted(folder.glob("*.safetensors")):
            with safe_open(str(path), framework="np") as handle:
                for name in handle.keys():
                    shape = handle.get_slice(name).get_shape()
                    n = 1
                    for s in shape:
                        n *= int(s)
                    total += n
    except Exception:  # noqa: BLE001 - an estimate only
        return 0
    return total


class JudgeService:
    def __init__(self, meter: CostMeter, *, endpoint: OpenAIEndpoint | None = None, model_name: str,
                 server: Any | None = None, remote: bool, n_params: int = 0, identity: dict[str, Any],
                 concurrency: int = 4, supports_choice: bool = False) -> None:
        self.meter = meter
        self.endpoint = endpoint
        self.model_name = model_name
        self.server = server
        self.remote = remote
        self.n_params = n_params
        self.identity = identity
        self.concurrency = max(1, int(concurrency))
        self.supports_choice = supports_choice
        self.failures = 0
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: Any, meter: CostMeter, *, log_dir: Path) -> JudgeService:
        judge = spec.judge
        if judge is not None and judge.api_base:
            if not judge.api_model:
                raise ServiceError("the spec's judge has api_base but no api_model (the model name to request)")
            key = os.environ.get("SELBENCH_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY") or "EMPTY"
            return cls(meter, endpoint=OpenAIEndpoint(judge.api_base, key), model_name=judge.api_model, remote=True,
                       identity={"kind": "api", "api_base": judge.api_base, "api_model": judge.api_model})
        from selbench.evaluation.server import VllmServer
        from selbench.models.loader import resolve_base_model

        model_spec = (judge.model if judge is not None and judge.model is not None else spec.base_model)
        resolved = resolve_base_model(model_spec)
        # fp32 on CPU matches HF numerics (bf16 is emulated there); a hub model keeps its own dtype
        dtype = "float32" if resolved.is_local and resolved.dtype in ("auto", "float32") else resolved.dtype
        server = VllmServer(resolved.source, served_name="judge", dtype=dtype,
                            max_model_len=1024 if resolved.is_local else 4096,
                            log_dir=log_dir, extra_args=[] if resolved.is_local else ["--revision", str(resolved.revision)])
        server.start()
        endpoint = OpenAIEndpoint(server.base_url)
        n_params = _safetensors_params(Path(resolved.source)) if resolved.is_local else 0
        return cls(meter, endpoint=endpoint, model_name="judge", server=server, remote=False, n_params=n_params,
                   identity={"kind": "vllm", **resolved.identity}, supports_choice=True)

    # ------------------------------------------------------------------------------------------
    def chat(self, messages: Messages, *, max_tokens: int = 3, temperature: float = 0.0,
             choices: Sequence[str] | None = None, seed: int = 0) -> str | None:
        payload: dict[str, Any] = {"model": self.model_name, "messages": messages, "max_tokens": max_tokens,
                                   "temperature": temperature, "seed": seed}
        if choices is not None and self.supports_choice:
            payload["structured_outputs"] = {"choice": list(choices)}
        assert self.endpoint is not None
        try:
            reply = self.endpoint.post("/v1/chat/completions", payload)
        except RejectedRequest:
            with self._lock:
                self.failures += 1
            return None
        usage = reply.get("usage") or {}
        prompt_t, completion_t = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        with self._lock:  # the meter's hot path is not thread-safe
            if self.remote:
                self.meter.add_api_call(prompt_t, completion_t)
            else:
                self.meter.add_tokens(prompt_t + completion_t, transformer_forward_flops(self.n_params, prompt_t + completion_t))
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            with self._lock:
                self.failures += 1
            return None

    def chat_many(self, conversations: Sequence[Messages], **options: Any) -> list[str | None]:
        """Replies in input order (``None`` where the endpoint rejected the request)."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(lambda m: self.chat(m, **options), conversations))

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
