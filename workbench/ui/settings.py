"""Settings page: this session's model endpoint and retrieval options, and the system's status."""

from __future__ import annotations

import streamlit as st

from workbench.api import Workbench
from workbench.text.chunking import CHUNKERS
from workbench.search.retrieve import RETRIEVERS
from workbench.ui.common import LLMFactory, options

CHECK_EMBEDDED = "settings_check_embedded"


def render(wb: Workbench, workspace: str, llm: LLMFactory) -> None:
    opts = options(wb)
    st.title("Settings")
    st.caption("Changes here apply to this browser session (new chat turns, searches and "
               "imports). Defaults come from the WORKBENCH_* environment variables.")
    with st.form("settings"):
        base_url = st.text_input("LLM endpoint (OpenAI-compatible base URL)",
                                 value=opts["llm_base_url"],
                                 help="Empty: the embedded local model, started on first use")
        model = st.text_input("Model", value=opts["llm_model"],
                              help="Empty: the first model the endpoint lists")
        k = st.slider("Memories per chat turn and results per search (k)", 1, 50,
                      value=min(opts["k"], 50))
        left, right = st.columns(2)
        retrievers, chunkers = list(RETRIEVERS), list(CHUNKERS)
        retriever = left.selectbox("Retriever (search page)", retrievers,
                                   index=retrievers.index(opts["retriever"]))
        chunker = right.selectbox("Chunker (index searched)", chunkers,
                                  index=chunkers.index(opts["chunker"]))
        redact = st.toggle("Redact PII in new imports", value=opts["redact"])
        if st.form_submit_button("Apply"):
            opts.update(llm_base_url=base_url.strip(), llm_model=model.strip(), k=k,
                        retriever=retriever, chunker=chunker, redact=redact)
            st.success("Applied to this session.")
    st.subheader("Status", anchor=False)
    _llm_status(llm, opts["llm_base_url"] or None, opts["llm_model"] or None)
    _index_status(wb, workspace, opts["chunker"])
    _health(wb)


def _llm_status(llm: LLMFactory, base_url: str | None, model: str | None) -> None:
    if base_url is None and not st.session_state.get(CHECK_EMBEDDED):
        st.info("**LLM:** the embedded local model; it starts with the first chat message.")
        if st.button("Start it and check now"):
            st.session_state[CHECK_EMBEDDED] = True
            st.rerun()
        return
    client, error = llm(base_url, model)
    ok, detail = client.health() if client is not None else (False, error or "no client")
    if ok:
        st.success(f"**LLM:** {detail}")
    else:
        st.error(f"**LLM unavailable:** {detail}. Chat still stores questions and shows the "
                 "memories; answer them later with Retry.")


def _index_status(wb: Workbench, workspace: str, chunker: str) -> None:
    stats = wb.stats(workspace)
    index = wb.search.index(chunker)
    st.info(f"**Index** `{index.name}`: {index.count()} chunks indexed (all workspaces). "
            f"**Store:** {stats['conversations']} conversations, {stats['messages']} messages "
            f"in workspace “{workspace}”.")
    st.caption("Chunks pending are not reported by the API yet; “Index pending now” embeds "
               "whatever the index lacks.")
    if st.button("Index pending now"):
        with st.spinner("Chunking and embedding…"):
            report = wb.search.index_pending(chunker)
        st.success(f"{report.chunks_embedded} chunks embedded, {report.chunks_removed} removed, "
                   f"in {report.seconds:.1f} s.")


def _health(wb: Workbench) -> None:
    """What ``workbench doctor`` prints, on demand (it scans the index's chunk ids)."""
    from workbench.ops.doctor import examine

    st.subheader("Health", anchor=False)
    if not st.button("Check health (workbench doctor)"):
        return
    report = examine(wb)
    show = {"ok": st.success, "warn": st.warning, "fail": st.error}[report.status]
    show(f"**Health: {report.status}** · " + " · ".join(
        f"{name} {size / (1 << 20):.1f} MiB" for name, size in report.sizes.items()))
    st.dataframe([c.to_dict() for c in report.checks], hide_index=True)
    if report.slowest:
        st.caption("Slowest recent operations (shape only, never text)")
        st.dataframe([{"when": op["ts"], "operation": op["op"], "ms": op["duration_ms"],
                       "shape": op["shape"]} for op in report.slowest], hide_index=True)
