"""The `cpu` image: its Python packages are the CI pins, and what builds and checks it.

The image itself is built and run by scripts/container_smoke.sh (podman; `make container-smoke`),
which saves the image's `pip list --format=freeze` and runs the freeze test below on it
(SELBENCH_IMAGE_FREEZE); without that file the test skips. The static checks run everywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
SMOKE = REPO / "scripts" / "container_smoke.sh"
CI_TXT = REPO / "requirements" / "ci.txt"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _ci_pins() -> dict[str, str]:
    """name -> version of every `name==version` line of requirements/ci.txt."""
    pins = {}
    for line in CI_TXT.read_text().splitlines():
        m = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", line.strip())
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def _shims() -> dict[str, str]:
    """The metadata-only shim packages ci.txt installs from requirements/shims/* (name -> version)."""
    shims = {}
    for line in CI_TXT.read_text().splitlines():
        if line.startswith("./requirements/shims/"):
            text = (REPO / line.strip() / "pyproject.toml").read_text()
            name = re.search(r'^name\s*=\s*"([^"]+)"', text, re.M).group(1)
            version = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M).group(1)
            shims[_norm(name)] = version
    return shims


def _freeze(path: Path) -> dict[str, str]:
    """`pip list --format=freeze` output -> name -> version (direct-reference lines: name -> '@')."""
    got = {}
    for line in path.read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            got[_norm(name)] = version.strip()
        elif " @ " in line:
            got[_norm(line.split(" @ ", 1)[0])] = "@"
    return got


def test_the_cpu_target_installs_ci_txt_unfiltered_and_nothing_else() -> None:
    """Static: the cpu stage's pip lines are `-r requirements/ci.txt`, pip itself and the suite."""
    text = DOCKERFILE.read_text()
    cpu = text.split("AS cpu-deps\n", 1)[1].split("\nFROM ", 1)[0] + text.split("AS cpu\n", 1)[1].split("\nFROM ", 1)[0]
    installs = re.findall(r"pip install --no-cache-dir ([^\n\\&]+)", cpu)
    assert sorted(i.strip() for i in installs) == sorted(['"pip==26.3"', "-r requirements/ci.txt", "."]), installs
    assert "COPY requirements requirements" in cpu  # the shims travel with ci.txt
    # torch's CPU wheel: a build argument, the PyTorch CPU index by default
    assert re.search(r"^ARG PIP_EXTRA_INDEX_URL=https://download\.pytorch\.org/whl/cpu$", cpu, re.M)
    # requirements before the source, so a source change reuses the installed stack
    assert cpu.index("-r requirements/ci.txt") < cpu.index("COPY suite suite")


def test_the_images_write_only_under_their_volumes() -> None:
    """HOME and the XDG folders (vLLM, torch, Ray, pip caches) point under /cache, so the image runs
    with a read-only root filesystem; the smoke script checks it in the running image."""
    text = DOCKERFILE.read_text()
    for target in ("cpu-deps", "gpu-deps"):
        stage = text.split(f"AS {target}\n", 1)[1].split("\nFROM ", 1)[0]
        for var in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "HF_HOME", "SELBENCH_CACHE"):
            assert re.search(rf"\b{var}=/cache/", stage), (target, var)


def test_the_smoke_script_parses_and_checks_what_the_readme_promises() -> None:
    proc = subprocess.run(["bash", "-n", str(SMOKE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = SMOKE.read_text()
    for needed in ("--network none", "--read-only", "PhonesHome", "ShellsOutToEval", "podman kill",
                   "--isolation chroot", "--runtime runc", "SELBENCH_IMAGE_FREEZE", "pip-freeze-gpu.txt"):
        assert needed in text, needed
    # every mode that runs checks (CI's --ci too) runs the whole tiny spec, checks its page and
    # verifies a submission made from it in the image: no check is left to the full mode alone
    assert '"$MODE" = full' not in text and "submissions verify" in text
    assert "STAGES=select,train,evaluate\n" in text and 'STAGES=select\n' not in text
    assert re.search(r'^\[ -s "\$WORK/runs/tiny/site/index.html" \] \|\| fail', text, re.M)
    assert re.search(r"^bash scripts/container_smoke\.sh --ci$", (REPO / ".ci" / "run").read_text(), re.M)
    if shutil.which("shellcheck"):
        sc = subprocess.run(["shellcheck", "-S", "warning", str(SMOKE)], capture_output=True, text=True)
        assert sc.returncode == 0, sc.stdout


def test_freeze_of_the_image_is_the_ci_pins() -> None:
    """Every ci.txt pin and shim is in the image at exactly its version (torch's +cpu local label
    aside), and every other package the image holds has the version CI's environment has."""
    path = os.environ.get("SELBENCH_IMAGE_FREEZE")
    if not path:
        pytest.skip("needs the image's pip freeze: run scripts/container_smoke.sh (sets SELBENCH_IMAGE_FREEZE)")
    image = _freeze(Path(path))
    assert "selbench" in image, "the suite is not installed in the image"
    expected = _ci_pins() | _shims()
    wrong = {name: (version, image.get(name)) for name, version in expected.items()
             if version not in (image.get(name), image.get(name, "").split("+")[0])}
    assert not wrong, f"image packages differ from requirements/ci.txt (pin, image): {wrong}"
    drift = {}
    for name, version in image.items():
        if name in expected or version == "@" or name == "selbench":
            continue
        try:
            here = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # pip/setuptools/wheel of a fresh venv may differ in presence, not in the stack
        if here != version and name not in ("pip", "setuptools", "wheel"):
            drift[name] = (here, version)
    assert not drift, f"transitive packages differ from CI's environment (CI, image): {drift}"


def test_verify_in_container_runs_the_image_without_network_and_reads_its_record(tmp_path: Path, monkeypatch) -> None:
    """The plumbing of `submissions verify --container`, with a stand-in runtime that records its
    arguments and writes the record where the image's verify would (the real image is exercised by
    scripts/container_smoke.sh)."""
    import json
    import os
    import sys

    from selbench.submissions.container import RECORD_NAME, verify_in_container
    from selbench.submissions.errors import VerificationError

    fake = tmp_path / "fake-runtime"
    fake.write_text(f"#!{sys.executable}\n" + """import json, sys
args = sys.argv[1:]
open(sys.argv[0] + ".args", "w").write(json.dumps(args))
import os
open(sys.argv[0] + ".key", "w").write(os.environ.get("SELBENCH_TINYWORLD_KEY", ""))
out = next(a.split(":")[0] for a in args if a.endswith(":/out"))
if "--fail" not in args:
    json.dump({"status": "verified", "checks": [{"ok": True}]}, open(out + "/""" + RECORD_NAME + """", "w"))
""")
    fake.chmod(0o755)
    monkeypatch.setenv("SELBENCH_CONTAINER_RUNTIME", str(fake))
    monkeypatch.setenv("SELBENCH_CACHE", str(tmp_path / "cache"))
    sub = tmp_path / "my-sub"
    sub.mkdir()
    rec = verify_in_container(sub, out=tmp_path / "out", image="img:cpu", max_selections=2)
    assert rec["status"] == "verified" and rec["container"]["network"] == "none"
    args = json.loads((tmp_path / "fake-runtime.args").read_text())
    assert args[:2] == ["run", "--rm"]
    assert args[args.index("--network") + 1] == "none" and "--read-only" in args
    mounted = next(a for a in args if a.endswith(":/submission:ro")).split(":")[0]
    assert Path(mounted).name == sub.name  # a readable copy of it, gone afterwards
    assert not Path(mounted).exists()
    assert not any("eval" in a for a in args)  # no evaluation data mounted
    tail = args[args.index("img:cpu"):]
    assert tail[1:5] == ["submissions", "verify", "/submission", "--no-container"]
    assert tail[tail.index("--max-selections") + 1] == "2"
    # this install's tiny world goes along by name, its value never on the command line
    head = args[:args.index("img:cpu")]
    assert head[head.index("SELBENCH_TINYWORLD_KEY") - 1] == "-e"
    assert (tmp_path / "fake-runtime.key").read_text() == os.environ["SELBENCH_TINYWORLD_KEY"]
    assert not any(os.environ["SELBENCH_TINYWORLD_KEY"] in a for a in args)
    monkeypatch.setenv("SELBENCH_CONTAINER_ARGS", "--fail")
    with pytest.raises(VerificationError, match="wrote no record"):
        verify_in_container(sub, out=tmp_path / "out", image="img:cpu")


def test_verify_container_without_a_runtime_is_one_error_line(tmp_path: Path) -> None:
    import sys

    sub = tmp_path / "sub"
    sub.mkdir()
    sys.path.insert(0, str(REPO / "tests"))
    from sb_testing import assert_user_error, run_cli

    proc = run_cli("submissions", "verify", str(sub), "--container", "--no-record", "--out", str(tmp_path / "o"),
                   env={"SELBENCH_CONTAINER_RUNTIME": str(tmp_path / "no-such-runtime")}, timeout=120)
    assert_user_error(proc, "podman or docker")


def test_what_the_package_links_to_is_copied_into_the_images() -> None:
    """suite/selbench holds links into the repository (plugins -> selectors/, leaderboard/web ->
    leaderboard/): `pip install .` in the image packages what they point at only if it was copied
    (the run page's templates were missing from the first image built)."""
    text = DOCKERFILE.read_text()
    links = [p for p in (REPO / "suite" / "selbench").rglob("*") if p.is_symlink()]
    assert links
    for link in links:
        target = link.resolve().relative_to(REPO).as_posix()
        for target_stage in ("cpu", "gpu"):
            stage = text.split(f"AS {target_stage}\n", 1)[1].split("\nFROM ", 1)[0]
            copied = re.findall(r"^COPY (\S+) \S+$", stage, re.M)
            assert any(target == c or target.startswith(c + "/") or c.startswith(target + "/") for c in copied), \
                (link, target, target_stage)
