"""What the user is shown for a model's answer: its supported sentences, cited, or else an
extractive answer quoted from the memory that best answers the question.

The model's text is grounded sentence by sentence (:mod:`workbench.chat.grounding`). When all
that it says rests on the memories, it is shown with each sentence followed by its citations
(written by the model and confirmed, or attributed). Otherwise the
reply says so and leads with the best supporting memory, quoted with its date and conversation
title and cited: with a small local model, that is what the user sees first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Sequence

from workbench.chat.extractive import Neighbours, pick, when_said
from workbench.chat.grounding import Evidence, Grounder, Grounding, with_citations
from workbench.search.retrieve import Hit

UNSUPPORTED_NOTE = ("The model's answer is left out: nothing in your memories supports it.")
NOTHING_NOTE = "Nothing in your memories answers this. The model's answer, unchecked:"
TRUNCATED_NOTE = ("The answer was cut off at the model's limit of {max_tokens} tokens; raise "
                  "WORKBENCH_LLM_MAX_TOKENS to let it finish.")


@dataclass
class Composed:
    """The reply as shown and stored; ``citations`` carry their kind (written, attributed)."""

    text: str
    citations: list[dict[str, Any]]
    grounding: Grounding
    extractive: Evidence | None = None
    added: list[Hit] = field(default_factory=list)  # memories quoted that were not retrieved
    claims: str = ""  # what the reply asserts, without the notes about it

    @property
    def supported(self) -> bool:
        return self.grounding.supported or self.extractive is not None

    def sources(self, hits: Sequence[Hit]) -> dict[str, Any]:
        """What is kept with the answer: every memory retrieved, and which were cited how."""
        return {"retrieved": [_brief(h, n) for n, h in enumerate(hits, start=1)],
                "written": [c["message_id"] for c in self.citations if c["kind"] == "written"],
                "attributed": [c["message_id"] for c in self.citations
                               if c["kind"] == "attributed"]}


def evidence(hits: Sequence[Hit]) -> list[Evidence]:
    return [Evidence(n, h.message_id, h.conversation_id, h.title, h.timestamp, h.role, h.text,
                     h.source_id, speaker=h.speaker) for n, h in enumerate(hits, start=1)]


def quoted(question: str, best: Evidence) -> str:
    """The extractive answer's quote: the turn, after what it answered and who asked it, and
    for a when-question the date the turn's words point to."""
    quote = f"> {' '.join(best.text.split())} [{best.n}]"
    if best.speaker:
        quote = f"> *{best.speaker}:* {quote[2:]}"
    if best.asked:
        who = "You" if best.asked_by in ("", "user") else best.asked_by
        quote = f"> *{who}:* {' '.join(best.asked.split())}\n>\n{quote}"
    when = when_said(question, best)
    return f"On {when}:\n\n{quote}" if when else quote


class Composer:
    """Grounds answers against the turn's memories; ``neighbours`` finds a question's reply."""

    def __init__(self, grounder: Grounder, neighbours: Neighbours | None = None):
        self.grounder = grounder
        self.neighbours = neighbours

    def compose(self, question: str, text: str, hits: list[Hit],
                best: Callable[[], Evidence | None] | None = None) -> Composed:
        """The reply for ``text`` (the model's answer) to ``question`` over ``hits``; a memory
        quoted that was not retrieved is appended to ``hits`` so its number can be cited.
        ``best``: the extractive choice made already (it needs no answer: a chat makes it
        while the model writes), else it is made here when needed."""
        found = evidence(hits)
        grounding = self.grounder.ground(text, found, question)
        if grounding.supported:
            body, cited = with_citations(grounding)
            return Composed(body, _citations(cited, hits), grounding, claims=body)
        best = best() if best is not None else self.best_memory(question, hits)
        if best is None:
            return Composed(f"{NOTHING_NOTE}\n\n{text}".strip(), [], grounding, claims=text)
        added = []
        if best.n > len(hits):
            best = replace(best, n=len(hits) + 1)
            added.append(_as_hit(best, hits[0].workspace if hits else ""))
            hits.append(added[0])
        body = (f"From your memories ({_date(best.timestamp)}, “{best.title or 'untitled'}”):\n\n"
                f"{quoted(question, best)}\n\n{UNSUPPORTED_NOTE}")
        return Composed(body, _citations([(best.n, "attributed")], hits), grounding, best, added,
                        claims=f"{best.asked}\n{best.text}".strip())

    def best_memory(self, question: str, hits: Sequence[Hit]) -> Evidence | None:
        """The memory that best answers ``question``: a retrieved turn with the question it
        answers, or the reply to a retrieved question (see :mod:`workbench.chat.extractive`)."""
        return pick(question, hits, self.grounder, self.neighbours)


def _date(moment: datetime | str | None) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.strftime("%Y-%m-%d") if moment else "undated"


def _citations(cited: list[tuple[int, str]], hits: Sequence[Hit]) -> list[dict[str, Any]]:
    out = []
    for n, kind in cited:
        if 1 <= n <= len(hits):
            hit = hits[n - 1]
            out.append({"n": n, "message_id": hit.message_id, "source_id": hit.source_id,
                        "conversation_id": hit.conversation_id, "kind": kind})
    return out


def _brief(hit: Hit, n: int) -> dict[str, Any]:
    return {"n": n, "message_id": hit.message_id, "conversation_id": hit.conversation_id,
            "title": hit.title, "role": hit.role, "speaker": hit.speaker,
            "timestamp": hit.timestamp.isoformat() if hit.timestamp else None,
            "text": hit.text[:1000]}


def _as_hit(item: Evidence, workspace: str) -> Hit:
    return Hit(item.message_id, item.source_id, item.conversation_id, item.title, workspace,
               item.role, None, item.timestamp, 0.0, item.text)


def truncated_note(finish_reason: str | None, max_tokens: int) -> str | None:
    return TRUNCATED_NOTE.format(max_tokens=max_tokens) if finish_reason == "length" else None
