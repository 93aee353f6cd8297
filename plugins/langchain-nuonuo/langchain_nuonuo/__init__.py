"""LangChain integration for nuonuo: a retriever, a chat message history, memory tools, and a
LangGraph store (``NuonuoStore``, with the ``langgraph`` extra).

Every class takes ``memory``: anything with ``nuonuo.Memory``'s methods (an embedded ``Memory``,
the daemon's client, or a ``SharedMemory``); ``open_memory()`` picks one from nuonuo's config.
"""

from typing import Any

from langchain_nuonuo._backend import open_memory
from langchain_nuonuo.chat_history import NuonuoChatMessageHistory
from langchain_nuonuo.retrievers import NuonuoRetriever
from langchain_nuonuo.tools import NuonuoForgetTool, NuonuoRecallTool, NuonuoRememberTool, nuonuo_tools

__all__ = [
    "NuonuoChatMessageHistory",
    "NuonuoForgetTool",
    "NuonuoRecallTool",
    "NuonuoRememberTool",
    "NuonuoRetriever",
    "NuonuoSearchItem",
    "NuonuoStore",
    "nuonuo_tools",
    "open_memory",
]


def __getattr__(name: str) -> Any:
    """``NuonuoStore`` needs langgraph (``pip install 'langchain-nuonuo[langgraph]'``): imported on first use."""
    if name in ("NuonuoStore", "NuonuoSearchItem"):
        try:
            from langchain_nuonuo import store
        except ImportError as exc:
            raise ImportError(f"{name} needs langgraph: pip install 'langchain-nuonuo[langgraph]' ({exc})") from None
        return getattr(store, name)
    raise AttributeError(f"module 'langchain_nuonuo' has no attribute {name!r}")
