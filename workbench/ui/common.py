"""What the pages share: this session's options, moving between pages, how a memory is shown."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import streamlit as st
from streamlit import config as st_config

from workbench.api import Workbench
from workbench.chat.llm import LLMClient
from workbench.errors import WorkbenchError
from workbench.ui import preferences

# Session-state keys shared between pages (and set by tests).
NAV_KEY = "switch_to"  # name of the page the app switches to at the start of the next run
OPEN_CONVERSATION = "open_conversation"
OPEN_MESSAGE = "open_message"
OPTIONS = "options"

# (base_url, model) → (client, None) or (None, why there is none); never raises.
LLMFactory = Callable[[str | None, str | None], tuple[LLMClient | None, str | None]]


def page(render: Callable[[], None]) -> Callable[[], None]:
    """``render`` with a ``WorkbenchError`` shown as one error line; any other exception is a
    bug, which Streamlit shows with its traceback."""

    def run() -> None:
        try:
            render()
        except WorkbenchError as exc:
            st.error(str(exc).strip("'\""))

    return run


def options(wb: Workbench) -> dict[str, Any]:
    """This session's choices (edited on the Settings page), first read from the home."""
    if OPTIONS not in st.session_state:
        st.session_state[OPTIONS] = preferences.load(wb.settings)
    return st.session_state[OPTIONS]


THEME_CHANGED = "_theme_changed"


def apply_theme(theme: str) -> None:
    """Light or dark for the pages drawn from now on. Streamlit reads its theme from its
    configuration at each run (there is no per-session call); the choice is the home's, and a
    process serves one home, so setting it process-wide is what the choice means."""
    if theme in preferences.THEMES and st_config.get_option("theme.base") != theme:
        st_config.set_option("theme.base", theme)
        # The browser gets the theme with the message that starts a run, and this run's went
        # out before a widget callback changed it: one more run carries the new one.
        st.session_state[THEME_CHANGED] = True


def rerun_for_theme() -> None:
    """Rerun once when this run changed the theme (see ``apply_theme``)."""
    if st.session_state.pop(THEME_CHANGED, False):
        st.rerun()


def go(page: str, **state: Any) -> None:
    """Widget callback: set session keys, then the app switches to ``page`` (see app_streamlit)."""
    st.session_state.update(state)
    st.session_state[NAV_KEY] = page


def open_conversation(conversation_id: str, message_id: str | None = None) -> None:
    go("conversations", **{OPEN_CONVERSATION: conversation_id, OPEN_MESSAGE: message_id})


def when(moment: datetime | str | None, with_time: bool = True) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment is None:
        return "undated"
    return moment.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def snippet(text: str, limit: int = 280) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def memory(item: dict[str, Any], key: str, number: int | None = None) -> None:
    """One remembered message (a ``Hit.to_dict()``-shaped dict) with a button that opens it."""
    text, action = st.columns([6, 1], vertical_alignment="center")
    label = f"**[{number}]** " if number is not None else ""
    speaker = item.get("speaker") or item.get("role") or "?"
    text.markdown(f"{label}{when(item.get('timestamp'))} · *{item.get('title') or 'untitled'}* "
                  f"· {speaker}")
    text.caption(snippet(item.get("text") or ""))
    action.button("Open", key=key, help="Open this conversation at this message",
                  on_click=open_conversation, args=(item["conversation_id"], item["message_id"]))
