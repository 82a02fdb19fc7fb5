"""The workbench app: ``streamlit run app_streamlit.py``.

Wires cached resources and pages only; the pages live in ``workbench/ui/`` and call the
Workbench API. The home is ``$WORKBENCH_HOME`` (or ``.env``, or ``data/workbench``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from workbench.process import configure_process

# ruff: noqa: E402 - the workbench's imports come after the process is configured
configure_process()

from workbench import Workbench, load_settings
from workbench.chat.llm import LLMClient, LLMSource
from workbench.logs import configure_logging
from workbench.ui import chat, conversations, evaluation, import_page, login, search, settings
from workbench.ui.common import NAV_KEY, apply_theme, options, page, rerun_for_theme

st.set_page_config(page_title="Workbench", page_icon=":material/neurology:", layout="wide")


@st.cache_resource(show_spinner="Opening the workbench…")
def open_workbench(home: str) -> Workbench:
    config = load_settings(env_file=".env", home=Path(home))
    configure_logging(config.home, slow_ms=config.slow_ms)
    opened = Workbench(config)
    opened.search.prepare()
    return opened


def _alive(resource: tuple[LLMClient, LLMSource]) -> bool:
    server = resource[1].server
    return server is None or server.is_running()


def _release(resource: tuple[LLMClient, LLMSource]) -> None:
    resource[1].close()


# Keyed by what reaches the model; re-created if the embedded server died. Failures are not
# cached, so a model that comes back is used on the next message.
@st.cache_resource(show_spinner="Connecting to the language model…", validate=_alive,
                   on_release=_release)
def open_llm(home: str, base_url: str | None, model: str | None) -> tuple[LLMClient, LLMSource]:
    current = open_workbench(home).settings
    source = LLMSource(current.model_copy(update={"llm_base_url": base_url, "llm_model": model}),
                       current.home)
    return source.client(), source


def llm(base_url: str | None, model: str | None) -> tuple[LLMClient | None, str | None]:
    # No endpoint chosen: the embedded model `workbench serve` started, if it did.
    base_url = base_url or wb.settings.llm_embedded_url
    try:
        return open_llm(home, base_url, model)[0], None
    except Exception as exc:  # noqa: BLE001 - the app stays up without a model and says why
        return None, str(exc) or type(exc).__name__


home = str(load_settings(env_file=".env").home)
wb = open_workbench(home)
apply_theme(options(wb)["theme"])
rerun_for_theme()

user = login.gate(wb)  # None: a home without users, open to whoever runs it
names = login.workspaces(wb, user)
if st.session_state.get("workspace") not in names:
    default = wb.settings.default_workspace
    st.session_state["workspace"] = default if default in names else names[0]
workspace = st.sidebar.selectbox("Workspace", names, key="workspace")
login.sign_out_button(user)

pages = {
    "chat": st.Page(page(lambda: chat.render(wb, workspace, llm)), title="Chat",
                    icon=":material/chat:", url_path="chat"),
    "search": st.Page(page(lambda: search.render(wb, workspace)), title="Search",
                      icon=":material/search:", url_path="search"),
    "conversations": st.Page(page(lambda: conversations.render(wb, workspace)), title="Conversations",
                             icon=":material/forum:", url_path="conversations"),
    "import": st.Page(page(lambda: import_page.render(wb, workspace, user)), title="Import",
                      icon=":material/upload_file:", url_path="import"),
    "evaluation": st.Page(page(lambda: evaluation.render(wb, user)), title="Evaluation",
                          icon=":material/monitoring:", url_path="evaluation"),
    "settings": st.Page(page(lambda: settings.render(wb, workspace, llm)), title="Settings",
                        icon=":material/settings:", url_path="settings"),
}
# The root URL opens the chat at its own URL: a default page is served at "/" only, and /chat
# (a bookmark, a reload) would find no page.
start = st.Page(lambda: st.switch_page(pages["chat"]), title="Workbench", url_path="start",
                default=True, visibility="hidden")
current = st.navigation([start, *pages.values()])
# A page asks for another one by setting NAV_KEY in a widget callback (common.go).
if (target := st.session_state.pop(NAV_KEY, None)) in pages and pages[target].url_path != current.url_path:
    st.switch_page(pages[target])
current.run()
