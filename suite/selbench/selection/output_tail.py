"""Read a worker's output without letting it fill the driver's memory.

The worker's stdout and stderr go to a pipe that a thread of the driver drains, keeping only the
last ``keep`` bytes (and counting the rest): a plugin that prints a gigabyte costs the driver a
few hundred KiB, and the log kept beside the artifact is bounded the same way. What is quoted
back to a terminal goes through :func:`selbench.safe_text.printable`.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import IO

from selbench.atomic import atomic_write_bytes
from selbench.safe_text import printable

KEEP_BYTES = 256 * 1024


class OutputTail:
    """Drains ``stream`` in a thread; keeps its last ``keep`` bytes."""

    def __init__(self, stream: IO[bytes], keep: int = KEEP_BYTES) -> None:
        self.keep, self.total = keep, 0
        self._chunks: deque[bytes] = deque()
        self._held = 0
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        with stream:
            while chunk := stream.read(65536):
                self.total += len(chunk)
                self._chunks.append(chunk)
                self._held += len(chunk)
                while self._held - len(self._chunks[0]) >= self.keep:
                    self._held -= len(self._chunks.popleft())

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    def text(self) -> bytes:
        data = b"".join(self._chunks)[-self.keep:]
        cut = self.total - len(data)
        return (f"[... {cut} earlier bytes of output not kept ...]\n".encode() if cut > 0 else b"") + data

    def write(self, path: Path) -> None:
        atomic_write_bytes(path, self.text())

    def last_lines(self, n: int = 8) -> str:
        lines = [ln for ln in self.text().decode("utf-8", errors="replace").splitlines() if ln.strip()]
        return printable(" | ".join(lines[-n:]), limit=2000)
