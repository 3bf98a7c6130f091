"""Plugins against an adversary: each attack of the adversary issue, made by a hostile plugin in
this file's companion (hostile.py), fails for the attacker while the run goes on.

These need the kernel's unprivileged user namespaces and Landlock (ABI >= 6 for the signal and
abstract-socket scopes); where one is missing the test says so and is skipped, and the
selection's ``isolation`` record says what the worker fell back to.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from sb_testing import run_cli
from selbench.errors import SelectorError
from selbench.paths import cache_root
from selbench.sandbox.landlock import abi_version
from selbench.selection.isolation import Limits
from selbench.selection.stage import run_selection

HOSTILE = Path(__file__).with_name("hostile.py")


def _userns_ok() -> bool:
    return subprocess.run(["unshare", "--user", "--net", "--pid", "--mount", "--fork", "true"],
                          capture_output=True).returncode == 0


KERNEL = pytest.mark.skipif(abi_version() < 6 or not _userns_ok(),
                            reason="needs Landlock ABI >= 6 and unprivileged user/net/pid/mount namespaces")
pytestmark = KERNEL


def _load_hostile():
    import importlib.util

    spec = importlib.util.spec_from_file_location("hostile_plugins", HOSTILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _select(pool, cls: str, out: Path, **kw):
    return run_selection(pool, f"{HOSTILE}:{cls}", 5, 0, out, **kw)


def _with_marker(marker: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


def test_a_plugin_cannot_signal_a_process_outside(pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        monkeypatch.setenv("SELBENCH_PLUGIN_VICTIM", str(victim.pid))
        art = _select(pool, "SignalsOutside", tmp_path / "out")
        assert victim.poll() is None, "the plugin killed a process outside its sandbox"
        assert art.data["info"]["kill"].startswith(("ProcessLookupError", "PermissionError"))
        assert art.data["info"]["pid"] == 1  # PID 1 of its own namespace
        assert art.data["isolation"]["processes"].startswith("own PID namespace")
    finally:
        victim.kill()


def test_a_plugin_writes_only_its_scratch(pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    other = out / "selections" / "p" / "random" / "b5-s0-abc" / "selection.json"
    model = cache_root() / "models" / f"tiny-llama-{uuid.uuid4().hex[:8]}" / "config.json"
    for path in (other, model):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("original")
    pool_meta = Path(pool.cache_dir) / "pool.json"
    before = pool_meta.read_bytes()
    monkeypatch.setenv("SELBENCH_PLUGIN_TARGETS", os.pathsep.join([str(other), str(model)]))
    art = _select(pool, "WritesOutside", out)
    info = art.data["info"]
    assert other.read_text() == "original" and model.read_text() == "original" and pool_meta.read_bytes() == before
    for key in (str(other), str(model), "pool_cache", "new_file_beside_pool"):
        assert info[key].startswith("PermissionError"), (key, info[key])
    assert info["scratch"] == "ok"
    assert art.data["isolation"]["writes"] == "scratch folder and TMPDIR only"


def test_nothing_the_plugin_started_outlives_it(pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = f"selbench-orphan-{uuid.uuid4().hex}"
    monkeypatch.setenv("SELBENCH_PLUGIN_MARKER", marker)
    _select(pool, "LeavesAChild", tmp_path / "a")
    time.sleep(0.5)
    assert not _with_marker(marker), "a forked child outlived the worker"
    victim = tmp_path / "victim.txt"
    victim.write_text("original")
    marker = f"selbench-detached-{uuid.uuid4().hex}"
    monkeypatch.setenv("SELBENCH_PLUGIN_MARKER", marker)
    monkeypatch.setenv("SELBENCH_PLUGIN_TARGET", str(victim))
    art = _select(pool, "DetachedRewriter", tmp_path / "b")
    time.sleep(0.5)
    assert not _with_marker(marker), "a setsid child outlived the worker"
    time.sleep(5)
    assert victim.read_text() == "original"
    assert json.loads((art.path / "selection.json").read_text())["ids"] == art.ids


def test_an_output_flood_stays_out_of_the_driver(pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELBENCH_PLUGIN_FLOOD_MB", "300")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    art = _select(pool, "Floods", tmp_path / "out")
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_before
    assert grown < 64 * 2**20, f"the driver's peak memory grew by {grown / 2**20:.0f} MiB"
    kept = art.path / "worker" / "worker.log"
    assert kept.stat().st_size < 300 * 1024
    assert "earlier bytes of output not kept" in kept.read_text(errors="replace")[:200]


def test_host_unix_sockets_are_unreachable(pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[bytes] = []
    servers = []
    path = str(tmp_path / "host.sock")
    abstract = f"selbench-test-{uuid.uuid4().hex}"
    for address in (path, "\0" + abstract):
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(address)
        server.listen()
        server.settimeout(0.5)
        servers.append(server)

    def serve(server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            received.append(conn.recv(16))
            conn.close()

    for server in servers:
        threading.Thread(target=serve, args=(server,), daemon=True).start()
    monkeypatch.setenv("SELBENCH_PLUGIN_SOCKET", path)
    monkeypatch.setenv("SELBENCH_PLUGIN_ABSTRACT", abstract)
    try:
        for network in (False, True):  # the namespace separates abstract sockets; Landlock's scope does with the network
            art = _select(pool, "DialsUnixSockets", tmp_path / f"out-{network}", limits=Limits(network=network))
            info = art.data["info"]
            assert info["path"] != "ok" and info["abstract"] != "ok", info
        time.sleep(0.3)
        assert received == []
    finally:
        for server in servers:
            server.close()


@pytest.mark.skipif(not os.access("/run", os.W_OK), reason="binding a socket under /run needs write access there (root)")
def test_a_socket_bound_under_run_after_the_worker_started_is_unreachable(pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own_ns = os.readlink("/proc/self/ns/mnt")
    outcomes = {}
    for network in (False, True):  # with the network /run stays (DNS): the control shows the attack works
        folder = Path("/run") / f"selbench-test-{uuid.uuid4().hex}"
        folder.mkdir()
        path = str(folder / "late.sock")
        monkeypatch.setenv("SELBENCH_PLUGIN_LATE_SOCKET", path)
        result: dict = {}
        worker = threading.Thread(target=lambda: result.setdefault("art", _select(
            pool, "DialsALateSocket", tmp_path / f"out-{network}", limits=Limits(network=network))))
        worker.start()
        deadline = time.time() + 60
        while time.time() < deadline and not any(  # the worker is in its own mount namespace: later than its start
                _mount_ns(p) not in (None, own_ns) for p in _with_marker("DialsALateSocket")):
            time.sleep(0.05)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(path)
            server.listen()
            worker.join(60)
            outcomes[network] = result["art"].data["info"]["late"]
        finally:
            server.close()
            os.unlink(path)
            folder.rmdir()
    assert outcomes[False] != "ok", outcomes
    assert outcomes[True] == "ok", outcomes


def _mount_ns(proc: psutil.Process) -> str | None:
    try:
        return os.readlink(f"/proc/{proc.pid}/ns/mnt")
    except OSError:
        return None


def test_evaluation_files_the_suite_wrote_are_hidden(pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "runs" / "tiny"
    pairs = cache_root() / "tinyworld" / "evalsets-test" / "known_answer.jsonl"
    records = out / "eval" / "tiny" / "adapter-x" / "known-answer" / "records.jsonl"
    sibling = tmp_path / "runs" / "other" / "eval" / "records.jsonl"
    for path in (pairs, records, sibling):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"answer": "the hidden key"}\n')
    monkeypatch.setenv("SELBENCH_PLUGIN_TARGETS", os.pathsep.join(map(str, (pairs, records, sibling))))
    art = _select(pool, "ReadsSuiteFiles", out)
    for path, outcome in art.data["info"].items():
        assert "hidden key" not in outcome and "Permission denied" in outcome, (path, outcome)


def test_the_parent_records_isolation_and_identity(pool, tmp_path: Path) -> None:
    art = _select(pool, "ForgesItsRecord", tmp_path / "out", limits=Limits(network=True))
    assert art.data["isolation"]["network"] == "host (allowed)"  # what was applied, not what it claimed
    assert "forged" not in json.dumps(art.data["isolation"])
    ref = art.data["selector"]["ref"]
    assert ref["kind"] == "file" and ref["code_sha256"] == hashlib.sha256(HOSTILE.read_bytes()).hexdigest()
    with pytest.raises(SelectorError, match="belongs to a built-in"):
        _select(pool, "CallsItselfRandom", tmp_path / "out2")


def test_offline_workers_get_an_allow_listed_environment(pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"OPENAI_KEY": "k1", "DATABASE_URL": "postgres://u:p@h/db", "HF_AUTH": "a", "AWS_ACCESS_KEY_ID": "AKIA",
               "MY_SERVICE_PASSWORD": "pw", "SELBENCH_PLUGIN_API_TOKEN": "t"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SELBENCH_PLUGIN_NAMES", ",".join([*secrets, "PATH", "HF_HUB_OFFLINE"]))
    offline = _select(pool, "ReadsEnv", tmp_path / "off").data["info"]
    assert all(offline[name] is None for name in secrets), offline
    assert offline["PATH"] and offline["HF_HUB_OFFLINE"] == os.environ.get("HF_HUB_OFFLINE")
    online = _select(pool, "ReadsEnv", tmp_path / "on", limits=Limits(network=True)).data["info"]
    assert online["OPENAI_KEY"] == "k1"  # an API selector needs its keys


def test_terminal_escapes_in_a_plugin_error_never_reach_the_terminal(pool, tmp_path: Path) -> None:
    with pytest.raises(SelectorError) as info:
        _select(pool, "EscapesTheTerminal", tmp_path / "out")
    text = str(info.value)
    assert "boom" in text and "red" in text and "\x1b" not in text and "\x07" not in text


def test_every_command_that_runs_plugins_has_default_limits() -> None:
    for command in (("select",), ("run",), ("validate-selector",), ("submissions", "verify")):
        text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", run_cli(*command, "--help").stdout).split())
        assert "default: 6 hours" in text and "half of this machine's memory" in text, command


def test_terminal_escapes_never_reach_the_cli(tmp_path: Path) -> None:
    from sb_testing import alpaca_rows, assert_user_error, write_jsonl

    pool = write_jsonl(tmp_path / "pool.jsonl", alpaca_rows(20))
    proc = run_cli("select", "--pool", str(pool), "--budget", "5", "--selector", f"{HOSTILE}:EscapesTheTerminal",
                   "--out", str(tmp_path / "out"))
    assert_user_error(proc, "boomredbell")
    assert "\x1b[2J" not in proc.stderr and "\x07" not in proc.stderr


def test_the_tiny_worlds_answer_key_is_not_derivable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from selbench.pools import load_pool
    from selbench.specs import load_spec
    from selbench.tinyworld.key import ENV_KEY, world_key
    from selbench.tinyworld.pool import labelled_rows
    from selbench.tinyworld.world import make_world

    monkeypatch.setenv("SELBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(ENV_KEY, raising=False)
    spec = load_spec("tiny").pools[0]
    pool = load_pool(spec)  # makes this install's key in <cache>/tinyworld
    key = world_key()
    kinds = {(r["instruction"], r["output"]): r["kind"] for r in labelled_rows(**spec.generator_args, key=key)}
    kind_of = {i: kinds[(ins, o)] for i, ins, o in zip(pool.data["id"], pool.data["instruction"], pool.data["output"])}
    base = sum(k == "clean" for k in kind_of.values()) / len(kind_of)

    def clean_share(ids: list[str]) -> float:
        return sum(kind_of[i] == "clean" for i in ids) / len(ids)

    monkeypatch.setenv(ENV_KEY, key)  # even a key in the driver's environment stays out of the worker
    art = run_selection(pool, f"{HOSTILE}:RegeneratesTheWorld", 250, 0, tmp_path / "out")
    info = art.data["info"]
    assert "Permission denied" in info["read_key"] and info["env_key"] == "absent", info
    attacked = clean_share(art.data["ids"])
    # what the same attack gets with the key (or with a world that followed from the seed): it works
    hostile = _load_hostile()
    with_key = clean_share(hostile.states_the_facts(pool, make_world(24, 0, key=key))[:250])
    assert with_key > 0.95 > base + 0.2, (with_key, base)
    assert attacked < base + 0.1, (attacked, base)
