"""The chat flow against the real embedded LLM server (SmolLM2 via llama.cpp on 127.0.0.1)."""

from __future__ import annotations


import json
from typing import Iterator

import pytest

from conftest import Cli, ingest_into, wait_until

pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is installed by `make setup`")

from workbench import Workbench  # noqa: E402
from workbench.errors import EmptyMessage, NotFound  # noqa: E402
from workbench.chat.llm import LLMClient, LLMConfig  # noqa: E402


@pytest.fixture(scope="module")
def wb(tmp_path_factory, embedder) -> Iterator[Workbench]:
    with ingest_into(tmp_path_factory.mktemp("chat"), {
            "default": ["legacy_nosso_projeto.db"], "elsewhere": ["chatgpt_branches.json"]},
            embedder) as wb:
        yield wb


@pytest.fixture(scope="module")
def llm(wb) -> LLMClient:
    client = wb.chat.llm()  # the workbench's embedded server, stopped when it closes
    assert client.health()[0]
    return client


def test_first_message_creates_titled_conversation_and_logs(wb, llm):
    chat = wb.chat.session(llm)
    turn = chat.ask("How do I back up nosso_projeto.db every day?", "default")
    assert turn.error is None and turn.text
    conv = wb.conversations.get(turn.conversation_id)
    assert conv.title == "How do I back up nosso_projeto.db every day?"
    stored = wb.conversations.messages(conv.id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].content == turn.text and stored[1].parent_id == stored[0].id
    assert turn.hits and all(h.workspace == "default" for h in turn.hits)
    assert any("backup" in h.text for h in turn.hits)
    for citation in turn.citations:  # the small model cites rarely; what it cites must exist
        cited = wb.conversations.message(citation["message_id"])
        assert wb.conversations.get(cited.conversation_id).workspace == "default"
    assert stored[1].metadata["citations"] == turn.citations
    [row] = wb.chat.interactions(conv.id)
    assert row["assistant_message_id"] == stored[1].id and row["error"] is None
    assert row["retrieval_ms"] > 0 and row["ttft_ms"] > 0 and row["total_ms"] > row["ttft_ms"]
    # The workbench's own time: before the model and after it, up to the log row's write.
    timings = turn.timings_ms
    assert timings["prepare"] < row["overhead_ms"] <= timings["overhead"]
    assert row["total_ms"] == pytest.approx(row["overhead_ms"] + timings["generation"])
    assert row["tokens_out"] > 0 and row["model"] == llm.model
    assert row["retrieved_ids"] == [h.message_id for h in turn.hits]
    wb.chat.wait_for_indexing()  # the turn's work is done: the database is not held over think-time
    assert wait_until(lambda: wb.store._keeper is None, within_s=5)  # a turn holds it 30 s and more
    with pytest.raises(NotFound):  # a turn that fails before the model lets go at once too
        chat.ask("Which conversation is this?", "default", "ffffffff-0000-4000-8000-000000000000")
    assert wait_until(lambda: wb.store._keeper is None, within_s=5)  # a turn holds it 30 s and more


def test_follow_up_sees_earlier_turns_and_memory_grows(wb, llm):
    chat = wb.chat.session(llm)
    first = chat.ask("My sister's dog is called Biscuit and lives in Porto.", "default")
    follow = chat.start("Where does the dog live?", "default", first.conversation_id)
    history = [m["content"] for m in follow.prompt[1:-1]]
    assert "My sister's dog is called Biscuit and lives in Porto." in history
    visible = {first.user_message.id} | ({first.answer.id} if first.answer else set())
    assert not visible & {h.message_id for h in follow.hits}  # not repeated as memories
    for _ in chat.stream(follow):
        pass
    other = chat.ask("What is the name of my sister's dog?", "default")
    assert other.conversation_id != first.conversation_id
    assert first.user_message.id in [h.message_id for h in other.hits]
    assert_turns_indexed_as_a_full_sync_would(wb)


def assert_turns_indexed_as_a_full_sync_would(wb) -> None:
    """The chat indexes its turns from memory; a full sync finds nothing to add or remove,
    and every chunk is in the index once."""
    wb.chat.wait_for_indexing()
    report = wb.search.index_pending()
    assert (report.chunks_added, report.chunks_removed, report.chunks_embedded) == (0, 0, 0)
    with wb.store.connect() as con:
        ledger = con.execute("SELECT count(*) FROM indexed_chunks").fetchone()[0]
        chunks = con.execute("SELECT count(*) FROM chunks").fetchone()[0]
    assert wb.search.index().count() == ledger == chunks


