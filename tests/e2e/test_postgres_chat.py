"""A chat on the PostgreSQL backend, against the real embedded LLM server: the turns, their log
rows and their chunks land in PostgreSQL, and the next question finds the last answer."""

from __future__ import annotations

import pytest

from conftest import ingest_into

pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is installed by `make setup`")


@pytest.mark.timeout(600)  # import, index, two turns of the embedded model
def test_chat_turns_are_stored_logged_and_indexed_on_postgres(tmp_path, embedder, postgres_url):
    with ingest_into(tmp_path / "home", {"default": ["legacy_nosso_projeto.db"]}, embedder,
                     database_url=postgres_url) as wb:
        llm = wb.chat.llm()
        chat = wb.chat.session(llm)
        first = chat.ask("How do I back up nosso_projeto.db every day?", "default")
        assert first.error is None and first.text
        assert any("backup" in h.text for h in first.hits)
        second = chat.ask("And where should the copies go?", "default", first.conversation_id)
        assert second.error is None and second.conversation_id == first.conversation_id
        wb.chat.wait_for_indexing()
        stored = wb.conversations.messages(first.conversation_id)
        assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]
        assert [m.position for m in stored] == [0, 1, 2, 3]
        rows = wb.chat.interactions(first.conversation_id)
        assert [r["assistant_message_id"] for r in rows] == [stored[1].id, stored[3].id]
        # The turns' chunks are in the pgvector table and marked in the ledger: nothing pending.
        assert wb.search.index_pending().chunks_embedded == 0
        found = wb.search.query("backup copies", conversation=first.conversation_id, k=10,
                                retriever="vector.v1")
        # The user's words are memories; the chat's own answers are not (memory hygiene).
        assert {h.message_id for h in found.hits} == {m.id for m in stored if m.role == "user"}
