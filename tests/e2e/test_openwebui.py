"""A real Open WebUI as the workbench's client, driven through Open WebUI's own HTTP API.

Open WebUI (the PyPI package, in a virtualenv of its own: ``make test-openwebui`` makes it)
runs offline on 127.0.0.1 with the workbench as its OpenAI connection (an API key of alice) and
the Pipe of ``integrations/openwebui_pipe.py`` installed through its Functions API. The first
account made there is its admin; it chats with the memory model both ways: through the
connection (a "Sources" footer) and through the Pipe (each memory an Open WebUI source). The
workbench's LLM is the scripted endpoint of ``fake_openai.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from conftest import copy_home, wait_until
from fake_openai import FakeOpenAI, cite_first_memory
from serving import Served
from workbench import Workbench
from workbench.store.conversations import NATIVE_FORMAT

REPO = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("OPENWEBUI_VENV") or REPO.parent / "openwebui-venv")
OPEN_WEBUI = VENV / "bin" / "open-webui"
QUESTION = "How do I back up nosso_projeto.db?"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not OPEN_WEBUI.exists(), reason=f"Open WebUI is not installed in {VENV} "
                       "(`make test-openwebui` installs it there, about 7 GB, and runs this test)"),
]


def _offline_env(data: Path, workbench_url: str, key: str) -> dict[str, str]:
    """Open WebUI with nothing to download and nowhere to call but the workbench: no Ollama,
    no embedding or reranking model (retrieval is the workbench's), no update check, no
    telemetry, no pip installs of a function's requirements."""
    return {**os.environ, "DATA_DIR": str(data), "WEBUI_SECRET_KEY": uuid.uuid4().hex,
            "OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "ENABLE_OLLAMA_API": "false", "ENABLE_OPENAI_API": "true",
            "OPENAI_API_BASE_URL": f"{workbench_url}/v1", "OPENAI_API_KEY": key,
            "ENABLE_FORWARD_USER_INFO_HEADERS": "true",
            "RAG_EMBEDDING_ENGINE": "openai", "BYPASS_EMBEDDING_AND_RETRIEVAL": "true",
            "ENABLE_VERSION_UPDATE_CHECK": "false", "ENABLE_PIP_INSTALL_FRONTMATTER_REQUIREMENTS":
            "false", "ANONYMIZED_TELEMETRY": "false", "DO_NOT_TRACK": "true",
            "SCARF_NO_ANALYTICS": "true", "ENABLE_EVALUATION_ARENA_MODELS": "false",
            "PYTHONPATH": ""}


class OpenWebUI:
    """``open-webui serve`` in a process of its own on a free loopback port."""

    def __init__(self, folder: Path, env: dict[str, str]):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "open-webui.log"
        self.process = subprocess.Popen(
            [str(OPEN_WEBUI), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=folder, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"Open WebUI stopped: {self.log.read_text()[-2000:]}")
        try:  # /health answers before startup ends; the config answers after it
            return httpx.get(f"{self.url}/api/config", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, indexed_home, embedder) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("openwebui")
    home = copy_home(indexed_home, folder / "home")
    with FakeOpenAI(cite_first_memory, model="scripted-1") as llm, \
            Workbench.open(home, embedder, llm_base_url=llm.base_url, llm_model=llm.model,
                           store_linger_s=2.0) as wb:
        alice = wb.users.add("alice", "alice-password", ["default"])
        key, _ = wb.users.create_key(alice, "open-webui")
        with Served(wb) as server:
            webui = OpenWebUI(folder, _offline_env(folder / "data", server.url, key))
            try:
                assert wait_until(webui.ready, within_s=300), webui.log.read_text()[-2000:]
                yield {"wb": wb, "alice": alice, "key": key, "server": server, "webui": webui}
            finally:
                webui.close()


@pytest.fixture(scope="module")
def admin(stack) -> Iterator[httpx.Client]:
    """The first account made through Open WebUI's sign-up: its admin."""
    url = stack["webui"].url
    made = httpx.post(f"{url}/api/v1/auths/signup", timeout=60, json={
        "name": "Ada", "email": "ada@example.com", "password": "Ada-password-1"})
    assert made.status_code == 200, made.text
    assert made.json()["role"] == "admin"
    with httpx.Client(base_url=url, timeout=120,
                      headers={"Authorization": f"Bearer {made.json()['token']}"}) as client:
        client.user_id = made.json()["id"]
        yield client


@pytest.fixture(scope="module")
def pipe(stack, admin) -> str:
    """The Pipe, installed from the repository's file as an admin does on the Functions page,
    its valves set to the workbench and alice's key, and switched on."""
    source = (REPO / "integrations" / "openwebui_pipe.py").read_text()
    made = admin.post("/api/v1/functions/create", json={
        "id": "workbench_memory", "name": "Workbench memory", "content": source,
        "meta": {"description": "The workbench's memory, each memory a source"}})
    assert made.status_code == 200, made.text
    assert made.json()["type"] == "pipe"
    valves = admin.post("/api/v1/functions/id/workbench_memory/valves/update", json={
        "WORKBENCH_URL": stack["server"].url, "WORKBENCH_API_KEY": stack["key"]})
    assert valves.status_code == 200, valves.text
    assert admin.post("/api/v1/functions/id/workbench_memory/toggle").json()["is_active"]
    return "workbench_memory"


def _chat(admin: httpx.Client, model: str, question: str) -> tuple[str, dict[str, Any]]:
    """A new chat as Open WebUI's page starts one (a socket session, ids for both messages):
    Open WebUI answers in the background and saves the answer in the chat; the chat id and
    its assistant message once done."""
    asked, answer_id = str(uuid.uuid4()), str(uuid.uuid4())
    started = admin.post("/api/chat/completions", json={
        "model": model, "stream": True, "messages": [{"role": "user", "content": question}],
        "parent_id": None, "id": answer_id, "session_id": "test-session",
        "user_message": {"id": asked, "role": "user", "content": question, "parentId": None,
                         "childrenIds": [], "models": [model]}})
    assert started.status_code == 200, started.text
    chat_id = started.json()["chat_id"]
    seen: dict[str, Any] = {}

    def done() -> bool:
        chat = admin.get(f"/api/v1/chats/{chat_id}").json()["chat"]
        seen.update(chat["history"]["messages"].get(answer_id) or {})
        return bool(seen.get("done"))

    assert wait_until(done, within_s=120), seen
    assert not seen.get("error"), seen["error"]
    return chat_id, seen


def _stored_turn(stack: dict[str, Any], admin: httpx.Client, chat_id: str) -> dict[str, Any]:
    """The workbench conversation kept for Open WebUI's chat (named by the chat id and user id
    Open WebUI forwards), its messages and its one logged turn."""
    wb = stack["wb"]
    conversation_id = wb.users.client_chat(stack["alice"], f"chat:{admin.user_id}:{chat_id}")
    assert conversation_id is not None
    [row] = wb.chat.interactions(conversation_id)
    return {"messages": wb.conversations.messages(conversation_id), "turn": row}


def _assert_memory_from_the_import(stack: dict[str, Any], turn: dict[str, Any]) -> list[str]:
    wb = stack["wb"]
    assert turn["error"] is None and turn["retrieved_ids"]
    memories = [wb.conversations.message(mid) for mid in turn["retrieved_ids"]]
    imported = [m for m in memories
                if wb.conversations.get(m.conversation_id).source_format != NATIVE_FORMAT]
    assert any("backup" in m.content.lower() for m in imported)
    return [m.content for m in memories]


def test_open_webui_lists_the_memory_model_and_the_pipe(stack, admin, pipe):
    ids = {m["id"] for m in admin.get("/api/models").json()["data"]}
    assert {stack["wb"].settings.server_model, pipe} <= ids


def test_open_webui_chats_through_the_connection_with_a_sources_footer(stack, admin):
    chat_id, answer = _chat(admin, stack["wb"].settings.server_model, QUESTION)
    body, _, footer = answer["content"].partition("\n\nSources:\n")
    assert body.startswith("From your history") and footer.startswith("[1] ")
    stored = _stored_turn(stack, admin, chat_id)
    assert [(m.role, m.content) for m in stored["messages"]] == [("user", QUESTION),
                                                                 ("assistant", body.strip())]
    _assert_memory_from_the_import(stack, stored["turn"])


def test_open_webui_shows_each_memory_of_the_pipe_as_a_source(stack, admin, pipe):
    question = "When does the nosso_projeto.db backup run?"
    chat_id, answer = _chat(admin, pipe, question)
    assert answer["content"].startswith("From your history") and "Sources:" not in answer["content"]
    stored = _stored_turn(stack, admin, chat_id)
    texts = _assert_memory_from_the_import(stack, stored["turn"])
    sources = answer.get("sources") or []
    assert [s["document"][0] for s in sources] == texts  # every memory, in the prompt's order
    assert [s["source"]["id"] for s in sources] == stored["turn"]["retrieved_ids"]
    assert sources[0]["source"]["name"].startswith("[1] ")
