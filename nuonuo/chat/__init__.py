"""The chat loop: a local llama.cpp model whose context window is working memory and whose evicted
turns are consolidated into long-term memory (see ``nuonuo.chat.loop``)."""

from nuonuo.chat.events import ChatError, ChatEvent, Done, Evicted, Grounded, Recalled, Token, Turn, Usage
from nuonuo.chat.llm import ChatModel, load_chat_model
from nuonuo.chat.loop import ChatLoop
from nuonuo.chat.sessions import list_sessions

__all__ = ["ChatLoop", "ChatModel", "load_chat_model", "list_sessions", "ChatEvent", "ChatError", "Done",
           "Evicted", "Grounded", "Recalled", "Token", "Turn", "Usage"]
