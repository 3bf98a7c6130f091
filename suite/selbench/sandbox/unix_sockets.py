"""Make the host's pathname Unix sockets unreachable from the sandbox.

A network namespace separates abstract Unix sockets (and Landlock's ABI-6 scope does too), but a
socket bound to a *path* is a file: ``connect("/run/docker.sock")`` works from any namespace
that can see the path, and Landlock (up to ABI 7) does not mediate ``connect``. So the launcher,
in its own mount namespace, binds an empty file over every pathname socket the host has bound:
the kernel lists them in ``/proc/net/unix`` (read before leaving the host's network namespace).
A ``connect`` to such a path then meets a plain file and fails with ECONNREFUSED. Sockets bound
after the worker started are not covered; the container (``--network none``, nothing mounted but
its volumes) is the boundary for those.
"""

from __future__ import annotations

import ctypes
import os

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
