"""The OpenAI-compatible model with memory on the real embedded LLM (SmolLM2 via llama.cpp)."""

from __future__ import annotations

import openai
import pytest

from conftest import copy_home
from serving import Served
from workbench import Workbench

pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is installed by `make setup`")


def test_openai_client_streams_an_answer_with_sources_from_the_embedded_model(
        tmp_path, indexed_home, embedder):
    with Workbench.open(copy_home(indexed_home, tmp_path / "home"), embedder) as wb:
        user = wb.users.add("alice", "alice-password", ["default"])
        key, _ = wb.users.create_key(user, "test")
        with Served(wb) as server:
            client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
            pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model="workbench-memory", stream=True,
                messages=[{"role": "user", "content": "How do I back up nosso_projeto.db?"}],
                extra_headers={"X-OpenWebUI-Chat-Id": "real-1"}) if c.choices]
        answer = "".join(pieces)
        body, _, sources = answer.partition("\n\nSources:\n")
        assert body.strip() and sources.startswith("[")
        [conversation] = wb.conversations.list("default", "How do I back up nosso_projeto.db?")
        stored = wb.conversations.messages(conversation.id)
        assert [m.role for m in stored] == ["user", "assistant"]
        assert stored[1].content == body.strip()
        [row] = wb.chat.interactions(conversation.id)
        assert row["error"] is None and row["retrieved_ids"]  # memories from the imported history
        assert any("backup" in wb.conversations.message(mid).content.lower()
                   for mid in row["retrieved_ids"])
