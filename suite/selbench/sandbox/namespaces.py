"""New namespaces for the worker: user, network (loopback only), PID and mount.

``unshare(CLONE_NEWUSER | CLONE_NEWNET)`` needs no root where unprivileged user namespaces are
allowed (most distributions; some switch them off or restrict them through AppArmor). The
process keeps its own user and group ids (mapped onto themselves), so files look the same;
the new namespace has only a loopback interface, brought up here so that a server the
selector starts itself (a vLLM judge) is reachable on 127.0.0.1, while the internet and every
server listening on the host's loopback are not.

Must be called while the process has one thread (``unshare`` of a user namespace fails with
EINVAL otherwise).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNS = 0x00020000
_SIOCGIFFLAGS, _SIOCSIFFLAGS = 0x8913, 0x8914
_IFF_UP, _IFF_RUNNING = 0x1, 0x40


class NamespacesUnavailable(RuntimeError):
    """The kernel refused the new namespaces (unprivileged user namespaces off or restricted)."""


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP | _IFF_RUNNING))


def enter_namespaces(network: bool = False, pids: bool = True, mounts: bool = True) -> None:
    """Move this process into a new user namespace and, unless ``network``, a network namespace
    with loopback only; with ``pids``, its *next child* starts a new PID namespace (the caller
    forks: that child is PID 1 there, sees and signals no process outside, and every process it
    leaves behind is killed when it exits); with ``mounts``, a private mount namespace (to cover
    the host's Unix sockets, :mod:`selbench.sandbox.unix_sockets`). Raises if the kernel refuses."""
    uid, gid = os.geteuid(), os.getegid()
    libc = ctypes.CDLL(None, use_errno=True)
    flags = (_CLONE_NEWUSER | (0 if network else _CLONE_NEWNET) | (_CLONE_NEWPID if pids else 0)
             | (_CLONE_NEWNS if mounts else 0))
    if libc.unshare(flags) != 0:
        what = ", ".join(n for n, f in (("user", _CLONE_NEWUSER), ("net", _CLONE_NEWNET), ("pid", _CLONE_NEWPID),
                                                          ("mnt", _CLONE_NEWNS)) if flags & f)
        raise NamespacesUnavailable(f"unshare({what}): {os.strerror(ctypes.get_errno())}")
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        if not network:
            _loopback_up()
    except OSError as exc:
        raise NamespacesUnavailable(f"setting up the namespace: {exc}") from None
