"""Fixtures of the selector tests: a small pool file, the tiny spec, a fake OpenAI-compatible judge."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml


def small_rows(n: int = 60) -> list[dict[str, str]]:
    """Arithmetic tasks; every third answer is wrong (the fake judge rates those low)."""
    rows = []
    for i in range(n):
        a, b = i % 13 + 1, i // 13 + 2
        right = a + b
        answer = right if i % 3 else right + 7
        rows.append({"instruction": f"What is {a} plus {b}?", "input": "" if i % 2 else "Answer with a number.",
                     "output": f"The sum of {a} and {b} is {answer}." + (" Let me explain." * (i % 4))})
    return rows


@pytest.fixture(scope="session")
def small_pool_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sel-pool") / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in small_rows()))
    return path


@pytest.fixture(scope="session")
def small_pool(small_pool_file: Path) -> Any:
    from selbench.pools.loader import load_pool
    from selbench.specs.models import PoolSpec

    return load_pool(PoolSpec(name="small", path=str(small_pool_file)))


@pytest.fixture(scope="session")
def tiny_spec() -> Any:
    from selbench.specs.loader import load_spec

    return load_spec("tiny")


class FakeJudge:
    """Rates 'a + b = c' replies by checking the arithmetic, in varied reply formats."""

    FORMATS = ("{s}.0", "Score: {s}", "I rate it {s}\nbecause", "{s}")

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def reply(self, payload: dict[str, Any]) -> dict[str, Any]:
        text = payload["messages"][-1]["content"]
        m = re.search(r"What is (\d+) plus (\d+)\?.*? is (\d+)\.", text, re.S)
        score = 5 if m and int(m[1]) + int(m[2]) == int(m[3]) else 1
        with self.lock:
            self.calls += 1
            fmt = self.FORMATS[self.calls % len(self.FORMATS)]
        return {"choices": [{"message": {"role": "assistant", "content": fmt.format(s=score)}}],
                "usage": {"prompt_tokens": len(text.split()), "completion_tokens": 3}}


@pytest.fixture()
def fake_judge() -> Iterator[tuple[str, FakeJudge]]:
    judge = FakeJudge()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not self.path.endswith("/chat/completions"):
                self.send_response(404)
                self.end_headers()
                return
            data = json.dumps(judge.reply(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", judge
    finally:
        server.shutdown()
        server.server_close()


def write_spec(spec: Any, path: Path) -> Path:
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False))
    return path
