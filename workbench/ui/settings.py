"""Settings page: the model, retrieval options and theme (kept in the home), and the status."""

from __future__ import annotations

import streamlit as st

from workbench.api import Workbench
from workbench.text.chunking import CHUNKERS
from workbench.search.retrieve import RETRIEVERS
from workbench.ui import preferences
from workbench.ui.common import LLMFactory, apply_theme, options

CHECK_EMBEDDED = "settings_check_embedded"


def render(wb: Workbench, workspace: str, llm: LLMFactory) -> None:
    opts = options(wb)
    st.title("Settings")
    st.caption("Saved with this workbench: every session opened on it starts from these.")
    st.toggle("Dark theme", value=opts["theme"] == "dark", key="settings_dark",
              on_change=_theme, args=(wb,))
    with st.form("settings"):
        base_url = st.text_input("Model endpoint (OpenAI-compatible URL)",
                                 value=opts["llm_base_url"],
                                 placeholder="Empty: the built-in local model",
                                 help="e.g. http://127.0.0.1:11434/v1 for Ollama. Empty: the "
                                      "small model that comes with the workbench")
        model = st.text_input("Model", value=opts["llm_model"],
                              placeholder="Empty: the first model the endpoint offers")
        k = st.slider("Memories per answer and results per search", 1, 50,
                      value=min(opts["k"], 50))
        redact = st.toggle("Hide personal data (emails, phone numbers…) in new imports",
                           value=opts["redact"])
        with st.expander("Search method"):
            left, right = st.columns(2)
            retrievers, chunkers = list(RETRIEVERS), list(CHUNKERS)
            retriever = left.selectbox("Ranking", retrievers,
                                       index=retrievers.index(opts["retriever"]))
            chunker = right.selectbox("Passages", chunkers,
                                      index=chunkers.index(opts["chunker"]))
        if st.form_submit_button("Save", type="primary"):
            opts.update(llm_base_url=base_url.strip(), llm_model=model.strip(), k=k,
                        retriever=retriever, chunker=chunker, redact=redact)
            preferences.save(wb.settings, opts)
            st.success("Saved.")
    st.subheader("Status", anchor=False)
    _llm_status(wb, llm, opts["llm_base_url"] or None, opts["llm_model"] or None)
    _index_status(wb, workspace, opts["chunker"])
    _health(wb)


def _theme(wb: Workbench) -> None:
    opts = options(wb)
    opts["theme"] = "dark" if st.session_state["settings_dark"] else "light"
    preferences.save(wb.settings, opts)
    apply_theme(opts["theme"])


def _llm_status(wb: Workbench, llm: LLMFactory, base_url: str | None, model: str | None) -> None:
    embedded = base_url is None
    if embedded and not (wb.settings.llm_embedded_url or st.session_state.get(CHECK_EMBEDDED)):
        st.info("**Model:** the built-in local model; it starts with the first chat message.")
        if st.button("Start it and check now"):
            st.session_state[CHECK_EMBEDDED] = True
            st.rerun()
        return
    client, error = llm(base_url, model)
    ok, detail = client.health() if client is not None else (False, error or "no client")
    if ok and embedded:  # its address is an internal detail (a port chosen at start)
        st.success(f"**Model:** the built-in local model is answering ({client.model}).")
    elif ok:
        st.success(f"**Model:** {detail}")
    else:
        st.error(f"**Model unavailable:** {detail}. Chat still keeps your questions and shows "
                 "the memories found; answer them later with Retry.")


def _index_status(wb: Workbench, workspace: str, chunker: str) -> None:
    stats = wb.stats(workspace)
    index = wb.search.index(chunker)
    st.info(f"**Search index:** {index.count()} passages, all workspaces. "
            f"**Workspace “{workspace}”:** {stats['conversations']} conversations, "
            f"{stats['messages']} messages.")
    if st.button("Bring the search index up to date"):
        with st.spinner("Indexing…"):
            report = wb.search.index_pending(chunker)
        st.success(f"{report.chunks_embedded} passages added, {report.chunks_removed} removed, "
                   f"in {report.seconds:.1f} s.")


def _health(wb: Workbench) -> None:
    """What ``workbench doctor`` prints, on demand (it scans the index's chunk ids)."""
    from workbench.ops.doctor import examine

    st.subheader("Health", anchor=False)
    if not st.button("Check health"):
        return
    report = examine(wb)
    show = {"ok": st.success, "warn": st.warning, "fail": st.error}[report.status]
    show(f"**Health: {report.status}** · " + " · ".join(
        f"{name} {size / (1 << 20):.1f} MiB" for name, size in report.sizes.items()))
    st.dataframe([c.to_dict() for c in report.checks], hide_index=True)
    if report.slowest:
        st.caption("Slowest recent operations")
        st.dataframe([{"when": op["ts"], "operation": op["op"], "ms": op["duration_ms"],
                       "shape": op["shape"]} for op in report.slowest], hide_index=True)
