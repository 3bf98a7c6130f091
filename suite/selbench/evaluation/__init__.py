"""The evaluation stage: IFEval, AlpacaEval, LLMBar, OpenLLM and query loss through a vLLM server.

Everything heavy (vllm, lm-eval, alpaca-eval, torch) is imported lazily inside the functions
that need it; importing this package is cheap.
"""

from selbench.evaluation.errors import (
    AdapterError,
    AdapterRankError,
    DataMissingError,
    EvalError,
    PortInUseError,
    ServerDiedError,
    ServerError,
    ServerStartTimeout,
    UnknownBenchmarkError,
)

__all__ = [
    "AdapterError", "AdapterRankError", "DataMissingError", "EvalError", "PortInUseError",
    "ServerDiedError", "ServerError", "ServerStartTimeout", "UnknownBenchmarkError",
]
