# GPU image for the paper-scale grids (LLaMA-7B, vLLM on CUDA).
#   docker build -t selbench .
#   docker run --gpus all --network none -v $HOME/.cache/huggingface:/cache/hf selbench run --spec chasing-random-v1
# The tiny scale needs none of this: `make run` on a laptop CPU.
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/cache/hf \
    SELBENCH_CACHE=/cache/selbench \
    VLLM_NO_USAGE_STATS=1 \
    DO_NOT_TRACK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev git \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /opt/selbench
COPY pyproject.toml README.md ./
COPY suite suite
COPY selectors selectors
RUN pip install --upgrade pip && pip install ".[gpu,select,cluster]"

WORKDIR /work
ENTRYPOINT ["selbench"]
CMD ["run"]
