"""Whether a memory is a turn of a conversation, whose it is, and which conversation it belongs to:
read from its metadata, or from a ``Name: …`` prefix of its text (a transcript line).

- **conversation**: the first of ``SESSION_KEYS`` in the metadata holding a string or a whole number;
- **speaker**: the first of ``SPEAKER_KEYS`` in the metadata holding a non-empty string, else the
  prefix of a transcript line: one to three capitalised words, or a role word (``user``,
  ``assistant``, …), then ``": "`` and the words said (``"Caroline: I went to the support group"``,
  ``"assistant: Sure, here is…"``), after an optional stamp in brackets (``"[10:02] Ana: …"``).
  Labels that open notes (``"Note: …"``, ``"Password: …"``, ``"TODO: …"``) are not speakers;
- a memory is a **turn** when it names a conversation or a speaker.

``lexical_text`` is what the lexical (n-gram) channel indexes: the text, led by the speaker's name
when the metadata names a person the text does not (``{"speaker": "Caroline"}`` on "I went to the
support group" is indexed as "Caroline: I went to the support group"), so "what did Caroline…"
matches her turns whether the name came in the text or in the metadata. Role words (user,
assistant) are not names and add nothing.

``party_of`` and ``question_party`` say whose words a turn is and whose words a question asks for,
for a conversation between a person and an assistant (the chat loop's turns carry ``role`` user /
assistant): a question in the first person that does not address "you" (``"what was my personal best
in the 5K?"``) asks for the asker's own words, the user's turns; one that asks what "you told /
recommended / said" asks for the assistant's. Anything else (a question about a named person, a
request to "you", no person at all) names no party.

``question_speaker`` does the same for a conversation between named people (``speaker`` metadata
or ``Caroline: …`` lines): a question that names exactly one of them ("what did Caroline
research?") asks for that person's turns.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from nuonuo.records import MemoryRecord

SESSION_KEYS = ("session", "session_id", "conversation", "conversation_id", "thread", "thread_id")
SPEAKER_KEYS = ("role", "speaker", "author", "sender")
ROLE_WORDS = frozenset({"user", "assistant", "system", "human", "ai", "bot", "agent", "me", "you"})
PARTY_OF_ROLE = {"user": "user", "human": "user", "me": "user",
                 "assistant": "assistant", "ai": "assistant", "bot": "assistant", "agent": "assistant"}
# "you told me", "you have recommended", "did you say", "your suggestion": what the assistant said
_YOU_SAID = re.compile(r"\byou(?:'ve| have| had)?\s+(?:\w+ly\s+)?(?:told|mentioned|said|suggested|recommended|gave|"
                       r"provided|listed|shared|described|explained|advised|proposed|wrote|showed|offered|named|"
                       r"made|came up with)\b|\b(?:did|do) you\s+(?:\w+ly\s+)?(?:tell|mention|say|suggest|recommend|"
                       r"give|provide|list|share|describe|explain|advise|propose|write|show|offer|name|make|"
                       r"come up with)\b|\byour (?:suggestion|recommendation|advice|answer|response|list|reply|"
                       r"explanation)s?\b", re.IGNORECASE)
_YOU = re.compile(r"\byou(?:r|rs|rself)?\b", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"\b(?:i|my|me|mine|myself|i'm|i've|i'd|i'll)\b", re.IGNORECASE)
# words that open a labelled note rather than a line said by someone
LABELS = frozenset("""
note notes todo to-do reminder fact tip warning important update summary fyi ps p.s re subject title
question answer password passcode pin address phone email url link key code date time location place
name tags tag status task goal idea example error info source price cost total result step
today tomorrow yesterday tonight monday tuesday wednesday thursday friday saturday sunday
january february march april may june july august september october november december
""".split())
# an optional stamp first ("[10:02] Ana: …", "(D1:3) Ana: …"), then the name, ": " and the words said
_PREFIX = re.compile(r"\s*(?:[\[(][^\])\n]{1,40}[\])]\s*)?([A-Za-z][\w'.-]{0,30}(?: [A-Z][\w'.-]{0,30}){0,2}):\s+\S")


def session_of(rec: "MemoryRecord") -> str | None:
    """The conversation a memory names; None when it names none."""
    if not rec.metadata:
        return None
    for key in SESSION_KEYS:
        sess = rec.metadata.get(key)
        if isinstance(sess, (str, int)) and not isinstance(sess, bool):
            return str(sess)
    return None


def metadata_speaker(rec: "MemoryRecord") -> str | None:
    """The first of ``SPEAKER_KEYS`` in the metadata holding a non-empty string; None if none does."""
    if not rec.metadata:
        return None
    for key in SPEAKER_KEYS:
        who = rec.metadata.get(key)
        if isinstance(who, str) and who.strip():
            return who.strip()
    return None


def text_speaker(text: str) -> str | None:
    """The speaker of a transcript line (``"Ana: see you at nine"`` → ``"Ana"``); None for other text."""
    if ":" not in text:  # most texts: no need to run the pattern
        return None
    m = _PREFIX.match(text)
    if m is None:
        return None
    name = m.group(1)
    first = name.split(" ", 1)[0]
    if first.lower() in LABELS:
        return None
    if name[0].islower() and name.lower() not in ROLE_WORDS:
        return None  # "so: …", "note to self: …" are not speakers; "user: …" is
    return name


def turn_of(rec: "MemoryRecord") -> tuple[bool, str | None]:
    """(whether a memory is a turn of a conversation: it names a conversation or a speaker; the
    speaker only its text's ``Name: …`` prefix names, None where the metadata names one). One
    look at the text for both."""
    if metadata_speaker(rec) is not None:
        return True, None
    line = text_speaker(rec.text)
    return line is not None or session_of(rec) is not None, line


def lexical_text(rec: "MemoryRecord") -> str:
    """The text the n-gram channel indexes: led by the metadata's speaker when that is a person's
    name the text does not already contain."""
    who = metadata_speaker(rec)
    if who is None or who.lower() in ROLE_WORDS or re.search(rf"\b{re.escape(who)}\b", rec.text, re.IGNORECASE):
        return rec.text
    return f"{who}: {rec.text}"


def party_of(speaker: str | None) -> str | None:
    """"user" or "assistant" for a speaker that is a role word (``turn_of`` and ``metadata_speaker``
    say who spoke: metadata ``role``/``speaker``/…, or a ``user: …`` line); None for a named person
    or no speaker."""
    return PARTY_OF_ROLE.get(speaker.lower()) if speaker else None


def person_of(speaker: str | None) -> str | None:
    """The speaker when it is a person's name (not a role word such as "user" or "assistant")."""
    return speaker if speaker and speaker.lower() not in ROLE_WORDS else None


def question_speaker(query: str, names: Iterable[str]) -> str | None:
    """The one speaker of ``names`` a question is about ("when did Caroline go to the support
    group?", "what is Caroline's job?" → "Caroline"): the only name, whole or its first word, that
    the question contains as a word; None when it names none of them, or more than one."""
    low = query.lower()
    found = {name for name in names if name.split(" ", 1)[0].lower() in low  # a substring first: cheap for many names
             and (re.search(rf"\b{re.escape(name)}\b", query, re.IGNORECASE)
                  or (" " in name and re.search(rf"\b{re.escape(name.split(' ', 1)[0])}\b", query, re.IGNORECASE)))}
    return found.pop() if len(found) == 1 else None


def question_party(query: str) -> str | None:
    """Whose words a question asks for: "assistant" when it asks what "you told / said / recommended";
    else "user" when it is in the first person and does not address "you" at all ("when did I …",
    "what is my …"); None otherwise ("can you suggest …" is a request, not a question about either)."""
    if _YOU_SAID.search(query):
        return "assistant"
    if _YOU.search(query) is None and _FIRST_PERSON.search(query):
        return "user"
    return None
