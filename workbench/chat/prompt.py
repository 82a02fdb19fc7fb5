"""The prompt of a chat turn: a system prompt with the numbered memories, then recent turns.

A model without a system role (Gemma) gets the system text at the head of its first user turn."""

from __future__ import annotations

from typing import Sequence

from workbench.chat.llm import count_tokens
from workbench.chat.models import has_system_role
from workbench.records import Message
from workbench.search.retrieve import Hit

PROMPT_VERSION = "memory-chat.v1"
SYSTEM_PROMPT = (
    "You are a helpful assistant with a long-term memory of the user's past conversations. "
    "Relevant excerpts from that history are listed below, each numbered. Use them when they "
    "help, cite the ones you use as [1], [2], and say so when the memories do not contain the "
    "answer. Keep answers short."
)


def memory_lines(hits: Sequence[Hit], model: str, budget: int) -> list[str]:
    """The memories as numbered lines (date · conversation · speaker: text), within ``budget``
    tokens."""
    lines, used = [], 0
    for n, hit in enumerate(hits, start=1):
        when = hit.timestamp.strftime("%Y-%m-%d") if hit.timestamp else "undated"
        line = (f"[{n}] {when} · {hit.title or 'untitled'} · {hit.speaker or hit.role}: "
                f"{' '.join(hit.text.split())[:600]}")
        cost = count_tokens(line, model)
        if used + cost > budget:
            break
        lines.append(line)
        used += cost
    return lines


def build_prompt(hits: Sequence[Hit], history: Sequence[Message], question: str, model: str,
                 memory_tokens: int = 1200, history_tokens: int = 1500) -> list[dict[str, str]]:
    memories = "\n".join(memory_lines(hits, model, memory_tokens)) or "(no relevant memories found)"
    system = f"{SYSTEM_PROMPT}\n\nMemories:\n{memories}"
    prompt = [{"role": m.role, "content": m.content} for m in history]
    budget = max(history_tokens * 4, 2000)  # characters; a huge paste is cut, not dropped
    prompt.append({"role": "user", "content": question[:budget]})
    if has_system_role(model):
        return [{"role": "system", "content": system}, *prompt]
    first = next(i for i, m in enumerate(prompt) if m["role"] == "user")
    prompt[first] = {"role": "user", "content": f"{system}\n\nQuestion: {prompt[first]['content']}"}
    return prompt


def recent_turns(earlier: Sequence[Message], model: str, budget: int) -> list[Message]:
    """The latest user/assistant turns of ``earlier`` that fit ``budget`` tokens, oldest first."""
    turns = [m for m in earlier if m.role in ("user", "assistant")]
    kept, used = [], 0
    for message in reversed(turns):
        cost = count_tokens(message.content, model)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    return list(reversed(kept))
