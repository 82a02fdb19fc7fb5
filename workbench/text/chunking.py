"""Dialog chunkers, chosen by versioned name; an old name keeps building what it always built.

A chunk is the unit that is embedded and searched. Every chunk belongs to one *anchor* message
(search hits are messages) and may show other messages as context. ``text`` is what the embedder
sees, ``search_text`` what the full-text index sees.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Sequence

from workbench.errors import InvalidInput
from workbench.text.clean import normalise
from workbench.text.events import describe

TokenCounter = Callable[[Sequence[str]], list[int]]

# Turns with these content types carry no words worth finding.
SKIPPED_TYPES = {"placeholder", "user_editable_context", "model_editable_context", "thinking"}


@dataclass
class Turn:
    """One active message of a conversation, as a chunker sees it."""

    message_id: str
    role: str
    speaker: str | None
    content: str
    content_type: str
    created_at: datetime | None
    caption: str | None = None

    @property
    def who(self) -> str:
        return self.speaker or self.role


@dataclass
class Chunk:
    id: str
    chunker: str
    message_id: str
    message_ids: list[str]
    part: int
    text: str
    search_text: str
    created_at: datetime | None = None
    # The words of its message this chunk covers, when it covers only a part: an index row shows
    # them instead of the whole message, so a long message's parts never repeat all of it.
    body: str | None = None


@dataclass
class Chunker:
    """Builds chunks for one conversation's active branch.

    ``context`` adds the speaker, date and title and the previous turn to the embedded text;
    ``speaker`` adds just the speaker's name; ``events`` adds, to both texts, the dates that the
    turn's relative time phrases point to ("yesterday" on 8 May 2023 is "7 May 2023").
    Long turns are split at sentence boundaries so that no chunk exceeds ``max_tokens`` of the
    embedding model.
    """

    name: str
    speaker: bool = False
    context: bool = False
    following: bool = False
    events: bool = False
    neighbour_tokens: int = 64
    max_tokens: int = 256

    def chunk(self, title: str | None, turns: list[Turn], count_tokens: TokenCounter) -> list[Chunk]:
        turns = [t for t in turns if t.content_type not in SKIPPED_TYPES and t.role != "system"]
        bodies = [_body(t) for t in turns]
        keep = [i for i, body in enumerate(bodies) if body]
        turns, bodies = [turns[i] for i in keep], [bodies[i] for i in keep]
        extra = self.neighbour_tokens * (2 if self.following else 1) + 24 + (16 if self.events else 0)
        budget = self.max_tokens - (extra if self.context else 8)
        parts = _split_long(bodies, budget, count_tokens)
        chunks: list[Chunk] = []
        for index, (turn, pieces) in enumerate(zip(turns, parts)):
            previous = turns[index - 1] if index > 0 else None
            following = turns[index + 1] if self.following and index + 1 < len(turns) else None
            for part, piece in enumerate(pieces):
                text = self._text(title, turn, piece, previous, bodies[index - 1] if previous else "")
                if following is not None:
                    text += f"\n(answered by {following.who}: " \
                            f"{_clip(bodies[index + 1], self.neighbour_tokens)})"
                search = f"{turn.who}: {piece}" if self.speaker or self.context else piece
                when = describe(piece, turn.created_at) if self.events else ""
                if when:
                    text += f"\n(events of {when})"
                    search += f" ({when})"
                ids = [turn.message_id] + ([previous.message_id] if previous and self.context else [])
                ids += [following.message_id] if following is not None else []
                chunks.append(
                    Chunk(
                        id=_chunk_id(self.name, turn.message_id, part, text, search),
                        chunker=self.name, message_id=turn.message_id, message_ids=ids, part=part,
                        text=text, search_text=search, created_at=turn.created_at,
                        body=piece if len(pieces) > 1 else None,
                    )
                )
        return chunks

    def _text(self, title: str | None, turn: Turn, piece: str, previous: Turn | None,
              previous_body: str) -> str:
        if self.context:
            lines = [f"{turn.who}: {piece}"]
            header = [x for x in (_date(turn.created_at), title) if x]
            if previous is not None:
                lines.append(f"(replying to {previous.who}: {_clip(previous_body, self.neighbour_tokens)})")
            if header:
                lines.append(f"({'; '.join(header)})")
            return "\n".join(lines)
        if self.speaker:
            return f"{turn.who}: {piece}"
        return piece


def _body(turn: Turn) -> str:
    text = normalise(turn.content)
    if turn.caption:
        text = f"{text} [shared a photo: {normalise(turn.caption)}]".strip()
    return text


def _date(moment: datetime | None) -> str | None:
    return f"{moment.day} {moment:%B %Y}" if moment else None


def _clip(text: str, tokens: int) -> str:
    words = text.split()
    approx = max(8, int(tokens * 0.7))  # ≈ 1.4 word pieces per English word
    return " ".join(words[:approx]) + (" …" if len(words) > approx else "")


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _split_long(bodies: list[str], budget: int, count_tokens: TokenCounter) -> list[list[str]]:
    """Each body as one piece, or as consecutive groups of sentences that fit the budget."""
    counts = count_tokens(bodies) if bodies else []
    out: list[list[str]] = []
    for body, count in zip(bodies, counts):
        if count <= budget:
            out.append([body])
            continue
        sentences = split_sentences(body)
        sizes = count_tokens(sentences)
        pieces: list[str] = []
        current: list[str] = []
        used = 0
        for sentence, size in zip(sentences, sizes):
            if size > budget:  # one sentence longer than the model's window: cut by words
                pieces.extend(_cut_words(sentence, size, budget))
                continue
            if current and used + size > budget:
                pieces.append(" ".join(current))
                current, used = [], 0
            current.append(sentence)
            used += size
        if current:
            pieces.append(" ".join(current))
        out.append(pieces or [body])
    return out


def _cut_words(sentence: str, size: int, budget: int) -> list[str]:
    words = sentence.split()
    per_piece = max(1, int(len(words) * budget / max(size, 1)))
    return [" ".join(words[i : i + per_piece]) for i in range(0, len(words), per_piece)]


def _chunk_id(chunker: str, message_id: str, part: int, text: str, search: str) -> str:
    digest = hashlib.sha256(f"{chunker}\x1f{message_id}\x1f{part}\x1f{text}\x1f{search}".encode())
    return digest.hexdigest()[:32]


CHUNKERS: dict[str, Chunker] = {
    "turn.v1": Chunker("turn.v1"),
    "turn-speaker.v1": Chunker("turn-speaker.v1", speaker=True),
    "turn-context.v1": Chunker("turn-context.v1", context=True),
    "turn-window.v1": Chunker("turn-window.v1", context=True, following=True),
    "turn-event.v1": Chunker("turn-event.v1", context=True, events=True),
}
DEFAULT_CHUNKER = "turn-context.v1"


def get_chunker(name: str) -> Chunker:
    try:
        return CHUNKERS[name]
    except KeyError:
        raise InvalidInput(f"unknown chunker {name!r}; known: {', '.join(CHUNKERS)}") from None
