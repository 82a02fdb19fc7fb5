"""Make parsed records storable: no lone surrogates, no text past the message limit.

A lone surrogate (``"\\ud800"``, legal in JSON, not in UTF-8) would fail the write with a
``UnicodeEncodeError`` after parsing succeeded; each is replaced by U+FFFD and counted. A text
past ``Limits.max_message_chars`` is refused here, before anything is written, because every
later stage (spaCy, chunking, embedding, the index) costs memory in proportion to it.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Iterable

from workbench.importers.reading import Limits, Refused
from workbench.records import ConversationRecord, ParsedFile

_SURROGATE = re.compile(r"[\ud800-\udfff]")


class Scrubber:
    """Rewrites every text of a parsed file, counting what it replaced.

    ``replaced``: lone surrogates; ``non_finite``: NaN/Infinity metadata numbers stored as null
    (JSON has no such numbers, and DuckDB's JSON columns would hold invalid JSON).
    """

    def __init__(self, limits: Limits):
        self.limits = limits
        self.replaced = 0
        self.non_finite = 0

    def text(self, value: str, where: Callable[[], str]) -> str:
        if len(value) > self.limits.max_message_chars:
            raise Refused(
                f"{where()}: a text of {len(value):,} characters exceeds the limit of "
                f"{self.limits.max_message_chars:,} (WORKBENCH_MAX_MESSAGE_CHARS)"
            )
        if value.isascii() or not _SURROGATE.search(value):
            return value
        self.replaced += len(_SURROGATE.findall(value))
        return _SURROGATE.sub("\ufffd", value)

    def optional(self, value: str | None, where: Callable[[], str]) -> str | None:
        return None if value is None else self.text(value, where)

    def value(self, value: Any, where: Callable[[], str]) -> Any:
        """A metadata value with every string (keys included) scrubbed; depth is already bounded."""
        if isinstance(value, str):
            return self.text(value, where)
        if isinstance(value, dict):
            return {self.text(str(k), where): self.value(v, where) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v, where) for v in value]
        if isinstance(value, float) and not math.isfinite(value):
            self.non_finite += 1
            return None
        return value

    def conversations(self, conversations: Iterable[ConversationRecord]) -> None:
        """Scrub records in place; raises Refused naming the conversation of an oversized text."""
        for conversation in conversations:
            def where(c=conversation) -> str:
                return f"conversation {c.source_id[:80]!r}"

            conversation.source_id = self.text(conversation.source_id, where)
            conversation.title = self.optional(conversation.title, where)
            conversation.workspace = self.optional(conversation.workspace, where)
            conversation.metadata = self.value(conversation.metadata, where)
            for m in conversation.messages:
                m.source_id = self.text(m.source_id, where)
                m.parent_source_id = self.optional(m.parent_source_id, where)
                m.content = self.text(m.content, where)
                m.content_type = self.text(m.content_type, where)
                m.role = self.text(m.role, where)
                m.speaker = self.optional(m.speaker, where)
                m.metadata = self.value(m.metadata, where)

    def finish(self, parsed: ParsedFile) -> None:
        """Scrub what belongs to the whole file, once its conversations are all scrubbed, and
        say what was replaced."""
        parsed.workspace_metadata = self.value(parsed.workspace_metadata,
                                               lambda: "workspace metadata")
        # The parser's warnings quote source ids and titles as they came: they are stored too.
        parsed.warnings = [self.text(w, lambda: "a warning") for w in parsed.warnings]
        if self.non_finite:
            parsed.warnings.append(f"{self.non_finite} non-finite numbers (NaN/Infinity) stored "
                                   "as null")
        if self.replaced:
            parsed.warnings.append(f"{self.replaced} lone surrogates (not UTF-8) replaced by U+FFFD")


def scrub(parsed: ParsedFile, limits: Limits) -> None:
    """Scrub ``parsed`` in place; raises Refused naming the conversation of an oversized text."""
    scrubber = Scrubber(limits)
    scrubber.conversations(parsed.conversations)
    scrubber.finish(parsed)
