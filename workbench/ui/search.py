"""Search page: hybrid search over the workspace as you type, hits grouped by conversation with
their turns, ranked, the query's words marked, Markdown rendered; below the relevance floor,
nothing."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import streamlit as st

from workbench.api import Workbench
from workbench.records import ROLES
from workbench.search.retrieve import RETRIEVERS, Hit, SearchResult
from workbench.text.highlight import clip_markdown, highlight, query_terms
from workbench.ui.common import open_conversation, options, snippet, when

SEARCH_PAUSE = "400ms"  # searched once typing pauses this long


def render(wb: Workbench, workspace: str) -> None:
    opts = options(wb)
    st.title("Search")
    query = st.text_input("Search your conversations", key="search_query",
                          persist_state="session", live=SEARCH_PAUSE, icon=":material/search:",
                          placeholder="e.g. backup of the database last April")
    conversations = {c.id: c for c in wb.conversations.list(workspace, limit=500)}
    with st.expander("Filters", expanded=False):
        first, second, third = st.columns(3)
        since = first.date_input("From", value=None, key="search_since")
        until = second.date_input("To (inclusive)", value=None, key="search_until")
        role = third.selectbox("Role", ["any", *ROLES], key="search_role")
        conversation = st.selectbox(
            "Conversation", [None, *conversations], key="search_conversation",
            format_func=lambda cid: "All conversations" if cid is None
            else conversations[cid].title or "Untitled")
        left, right = st.columns(2)
        k = left.slider("Results", 1, 50, value=min(opts["k"], 50), key="search_k")
        names = list(RETRIEVERS)
        retriever = right.selectbox("Retriever", names, key="search_retriever",
                                    index=names.index(opts["retriever"]))
    if not query.strip():
        st.caption("Type a query. A time phrase in it (“last March”, “ontem”) narrows the dates.")
        return
    result = wb.search.query(query, workspace, k, since=_moment(since), until=_moment(until, end=True),
                       role=None if role == "any" else role, conversation=conversation,
                       retriever=retriever, chunker=opts["chunker"], neighbours=1)
    result.hits = wb.search.relevant(query, result)
    _summary(result)
    terms = query_terms(query, result.time_phrase)
    groups: dict[str, list[tuple[int, Hit]]] = {}
    for rank, hit in enumerate(result.hits, start=1):
        groups.setdefault(hit.conversation_id, []).append((rank, hit))
    for cid, hits in groups.items():
        _group(cid, hits, terms)


def _moment(day: date | None, end: bool = False) -> datetime | None:
    """Local midnight of ``day`` (of the next day for the inclusive end of the range)."""
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1) if end else day, time.min).astimezone()


def _summary(result: SearchResult) -> None:
    if not result.hits:
        st.info("Nothing found. Try other words, fewer filters, or import more history.",
                icon=":material/search_off:")
        return
    conversations = len({h.conversation_id for h in result.hits})
    line = (f"{len(result.hits)} results in {conversations} conversations · "
            f"{result.timings_ms.get('total', 0):.0f} ms")
    if result.time_phrase:
        line += f" · {result.time_reading()}"
    st.caption(line)


def _group(cid: str, hits: list[tuple[int, Hit]], terms: list[str]) -> None:
    """One conversation: its title, and the matching turns with the turns around them."""
    first = hits[0][1]
    days = sorted({when(h.timestamp, False) for _, h in hits})
    with st.container(border=True):
        head, action = st.columns([6, 1], vertical_alignment="center")
        head.subheader(first.title or "Untitled", anchor=False)
        head.caption(f"{days[0]}{' – ' + days[-1] if len(days) > 1 else ''} · "
                     f"{len(hits)} matching turn{'s' if len(hits) > 1 else ''}")
        action.button("Open", key=f"open-{cid}", help="Open the conversation at the best match",
                      on_click=open_conversation, args=(cid, first.message_id))
        matched = {h.message_id: (rank, h) for rank, h in hits}
        previous = None
        for turn in _turns(hits):
            if previous is not None and turn["position"] > previous + 1:
                st.caption("⋯")
            previous = turn["position"]
            speaker = turn.get("speaker") or turn["role"]
            if turn["id"] in matched:
                rank, hit = matched[turn["id"]]
                st.markdown(f"**#{rank} · {speaker}** · {when(turn['created_at'])}")
                st.markdown(highlight(clip_markdown(turn["content"], 1200), terms))
            else:
                st.caption(f"{speaker}: {snippet(turn['content'], 300)}")


def _turns(hits: list[tuple[int, Hit]]) -> list[dict[str, Any]]:
    """The hits' neighbourhoods merged (nearby hits share turns), in conversation order."""
    turns: dict[str, dict[str, Any]] = {}
    for _, hit in hits:
        for turn in hit.context or [{
            "id": hit.message_id, "role": hit.role, "speaker": hit.speaker,
            "created_at": hit.timestamp, "content": hit.text, "position": hit.position,
        }]:
            turns.setdefault(turn["id"], turn)
    return sorted(turns.values(), key=lambda t: t["position"])
