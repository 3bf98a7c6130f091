"""Hide folders from this process and its children with Landlock (no root needed).

Landlock (Linux >= 5.13) only grants: once a ruleset handles an access right, that right is
refused everywhere no rule allows it. To hide a folder ``/a/b/eval`` while leaving the rest of
the machine as it was, the ruleset handles every filesystem right and grants all of them on
every entry beside the path to it: each child of ``/``, ``/a`` and ``/a/b`` except the ones
leading to (or being) the hidden folder. What this costs, by construction:

- the ancestors themselves (``/``, ``/a``, ``/a/b``) can no longer be listed, and nothing new
  can be created directly in them (entries created later in them are unreachable), so callers
  give the worker a temporary folder that exists before the rules are made
  (:func:`selbench.selection.isolation.run_in_subprocess` does);
- everything under a granted entry works as before, mounts included (Landlock checks walk up
  the path across mount points).

Syscall numbers 444-446 are the same on every architecture (they were added after the tables
were unified). ABI versions: 2 added REFER (cross-folder rename/link), 3 TRUNCATE, 5 IOCTL_DEV;
:func:`restrict` handles all that the kernel knows.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# LANDLOCK_ACCESS_FS_* bits (include/uapi/linux/landlock.h)
_FILE_RIGHTS_V1 = (1 << 0) | (1 << 1) | (1 << 2)  # EXECUTE, WRITE_FILE, READ_FILE
_DIR_RIGHTS_V1 = sum(1 << b for b in range(3, 13))  # READ_DIR .. MAKE_SYM
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]  # the ABI-1 prefix; later fields default to 0


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


NOTHING_TO_HIDE = "nothing to hide (no evaluation data on this machine)"


class LandlockUnavailable(RuntimeError):
    """The kernel cannot apply the rules (too old, Landlock disabled, not Linux)."""


def _libc() -> ctypes.CDLL:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError as exc:  # pragma: no cover - not Linux
        raise LandlockUnavailable(f"no libc: {exc}") from None


def abi_version() -> int:
    """The Landlock ABI the kernel offers (0: none, or not Linux: the syscall number means nothing there)."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = _libc()
    version = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def _rights(abi: int) -> tuple[int, int]:
    """(rights for a file, rights for a folder) that this ABI knows."""
    file_rights = _FILE_RIGHTS_V1 | (_TRUNCATE if abi >= 3 else 0) | (_IOCTL_DEV if abi >= 5 else 0)
    dir_rights = file_rights | _DIR_RIGHTS_V1 | (_REFER if abi >= 2 else 0)
    return file_rights, dir_rights


def existing_roots(hidden: list[str]) -> list[str]:
    """The hidden folders that exist, resolved, without those inside another: what there is to hide."""
    roots = sorted({os.path.realpath(h) for h in hidden if h and os.path.exists(h)})
    return [r for r in roots if not _under(r, roots)]


def granted_entries(hidden: list[str]) -> list[str]:
    """Every path beside the way to a hidden folder: what stays reachable.

    Hidden folders inside other hidden folders, and ones that do not exist, are dropped; an
    ancestor that cannot be listed contributes nothing (it was unreachable already). With
    nothing left to hide this returns ``["/"]``: everything stays reachable (a ruleset that
    grants nothing would deny the worker its own code).
    """
    roots = existing_roots(hidden)
    if not roots:
        return ["/"]
    levels: set[str] = set()
    for root in roots:
        levels.update(str(p) for p in Path(root).parents)
    blocked = levels | set(roots)
    granted: list[str] = []
    for level in sorted(levels):
        try:
            names = sorted(os.listdir(level))
        except OSError:
            continue
        for path in (os.path.join(level, n) for n in names):
            real = os.path.realpath(path)  # a link beside the way may point back onto it
            if path in blocked or real in blocked or _under(real, roots):
                continue
            granted.append(path)
    return granted


def _under(path: str, roots: list[str]) -> bool:
    return any(path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


_READ_RIGHTS = (1 << 0) | (1 << 2) | (1 << 3)  # EXECUTE, READ_FILE, READ_DIR
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class _RulesetAttrV6(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


def ruleset_rules(hidden: list[str], writable: list[str] | None, abi: int) -> list[tuple[str, int]]:
    """The ruleset's ``(path, rights)`` rules: the one place that builds them.

    Reads (and execution) are granted on every entry beside the way to a hidden folder (on ``/``
    when nothing exists to hide). With ``writable`` given, every write right (create, remove,
    rename, truncate, device ioctl) is granted only beneath those paths and ``/dev`` (``/dev/null``,
    ``/dev/shm``); without it, writes follow reads (nothing but the hidden folders is refused).
    """
    file_rights, dir_rights = _rights(abi)
    reads = granted_entries(hidden)
    if writable is None:
        return [(p, dir_rights if os.path.isdir(p) else file_rights) for p in reads]
    rules = [(p, _READ_RIGHTS & (dir_rights if os.path.isdir(p) else file_rights)) for p in reads]
    roots = existing_roots(hidden)
    for path in dict.fromkeys(["/dev", *writable]):
        if path and os.path.exists(path) and not _under(os.path.realpath(path), roots):
            rules.append((path, dir_rights if os.path.isdir(path) else file_rights))
    return rules


def restrict(hidden: list[str], writable: list[str] | None = None) -> dict[str, str]:
    """Confine this thread and every process started after it; return what was applied.

    ``hidden`` folders can be neither read nor listed nor written; with ``writable`` given,
    nothing outside those paths (and ``/dev``) can be written. From ABI 6 the process can also
    signal no process outside its own Landlock domain and reach no abstract Unix socket created
    outside it. Call it while the process has one thread (a ruleset binds the calling thread and
    what it creates later). Raises :class:`LandlockUnavailable` when the kernel cannot do it.
    """
    abi = abi_version()
    if abi < 1:
        raise LandlockUnavailable(f"the kernel offers no Landlock ({os.strerror(ctypes.get_errno()) or 'ABI 0'})")
    libc = _libc()
    _, dir_rights = _rights(abi)
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0
    attr: ctypes.Structure = (_RulesetAttrV6(handled_access_fs=dir_rights, handled_access_net=0, scoped=scoped)
                              if scoped else _RulesetAttr(handled_access_fs=dir_rights))
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                           ctypes.c_uint32(0))
    if ruleset < 0:
        raise LandlockUnavailable(f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        for path, rights in ruleset_rules(hidden, writable, abi):
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # vanished, or a dangling link: nothing to grant
            try:
                rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
                if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)) < 0:
                    raise LandlockUnavailable(f"landlock_add_rule({path}): {os.strerror(ctypes.get_errno())}")
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockUnavailable(f"prctl(NO_NEW_PRIVS): {os.strerror(ctypes.get_errno())}")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) < 0:
            raise LandlockUnavailable(f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)
    report = {"filesystem": (f"evaluation data hidden (Landlock ABI {abi})" if existing_roots(hidden)
                             else NOTHING_TO_HIDE),
              "writes": ("scratch folder and TMPDIR only" if writable is not None else "not confined"),
              "signals": "own sandbox only (Landlock scope)" if scoped else "not scoped (Landlock ABI < 6)",
              "abstract_unix_sockets": "own sandbox only (Landlock scope)" if scoped else "not scoped (Landlock ABI < 6)"}
    return report
