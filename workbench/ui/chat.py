"""Chat page: talk to the model with the workspace's past conversations as memory."""

from __future__ import annotations

from typing import Any

import streamlit as st

from workbench.api import Workbench
from workbench.chat.turn import Chat, Turn
from workbench.errors import EmptyMessage, InvalidInput
from workbench.chat.llm import LLMClient
from workbench.records import Conversation, Message
from workbench.ui.common import LLMFactory, memory, options

SELECTED = "chat_conversation"  # id of the conversation shown, None for a new chat
LAST_TURN = "chat_last_turn"  # the last turn of this session: its memories and error
CONFIRM_DELETE = "chat_confirm_delete"


def render(wb: Workbench, workspace: str, llm: LLMFactory) -> None:
    conversation = _selected(wb, workspace)
    cid = conversation.id if conversation else None
    st.title((conversation.title or "Untitled") if conversation else "New chat")
    history = wb.conversations.messages(cid, active_only=True) if cid else []
    for message in history:
        _show(wb, message)
    if history and history[-1].role == "user":
        with st.chat_message("assistant"):
            _unanswered(wb, llm, cid, history[-1])
    if prompt := st.chat_input("Ask anything; your past conversations are the memory"):
        _send(wb, llm, workspace, cid, prompt)
    # Last, so that a conversation the message above created is already listed.
    _sidebar(wb, workspace)


def _selected(wb: Workbench, workspace: str) -> Conversation | None:
    cid = st.session_state.get(SELECTED)
    if cid:
        try:
            conversation = wb.conversations.get(cid)
        except LookupError:  # deleted elsewhere
            conversation = None
        if conversation is not None and conversation.workspace == workspace:
            return conversation
    st.session_state[SELECTED] = None
    return None


def _client(wb: Workbench, llm: LLMFactory) -> tuple[LLMClient | None, str | None]:
    opts = options(wb)
    return llm(opts["llm_base_url"] or None, opts["llm_model"] or None)


def _chat(wb: Workbench, client: LLMClient | None) -> Chat:
    """A Chat with this session's k, retriever and chunker (the Settings page edits them)."""
    opts = options(wb)
    return wb.chat.session(client, k=opts["k"], retriever=opts["retriever"],
                           chunker=opts["chunker"])


def _send(wb: Workbench, llm: LLMFactory, workspace: str, cid: str | None, prompt: str) -> None:
    chat = _chat(wb, None)
    try:
        turn = chat.start(prompt, workspace, cid)
    except EmptyMessage:
        st.warning("That message is empty, so nothing was sent. Type a question first.")
        return
    st.session_state[SELECTED] = turn.conversation_id
    with st.chat_message("user"):
        st.markdown(turn.user_message.content)
    with st.chat_message("assistant"):
        # The question is stored before the model is reached (the embedded one may be starting).
        chat.llm, llm_error = _client(wb, llm)
        shown = st.empty()
        with shown:
            st.write_stream(chat.stream(turn))
        if turn.answer is not None:  # the grounded reply replaces what the model wrote
            shown.markdown(turn.text)
        if turn.note:
            st.caption(turn.note)
        last = _remember(turn, llm_error)
        if turn.answer is not None:
            _sources(wb, turn.answer, last)
        else:
            _unanswered(wb, llm, turn.conversation_id, turn.user_message)
    if turn.new_conversation:  # the heading above still says "New chat": draw it again
        st.rerun()


def _remember(turn: Turn, llm_error: str | None = None) -> dict[str, Any]:
    error = turn.error
    if error and llm_error:
        error = f"{error} ({llm_error})"
    last = {
        "conversation_id": turn.conversation_id,
        "user_message_id": turn.user_message.id,
        "answer_id": turn.answer.id if turn.answer else None,
        "error": error,
        "memories": [h.to_dict() for h in turn.hits],
    }
    st.session_state[LAST_TURN] = last
    return last


def _show(wb: Workbench, message: Message) -> None:
    with st.chat_message(message.role):
        if message.speaker and message.role not in ("user", "assistant"):
            st.caption(message.speaker)
        st.markdown(message.content)
        if message.role == "assistant":
            _sources(wb, message, st.session_state.get(LAST_TURN))


