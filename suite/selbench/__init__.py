"""selbench: an open benchmark suite for instruction data selection.

The engine is split by stage (pools -> selection -> training -> evaluation -> results); each
stage writes one artifact directory keyed by the hash of its inputs (see README, Architecture).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("selbench")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+src"

__all__ = ["__version__"]
