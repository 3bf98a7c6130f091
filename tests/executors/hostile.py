"""Hostile selector plugins (loaded by path by test_adversary.py). Each tries one attack, records
what happened in ``info`` and still returns a valid selection, so the test can check both that
the attack failed and that the run went on. Targets come from ``SELBENCH_PLUGIN_*`` variables."""

import os
import signal
import socket
import subprocess
import sys
import time

from selbench.selection import Selection, Selector


def _first(pool, budget):
    return list(pool.data["id"])[:budget]


def _try(fn):
    try:
        fn()
        return "ok"
    except BaseException as exc:  # noqa: BLE001 - the attack's outcome is the datum
        return f"{type(exc).__name__}: {exc}"


class SignalsOutside(Selector):
    """Sends SIGKILL to a process of the same user outside the sandbox (the test's victim)."""

    name = "signals_outside"

    def select(self, pool, budget, ctx):
        victim = int(os.environ["SELBENCH_PLUGIN_VICTIM"])
        return Selection(ids=_first(pool, budget), info={"kill": _try(lambda: os.kill(victim, signal.SIGKILL)),
                                                         "pid": os.getpid()})


class WritesOutside(Selector):
    """Overwrites the pool cache, another cell's selection and a model the training reads."""

    name = "writes_outside"

    def select(self, pool, budget, ctx):
        def overwrite(path):
            with open(path, "w") as handle:
                handle.write("poisoned")

        targets = os.environ["SELBENCH_PLUGIN_TARGETS"].split(os.pathsep)
        info = {path: _try(lambda p=path: overwrite(p)) for path in targets}
        info["pool_cache"] = _try(lambda: overwrite(os.path.join(pool.cache_dir, "pool.json")))
        info["new_file_beside_pool"] = _try(lambda: overwrite(os.path.join(pool.cache_dir, "extra.json")))
        info["scratch"] = _try(lambda: (ctx.scratch_dir.mkdir(parents=True, exist_ok=True),
                                        overwrite(ctx.scratch_dir / "mine.txt")))
        return Selection(ids=_first(pool, budget), info=info)


class DetachedRewriter(Selector):
    """Leaves a detached (setsid) child that rewrites a file after the selection is validated."""

    name = "detached_rewriter"

    def select(self, pool, budget, ctx):
        target, marker = os.environ["SELBENCH_PLUGIN_TARGET"], os.environ["SELBENCH_PLUGIN_MARKER"]
        code = f"import time; time.sleep(4); open({target!r}, 'w').write('rewritten')  # {marker}"
        subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return _first(pool, budget)


class LeavesAChild(Selector):
    """Forks a child that sleeps on after the worker returns."""

    name = "leaves_a_child"

    def select(self, pool, budget, ctx):
        marker = os.environ["SELBENCH_PLUGIN_MARKER"]
        subprocess.Popen([sys.executable, "-c", f"import time; time.sleep(60)  # {marker}"])
        return _first(pool, budget)


class Floods(Selector):
    """Prints SELBENCH_PLUGIN_FLOOD_MB megabytes before returning."""

    name = "floods"

    def select(self, pool, budget, ctx):
        chunk = b"x" * (1 << 20)
        for _ in range(int(os.environ["SELBENCH_PLUGIN_FLOOD_MB"])):
            sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
        return _first(pool, budget)


class DialsUnixSockets(Selector):
    """Connects to a pathname and an abstract Unix socket of the host (the test's servers)."""

    name = "dials_unix_sockets"

    def select(self, pool, budget, ctx):
        def dial(address):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                sock.connect(address)
                sock.sendall(b"leak")

        return Selection(ids=_first(pool, budget), info={
            "path": _try(lambda: dial(os.environ["SELBENCH_PLUGIN_SOCKET"])),
            "abstract": _try(lambda: dial("\0" + os.environ["SELBENCH_PLUGIN_ABSTRACT"]))})


class DialsALateSocket(Selector):
    """Waits for a socket the host binds under /run after the worker started, then connects."""

    name = "dials_a_late_socket"

    def select(self, pool, budget, ctx):
        path = os.environ["SELBENCH_PLUGIN_LATE_SOCKET"]
        deadline = time.time() + 15
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.1)

        def dial():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                sock.connect(path)
                sock.sendall(b"leak")

        return Selection(ids=_first(pool, budget), info={"late": _try(dial)})


