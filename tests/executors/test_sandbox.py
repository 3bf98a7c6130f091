"""The kernel's share of selector isolation: Landlock hides evaluation data from the worker and
everything it spawns; a network namespace keeps it off the network (see selbench.sandbox).

These need unprivileged user namespaces and Landlock; where the kernel lacks one, the tests of
that boundary are skipped with the reason (the audit-hook tests in test_isolation_guard.py still
run) and the selection records what it ran without.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import pytest

from selbench.errors import SelectorError
from selbench.sandbox.landlock import abi_version, granted_entries
from selbench.selection.isolation import Limits
from selbench.selection.stage import run_selection
from sb_testing import alpaca_rows, assert_user_error, run_cli, write_jsonl

PLUGINS = Path(__file__).with_name("plugins.py")


def _userns_ok() -> bool:
    return subprocess.run(["unshare", "--user", "--net", "true"], capture_output=True).returncode == 0


LANDLOCK = pytest.mark.skipif(abi_version() < 1, reason="this kernel offers no Landlock")
NETNS = pytest.mark.skipif(not _userns_ok(), reason="unprivileged user + network namespaces are disabled here")


def test_granted_entries_skip_the_way_to_hidden_folders_and_links_onto_it(tmp_path: Path) -> None:
    (tmp_path / "data" / "eval" / "inner").mkdir(parents=True)
    (tmp_path / "data" / "pools").mkdir()
    (tmp_path / "data" / "notes.md").write_text("x")
    (tmp_path / "data" / "alias").symlink_to(tmp_path / "data" / "eval")
    (tmp_path / "up").symlink_to(tmp_path / "data")  # a link onto an ancestor would open the way too
    (tmp_path / "work").mkdir()
    granted = set(granted_entries([str(tmp_path / "data" / "eval"), str(tmp_path / "data" / "eval" / "inner")]))
    assert {str(tmp_path / "data" / "pools"), str(tmp_path / "data" / "notes.md"), str(tmp_path / "work")} <= granted
    for hidden in ("data", "data/eval", "data/eval/inner", "data/alias", "up"):
        assert str(tmp_path / hidden) not in granted
    assert "/" not in granted and str(tmp_path) not in granted
    assert granted_entries([str(tmp_path / "missing")]) == ["/"]  # nothing to hide: everything stays reachable


@LANDLOCK
def test_a_plugin_shelling_out_to_read_eval_data_gets_nothing(pool, eval_folder: Path, tmp_path: Path) -> None:
    art = run_selection(pool, f"{PLUGINS}:ShellsOutToEval", 5, 0, tmp_path / "out")
    info = art.data["info"]
    assert "secret" not in info["stdout"]
    assert info["returncode"] != 0 and "Permission denied" in info["stderr"]
    assert art.data["isolation"]["filesystem"].startswith("evaluation data hidden (Landlock ABI")
    assert (eval_folder / "ifeval" / "input_data.jsonl").read_text().startswith('{"prompt"')  # still there for the evaluation stage


@LANDLOCK
def test_without_the_sandbox_the_same_plugin_reads_it(pool, eval_folder: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: the previous test passes because of the sandbox, not because cat failed."""
    monkeypatch.setenv("SELBENCH_SANDBOX", "off")
    art = run_selection(pool, f"{PLUGINS}:ShellsOutToEval", 5, 0, tmp_path / "out")
    assert "the secret test prompt" in art.data["info"]["stdout"]
    assert art.data["isolation"]["filesystem"].startswith("open")


@pytest.fixture()
def host_server(monkeypatch: pytest.MonkeyPatch):
    """A TCP server on the host's loopback that records what reaches it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                received.append(conn.recv(16))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setenv("SELBENCH_PLUGIN_PHONE_HOME_PORT", str(server.getsockname()[1]))
    yield received
    server.close()


@NETNS
def test_a_plugin_cannot_reach_the_network(pool, host_server: list[bytes], tmp_path: Path) -> None:
    with pytest.raises(SelectorError, match="selectors run without network") as info:
        run_selection(pool, f"{PLUGINS}:PhonesHome", 5, 0, tmp_path / "out")
    assert "phones_home" in str(info.value) or "PhonesHome" in str(info.value)
    assert host_server == []
    assert not list((tmp_path / "out").glob("selections/**/selection.json"))


@NETNS
def test_selector_network_lets_it_through(pool, host_server: list[bytes], tmp_path: Path) -> None:
    art = run_selection(pool, f"{PLUGINS}:PhonesHome", 5, 0, tmp_path / "out", limits=Limits(network=True))
    assert host_server == [b"leak"]
    assert art.data["isolation"]["network"] == "host (allowed)"


@NETNS
def test_the_cli_says_how_to_allow_the_network(host_server: list[bytes], tmp_path: Path) -> None:
    pool_file = write_jsonl(tmp_path / "p.jsonl", alpaca_rows(12))
    args = ("select", "--pool", str(pool_file), "--budget", "3", "--selector", f"{PLUGINS}:PhonesHome",
            "--out", str(tmp_path / "o"))
    assert_user_error(run_cli(*args), "selectors run without network", "--selector-network")
    allowed = run_cli(*args, "--selector-network")
    assert allowed.returncode == 0, allowed.stderr
    assert host_server == [b"leak"]
