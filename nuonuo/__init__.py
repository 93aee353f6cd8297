"""nuonuo: a local memory for LLM agents.

    from nuonuo import Memory
    with Memory.open() as mem:
        mem.remember("My sister Lena lives in Porto")
        mem.recall("where does my sister live?")
"""

from typing import TYPE_CHECKING

from nuonuo.errors import (ConfigError, InvalidInput, ModelMissing, NotFound, NuonuoError, StoreError,
                           StoreLocked)
from nuonuo.records import Hit, MemoryRecord

if TYPE_CHECKING:
    from nuonuo.memory import Memory

__version__ = "0.1.0"


def __getattr__(name: str):
    """``Memory`` is imported on first use: ``import nuonuo.cli`` (and a daemon client) stays light,
    without numpy, pyarrow or the store."""
    if name == "Memory":
        from nuonuo.memory import Memory

        return Memory
    raise AttributeError(f"module 'nuonuo' has no attribute {name!r}")

__all__ = ["Memory", "Hit", "MemoryRecord", "NuonuoError", "InvalidInput", "NotFound", "ConfigError",
           "ModelMissing", "StoreError", "StoreLocked", "__version__"]
