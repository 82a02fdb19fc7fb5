"""Generated exports for benchmarks and crash tests: realistic shape, reproducible from a seed."""

from __future__ import annotations

import functools
import json
import random
import uuid
from pathlib import Path
from typing import Any

_TOPICS = {
    "travel": "flight hotel Lisbon museum tram beach itinerary visa passport luggage",
    "cooking": "chickpeas spinach curry garlic oven recipe dough basil tomato lentils",
    "code": "python function database index query migration test deploy docker cache",
    "health": "running knee doctor sleep vitamins yoga marathon stretching diet water",
    "money": "budget savings mortgage invoice taxes pension stocks rent salary loan",
}
_GLUE = "the a my our this that with for about before after because maybe really".split()


def sentence(rng: random.Random, words: list[str], length: int) -> str:
    picked = [rng.choice(words) if rng.random() < 0.6 else rng.choice(_GLUE) for _ in range(length)]
    return " ".join(picked).capitalize() + "."


def chatgpt_export(messages: int, per_conversation: int = 100, seed: int = 0) -> list[dict[str, Any]]:
    """A ChatGPT ``conversations.json`` with about ``messages`` user/assistant turns, linear trees."""
    rng = random.Random(seed)
    return [_chatgpt_conversation(rng, c, per_conversation)
            for c in range(max(1, messages // per_conversation))]


def write_chatgpt_export(path: Path, size: int, per_conversation: int = 100, seed: int = 0) -> int:
    """Write a ChatGPT export of at least ``size`` bytes to ``path``, a conversation at a time
    (a 200 MB export never in memory); the number of messages it holds."""
    rng = random.Random(seed)
    written = count = 0
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[")
        while written < size or count == 0:
            text = json.dumps(_chatgpt_conversation(rng, count, per_conversation))
            written += handle.write(("," if count else "") + text)
            count += 1
        handle.write("]")
    return count * per_conversation


def _chatgpt_conversation(rng: random.Random, c: int, per_conversation: int) -> dict[str, Any]:
    start = 1_700_000_000.0
    topic = rng.choice(sorted(_TOPICS))
    words = _TOPICS[topic].split()
    root = str(uuid.UUID(int=rng.getrandbits(128)))
    mapping = {root: {"id": root, "message": None, "parent": None, "children": []}}
    parent = root
    created = start + c * 3600.0
    for i in range(per_conversation):
        node = str(uuid.UUID(int=rng.getrandbits(128)))
        role = "user" if i % 2 == 0 else "assistant"
        text = " ".join(sentence(rng, words, rng.randint(6, 18)) for _ in range(rng.randint(1, 4)))
        mapping[node] = {
            "id": node,
            "message": {
                "id": node,
                "author": {"role": role, "name": None, "metadata": {}},
                "create_time": created + i * 30.0,
                "content": {"content_type": "text", "parts": [text]},
                "status": "finished_successfully",
                "metadata": {},
            },
            "parent": parent,
            "children": [],
        }
        mapping[parent]["children"].append(node)
        parent = node
    return {
        "title": f"{topic} #{c}",
        "create_time": created,
        "update_time": created + per_conversation * 30.0,
        "mapping": mapping,
        "current_node": parent,
        "conversation_id": str(uuid.UUID(int=rng.getrandbits(128))),
    }


def real_sentences() -> list[str]:
    """About 2,900 English sentences from Python's own help topics: real prose, offline."""
    return list(_sentences())


@functools.lru_cache(maxsize=1)
def _sentences() -> tuple[str, ...]:
    # Read once: a table of 1M messages asks for them several times.
    import re

    from pydoc_data.topics import topics

    text = " ".join(topics.values())
    return tuple(
        " ".join(s.split())
        for s in re.split(r"(?<=[.!?])\s+", text)
        if 20 < len(s.strip()) < 300
    )


def message_sentences(count: int, seed: int = 0) -> list[list[int]]:
    """What each of ``messages(count, seed)`` is made of: its sentences' places in
    ``real_sentences()``."""
    rng = random.Random(seed)
    total = len(_sentences())
    return [[rng.randrange(total) for _ in range(rng.randint(1, 3))] for _ in range(count)]


def messages(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """``count`` (topic, text) pairs: one to three real sentences each, Zipf-like vocabulary."""
    return messages_of(message_sentences(count, seed))


def messages_of(places: list[list[int]]) -> list[tuple[str, str]]:
    """The (topic, text) pairs made of ``message_sentences``."""
    sentences = _sentences()
    out = []
    for picked in ([sentences[i] for i in p] for p in places):
        out.append((picked[0].split()[0].strip('"(').lower(), " ".join(picked)))
    return out


# The participants of generated dialogues; none of these words occurs in Python's help topics, so
# only the named questions name anyone.
PARTICIPANTS = ("Anna", "Bruno", "Carla", "Diogo", "Elena", "Farid")


def participants(conversation: int) -> tuple[str, str]:
    """The two speakers of a generated conversation (the user's, then the assistant's)."""
    return (PARTICIPANTS[conversation % len(PARTICIPANTS)],
            PARTICIPANTS[(conversation + 1) % len(PARTICIPANTS)])


def named_queries(count: int, seed: int = 1) -> list[str]:
    """Distinct questions that name a participant ("what did Carla say about ..."): the ones
    for which a retriever matches names by speaker (an extra pass from ``hybrid-rrf.v5``)."""
    rng = random.Random(seed)
    sentences = real_sentences()
    seen: set[str] = set()
    starts = ["what did {} say about", "when did {} talk about", "what does {} think of",
              "find {}'s notes on"]
    while len(seen) < count:
        words = [w.strip('.,:;()"') for w in rng.choice(sentences).split() if len(w) > 3]
        if len(words) >= 3:
            start = rng.choice(starts).format(rng.choice(PARTICIPANTS))
            seen.add(f"{start} {' '.join(rng.sample(words, min(len(words), 4)))}")
    return sorted(seen)


def queries(count: int, seed: int = 1) -> list[str]:
    """Distinct questions of four to seven words taken from real sentences (no cache can answer)."""
    rng = random.Random(seed)
    sentences = real_sentences()
    seen: set[str] = set()
    starts = ["what did I say about", "when did we talk about", "find my notes on", "remind me of"]
    while len(seen) < count:
        words = [w.strip('.,:;()"') for w in rng.choice(sentences).split() if len(w) > 3]
        if len(words) >= 3:
            seen.add(f"{rng.choice(starts)} {' '.join(rng.sample(words, min(len(words), 4)))}")
    return sorted(seen)
