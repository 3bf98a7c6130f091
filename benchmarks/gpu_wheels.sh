#!/usr/bin/env bash
# Downloads, on a machine with PyPI access, the wheels benchmarks/gpu_check.sh installs on a GPU
# machine that has torch (CUDA) but not the suite's other pins and no internet (as the lent H200
# had, ../shared/notes/gpu-anchors.md): CI's pins of transformers, peft, tokenizers, datasets,
# accelerate, pydantic and their small dependencies, plus liger-kernel. No torch, no triton, no
# huggingface-hub: the GPU machine's own are kept (hub 2.x would need httpx2/httpcore2/truststore;
# transformers 5.19 accepts hub >= 1.31). Binary wheels for CPython 3.10-3.13, manylinux x86_64.
#
#   bash benchmarks/gpu_wheels.sh [DIR]      # default DIR: gpu-wheels (git-ignored; carry it to the GPU machine)
set -euo pipefail
DIR=${1:-gpu-wheels}
mkdir -p "$DIR"
PURE=(transformers==5.19.0 peft==0.21.2 datasets==5.2.0 accelerate==1.15.0 pydantic==2.14.4
      annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0 dill==0.4.1 liger-kernel==0.8.5)
${PYTHON:-python3} -m pip download --no-deps -d "$DIR" "${PURE[@]}"
for py in 310 311 312 313; do
  ${PYTHON:-python3} -m pip download --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
    --python-version "$py" -d "$DIR" tokenizers==0.23.3 pydantic-core==2.50.5 multiprocess==0.70.19 xxhash==4.1.0 \
    || echo "warning: no complete wheel set for CPython $py"
done
ls -la "$DIR"
