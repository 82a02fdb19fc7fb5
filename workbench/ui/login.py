"""Signing in: a home with users opens the app to them only, each seeing their own workspaces.

The password is checked by ``wb.users.sign_in`` (the server's login check, with failed
attempts limited per client address). The session keeps the user's id and asks the door
again on every run, so a user disabled meanwhile is signed out at their next click (within
``auth_cache_s``). A home without users has no sign-in: every workspace is open, as before.
"""

from __future__ import annotations

import streamlit as st

from workbench.api import Workbench
from workbench.errors import RateLimited, Unauthorized
from workbench.records import User

USER = "signed_in_user"  # the signed-in user's id


def gate(wb: Workbench) -> User | None:
    """The signed-in user, or None when the home has no users. Nobody signed in: the run
    draws the sign-in form and stops there."""
    if not wb.users.any():
        return None
    user_id = st.session_state.get(USER)
    if user_id is not None:
        try:
            return wb.users.active(user_id)
        except Unauthorized as exc:
            st.session_state.clear()
            why = str(exc).strip("'\"")
            st.warning(f"Signed out: {why}.")
    _form(wb)
    st.stop()


def workspaces(wb: Workbench, user: User | None) -> list[str]:
    """The workspaces the sidebar offers: the user's own, or every one of a home without
    users."""
    if user is not None and user.workspaces is not None:
        return list(user.workspaces)
    return [w["name"] for w in wb.workspaces()] or [wb.settings.default_workspace]


def sign_out_button(user: User | None) -> None:
    if user is not None:
        st.sidebar.button(f"Sign out ({user.name})", key="sign_out", on_click=st.session_state.clear,
                          icon=":material/logout:")


def _form(wb: Workbench) -> None:
    st.title("Sign in")
    with st.form("sign_in"):
        name = st.text_input("User name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    try:
        user = wb.users.sign_in(name.strip(), password, st.context.ip_address or "local")
    except (Unauthorized, RateLimited) as exc:
        st.error(str(exc).strip("'\""))
        return
    st.session_state.clear()  # nothing of the signed-out session carries over
    st.session_state[USER] = user.id
    st.rerun()
