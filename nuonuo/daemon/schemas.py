"""The daemon's request and error bodies (pydantic): the OpenAPI document states the same input rules
``nuonuo.validate`` applies (text, namespace and key patterns, k and importance ranges, times)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import JsonDict

from nuonuo.errors import InvalidInput
from nuonuo.records import to_epoch, to_iso
from nuonuo.validate import (DEFAULT_MAX_TEXT_CHARS, KEY_PATTERN, MAX_K, NAMESPACE_PATTERN, TEXT_PATTERN,
                             check_namespace)

# datetime can represent years 1..9999; an epoch outside that could be stored but never printed
MIN_EPOCH, MAX_EPOCH = -62_135_596_800.0, 253_402_300_799.0


def check_time(value: Any, what: str) -> float | None:
    """A timestamp from a request → epoch seconds, or a 422 that says why."""
    try:
        epoch = to_epoch(value, what)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidInput(f"{what} {value!r} is not a usable date: {exc}") from None
    if epoch is not None and not MIN_EPOCH <= epoch <= MAX_EPOCH:
        raise InvalidInput(f"{what} {value!r} is outside the years 1-9999")
    if epoch is not None:
        to_iso(epoch)
    return epoch


def check_unicode(value: Any, where: str = "body") -> None:
    """JSON may carry lone surrogates (``"\\ud800"``), which no UTF-8 store can keep: refuse them."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where} contains text that is not valid Unicode (a lone surrogate)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            check_unicode(k, where)
            check_unicode(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_unicode(v, f"{where}[{i}]")


# --- request and response bodies --------------------------------------------------------------------
class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _unicode(cls, data: Any) -> Any:
        check_unicode(data)
        return data


# The input rules of nuonuo.validate, stated in the OpenAPI document (``json_schema_extra``) and
# enforced by the same functions as in ``Memory`` (so every shell gives the same message): the
# document allows nothing that the API then refuses (tests/test_daemon_api.py fuzzes that).
TEXT_RULE: JsonDict = {"pattern": TEXT_PATTERN, "maxLength": DEFAULT_MAX_TEXT_CHARS,  # set to [store] max_text_chars
             "description": "at least one character that is not white space, no NUL, at most "
                            "[store] max_text_chars characters; stored without the white space around it"}
NAMESPACE_RULE: JsonDict = {"pattern": NAMESPACE_PATTERN,
                  "description": "1-128 ASCII letters, digits or _ . : @ / -, starting with a letter or digit"}
KEY_RULE: JsonDict = {"pattern": KEY_PATTERN, "description": "an exact key: at least one letter or digit (any script); "
                                                   "compared in canonical form (case, width, punctuation folded)"}
TIME_RULE: JsonDict = {"format": "date-time", "minimum": MIN_EPOCH, "maximum": MAX_EPOCH}
UNIT_RULE: JsonDict = {"minimum": 0, "maximum": 1}
Timestamp = str | float | None
Text = Annotated[str, Field(json_schema_extra=TEXT_RULE)]


class RememberBody(Body):
    text: str = Field(json_schema_extra=TEXT_RULE)
    key: str | None = Field(default=None, json_schema_extra=KEY_RULE)
    namespace: str = Field(default="default", json_schema_extra=NAMESPACE_RULE)
    metadata: dict[str, Any] | None = None
    timestamp: Timestamp = Field(default=None, description="ISO-8601 or epoch seconds; default now",
                                 json_schema_extra=TIME_RULE)
    importance: float = Field(default=0.5, description="0..1", json_schema_extra=UNIT_RULE)


class RememberItem(Body):
    text: str = Field(json_schema_extra=TEXT_RULE)
    key: str | None = Field(default=None, json_schema_extra=KEY_RULE)
    namespace: str | None = Field(default=None, json_schema_extra=NAMESPACE_RULE)
    metadata: dict[str, Any] | None = None
    timestamp: Timestamp = Field(default=None, json_schema_extra=TIME_RULE)
    importance: float = Field(default=0.5, description="0..1", json_schema_extra=UNIT_RULE)
    id: str | None = Field(default=None, description="keep this id (as written by export)")


class RememberManyBody(Body):
    items: list[Text | RememberItem]
    namespace: str = Field(default="default", json_schema_extra=NAMESPACE_RULE)


class RecallBody(Body):
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["query"], "properties": {"query": {"type": "string"}}},
        {"required": ["key"], "properties": {"key": {"type": "string"}}}]})

    query: str | None = Field(default=None, json_schema_extra=TEXT_RULE,
                              description="what to recall (a question, keywords); or give key")
    k: int | None = Field(default=None, description="1..1000; default from config",
                          json_schema_extra={"minimum": 1, "maximum": MAX_K})
    namespace: str = Field(default="default", json_schema_extra=NAMESPACE_RULE)
    at: Timestamp = Field(default=None, description="time of asking: later memories are ignored",
                          json_schema_extra=TIME_RULE)
    key: str | None = Field(default=None, description="look up this exact key instead of a query")


class UpdateBody(Body):
    text: str | None = Field(default=None, json_schema_extra=TEXT_RULE)
    metadata: dict[str, Any] | None = None
    importance: float | None = Field(default=None, description="0..1", json_schema_extra=UNIT_RULE)


class ForgetBody(Body):
    id: str | None = None
    key: str | None = None
    namespace: str | None = Field(default=None, json_schema_extra=NAMESPACE_RULE)


class KeyBody(Body):
    key: str
    namespace: str = Field(default="default", json_schema_extra=NAMESPACE_RULE)


class AssociateBody(Body):
    cue_id: str = Field(description="id of the cue memory")
    target_id: str = Field(description="id of the target memory (recalling the cue can reach it)")
    weight: float = Field(default=1.0, description="link strength; linking again adds to it")
    kind: str = Field(default="link", description="a short word naming the link")


class ConsolidateBody(Body):
    epochs: int | None = Field(default=None, description="replay epochs (default: [sleep] replay_epochs)")
    noise: float | None = Field(default=None, description="replay cue noise σ (default: [sleep] replay_noise)")
    paraphrase: str | None = Field(default=None, description="rules | model | off (default: [sleep] paraphrase)")


class SessionRow(Body):
    id: str = Field(min_length=1, max_length=200, description="the session's id")
    title: str = ""
    namespace: str = Field(default="default", description="namespace of the chat's memories")
    created_at: float = 0.0
    n_turns: int = Field(default=0, ge=0)
    window_start: int = Field(default=0, ge=0, description="index of the first turn still in the window")
    evicted_total: int = Field(default=0, ge=0)
    state: dict[str, Any] = Field(default_factory=dict, description="the chat loop's small state (JSON)")


class TurnBody(Body):
    role: Literal["user", "assistant"]
    text: str
    index: int = Field(ge=0, description="position in the session, from 0")


class SaveSessionBody(Body):
    session: SessionRow
    new_turns: list[TurnBody] = Field(default_factory=list, description="turns to append")


class ErrorBody(BaseModel):
    error: str = Field(description="the error's kind: invalid_input, not_found, unauthorized, …")
    detail: str = Field(description="what went wrong, for a person")


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 404, 409, 413, 422, 500, 503, 507)}
