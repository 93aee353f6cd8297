"""Memory tools for tool-calling agents: ``remember``, ``recall``, ``forget``.

    tools = nuonuo_tools(memory)               # or NuonuoRememberTool(memory=memory), …
    model_with_tools = model.bind_tools(tools)

Arguments are typed (pydantic schemas become the JSON schema the model sees) and each tool's
description tells the model when to call it. A nuonuo error (empty text, unknown id, …) comes back
to the model as the tool's answer, ``"error: …"``, so it can correct itself; it never crashes the agent.
``recall`` answers with readable text and gives the hits as the tool message's ``artifact``.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field

from langchain_nuonuo._backend import check_memory


def _nuonuo_errors(call):
    """Run ``call``; turn a nuonuo error into a ``ToolException`` the agent sees as text."""
    from nuonuo.errors import NuonuoError

    try:
        return call()
    except NuonuoError as exc:
        raise ToolException(f"error: {exc.message}") from None


class RememberInput(BaseModel):
    text: str = Field(description="The fact to remember, self-contained: names, not pronouns "
                                  "(e.g. 'Lena, the user's sister, lives in Porto')")
    key: str | None = Field(None, description="Optional exact key for a value that changes over time "
                                              "(e.g. 'user.timezone'); a new value replaces the old one")


class RecallInput(BaseModel):
    query: str = Field(description="What to look for, as a question or keywords")
    k: int = Field(5, ge=1, le=50, description="How many memories to return")


class ForgetInput(BaseModel):
    id: str | None = Field(None, description="Id of the memory to delete (from recall or remember)")
    key: str | None = Field(None, description="Delete every value this key has had")


def _explain_validation_error(exc: Exception) -> str:
    """``error: k: Input should be greater than or equal to 1`` (pydantic's, one line per field)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return f"error: {exc}"
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errors()]
    return "error: " + "; ".join(parts)


class _NuonuoTool(BaseTool):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Any = Field(exclude=True)
    namespace: str = "default"
    handle_tool_error: bool = True
    handle_validation_error: Any = _explain_validation_error

    def model_post_init(self, context: Any) -> None:
        check_memory(self.memory)


class NuonuoRememberTool(_NuonuoTool):
    name: str = "remember"
    description: str = ("Store a durable fact in the user's long-term memory (one fact per call). Use it for "
                        "what is worth knowing in later conversations: preferences, people, decisions. "
                        "Returns the memory's id.")
    args_schema: type[BaseModel] = RememberInput

    def _run(self, text: str, key: str | None = None, run_manager: Any = None) -> str:
        rec = _nuonuo_errors(lambda: self.memory.remember(text, key=key, namespace=self.namespace))
        return f"remembered (id {rec.id})"


class NuonuoRecallTool(_NuonuoTool):
    name: str = "recall"
    description: str = ("Search the user's long-term memory. Call it before answering anything that may "
                        "depend on what the user said before. Returns the best memories with their "
                        "relevance (0 to 1) and ids.")
    args_schema: type[BaseModel] = RecallInput
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"

    def _run(self, query: str, k: int = 5, run_manager: Any = None) -> tuple[str, list[dict[str, Any]]]:
        hits = _nuonuo_errors(lambda: self.memory.recall(query, k=k, namespace=self.namespace))
        if not hits:
            return "no memories found", []
        lines = [f"{i}. {h.text} (relevance {h.score:.2f}, id {h.id})" for i, h in enumerate(hits, 1)]
        return "\n".join(lines), [h.to_dict() for h in hits]


class NuonuoForgetTool(_NuonuoTool):
    name: str = "forget"
    description: str = ("Delete a memory the user wants gone, by its id (from recall), or every value of "
                        "a key. Only when the user asks.")
    args_schema: type[BaseModel] = ForgetInput

    def _run(self, id: str | None = None, key: str | None = None, run_manager: Any = None) -> str:
        if (id is None) == (key is None):
            raise ToolException("error: forget needs exactly one of id or key")
        n = _nuonuo_errors(lambda: self.memory.forget(id) if id is not None
                           else self.memory.forget(key=key, namespace=self.namespace))
        return f"forgot {n} memor{'y' if n == 1 else 'ies'}"


def nuonuo_tools(memory: Any, namespace: str = "default") -> list[BaseTool]:
    """The three memory tools sharing one memory and namespace."""
    return [cls(memory=memory, namespace=namespace)
            for cls in (NuonuoRememberTool, NuonuoRecallTool, NuonuoForgetTool)]
