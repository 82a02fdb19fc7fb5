"""Generated exports for benchmarks and crash tests: realistic shape, reproducible from a seed."""

from __future__ import annotations

import random
import uuid
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
    conversations = []
    start = 1_700_000_000.0
    for c in range(max(1, messages // per_conversation)):
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
        conversations.append(
            {
                "title": f"{topic} #{c}",
                "create_time": created,
                "update_time": created + per_conversation * 30.0,
                "mapping": mapping,
                "current_node": parent,
                "conversation_id": str(uuid.UUID(int=rng.getrandbits(128))),
            }
        )
    return conversations
