"""Test plugins of the executor tests (loaded by path)."""

import os
import time
from pathlib import Path

from selbench.selection import Selector



class SlowFirst(Selector):
    """The first ``budget`` ids, after a pause (long enough to kill the driver meanwhile)."""

    name = "slow_first"

    def select(self, pool, budget, ctx):
        marker = os.environ.get("SLOW_PLUGIN_PIDS")
        if marker:
            with open(marker, "a") as handle:
                handle.write(f"{os.getpid()}\n")
        time.sleep(float(os.environ.get("SLOW_PLUGIN_S", "4")))
        return list(pool.data["id"])[:budget]


def _target() -> str:
    return os.environ.get("EVAL_TARGET_FOR_TEST") or (Path(__file__).parents[3] / "shared" / "data" / "eval").as_posix()


class ReadsEval(Selector):
    """Reads the evaluation data (the path is baked in by the test, not taken from selbench)."""

    name = "reads_eval"

    def select(self, pool, budget, ctx):
        target = Path(_target())
        if target.is_dir():
            os.listdir(target)
        else:
            target.read_text()
        return list(pool.data["id"])[:budget]


class SwallowsEval(Selector):
    """Tries to read evaluation data, catches the refusal and returns a valid selection."""

    name = "swallows_eval"

    def select(self, pool, budget, ctx):
        try:
            Path(_target()).read_bytes()
        except OSError:
            pass
        return list(pool.data["id"])[:budget]


class EnvProbe(Selector):
    """Reports what the worker's environment says about evaluation data."""

    name = "env_probe"

    def select(self, pool, budget, ctx):
        ids = list(pool.data["id"])[:budget]
        from selbench.selection import Selection

        names = ("SELBENCH_EVAL_DATA", "SELBENCH_DENY_READ", "OPENAI_API_KEY", "HF_TOKEN")
        return Selection(ids=ids, info={name: os.environ.get(name) for name in names})


class ShellsOutToEval(Selector):
    """Reads the evaluation data through ``cat`` in a subprocess, which the audit hook cannot see;
    reports what it got (the kernel's sandbox must have refused it)."""

    name = "shells_out_to_eval"

    def select(self, pool, budget, ctx):
        import subprocess

        from selbench.selection import Selection

        proc = subprocess.run(["cat", _target()], capture_output=True, text=True)
        return Selection(ids=list(pool.data["id"])[:budget],
                         info={"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr})


class PhonesHome(Selector):
    """Connects to ``PHONE_HOME_PORT`` on the host's loopback (a server the test runs)."""

    name = "phones_home"

    def select(self, pool, budget, ctx):
        import socket

        with socket.create_connection(("127.0.0.1", int(os.environ["PHONE_HOME_PORT"])), timeout=5) as sock:
            sock.sendall(b"leak")
        return list(pool.data["id"])[:budget]


class ReadsItsWorld(Selector):
    """Reads what any selector needs: its own code, the selbench package, the pool rows and a file
    it writes to its TMPDIR; reports what it read."""

    name = "reads_its_world"

    def select(self, pool, budget, ctx):
        import tempfile

        import selbench.selection
        from selbench.selection import Selection

        own = Path(__file__).read_text()
        package = Path(selbench.selection.__file__).read_text()
        with tempfile.NamedTemporaryFile("w+", delete=False) as handle:
            handle.write("scratch")
        scratch = Path(handle.name).read_text()
        return Selection(ids=list(pool.data["id"])[:budget],
                         info={"own_code": "ReadsItsWorld" in own, "package": "Selector" in package,
                               "pool_rows": len(pool.data["instruction"]), "tmp": scratch,
                               "tmpdir": os.environ.get("TMPDIR", "")})