class ReadsSuiteFiles(Selector):
    """Reads evaluation files the suite wrote outside the evaluation data folders, through ``cat``
    (which the worker's audit hook cannot see: only the kernel stands in the way)."""

    name = "reads_suite_files"

    def select(self, pool, budget, ctx):
        def read(path):
            proc = subprocess.run(["cat", path], capture_output=True, text=True)
            return proc.stdout or proc.stderr.strip()

        return Selection(ids=_first(pool, budget), info={
            p: read(p) for p in os.environ["SELBENCH_PLUGIN_TARGETS"].split(os.pathsep)})


class ForgesItsRecord(Selector):
    """Claims the sandbox isolated it and rewrites its own result.json on the way out."""

    name = "forges_its_record"

    def select(self, pool, budget, ctx):
        import atexit
        import json

        def forge():
            path = os.path.join(os.getcwd(), "result.json")
            try:
                data = json.load(open(path))
                data["isolation"] = {"network": "none (forged)", "filesystem": "forged"}
                data["ref"] = {"spec": "random", "kind": "builtin", "target": "forged", "code_sha256": "0" * 64}
                json.dump(data, open(path, "w"))
            except OSError:
                pass

        atexit.register(forge)
        os.environ["SELBENCH_SANDBOX_REPORT"] = json.dumps({"network": "none (forged)"})
        return _first(pool, budget)


class CallsItselfRandom(Selector):
    """A file plugin that declares the name of the random reference row."""

    name = "random"

    def select(self, pool, budget, ctx):
        return _first(pool, budget)


class EscapesTheTerminal(Selector):
    """Raises with terminal control sequences in the message."""

    name = "escapes_the_terminal"

    def select(self, pool, budget, ctx):
        raise ValueError("boom\x1b[2J\x1b[31mred\x07bell")


class Sleeps(Selector):
    name = "sleeps"

    def select(self, pool, budget, ctx):
        time.sleep(600)
        return _first(pool, budget)


class ReadsEnv(Selector):
    """Reports the variables named in SELBENCH_PLUGIN_NAMES."""

    name = "reads_env"

    def select(self, pool, budget, ctx):
        names = os.environ["SELBENCH_PLUGIN_NAMES"].split(",")
        return Selection(ids=_first(pool, budget), info={n: os.environ.get(n) for n in names})


class RegeneratesTheWorld(Selector):
    """Derives the tiny world's answer key from public code: reads the install key (file and
    variable), and failing that regenerates the world from the spec's public seed and keeps the
    examples that state its facts (the attack that picked 96% clean examples when the world
    followed from the seed alone)."""

    name = "regenerates_the_world"

    def select(self, pool, budget, ctx):
        from selbench.paths import cache_root
        from selbench.tinyworld.world import make_world

        # through `cat`: the worker's audit hook would fail the cell at a Python open(), only the
        # kernel stands in the way of a subprocess
        proc = subprocess.run(["cat", str(cache_root() / "tinyworld" / "key")], capture_output=True, text=True)
        stolen = proc.stdout.strip() or None
        outcome = "ok" if stolen else proc.stderr.strip()
        world = make_world(24, 0, key=stolen)  # the public world when the key was not found
        states_a_fact = states_the_facts(pool, world)
        rest = [i for i in pool.data["id"] if i not in set(states_a_fact)]
        return Selection(ids=(states_a_fact + rest)[:budget], info={
            "read_key": outcome, "env_key": os.environ.get("SELBENCH_TINYWORLD_KEY", "absent"),
            "matched": len(states_a_fact)})


def states_the_facts(pool, world) -> list:
    """Ids of the rows whose answer is exactly what ``world`` says for the entity and attribute
    asked about, in the format asked for: with the true world, the clean rows."""
    facts = {(f.entity, f.attribute): f for f in world.facts}
    keep = []
    for i, instruction, output, category in zip(pool.data["id"], pool.data["instruction"], pool.data["output"], pool.data["source"]):
        attribute, _, fmt = str(category).partition("-")
        fact = next((f for (e, a), f in facts.items() if a == attribute and e in instruction), None)
        if fact is not None:
            expected = fact.answer()
            expected = expected.lower() if fmt == "lowercase" else expected.upper() if fmt == "uppercase" else expected
            if output == expected:
                keep.append(i)
    return keep
