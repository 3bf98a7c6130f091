"""The selector worker's environment: an allow-list offline, the user's environment online.

A worker without the network has no use for credentials, and whatever a selector returns in
``info`` is published, so offline it gets only the variables on a fixed allow-list (locale,
paths, thread counts, the offline switches of the hub libraries, selbench's own cache, and
``SELBENCH_PLUGIN_*``: settings a user hands to their plugin on purpose) and
never one whose name looks like a secret, whatever its prefix. A worker with the network
(``--selector-network``, a spec whose judge is an API) needs its keys: it gets the user's
environment. Either way the variables that name evaluation data or hold the tiny world's key
(``SELBENCH_TINYWORLD_KEY``: with it a plugin could regenerate the answer key) are removed, and the worker's
caches (vLLM, XDG, matplotlib) point into its private temporary folder, the only place besides
its scratch folder where it may write.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_ALLOWED = re.compile(
    r"^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LANGUAGE|TZ|TERM|LC_[A-Z]+|PYTHONPATH|PYTHONHASHSEED|PYTHONIOENCODING|"
    r"PYTHONUTF8|PYTHONDONTWRITEBYTECODE|VIRTUAL_ENV|LD_LIBRARY_PATH|"
    r"OMP_NUM_THREADS|MKL_NUM_THREADS|OPENBLAS_NUM_THREADS|NUMEXPR_NUM_THREADS|TORCH_NUM_THREADS|"
    r"CUDA_VISIBLE_DEVICES|NVIDIA_VISIBLE_DEVICES|CUDA_HOME|"
    r"HF_HOME|HF_HUB_CACHE|HF_DATASETS_CACHE|HF_HUB_OFFLINE|HF_DATASETS_OFFLINE|TRANSFORMERS_OFFLINE|"
    r"HF_HUB_DISABLE_TELEMETRY|TOKENIZERS_PARALLELISM|DO_NOT_TRACK|"
    r"VLLM_HOST_IP|VLLM_CPU_KVCACHE_SPACE|VLLM_CPU_OMP_THREADS_BIND|VLLM_NO_USAGE_STATS|VLLM_TARGET_DEVICE|"
    r"VLLM_LOGGING_LEVEL|VLLM_WORKER_MULTIPROC_METHOD|VLLM_ENABLE_V1_MULTIPROCESSING|"
    r"SELBENCH_CACHE|SELBENCH_HUB_MIRROR|SELBENCH_SANDBOX|SELBENCH_PLUGIN_[A-Z0-9_]+)$")
# names that look like secrets are refused even when a prefix above would allow them
_SECRET = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|SESSION|COOKIE|_URL$|_URI$|DSN)", re.I)
_NAMES_EVAL_DATA = ("SELBENCH_EVAL_DATA", "SELBENCH_DENY_READ", "SELBENCH_DATA_DIR", "SELBENCH_TINYWORLD_KEY")


def worker_env(network: bool = False, private_tmp: str | None = None) -> dict[str, str]:
    """The environment a worker starts with (see the module doc)."""
    if network:
        env = {k: v for k, v in os.environ.items() if k not in _NAMES_EVAL_DATA}
    else:
        env = {k: v for k, v in os.environ.items()
               if _ALLOWED.match(k) and not _SECRET.search(k) and k not in _NAMES_EVAL_DATA}
    env |= {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    if private_tmp is not None:
        # caches that default to ~/.cache or ~/.config go to the private folder; the hub cache
        # stays where it is (read-only to the worker) by naming it before XDG_CACHE_HOME moves
        home = Path(os.environ.get("HOME") or Path.home())
        xdg_cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
        env.setdefault("HF_HOME", os.environ.get("HF_HOME") or str(xdg_cache / "huggingface"))
        env |= {"TMPDIR": private_tmp, "XDG_CACHE_HOME": f"{private_tmp}/cache",
                "XDG_CONFIG_HOME": f"{private_tmp}/config", "VLLM_CACHE_ROOT": f"{private_tmp}/cache/vllm",
                "VLLM_CONFIG_ROOT": f"{private_tmp}/config/vllm", "MPLCONFIGDIR": f"{private_tmp}/config/matplotlib",
                "TRITON_CACHE_DIR": f"{private_tmp}/cache/triton"}
    return env