def _sources(wb: Workbench, answer: Message, last: dict[str, Any] | None) -> None:
    """Cited memories first (cited by the model and checked, or attributed by the check),
    then the others retrieved; all of them are kept with the answer."""
    citations = answer.metadata.get("citations") or []
    kept = (answer.metadata.get("sources") or {}).get("retrieved") or []
    retrieved = last["memories"] if last and last["answer_id"] == answer.id else kept
    if not citations and not retrieved:
        return
    cited_ids = {c["message_id"] for c in citations}
    attributed = sum(c.get("kind") == "attributed" for c in citations)
    with st.expander(f"Sources · {len(citations) - attributed} cited, {attributed} attributed, "
                     f"{len(retrieved)} retrieved"):
        for citation in citations:
            item = (retrieved[citation["n"] - 1] if len(retrieved) >= citation["n"]
                    else _lookup(wb, citation["message_id"]))
            if item is not None:
                memory(item, f"src-{answer.id}-{item['message_id']}", citation["n"])
                if citation.get("kind") == "attributed":
                    st.caption("attributed: the check found the sentence in this memory")
        others = [m for m in retrieved if m["message_id"] not in cited_ids]
        if others:
            st.caption("Also retrieved, not cited:")
        for item in others:
            memory(item, f"src-{answer.id}-{item['message_id']}")


def _lookup(wb: Workbench, message_id: str) -> dict[str, Any] | None:
    """A cited message as a memory item (None once it has been deleted)."""
    try:
        message = wb.conversations.message(message_id)
        title = wb.conversations.get(message.conversation_id).title
    except LookupError:
        return None
    return {"message_id": message.id, "conversation_id": message.conversation_id,
            "title": title, "speaker": message.speaker, "role": message.role,
            "timestamp": message.created_at, "text": message.content}


def _unanswered(wb: Workbench, llm: LLMFactory, cid: str, question: Message) -> None:
    """The last question has no answer (the LLM failed): why, what was remembered, Retry."""
    last = st.session_state.get(LAST_TURN)
    mine = last if last and last["user_message_id"] == question.id else None
    if mine and mine["error"]:
        st.error(mine["error"])
    else:  # e.g. an imported conversation that ends on a question
        st.info("This question has no answer yet; Retry asks the model now.")
    if mine and mine["memories"]:
        with st.expander(f"Memories retrieved · {len(mine['memories'])}", expanded=True):
            for item in mine["memories"]:
                memory(item, f"mem-{question.id}-{item['message_id']}")
    if st.button("Retry", key=f"retry-{question.id}", icon=":material/refresh:"):
        client, llm_error = _client(wb, llm)
        chat = _chat(wb, client)
        try:
            with st.spinner("Asking the model again…"):
                turn = chat.retry(cid)
        except InvalidInput as exc:  # answered meanwhile, in another tab
            st.warning(str(exc))
            return
        _remember(turn, llm_error)
        st.rerun()


# -- sidebar ------------------------------------------------------------------------------------
def _select(cid: str | None) -> None:
    st.session_state[SELECTED] = cid
    st.session_state[CONFIRM_DELETE] = None


def _rename(wb: Workbench, cid: str, key: str) -> None:
    title = (st.session_state.get(key) or "").strip()
    if title:
        wb.conversations.rename(cid, title)


def _delete(wb: Workbench, cid: str) -> None:
    wb.conversations.delete(cid)
    _select(None)


def _sidebar(wb: Workbench, workspace: str) -> None:
    bar = st.sidebar
    selected = st.session_state.get(SELECTED)
    bar.button("New chat", icon=":material/add:", width="stretch", on_click=_select, args=(None,))
    text = bar.text_input("Filter conversations by title", key="chat_filter")
    conversations = wb.conversations.list(workspace, text.strip() or None, limit=50)
    if not conversations:
        bar.caption("No conversations yet." if not text else "No title matches.")
    for c in conversations:
        bar.button(c.title or "Untitled", key=f"conv-{c.id}", width="stretch",
                   type="primary" if c.id == selected else "tertiary",
                   on_click=_select, args=(c.id,))
    if not selected:
        return
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
