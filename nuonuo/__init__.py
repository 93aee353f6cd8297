"""nuonuo: a local memory for LLM agents.

    from nuonuo import Memory
    with Memory.open() as mem:
        mem.remember("My sister Lena lives in Porto")
        mem.recall("where does my sister live?")
"""

from nuonuo.errors import (ConfigError, InvalidInput, ModelMissing, NotFound, NuonuoError, StoreError,
                           StoreLocked)
from nuonuo.memory import Memory
from nuonuo.records import Hit, MemoryRecord

__version__ = "0.1.0"

__all__ = ["Memory", "Hit", "MemoryRecord", "NuonuoError", "InvalidInput", "NotFound", "ConfigError",
           "ModelMissing", "StoreError", "StoreLocked", "__version__"]
