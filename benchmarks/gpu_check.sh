#!/usr/bin/env bash
# The issue-19 GPU measurement in one command (under 5 minutes on an H200; prepared, not yet run):
# training throughput at the LLaMA-7B shape -- (a) the plain HF + peft loop at 8 x 512 against
# (b) `selbench train` with the chasing-random-v1 recipe, and (b) with the speed levers
# (token budget of 16k tokens a micro-batch = 32 blocks, Liger kernels, torch.compile per decoder
# layer), and method: full's tokens/s and peak memory -- then LESS per-example gradient features
# at the same shape. Prints the tables; JSON results go to $OUT (or ./gpu-check-out).
#
#   bash benchmarks/gpu_wheels.sh gpu-wheels          # once, on a machine with PyPI access
#   bash benchmarks/gpu_check.sh gpu-wheels           # on the GPU machine, from the repo root
#
# With a wheel folder the wheels go into a fresh --target folder put first on PYTHONPATH (the
# machine's torch, triton and huggingface-hub stay); without one the installed packages are used.
# Effective batch 64 blocks (not the recipe's 128) and 3 timed steps keep it under 5 minutes:
# tokens/s does not depend on the effective batch beyond the optimizer step's share.
set -euo pipefail
WHEELS=${1:-}
OUTDIR=${OUT:-gpu-check-out}
mkdir -p "$OUTDIR"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
PY=${PYTHON:-python}
if [ -n "$WHEELS" ]; then
  TARGET=$(mktemp -d /tmp/selbench-pins-XXXX)
  ver=$($PY -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
  # pure wheels, this CPython's binary wheels (cpXY, or pyXY as multiprocess names them), abi3 ones
  wheels=$(ls "$WHEELS"/*.whl | grep -E -e '-py3-none-any|-py2.py3-none-any' -e "-(cp|py)$ver-" -e '-abi3-')
  $PY -m pip install --quiet --no-index --no-deps --target "$TARGET" $wheels
  export PYTHONPATH="$TARGET:$PWD/suite${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD/suite${PYTHONPATH:+:$PYTHONPATH}"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c 'import torch, transformers, peft; print("torch", torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)'
LEVERS="tokens=16384,liger+compile,tokens=16384+liger+compile"
$PY -c 'import liger_kernel' 2>/dev/null || { echo "liger-kernel not importable: the liger arms are left out"; LEVERS="tokens=16384,compile,tokens=16384+compile"; }
# each arm: 1 untimed + 3 timed steps of 64 x 512 tokens; 5 arms plus the plain loop ~3.5 min
timeout 250 $PY benchmarks/train_throughput.py --device cuda --shape 7b --steps 3 --warmup 1 --effective-batch 64 \
  --variants "$LEVERS" --full --json "$OUTDIR/train_throughput.json" || echo "train_throughput: exit $? (timeout 250 s)"
timeout 90 $PY benchmarks/less_gradients.py --device cuda --shape 7b 2>&1 | tee "$OUTDIR/less_gradients.txt" \
  || echo "less_gradients: exit $? (timeout 90 s)"
# the next LESS lever to try on a 141 GB GPU: batch 16 (an 80 GB H100 ran out of memory there),
# only while the whole check stays under 5 minutes
if [ "$SECONDS" -lt 230 ]; then
  timeout $((290 - SECONDS)) $PY benchmarks/less_gradients.py --device cuda --shape 7b --batch-size 16 2>&1 \
    | tee "$OUTDIR/less_gradients_b16.txt" || echo "less_gradients --batch-size 16: exit $?"
fi
echo "gpu_check: ${SECONDS}s"
