"""A watchdog that kills what a process started when that process dies first.

``vllm serve`` runs in its own session (so that stopping it kills the API server, EngineCore
and Worker together); the price is that nothing kills it when its owner is killed: a driver
killed with ``kill -9`` during evaluation, a Ray worker lost with its driver, a job killed by
its scheduler left the whole server running (measured: 3.3 GB RSS across four processes, its
EngineCore and Worker surviving even a killed API server).

:class:`ChildGuard` starts ``python -m selbench.executors.guard OWNER``, which detaches (a
session of its own, and a second fork so that it is no longer the owner's child: Ray kills a
dead worker's children, and it killed the guard with the API server before the guard could
act, leaving EngineCore and Worker behind). Every ``poll_s`` it records the owner's descendants (pid, start time, process group).
When the owner ends without saying goodbye (its end of a pipe closes, or the process is gone),
it kills, for each recorded descendant still alive with the same start time, the process
group it leads (a ``start_new_session`` child such as the vLLM server) or the process itself;
it never signals a group it did not see a descendant lead (the owner's own group may be a test
runner's or a shell's). A normal :meth:`ChildGuard.close` tells it to exit without killing.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

#: the guard's goodbye line: the owner ended normally and cleaned up itself
_BYE = b"bye\n"


class ChildGuard:
    """Context manager: while open, this process's descendants die with it."""

    def __init__(self, poll_s: float = 0.5) -> None:
        self.poll_s = poll_s
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ChildGuard:
        if self.proc is None and sys.platform.startswith("linux"):
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "selbench.executors.guard", str(os.getpid()), str(self.poll_s)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, close_fds=True)
            self.proc.wait(timeout=30)  # the first process exits at once; its detached child watches
        return self

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(_BYE)
            proc.stdin.close()
        except OSError:
            pass

    def __enter__(self) -> ChildGuard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _snapshot(owner: Any, seen: dict[int, tuple[float, int]]) -> None:
    import psutil

    me = os.getpid()
    for child in owner.children(recursive=True):
        if child.pid == me:
            continue
        try:
            seen.setdefault(child.pid, (child.create_time(), os.getpgid(child.pid)))
        except (psutil.Error, OSError):
            continue


def _reap(seen: dict[int, tuple[float, int]]) -> list[int]:
    """Kill what is left of ``seen``: the groups its processes lead, then the processes."""
    import psutil

    alive = {}
    for pid, (started, pgid) in seen.items():
        try:
            if psutil.Process(pid).create_time() == started:
                alive[pid] = pgid
        except psutil.Error:
            continue
    killed = []
    for pid, pgid in alive.items():
        if pgid == pid:  # a group (session) a descendant leads: the whole of it
            try:
                os.killpg(pgid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass
    for pid in alive:
        if pid not in killed:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass
    return killed


def watch(owner_pid: int, poll_s: float = 0.5) -> int:
    import psutil

    try:
        owner = psutil.Process(owner_pid)
        owner_started = owner.create_time()
    except psutil.Error:
        return 0
    seen: dict[int, tuple[float, int]] = {}
    stdin = sys.stdin.buffer
    received = b""
    while True:
        ready, _, _ = select.select([stdin], [], [], poll_s)
        if ready:
            chunk = os.read(stdin.fileno(), 64)
            received += chunk
            if _BYE in received:
                return 0  # the owner ended normally
            if not chunk:
                break  # the owner's end of the pipe closed without a goodbye: it died
        try:
            if owner.create_time() != owner_started or owner.status() == psutil.STATUS_ZOMBIE:
                break
            _snapshot(owner, seen)
        except psutil.Error:
            break
    time.sleep(0.2)  # let the owner's own exit (and PDEATHSIG-driven exits) happen first
    _reap(seen)
    return 0


def main(argv: list[str]) -> int:
    if os.fork() > 0:  # detach: the watcher is no longer the owner's child
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the driver
    return watch(int(argv[0]), float(argv[1]) if len(argv) > 1 else 0.5)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
