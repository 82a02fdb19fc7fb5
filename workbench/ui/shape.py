"""What the pages show, shaped without Streamlit: conversations by day and week, a conversation's
branches as a tree, numbers as the CLI prints them. Plain functions, tested on their own."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterable, Sequence

from workbench.records import Conversation, Message


def local_day(moment: datetime | None) -> date | None:
    if moment is None:
        return None
    return (moment.astimezone() if moment.tzinfo else moment).date()


def period(moment: datetime | None, today: date) -> str:
    """The sidebar group of a conversation last active at ``moment``: a day, then a week."""
    day = local_day(moment)
    if day is None:
        return "Undated"
    if day >= today:
        return "Today"
    if day == today - timedelta(days=1):
        return "Yesterday"
    if today - day < timedelta(days=7):
        return "Previous 7 days"
    monday = day - timedelta(days=day.weekday())
    return f"Week of {monday.day} {monday:%b %Y}"


def short_date(moment: datetime | None, today: date) -> str:
    """A conversation's date beside its title: the time today, day and month this year."""
    day = local_day(moment)
    if day is None or moment is None:
        return "undated"
    if day >= today:
        return (moment.astimezone() if moment.tzinfo else moment).strftime("%H:%M")
    if day.year == today.year:
        return f"{day.day} {day:%b}"
    return f"{day.day} {day:%b %Y}"


def last_active(conversation: Conversation) -> datetime | None:
    return conversation.updated_at or conversation.created_at


def by_period(conversations: Iterable[Conversation],
              today: date) -> list[tuple[str, list[Conversation]]]:
    """Conversations (newest first, as listed) under their period's heading, in that order."""
    groups: dict[str, list[Conversation]] = {}
    for c in conversations:
        groups.setdefault(period(last_active(c), today), []).append(c)
    return list(groups.items())


@dataclass(frozen=True)
class TreeRow:
    """One message of a conversation's tree: how deep its branch sits, and, on a branch's first
    message, what the branch is (``"branch 2 of 2"``)."""

    message: Message
    depth: int
    branch: str | None = None


def tree(messages: Sequence[Message]) -> list[TreeRow]:
    """The conversation as a tree to read from top to bottom: the kept (active) line at depth
    0; where a message has several replies, the other branches follow it at once, one level
    deeper, each headed by its number, and then the kept line goes on."""
    known = {m.id for m in messages}
    children: dict[str | None, list[Message]] = defaultdict(list)
    for m in messages:  # listed in position order: replies in the order they were written
        children[m.parent_id if m.parent_id in known else None].append(m)
    rows: list[TreeRow] = []
    # Iterative: a conversation is as deep as it is long. Several first messages (a first
    # question edited) branch like several replies do.
    stack: list[tuple[Message, int, str | None]] = []
    _branches(stack, _kept_first(children[None]), 0)
    while stack:
        message, depth, branch = stack.pop()
        rows.append(TreeRow(message, depth, branch))
        _branches(stack, _kept_first(children.get(message.id, [])), depth)
    return rows


def _branches(stack: list[tuple[Message, int, str | None]], replies: list[Message],
              depth: int) -> None:
    """Push ``replies`` so that the other branches pop first, then the kept one."""
    if not replies:
        return
    kept, others = replies[0], replies[1:]
    total = len(replies)
    stack.append((kept, depth, f"branch 1 of {total}, kept" if others else None))
    for n, other in reversed(list(enumerate(others, start=2))):
        stack.append((other, depth + 1, f"branch {n} of {total}"))


def _kept_first(replies: list[Message]) -> list[Message]:
    return sorted(replies, key=lambda m: not m.on_active_branch)


def percent(value: float | None) -> str:
    """A rate as the CLI's tables print it: a percentage with one decimal."""
    return "" if value is None else f"{100 * value:.1f}"
