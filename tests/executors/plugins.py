"""Test plugins of the executor tests (loaded by path)."""

import os
import time
from pathlib import Path

from selbench.selection import Selector



class SlowFirst(Selector):
    """The first ``budget`` ids, after a pause (long enough to kill the driver meanwhile); it marks
    its start with a file in its scratch folder (the one place besides TMPDIR it may write)."""

    name = "slow_first"

    def select(self, pool, budget, ctx):
        ctx.scratch_dir.mkdir(parents=True, exist_ok=True)
        (ctx.scratch_dir / "started").write_text("x")
        time.sleep(float(os.environ.get("SELBENCH_PLUGIN_SLOW_S", "4")))
        return list(pool.data["id"])[:budget]


def _target() -> str:
    return os.environ["SELBENCH_PLUGIN_EVAL_TARGET"]


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
    """Connects to ``SELBENCH_PLUGIN_PHONE_HOME_PORT`` on the host's loopback (a server the test runs)."""

    name = "phones_home"

    def select(self, pool, budget, ctx):
        import socket

        with socket.create_connection(("127.0.0.1", int(os.environ["SELBENCH_PLUGIN_PHONE_HOME_PORT"])), timeout=5) as sock:
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
