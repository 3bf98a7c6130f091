"""Make the host's pathname Unix sockets unreachable from the sandbox.

A network namespace separates abstract Unix sockets (and Landlock's ABI-6 scope does too), but a
socket bound to a *path* is a file: ``connect("/run/docker.sock")`` works from any namespace
that can see the path, and Landlock (up to ABI 7) does not mediate ``connect``. So the launcher,
in its own mount namespace, binds an empty file over every pathname socket the host has bound:
the kernel lists them in ``/proc/net/unix`` (read before leaving the host's network namespace).
A ``connect`` to such a path then meets a plain file and fails with ECONNREFUSED. An offline
worker also gets an empty tmpfs over the runtime folders where daemons bind their sockets
(``/run``, and so ``/var/run`` and ``$XDG_RUNTIME_DIR``), so sockets bound there *after* the
worker started are out of reach too (a networked worker keeps ``/run``: its DNS configuration
may live there). A socket bound later elsewhere (say under ``/tmp``) is not covered; the
container (``--network none``, nothing mounted but its volumes) is the boundary for those.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable

_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_MS_BIND, _MS_REC, _MS_PRIVATE = 4096, 16384, 1 << 18


def host_socket_paths(table: str = "/proc/net/unix") -> list[str]:
    """Paths of the pathname Unix sockets listed in ``table`` (abstract ones start with '@')."""
    try:
        with open(table, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()[1:]
    except OSError:
        return []
    paths = []
    for line in lines:
        fields = line.split(None, 7)
        if len(fields) == 8 and fields[7].startswith("/"):
            paths.append(fields[7])
    return sorted(set(paths))


def cover(paths: list[str], blank: str) -> int:
    """In a private mount namespace (the caller unshared one), bind ``blank`` (an empty file)
    over each socket path; return how many were covered."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None)  # nothing propagates back to the host
    covered = 0
    for path in paths:
        if not os.path.exists(path) or os.path.isdir(path):
            continue
        if libc.mount(blank.encode(), path.encode(), None, _MS_BIND, None) == 0:
            covered += 1
    return covered


RUNTIME_DIRS = ("/run",)


def mask_runtime_dirs(keep: Iterable[str], dirs: Iterable[str] = RUNTIME_DIRS) -> list[str]:
    """Mount an empty tmpfs over each runtime folder in ``dirs`` that holds none of the paths the
    worker needs (``keep``: its scratch, pool cache, interpreter...); return those masked. Called
    in the worker's private mount namespace, after :func:`cover`."""
    libc = ctypes.CDLL(None, use_errno=True)
    needed = [os.path.realpath(p) for p in keep]
    masked = []
    for folder in dirs:
        real = os.path.realpath(folder)
        if not os.path.isdir(real) or any(p == real or p.startswith(real.rstrip("/") + "/") for p in needed):
            continue
        if libc.mount(b"tmpfs", real.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, b"size=1m,mode=755") == 0:
            masked.append(real)
    return masked
