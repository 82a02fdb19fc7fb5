"""The extractive answer: which retrieved memory answers a question, read as a conversation.

A question is answered in the turn *after* the one that asks it: a chat export's reply follows
the user's message, and in a dialogue between two people ("Any fun plans for the summer?" —
"Researching adoption agencies") the answer is the other speaker's next turn. So each memory
is scored as an *exchange*: the turn that may answer, with the question it answers (the turn
before it, by someone else, when that turn asks something or is the user's message to an
assistant); a retrieved turn that asks brings its reply in; a turn that only asks is no answer.

An exchange is scored by how close it reads to the question (the embedding of the exchange),
the share of the question's content words it holds, its retrieval rank, and two rules that
explain dialogue data: a question about a person (the first speaker it names: "What pet does
Caroline have?") is answered by that person's words, and a question of a kind (when, how
many/long/often, who) is answered by a turn that names a time, a number or a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Iterable, Sequence

import numpy as np

from workbench.chat.grounding import Encoder, Evidence, content_words, normalise
from workbench.records import Message
from workbench.search.retrieve import Hit
from workbench.text.events import event_dates
from workbench.text.timeparse import find_time_ranges

# A memory must be at least this close to the question to be quoted as its answer.
EXTRACTIVE_FLOOR = 0.3
OVERLAP_WEIGHT = 0.5  # the question's content words found in the exchange
RANK_WEIGHT = 0.1  # retrieval's own order, as a prior: 0.1 / (1 + rank)
SPEAKER_WEIGHT = 0.3  # the answer is said by the person the question is about
KIND_WEIGHT = 0.2  # the answer names what the question's kind asks for (a time, a number, a name)
ASKED_WEIGHT = 0.5  # the question the answering turn replied to reads like the user's
NEW_WORDS = 3  # an answer states at least this many content words the exchange did not ask...
FEW = 8  # texts per call to the embedder: its query encoder's share (embeddings.model._FEW)
ECHO_PENALTY = 0.2  # ...or it is an echo of the question

# (message id) → the messages around it, in order: how a question's reply is found.
Neighbours = Callable[[str], list[Message]]

_KINDS = (
    ("when", re.compile(r"^(?:when|what (?:date|day|time|year|month)|which (?:date|day|year|month)"
                        r"|quando|em que (?:dia|data|ano|mes))\b")),
    ("count", re.compile(r"^(?:how (?:many|much|long|often|old|far)|quant[oa]s?)\b")),
    ("who", re.compile(r"^(?:who|whom|whose|quem)\b")),
)
_NUMBER = re.compile(
    r"\b(?:\d+(?:[.,]\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"twenty|thirty|forty|fifty|hundred|thousand|dozen|couple|few|several|once|twice|half|"
    r"um|uma|dois|duas|tres|quatro|cinco|seis|sete|oito|nove|dez|vinte|cem|mil|meia)\b")
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-ZÀ-Þ][a-zß-ÿ]+(?:\s+[A-ZÀ-Þ][a-zß-ÿ]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# "Sunflowers mean warmth, right?" states; only its tag asks.
_TAG = re.compile(r",\s*(?:right|no|eh|yeah|huh|correct|isn't it|aren't they|don't you think|"
                  r"wouldn't you say|n[ãa]o [ée])\s*\?+$", re.I)


@dataclass(frozen=True)
class Asks:
    """What a question asks for: the kind of answer (``when``, ``count``, ``who`` or None)
    and the speaker it is about (None when it names none)."""

    kind: str | None
    about: str | None


def read_question(question: str, speakers: Iterable[str]) -> Asks:
    """The kind of ``question`` and the first of ``speakers`` it names; a name the question
    shortens ("Mel" for "Melanie", at least three letters) counts."""
    folded = normalise(" ".join(question.split()))
    kind = next((name for name, pattern in _KINDS if pattern.search(folded)), None)
    names = sorted({s for s in speakers if s}, key=len, reverse=True)
    about, first = None, len(question) + 1
    for match in re.finditer(r"[A-ZÀ-Þ][\wÀ-ÿ]{2,}", question):
        word = match.group().lower()
        name = next((n for n in names if n.lower() == word or n.lower().startswith(word)), None)
        if name and match.start() < first:
            about, first = name, match.start()
    return Asks(kind, about)


def _split(text: str) -> tuple[str, str]:
    """(what ``text`` states, what it asks): its sentences that end in a question mark,
    a tag question ("…, right?") aside, are what it asks."""
    if "?" not in text:
        return text, ""
    stated, asked = [], []
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        if sentence:
            (asked if sentence.endswith("?") and not _TAG.search(sentence) else stated).append(sentence)
    return " ".join(stated), " ".join(asked)


def stems(text: str) -> set[str]:
    """Content words with their commonest English endings cut, so "researching" meets
    "research" (the grounding's calibrated words are left as they are)."""
    return {re.sub(r"(?:ing|ed|es|s)$", "", w) if len(w) > 5 else w for w in content_words(text)}


def says(text: str) -> str:
    """``text`` without the questions it asks: a turn's question back ("What's your fave?")
    is no part of its answer."""
    return _split(text)[0]


def question_in(text: str) -> str:
    """What ``text`` asks: its questions, or all of it when it asks none (a request)."""
    return _split(text)[1] or text


def only_asks(text: str) -> bool:
    """Whether ``text`` does nothing but ask: what it says besides its questions holds fewer
    than two content words ("That's so nice! What pet do you have?")."""
    return "?" in text and len(content_words(says(text))) < 2


def looks_like_question(text: str) -> bool:
    return "?" in text[-200:] or text.lower().startswith(("how ", "what ", "why ", "como ", "qual "))


def names_kind(kind: str | None, text: str, moment: datetime | None, question: str,
               speakers: Iterable[str] = ()) -> bool:
    """Whether ``text`` names what a question of ``kind`` asks for, beyond the question's
    own words: a time (read against the turn's date), a number, a person's name (not one of
    the ``speakers``)."""
    if kind == "when":
        return bool(find_time_ranges(text, moment or datetime(2000, 1, 1)))
    if kind == "count":
        asked = set(_NUMBER.findall(normalise(question)))
        return bool(set(_NUMBER.findall(normalise(text))) - asked)
    if kind == "who":
        known = {w.lower() for w in re.findall(r"\w+", f"{question} {' '.join(speakers)}")}
        return any(w.lower() not in known for m in _CAPITALISED.findall(text)
                   for w in m.split() if w not in ("I", "I'm", "I've"))
    return False


def _who(role: str, speaker: str | None) -> str:
    return speaker or role


def _answers(before: Message, turn_role: str, turn_speaker: str | None) -> bool:
    """Whether ``before`` is what the turn after it answers: the user's message to an
    assistant, or another speaker's turn that asks something."""
    if _who(before.role, before.speaker) == _who(turn_role, turn_speaker):
        return False
    return (before.role == "user" and turn_role == "assistant") or looks_like_question(before.content)


def _adjacent(around: Sequence[Message], message_id: str) -> tuple[Message | None, Message | None]:
    at = next((i for i, m in enumerate(around) if m.id == message_id), None)
    if at is None:
        return None, None
    before = next((m for m in reversed(around[:at]) if m.content.strip()), None)
    after = next((m for m in around[at + 1:] if m.content.strip()), None)
    return before, after


def _from_message(message: Message, n: int, title: str | None, asked: Message) -> Evidence:
    return Evidence(n, message.id, message.conversation_id, title, message.created_at,
                    message.role, message.content, message.source_id, asked.content,
                    message.speaker, _who(asked.role, asked.speaker))


def exchanges(hits: Sequence[Hit], neighbours: Neighbours | None) -> list[tuple[Evidence, int]]:
    """(exchange, rank of the hit that brought it) for every retrieved turn that may answer:
    the turn itself with the question it answers, and the reply of a turn that asks. A memory
    not among ``hits`` is numbered after them, in the order found."""
    numbers = {h.message_id: n for n, h in enumerate(hits, start=1)}
    found: dict[str, tuple[Evidence, int]] = {}
    for rank, hit in enumerate(hits):
        before, after = _adjacent(neighbours(hit.message_id), hit.message_id) if neighbours \
            else (None, None)
        reply = None
        if after is not None and _who(after.role, after.speaker) != _who(hit.role, hit.speaker) \
                and ((hit.role == "user" and after.role == "assistant")
                     or looks_like_question(hit.text)):
            reply = after
            n = numbers.setdefault(after.id, len(numbers) + 1)
            asked = Message(hit.message_id, hit.conversation_id, None, hit.role, hit.speaker,
                            hit.text, "text", hit.timestamp, hit.source_id or "", {}, True, "", 0)
            found.setdefault(after.id, (_from_message(after, n, hit.title, asked), rank))
        if hit.role == "user" and reply is not None and reply.role == "assistant":
            continue  # a message to the assistant is quoted with its reply, never alone
        if only_asks(hit.text) or (hit.speaker is None and hit.role == "user"
                                   and reply is None and looks_like_question(hit.text)):
            continue  # a question does not answer itself
        item = Evidence(numbers[hit.message_id], hit.message_id, hit.conversation_id, hit.title,
                        hit.timestamp, hit.role, hit.text, hit.source_id, speaker=hit.speaker)
        if before is not None and _answers(before, hit.role, hit.speaker):
            item = replace(item, asked=before.content, asked_by=_who(before.role, before.speaker))
        found.setdefault(hit.message_id, (item, rank))
    return list(found.values())


def _encode(encoder: Encoder, texts: list[str]) -> np.ndarray:
    """Vectors of a turn's few short texts, a handful at a time: the embedder answers up to
    ``FEW`` texts with its query encoder, which is many times faster than its batch path."""
    return np.concatenate([encoder.encode(texts[i:i + FEW]) for i in range(0, len(texts), FEW)])


def ranked(question: str, hits: Sequence[Hit], encoder: Encoder,
           neighbours: Neighbours | None = None) -> list[tuple[float, Evidence]]:
    """Every exchange that may answer ``question`` with its score, best first (ties: the
    better retrieval rank); see the module's docstring."""
    candidates = exchanges(hits, neighbours)
    if not candidates:
        return []
    speakers = {e.speaker for e, _ in candidates if e.speaker}
    asks = read_question(question, speakers)
    # An exchange is the question asked and what the answering turn states; the statements
    # around that question only set the scene, and so does a question the turn asks back.
    stated = [says(e.text)[:2000] for e, _ in candidates]
    prompts = [question_in(e.asked)[:1000] if e.asked else "" for e, _ in candidates]
    vectors = _encode(encoder, [question] + [f"{p} {t}".strip() for p, t in zip(prompts, stated)]
                      + stated)
    closeness = vectors[1:] @ vectors[0]
    # Names of the people talking say who, not what: the speaker rule weighs them.
    names = {w for s in speakers for w in content_words(s)}
    wanted = {w for w in stems(question) if not any(n.startswith(w) for n in names)}
    asked_vectors = _encode(encoder, [p or question for p in prompts])
    scored = []
    for i, (item, rank) in enumerate(candidates):
        own, prompt = stems(stated[i]), stems(prompts[i])
        overlap = ((len(wanted & own) + 0.5 * len(wanted & (prompt - own))) / len(wanted)
                   if wanted else 0.0)
        meaning = (closeness[i] + closeness[len(candidates) + i]) / 2
        score = float(meaning) + OVERLAP_WEIGHT * overlap + RANK_WEIGHT / (1 + rank)
        if prompts[i]:  # the turn before asked what the question asks: its reply answers it
            score += ASKED_WEIGHT * max(0.0, float(asked_vectors[i] @ vectors[0]))
        if asks.about is not None and item.speaker == asks.about:
            score += SPEAKER_WEIGHT
        if asks.kind and names_kind(asks.kind, stated[i], item.timestamp, question, speakers):
            score += KIND_WEIGHT
        if len(own - prompt - wanted - names) < NEW_WORDS:
            score -= ECHO_PENALTY  # "Sounds great! Let's plan something special!" adds nothing
        scored.append((score, -rank, item))
    scored.sort(key=lambda s: s[:2], reverse=True)
    return [(score, item) for score, _, item in scored]


def pick(question: str, hits: Sequence[Hit], encoder: Encoder,
         neighbours: Neighbours | None = None) -> Evidence | None:
    """The exchange that best answers ``question``; None when none reads close enough."""
    found = ranked(question, hits, encoder, neighbours)
    return found[0][1] if found and found[0][0] >= EXTRACTIVE_FLOOR else None


def when_said(question: str, item: Evidence) -> str:
    """For a when-question, the event date the quoted turn names, resolved against the day it
    was said ("7 May 2023 (“yesterday”, said on 8 May 2023)"); "" when it names none."""
    if read_question(question, ()).kind != "when" or item.timestamp is None:
        return ""
    moment = item.timestamp
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    found = event_dates(item.text, moment)
    if not found:
        return ""
    first = found[0]
    return f"{first.words()} (“{first.phrase}”, said on {moment.day} {moment:%B %Y})"
