"""Conversations page: browse the workspace, read a whole conversation (every branch, as a tree),
export it."""

from __future__ import annotations

import re

import streamlit as st

from workbench.api import Workbench
from workbench.records import Conversation
from workbench.ui.common import OPEN_CONVERSATION, OPEN_MESSAGE, when
from workbench.ui.shape import TreeRow, tree

PICK = "conversations_pick"


def render(wb: Workbench, workspace: str) -> None:
    st.title("Conversations")
    text = st.text_input("Filter by title", key="conversations_filter", live="300ms")
    listed = {c.id: c for c in wb.conversations.list(workspace, text.strip() or None, limit=500)}
    wanted = st.session_state.get(OPEN_CONVERSATION)
    if wanted and wanted not in listed and not text.strip():
        try:  # opened from a link, but past the list's limit: list it first
            opened = wb.conversations.get(wanted)
        except LookupError:  # deleted meanwhile
            opened = None
        if opened is not None and opened.workspace == workspace:
            listed = {wanted: opened, **listed}
    if not listed:
        st.info("No title matches." if text.strip() else
                "No conversations here yet. Import an export on the Import page, or chat.")
        return
    if wanted in listed:
        st.session_state[PICK] = wanted
    elif st.session_state.get(PICK) not in listed:  # filtered out: the first one instead
        st.session_state.pop(PICK, None)
    cid = st.selectbox("Conversation", list(listed), key=PICK, on_change=_picked,
                       format_func=lambda i: _label(listed[i]))
    _show(wb, listed[cid], st.session_state.get(OPEN_MESSAGE))


def _picked() -> None:
    st.session_state[OPEN_CONVERSATION] = st.session_state[PICK]
    st.session_state[OPEN_MESSAGE] = None


def _label(c: Conversation) -> str:
    return f"{c.title or 'Untitled'} · {when(c.created_at, False)} · {c.message_count} messages"


def _show(wb: Workbench, conversation: Conversation, highlight: str | None) -> None:
    messages = wb.conversations.messages(conversation.id)
    inactive = sum(not m.on_active_branch for m in messages)
    st.subheader(conversation.title or "Untitled", anchor=False)
    st.caption(f"{conversation.workspace} · {conversation.source_format} · created "
               f"{when(conversation.created_at)} · {len(messages)} messages"
               + (f", {inactive} on branches not kept" if inactive else "")
               )
    name = re.sub(r"[^\w-]+", "-", conversation.title or "conversation").strip("-")[:60]
    left, right, _ = st.columns([1, 1, 4])
    left.download_button("Markdown", wb.conversations.export(conversation.id, "md"),
                         file_name=f"{name}.md", mime="text/markdown",
                         icon=":material/download:", key="export_md")
    right.download_button("JSON", wb.conversations.export(conversation.id, "json"),
                          file_name=f"{name}.json", mime="application/json",
                          icon=":material/download:", key="export_json")
    for row in tree(messages):
        _message(row, row.message.id == highlight)


def _message(row: TreeRow, highlighted: bool) -> None:
    """One message at its place in the tree: a branch's first message says which branch it
    starts; messages of other branches sit indented, one step per branching."""
    message = row.message
    about = [message.speaker or message.role, when(message.created_at)]
    if message.content_type != "text":
        about.append(f"`{message.content_type}`")
    if not message.on_active_branch:
        about.append(":gray-badge[not kept]")
    if highlighted:
        about.append(":orange-badge[linked message]")
    box = st.container(border=True) if highlighted else st.container()
    if row.depth:
        _, box = box.columns([min(row.depth, 6), 24 - min(row.depth, 6)])
    with box:
        if row.branch:
            st.markdown(f":material/alt_route: **{row.branch}**")
        with st.chat_message(message.role):
            st.caption(" · ".join(about))
            st.markdown(message.content)
