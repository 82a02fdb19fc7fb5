"""Chat page: talk to the model with the workspace's past conversations as memory.

Each message can be copied; the last answer can be asked for again (regenerate) and a question
edited and sent again; both keep what they replace on an inactive branch, as ChatGPT does.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from workbench.api import Workbench
from workbench.chat.turn import Chat, Turn
from workbench.errors import EmptyMessage, InvalidInput
from workbench.chat.llm import LLMClient
from workbench.records import Conversation, Message
from workbench.ui import sidebar
from workbench.ui.common import LLMFactory, go, memory, options
from workbench.ui.sidebar import SELECTED

LAST_TURN = "chat_last_turn"  # the last turn of this session: its memories and error
PENDING = "chat_pending"  # what a button asked for: {"text", "edit"} or {"regenerate"}
EDITING = "chat_editing"  # id of the question being edited


def render(wb: Workbench, workspace: str, llm: LLMFactory) -> None:
    # Pinned to the bottom wherever it is called; read first, so that a new conversation's
    # heading and sidebar entry are drawn before its answer streams.
    prompt = st.chat_input("Ask anything; your past conversations are the memory")
    pending = st.session_state.pop(PENDING, None) or {}
    if pending.get("regenerate"):
        _regenerate(wb, llm, pending["regenerate"], pending["answer"])
    turn = _begin(wb, workspace, _selected(wb, workspace), prompt, pending)
    conversation = _selected(wb, workspace)
    cid = conversation.id if conversation else None
    st.title((conversation.title or "Untitled") if conversation else "New chat")
    sidebar.render(wb, workspace, st.sidebar.container())
    history = wb.conversations.messages(cid, active_only=True) if cid else []
    if turn is not None:
        history = [m for m in history if m.id != turn.user_message.id]
    # One slot, so that the welcome goes the moment a question is sent (not when the run ends).
    intro = st.empty()
    if not history and turn is None:
        with intro.container():
            _welcome(wb, workspace)
    answerable = turn is None and bool(history) and history[-1].role == "assistant"
    for n, message in enumerate(history):
        _show(wb, message, last=answerable and n == len(history) - 1)
    if turn is not None:
        _answer(wb, llm, turn)
        st.rerun()  # drawn again with the new answer's actions
    elif history and history[-1].role == "user":
        with st.chat_message("assistant"):
            _unanswered(wb, llm, cid, history[-1])


def _begin(wb: Workbench, workspace: str, conversation: Conversation | None, prompt: str | None,
           pending: dict[str, Any]) -> Turn | None:
    """Store the question (typed, an example chosen, or an edit) before anything is drawn."""
    text = prompt or pending.get("text")
    if not text:
        return None
    chat = _chat(wb, None)
    try:
        if pending.get("edit"):
            turn = chat.edit(pending["edit"], text)
        else:
            turn = chat.start(text, workspace, conversation.id if conversation else None)
    except EmptyMessage:
        st.warning("That message is empty, so nothing was sent. Type a question first.")
        return None
    except InvalidInput as exc:  # an edit of a question edited meanwhile
        st.toast(str(exc))
        return None
    st.session_state[SELECTED] = turn.conversation_id
    st.session_state[EDITING] = None
    return turn


def _welcome(wb: Workbench, workspace: str) -> None:
    """A new chat: what to do first, and questions from the user's own history to start with."""
    examples = wb.conversations.questions(workspace, limit=4)
    if not examples:
        st.markdown("**Start here.** The chat answers from your past conversations. Import a "
                    "ChatGPT, Claude or Open WebUI export first, or just ask: what you write "
                    "here is remembered too.")
        st.button("Import your history", icon=":material/upload_file:", type="primary",
                  on_click=go, args=("import",))
        return
    st.markdown("**Ask about your past conversations.** Answers quote and cite what you wrote "
                "before. Try one of your own questions:")
    for n, example in enumerate(examples):
        st.button(example, key=f"example-{n}", icon=":material/history:",
                  on_click=_ask, args=(example,))
    st.caption("More history makes better answers: add exports on the Import page.")


def _ask(text: str) -> None:
    st.session_state[PENDING] = {"text": text}


def _answer(wb: Workbench, llm: LLMFactory, turn: Turn) -> None:
    """The question just stored, and its answer as it streams."""
    with st.chat_message("user"):
        st.markdown(turn.user_message.content)
    chat = _chat(wb, None)
    with st.chat_message("assistant"):
        # The question is stored before the model is reached (the embedded one may be starting).
        chat.llm, llm_error = _client(wb, llm)
        shown = st.empty()
        with shown:
            st.write_stream(chat.stream(turn))
        if turn.answer is not None:  # the grounded reply replaces what the model wrote
            shown.markdown(turn.text)
        _remember(turn, llm_error)


def _regenerate(wb: Workbench, llm: LLMFactory, cid: str, answer: str) -> None:
    client, llm_error = _client(wb, llm)
    try:
        with st.spinner("Answering again…"):
            turn = _chat(wb, client).regenerate(cid, answer)
    except InvalidInput as exc:  # changed meanwhile, in another tab
        st.toast(str(exc))
        return
    _remember(turn, llm_error)


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
        "note": turn.note,
    }
    st.session_state[LAST_TURN] = last
    return last


def _show(wb: Workbench, message: Message, last: bool = False) -> None:
    """A stored message with its actions: copy; edit (a question); regenerate (the last answer)."""
    with st.chat_message(message.role):
        if message.speaker and message.role not in ("user", "assistant"):
            st.caption(message.speaker)
        if message.role == "user" and st.session_state.get(EDITING) == message.id:
            _edit_form(message)
            return
        st.markdown(message.content)
        if message.role == "assistant":
            remembered = st.session_state.get(LAST_TURN)
            if remembered and remembered["answer_id"] == message.id and remembered.get("note"):
                st.caption(remembered["note"])
            _sources(wb, message, remembered)
        _actions(message, last)


def _actions(message: Message, last: bool) -> None:
    row = st.container(horizontal=True, gap="small", key=f"actions-{message.id}")
    with row.popover("Copy", icon=":material/content_copy:", type="tertiary",
                     help="The message as Markdown, with a copy button"):
        st.code(message.content, language="markdown", wrap_lines=True)
    if message.role == "user":
        row.button("Edit", key=f"edit-{message.id}", icon=":material/edit:", type="tertiary",
                   help="Edit and send again: a new branch (this one is kept)",
                   on_click=lambda: st.session_state.update({EDITING: message.id}))
    elif message.role == "assistant" and last:
        row.button("Regenerate", key=f"regenerate-{message.id}", icon=":material/refresh:",
                   type="tertiary", help="Answer again (this answer is kept on its own branch)",
                   on_click=lambda: st.session_state.update(
                       {PENDING: {"regenerate": message.conversation_id, "answer": message.id}}))


def _edit_form(message: Message) -> None:
    key = f"edited-{message.id}"
    with st.form(f"edit-form-{message.id}", border=False):
        st.text_area("Edit your question", value=message.content, key=key)
        row = st.container(horizontal=True, gap="small")
        row.form_submit_button("Send", type="primary", on_click=lambda: st.session_state.update(
            {PENDING: {"text": st.session_state.get(key) or "", "edit": message.id},
             EDITING: None}))
        row.form_submit_button("Cancel",
                                  on_click=lambda: st.session_state.update({EDITING: None}))


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
