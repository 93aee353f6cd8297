"""LangChain integration for nuonuo: a retriever, a chat message history and memory tools.

Every class takes ``memory``: anything with ``nuonuo.Memory``'s methods (an embedded ``Memory``,
the daemon's client, or a ``SharedMemory``); ``open_memory()`` picks one from nuonuo's config.
"""

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
    "nuonuo_tools",
    "open_memory",
]
