"""The chat's sidebar: a new chat, the conversations by day and week (titles left-aligned, with
their dates; 50 at a time, more on demand), and renaming or deleting the one open."""

from __future__ import annotations

from datetime import date

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from workbench.api import Workbench
from workbench.ui.shape import by_period, last_active, short_date

SELECTED = "chat_conversation"  # id of the conversation shown, None for a new chat
CONFIRM_DELETE = "chat_confirm_delete"
SHOWN = "chat_sidebar_shown"  # how many conversations the list shows
PAGE = 50
LIST_KEY = "conversation-list"

# Buttons centre their label; a list of titles reads down its left edge.
_STYLE = f"""<style>
.st-key-{LIST_KEY} button {{ justify-content: flex-start; text-align: left; }}
.st-key-{LIST_KEY} button div {{ justify-content: flex-start; text-align: left; }}
.st-key-{LIST_KEY} [data-testid="stCaptionContainer"] {{ margin-top: 0.5rem; }}
</style>"""


def select(cid: str | None) -> None:
    st.session_state[SELECTED] = cid
    st.session_state[CONFIRM_DELETE] = None


def _rename(wb: Workbench, cid: str, key: str) -> None:
    title = (st.session_state.get(key) or "").strip()
    if title:
        wb.conversations.rename(cid, title)


def _delete(wb: Workbench, cid: str) -> None:
    wb.conversations.delete(cid)
    select(None)


def _more() -> None:
    st.session_state[SHOWN] = st.session_state.get(SHOWN, PAGE) + PAGE


def render(wb: Workbench, workspace: str, bar: DeltaGenerator) -> None:
    """Draw the sidebar into ``bar`` (a container the page made before its slow work)."""
    selected = st.session_state.get(SELECTED)
    bar.html(_STYLE)
    bar.button("New chat", icon=":material/add:", width="stretch", on_click=select, args=(None,))
    text = bar.text_input("Filter conversations by title", key="chat_filter",
                          placeholder="Filter by title", label_visibility="collapsed",
                          live="300ms")
    shown = st.session_state.get(SHOWN, PAGE)
    listed = wb.conversations.list(workspace, text.strip() or None, limit=shown + 1)
    if not listed:
        bar.caption("No conversations yet." if not text else "No title matches.")
    today = date.today()
    with bar.container(key=LIST_KEY, gap=None):
        for heading, conversations in by_period(listed[:shown], today):
            st.caption(heading)
            for c in conversations:
                date_label = short_date(last_active(c), today)
                chosen = c.id == selected
                st.button(f"{c.title or 'Untitled'} "
                          + (f"· {date_label}" if chosen else f":gray[· {date_label}]"),
                          key=f"conv-{c.id}", width="stretch",
                          type="primary" if chosen else "tertiary",
                          on_click=select, args=(c.id,))
    if len(listed) > shown:
        bar.button(f"Show {PAGE} more", key="conv-more", icon=":material/expand_more:",
                   width="stretch", on_click=_more)
    if selected:
        _manage(wb, bar, selected)


def _manage(wb: Workbench, bar: DeltaGenerator, selected: str) -> None:
    bar.divider()
    key = f"rename-{selected}"
    current = wb.conversations.get(selected).title or ""
    bar.text_input("Title", value=current, key=key)
    left, right = bar.columns(2)
    left.button("Rename", on_click=_rename, args=(wb, selected, key), width="stretch")
    if st.session_state.get(CONFIRM_DELETE) != selected:
        right.button("Delete", on_click=lambda: st.session_state.update({CONFIRM_DELETE: selected}),
                     width="stretch")
        return
    bar.warning(f"Delete “{current or 'Untitled'}” and all its messages? This cannot be undone.")
    yes, no = bar.columns(2)
    yes.button("Yes, delete", type="primary", on_click=_delete, args=(wb, selected))
    no.button("Cancel", on_click=lambda: st.session_state.update({CONFIRM_DELETE: None}))
