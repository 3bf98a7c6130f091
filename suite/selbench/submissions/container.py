"""``selbench submissions verify --container``: the same verification, inside the ``cpu`` image.

The suite's own sandbox (``selbench.sandbox``) depends on kernel features of the host; the
container does not: the re-run happens in ``IMAGE`` with ``--network none``, a read-only root
filesystem, the submission mounted read-only and no evaluation data mounted at all. The command
inside is this same ``selbench submissions verify`` (``--no-container``), which writes its record
as JSON into the mounted output folder; the caller reads it back and records it as usual.

A plugin installed from a package (``--plugin-install``) must be in the image: build one
``FROM selbench:cpu`` that ``pip install``s it and pass it as ``--container-image``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from selbench.errors import SelbenchError
from selbench.paths import cache_root
from selbench.tinyworld.key import ENV_KEY, world_key
from selbench.submissions.errors import VerificationError

DEFAULT_IMAGE = "selbench:cpu"
RECORD_NAME = "verification.json"


def find_runtime() -> str | None:
    """``SELBENCH_CONTAINER_RUNTIME``, else podman, else docker on PATH."""
    chosen = os.environ.get("SELBENCH_CONTAINER_RUNTIME")
    if chosen:
        return shutil.which(chosen)
    return shutil.which("podman") or shutil.which("docker")


def container_command(runtime: str, image: str, submission: Path, out: Path, *, cache: Path,
                      max_selections: int | None, timeout: float | None,
                      memory_limit_gb: float | None) -> list[str]:
    """The ``run`` command line; extra runtime flags come from ``SELBENCH_CONTAINER_ARGS``
    (e.g. ``--runtime runc --ulimit nofile=1024:1024`` where podman needs them)."""
    # as the caller's uid (the image's user otherwise: root outside stays non-root inside), with the
    # caller's pool cache mounted when it can write there
    user = ["--user", f"{os.getuid()}:{os.getgid()}", "-v", f"{cache.resolve()}:/cache/selbench"] if os.getuid() else []
    cmd = [runtime, "run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/tmp",
           "--tmpfs", "/cache:rw,mode=1777", *user,
           "-e", "HF_HUB_OFFLINE=1", "-e", "HF_DATASETS_OFFLINE=1",
           "-v", f"{submission.resolve()}:/submission:ro", "-v", f"{out.resolve()}:/out",
           *shlex.split(os.environ.get("SELBENCH_CONTAINER_ARGS", "")),
           image, "submissions", "verify", "/submission", "--no-container", "--no-record",
           "--out", "/out/selections", "--record-json", f"/out/{RECORD_NAME}"]
    if max_selections is not None:
        cmd += ["--max-selections", str(max_selections)]
    if timeout is not None:
        cmd += ["--timeout", str(timeout)]
    if memory_limit_gb is not None:
        cmd += ["--memory-limit-gb", str(memory_limit_gb)]
    return cmd


def _install_world_key(cache: Path) -> str | None:
    """This install's tiny-world key when it has one (the variable, or the cache's key file)."""
    if os.environ.get(ENV_KEY, "").strip() or (cache / "tinyworld" / "key").is_file():
        return world_key(cache)
    return None


def verify_in_container(submission: Path, *, out: Path, image: str = DEFAULT_IMAGE,
                        max_selections: int | None = None, timeout: float | None = None,
                        memory_limit_gb: float | None = None) -> dict[str, Any]:
    """Run the verification in ``image`` without network; return its record."""
    runtime = find_runtime()
    if runtime is None:
        raise SelbenchError("--container needs podman or docker on PATH (or SELBENCH_CONTAINER_RUNTIME)")
    out.mkdir(parents=True, exist_ok=True)
    if not os.getuid():
        out.chmod(0o777)  # the image's user (uid 1000) writes there
    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    record_file = out / RECORD_NAME
    record_file.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="selbench-verify-") as tmp:
        # a readable copy: the image's user may not be the files' owner (atomic writes are 0600)
        copy = Path(tmp) / submission.name
        shutil.copytree(submission, copy, symlinks=False)
        for path in [Path(tmp), copy, *copy.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        cmd = container_command(runtime, image, copy, out, cache=cache, max_selections=max_selections,
                                timeout=timeout, memory_limit_gb=memory_limit_gb)
        env = os.environ.copy()
        if (key := _install_world_key(cache)) is not None:
            # this install's tiny world goes along (by name: never on a command line), so a tiny
            # submission made here verifies in the image; selector workers never receive it
            env[ENV_KEY] = key
            cmd[3:3] = ["-e", ENV_KEY]  # after `run --rm`
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if not record_file.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise VerificationError(f"{submission.name}: the container run wrote no record "
                                f"(exit {proc.returncode}): {' | '.join(tail)}")
    record = json.loads(record_file.read_text())
    record["container"] = {"image": image, "runtime": Path(runtime).name, "network": "none"}
    return record