def test_a_message_written_meanwhile_moves_the_answer_along(wb, llm):
    """Two tabs on one conversation: the answer is stored after the other tab's message, and
    its index row carries the position the store gave it, not the one its draft guessed."""
    chat = wb.chat.session(llm)
    first = chat.ask("Which port does the staging proxy listen on?", "default")
    turn = chat.start("And the production one?", "default", first.conversation_id)
    other = wb.conversations.add_message(first.conversation_id, "user", "(from another tab) never mind")
    for _ in chat.stream(turn):
        pass
    wb.chat.wait_for_indexing()
    assert turn.answer is not None and turn.answer.position == other.position + 1
    # The answer is the workbench's own: stored and shown, not indexed (see test_answers).
    assert not (wb.search.index().table.search().where(f"message_id = '{turn.answer.id}'")
                .select(["position"]).to_list())
    wb.search.index_pending()  # settles what the chat's view missed: the other tab's message
    assert_turns_indexed_as_a_full_sync_would(wb)


def test_llm_down_keeps_the_question_and_retry_answers_it(wb, llm):
    down = LLMClient(LLMConfig(base_url="http://127.0.0.1:9/v1", model="x", timeout_s=3))
    turn = wb.chat.session(down).ask("Which index speeds up conversation_id queries?", "default")
    assert turn.error and "127.0.0.1:9" in turn.error
    assert turn.hits and turn.answer is None
    assert [m.role for m in wb.conversations.messages(turn.conversation_id)] == ["user"]
    assert wb.chat.interactions(turn.conversation_id)[0]["error"] == turn.error
    again = wb.chat.session(llm).retry(turn.conversation_id)
    assert again.error is None and again.answer is not None
    assert [m.role for m in wb.conversations.messages(turn.conversation_id)] == ["user", "assistant"]
    assert_turns_indexed_as_a_full_sync_would(wb)  # the question was indexed once, not twice


def test_bad_input(wb, llm):
    chat = wb.chat.session(llm)
    before = wb.stats()["messages"]
    with pytest.raises(EmptyMessage):
        chat.ask(" \x00\x07 \n", "default")
    assert wb.stats()["messages"] == before
    turn = chat.ask("hello\x00 there\x1b[31m!", "default")
    assert wb.conversations.message(turn.user_message.id).content == "hello there[31m!"
    paste = ("backup cron sqlite " * 60000)[:1_000_000]
    big = chat.ask(paste, "default")
    assert len(wb.conversations.message(big.user_message.id).content) == len(paste.strip())
    assert big.hits and big.error is None
    assert [m.role for m in wb.conversations.messages(big.conversation_id)] == ["user", "assistant"]


def test_chat_cli_contract(wb, llm, monkeypatch):
    monkeypatch.setenv("WORKBENCH_LLM_BASE_URL", llm.endpoint)
    monkeypatch.setenv("WORKBENCH_LLM_MODEL", llm.model)
    payload = Cli(wb.settings.home).json("chat", "What did I ask about pgvector?", "-w", "default")
    assert payload["conversation_id"] and payload["answer"]
    for key in ("citations", "memories", "timings_ms", "user_message_id", "assistant_message_id"):
        assert key in payload
    assert payload["timings_ms"]["retrieval"] > 0
    follow = Cli(wb.settings.home).json("chat", "And when?", "--conversation",
                                        payload["conversation_id"])
    assert follow["conversation_id"] == payload["conversation_id"]


def test_a_turns_log_records_carry_its_id_and_none_of_its_text(wb, llm, tmp_path):
    from workbench.logs import configure_logging

    configure_logging(tmp_path, slow_ms=0, force=True)  # every store operation and search logged
    try:
        chat = wb.chat.session(llm)
        turn = chat.ask("My dentist Dr. Quintela moved her clinic to Rua Augusta.", "default")
        wb.chat.wait_for_indexing()
        text = (tmp_path / "logs" / "workbench.log").read_text()
    finally:
        configure_logging(None, force=True)
    records = [json.loads(line) for line in text.splitlines()]
    mine = [r for r in records if r.get("turn_id") == turn.turn_id]
    assert turn.turn_id and {r["op"] for r in mine} >= {"store", "search"}
    # The indexing worker's store operations belong to the turn too.
    assert any(r["shape"].get("caller", "").startswith("DuckDBChunks") for r in mine)
    for secret in ("Quintela", "Rua Augusta", "dentist", turn.text[:20]):
        assert secret not in text
