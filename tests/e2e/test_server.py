"""The HTTP server on a real uvicorn on 127.0.0.1, driven by httpx and the official openai client.

One server per module over a copy of the session's indexed home: alice owns the workspace
``default``, bob owns ``other``; the LLM is a scripted OpenAI-compatible endpoint.
"""

from __future__ import annotations

import json
import socket
from typing import Iterator

import httpx
import openai
import pytest

from conftest import FIXTURES, Cli, copy_home, run_workbench
from fake_openai import FakeOpenAI
from serving import Served
from workbench import Workbench

ALICE, BOB = ("alice", "alice-password"), ("bob", "bob-password")


def script(messages: list[dict]) -> str:
    """The scripted model answers from memory [1] of its prompt, as a grounded model would (so
    the workbench's grounding keeps its text and its citation)."""
    prompt = str(messages[0].get("content", ""))
    memory = next((line.split(": ", 1)[-1] for line in prompt.splitlines()
                   if line.startswith("[1] ")), "nothing")
    return f"From your history [1]: {memory}"


def kept(answer: str) -> bool:
    """The scripted model's words, kept by grounding with a citation (placed where it holds)."""
    return answer.startswith("From your history") and "[1]" in answer


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(script, model="scripted-1") as scripted:
        yield scripted


@pytest.fixture(scope="module")
def served(tmp_path_factory, indexed_home, embedder, llm) -> Iterator[Served]:
    home = copy_home(indexed_home, tmp_path_factory.mktemp("server") / "home")
    with Workbench.open(home, embedder, llm_base_url=llm.base_url, llm_model=llm.model,
                        store_linger_s=2.0, rate_limit="10000/minute",
                        login_rate_limit="1000/minute") as wb:
        wb.users.add(*ALICE, workspaces=["default"])
        wb.users.add(*BOB, workspaces=["other"])
        with Served(wb) as server:
            yield server


@pytest.fixture(scope="module")
def alice(served) -> Iterator[httpx.Client]:
    with served.client(served.login(*ALICE)["access_token"]) as client:
        yield client


@pytest.fixture(scope="module")
def bob(served) -> Iterator[httpx.Client]:
    with served.client(served.login(*BOB)["access_token"]) as client:
        yield client


@pytest.fixture(scope="module")
def alice_key(alice) -> str:
    answer = alice.post("/api/v1/keys", json={"name": "openai client"})
    assert answer.status_code == 201
    return answer.json()["key"]


def test_health_needs_no_login_and_the_docs_list_every_route(served):
    with served.client() as anonymous:
        assert anonymous.get("/health").json()["status"] == "ok"
        spec = anonymous.get("/openapi.json").json()
        assert anonymous.get("/docs").status_code == 200
    paths = set(spec["paths"])
    assert {"/api/v1/conversations", "/api/v1/search", "/api/v1/chat", "/api/v1/ingest",
            "/api/v1/jobs/{job_id}", "/api/v1/auth/token", "/v1/chat/completions",
            "/metrics"} <= paths
    for path, operations in spec["paths"].items():
        for operation in operations.values():  # every route's answer is typed
            assert "200" in operation["responses"] or "201" in operation["responses"] or \
                "202" in operation["responses"], path


def test_conversation_crud_and_paging(alice):
    made = [alice.post("/api/v1/conversations", json={"title": f"Server paging {n}"}).json()
            for n in range(3)]
    assert all(c["workspace"] == "default" for c in made)
    first = alice.get("/api/v1/conversations", params={"title": "server paging", "limit": 2}).json()
    second = alice.get("/api/v1/conversations",
                       params={"title": "server paging", "limit": 2, "offset": 2}).json()
    assert first["has_more"] and not second["has_more"]
    assert {c["id"] for c in first["items"] + second["items"]} == {c["id"] for c in made}
    cid = made[0]["id"]
    added = alice.post(f"/api/v1/conversations/{cid}/messages",
                       json={"role": "user", "content": "The staging database moved to Frankfurt."})
    assert added.status_code == 201
    renamed = alice.patch(f"/api/v1/conversations/{cid}", json={"title": "Frankfurt move"})
    assert renamed.json()["title"] == "Frankfurt move"
    detail = alice.get(f"/api/v1/conversations/{cid}").json()
    assert [m["content"] for m in detail["messages"]] == ["The staging database moved to Frankfurt."]
    assert alice.get(f"/api/v1/conversations/{cid}/messages").json()[0]["id"] == added.json()["id"]
    assert alice.delete(f"/api/v1/conversations/{cid}").json() == {"id": cid, "messages_deleted": 1}
    assert alice.get(f"/api/v1/conversations/{cid}").status_code == 404


@pytest.mark.parametrize("method, path, body, status", [
    ("get", "/api/v1/conversations", {"params": {"limit": 0}}, 422),
    ("post", "/api/v1/conversations", {"content": b"{not json"}, 422),
    ("post", "/api/v1/conversations/ffff/messages", {"json": {"role": "x", "content": "a"}}, 422),
    ("get", "/api/v1/conversations/ffffffff-0000-4000-8000-000000000000", {}, 404),
    ("get", "/api/v1/search", {"params": {"q": "x", "since": "no such day"}}, 400),
    ("get", "/api/v1/search", {"params": {"q": "x", "now": "tomorrowish"}}, 400),
    ("post", "/api/v1/chat", {"json": {"message": "\x00\x01"}}, 400),
    ("post", "/api/v1/chat", {"json": {"message": "hi", "stream": 0}}, 422),
    ("get", "/api/v1/eval/runs/zzzzzzzz", {}, 404),
    ("post", "/v1/chat/completions", {"json": {"model": "m", "messages": []}}, 422),
    ("post", "/v1/chat/completions",
     {"json": {"model": "m", "messages": [{"role": "assistant", "content": "hi"}]}}, 400),
])
def test_bad_input_is_one_json_error_never_a_500(alice, method, path, body, status):
    answer = getattr(alice, method)(path, **body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) == {"code", "message"} and "\n" not in error["message"]


def test_a_parent_outside_the_conversation_is_refused_and_nothing_is_written(alice):
    cid = alice.post("/api/v1/conversations", json={"title": "Parent check"}).json()["id"]
    answer = alice.post(f"/api/v1/conversations/{cid}/messages",
                        json={"role": "user", "content": "a", "parent_id": "not-a-message"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_input"
    assert alice.get(f"/api/v1/conversations/{cid}/messages").json() == []


def test_search_has_the_cli_json_contract(alice, served, tmp_path):
    served.app.state.jobs.wait()  # what earlier tests added and deleted is indexed
    query = {"q": "backup the database", "k": 5, "role": "user", "since": "2000-01-01",
             "until": "2030-12-31", "now": "2025-01-01"}
    answer = alice.get("/api/v1/search", params=query)
    assert answer.status_code == 200
    over_http = answer.json()
    cli = Cli(served.wb.settings.home).json(
        "search", query["q"], "--k", "5", "--role", "user", "--since", "2000-01-01",
        "--until", "2030-12-31", "--now", "2025-01-01", "--workspace", "default")
    assert set(over_http) == set(cli) and set(over_http["hits"][0]) == set(cli["hits"][0])
    # The same search in the server's process (the CLI's one-shot search reads LanceDB, not
    # the in-memory copy, so near-ties may swap there).
    from datetime import datetime, timezone

    result = served.wb.search.query(
        query["q"], "default", k=5, role="user", since=datetime(2000, 1, 1, tzinfo=timezone.utc),
        until=datetime(2031, 1, 1, tzinfo=timezone.utc),
        now=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert [h["message_id"] for h in over_http["hits"]] == [h.message_id for h in result.hits]
    assert {h["message_id"] for h in over_http["hits"]} & {h["message_id"] for h in cli["hits"]}
    assert over_http["hits"] and all(h["workspace"] == "default" and h["role"] == "user"
                                     for h in over_http["hits"])


def test_chat_turn_whole_and_streamed(alice, llm, served):
    whole = alice.post("/api/v1/chat", json={"message": "How do I back up the database?"}).json()
    assert whole["error"] is None and kept(whole["answer"])
    assert whole["memories"] and whole["citations"][0]["n"] == 1
    prompt = llm.requests[-1]["messages"][0]["content"]
    assert whole["memories"][0]["text"].split()[0] in prompt  # memories went into the prompt
    events = []
    with alice.stream("POST", "/api/v1/chat", json={
            "message": "And how often?", "conversation_id": whole["conversation_id"],
            "stream": True}) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        for line in streamed.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert "memories" in events[0] and "delta" in events[1]
    done = events[-1]
    assert "".join(e.get("delta", "") for e in events) == done["answer"]
    stored = served.wb.conversations.messages(whole["conversation_id"])
    assert [m.role for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[-1].content == done["answer"]


def test_openai_client_keeps_one_conversation_per_open_webui_chat(served, alice_key, llm):
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=alice_key, max_retries=0)
    assert [m.id for m in client.models.list()] == ["workbench-memory"]
    headers = {"X-OpenWebUI-Chat-Id": "owui-chat-1", "X-OpenWebUI-User-Id": "u-1"}
    question = {"role": "user", "content": "When did the backup job fail?"}
    first = client.chat.completions.create(model="workbench-memory", messages=[question],
                                           extra_headers=headers)
    text = first.choices[0].message.content
    assert kept(text) and "\n\nSources:\n[1] " in text
    assert first.usage.prompt_tokens == 40 and first.usage.total_tokens > 40
    follow = [question, {"role": "assistant", "content": text},
              {"role": "user", "content": "Which night was that?"}]
    pieces, usage = [], None
    for chunk in client.chat.completions.create(model="workbench-memory", messages=follow,
                                                stream=True, extra_headers=headers,
                                                stream_options={"include_usage": True}):
        assert chunk.object == "chat.completion.chunk"
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert kept("".join(pieces))
    assert usage.completion_tokens > 0
    conversations = served.wb.conversations.list("default", "When did the backup job fail")
    assert len(conversations) == 1  # both requests went to one conversation
    stored = served.wb.conversations.messages(conversations[0].id)
    assert [m.content for m in stored if m.role == "user"] == [
        "When did the backup job fail?", "Which night was that?"]
    assert "Sources:" not in stored[1].content  # the footer is for the client, not the memory


def test_a_chat_without_an_id_is_known_by_its_first_message(served, alice_key):
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=alice_key, max_retries=0)
    opener = {"role": "user", "content": "Plan a trip to Porto for the team offsite"}
    answer = client.chat.completions.create(model="workbench-memory", messages=[opener])
    again = client.chat.completions.create(model="workbench-memory", messages=[
        opener, {"role": "assistant", "content": answer.choices[0].message.content},
        {"role": "user", "content": "Add a day in Braga"}])
    assert again.choices[0].message.content
    client.chat.completions.create(model="workbench-memory", messages=[opener])  # a new chat
    found = served.wb.conversations.list("default", "Plan a trip to Porto")
    assert sorted(c.message_count for c in found) == [2, 4]


def test_ingest_upload_becomes_a_job_and_a_bad_file_writes_nothing(alice, served):
    before = alice.get("/api/v1/stats").json()
    with (FIXTURES / "sharegpt_dummy.json").open("rb") as handle:
        job = alice.post("/api/v1/ingest", files={"file": ("sharegpt.json", handle)})
    assert job.status_code == 202
    done = _wait_for_job(alice, job.json()["id"])
    assert done["status"] == "done" and done["result"]["messages_added"] > 0
    assert alice.get("/api/v1/stats").json()["messages"] == (
        before["messages"] + done["result"]["messages_added"])
    bad = alice.post("/api/v1/ingest", files={"file": ("broken.json", b'[{"mapping": ')})
    failed = _wait_for_job(alice, bad.json()["id"])
    assert failed["status"] == "failed" and failed["error"].startswith("broken.json")
    after = alice.get("/api/v1/stats").json()
    assert after["messages"] == before["messages"] + done["result"]["messages_added"]


def _wait_for_job(client: httpx.Client, job_id: str) -> dict:
    from conftest import wait_until

    state: dict = {}

    def finished() -> bool:
        state.update(client.get(f"/api/v1/jobs/{job_id}").json())
        return state["status"] in ("done", "failed")

    assert wait_until(finished, within_s=120)
    return state


def test_authorization_matrix(served, alice, bob, alice_key):
    """Every route: anonymous 401; bob on alice's things 404; alice 2xx."""
    cid = alice.post("/api/v1/conversations", json={"title": "Alice's secret"}).json()["id"]
    job = alice.post("/api/v1/ingest", files={"file": ("x.json", b"[]")}).json()["id"]
    eval_set = served.wb.evals.generate("default", 5, name="server-matrix")
    run = served.wb.evals.run(eval_set.ref)
    routes = [
        ("get", f"/api/v1/conversations/{cid}", {}),
        ("patch", f"/api/v1/conversations/{cid}", {"json": {"title": "renamed"}}),
        ("get", f"/api/v1/conversations/{cid}/messages", {}),
        ("post", f"/api/v1/conversations/{cid}/messages", {"json": {"role": "user", "content": "hi"}}),
        ("post", "/api/v1/chat", {"json": {"message": "hello", "conversation_id": cid}}),
        ("get", "/api/v1/search", {"params": {"q": "hello", "conversation": cid}}),
        ("get", "/api/v1/search", {"params": {"q": "hello", "workspace": "default"}}),
        ("get", "/api/v1/stats", {"params": {"workspace": "default"}}),
        ("get", "/api/v1/conversations", {"params": {"workspace": "default"}}),
        ("post", "/api/v1/conversations", {"json": {"workspace": "default"}}),
        ("get", f"/api/v1/jobs/{job}", {}),
        ("post", "/v1/chat/completions", {"json": {"model": "m", "workspace": "default",
                                                    "messages": [{"role": "user", "content": "hi"}]}}),
        ("get", f"/api/v1/eval/runs/{run.id}", {}),
    ]
    with served.client() as anonymous:
        for method, path, body in routes + [("get", "/api/v1/eval/runs", {}), ("get", "/metrics", {}),
                                            ("get", "/v1/models", {}), ("get", "/api/v1/keys", {})]:
            assert getattr(anonymous, method)(path, **body).status_code == 401, path
    for method, path, body in routes:
        assert getattr(bob, method)(path, **body).status_code == 404, (method, path)
    for method, path, body in routes:
        assert getattr(alice, method)(path, **body).status_code in (200, 201), (method, path)
    mine = {c["id"] for c in bob.get("/api/v1/conversations").json()["items"]}
    assert cid not in mine and bob.get("/api/v1/stats").json()["per_workspace"][0]["name"] == "other"
    assert run.id in {r["id"] for r in alice.get("/api/v1/eval/runs").json()}
    assert run.id not in {r["id"] for r in bob.get("/api/v1/eval/runs").json()}
    assert alice.delete(f"/api/v1/conversations/{cid}").status_code == 200
    with served.client(alice_key) as by_key:
        assert by_key.get("/api/v1/auth/me").json()["name"] == "alice"


def test_keys_are_shown_once_revocable_and_users_can_be_disabled(served, alice):
    made = alice.post("/api/v1/keys", json={"name": "temporary"}).json()
    listed = {k["id"]: k for k in alice.get("/api/v1/keys").json()}
    assert "key" not in listed[made["id"]] and made["key"].startswith(made["prefix"] + ".")
    with served.client(made["key"]) as by_key:
        assert by_key.get("/v1/models").status_code == 200
        assert alice.get("/api/v1/keys").json()[-1]["last_used_at"] is not None
        assert alice.delete(f"/api/v1/keys/{made['id']}").json()["revoked_at"]
        assert by_key.get("/v1/models").status_code == 401
    with served.client(made["key"][:-2] + "xx") as forged:
        assert forged.get("/v1/models").status_code == 401
    served.wb.users.add("carol", "carol-password")
    tokens = served.login("carol", "carol-password")
    with served.client(tokens["access_token"]) as carol:
        assert carol.get("/api/v1/auth/me").status_code == 200
        with served.client() as anonymous:
            refreshed = anonymous.post("/api/v1/auth/refresh",
                                       json={"refresh_token": tokens["refresh_token"]})
            assert refreshed.status_code == 200
            assert anonymous.post("/api/v1/auth/refresh", json={
                "refresh_token": tokens["access_token"]}).status_code == 401
        served.wb.users.disable("carol")
        assert carol.get("/api/v1/auth/me").status_code == 401
    with served.client() as anonymous:
        wrong = anonymous.post("/api/v1/auth/token", data={"username": "alice", "password": "nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"


def test_metrics_count_requests_by_route(alice):
    alice.get("/api/v1/stats")
    text = alice.get("/metrics").text
    assert 'workbench_http_requests_total{method="GET",route="/api/v1/stats",status="200"}' in text
    assert "workbench_http_request_seconds_bucket" in text
    # The home's sizes, as `workbench doctor` reports them: an indexed home has both.
    size = {line.split("}")[0].split('"')[1]: float(line.split()[-1]) for line in text.splitlines()
            if line.startswith("workbench_home_bytes{")}
    assert size["database"] > 0 and size["index"] > 0


def test_a_cli_write_while_the_server_runs_waits_its_turn(served, alice):
    """DuckDB takes one writing process: the server holds the file between requests and lets
    go when another workbench process asks, so a CLI write goes through."""
    cid = alice.post("/api/v1/conversations", json={"title": "before"}).json()["id"]
    alice.get("/api/v1/stats")  # the server has the database open now
    done = run_workbench(served.wb.settings.home, "conversations", "rename", cid, "renamed by the CLI")
    assert done.returncode == 0, done.stderr
    assert alice.get(f"/api/v1/conversations/{cid}").json()["title"] == "renamed by the CLI"


def test_no_auth_serves_the_local_user_every_workspace(served):
    with Served(served.wb, auth=False) as local, local.client() as anyone:
        spaces = {w["name"] for w in anyone.get("/api/v1/stats").json()["per_workspace"]}
        assert {"default", "other"} <= spaces


def test_api_refuses_to_start_on_a_home_without_users(tmp_path):
    done = run_workbench(tmp_path / "empty", "api", "--port", "9")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: this home has no users")


@pytest.fixture(scope="module")
def limited(served) -> Iterator[Served]:
    """A second server on the same workbench with small limits."""
    settings = served.wb.settings
    saved = settings.model_copy()
    settings.rate_limit, settings.login_rate_limit = "5/minute", "3/minute"
    settings.max_request_bytes, settings.max_upload_bytes = 4096, 64 * 1024
    try:
        with Served(served.wb) as server:
            yield server
    finally:
        for name in ("rate_limit", "login_rate_limit", "max_request_bytes", "max_upload_bytes"):
            setattr(settings, name, getattr(saved, name))


def test_rate_limit_refuses_exactly_the_request_past_it(limited):
    token = limited.login(*BOB)["access_token"]  # logins count against the address only
    with limited.client(token) as bob:
        answers = [bob.get("/api/v1/stats") for _ in range(6)]
    assert [a.status_code for a in answers].count(429) == 1 and answers[-1].status_code == 429
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    with limited.client() as anonymous:  # 1 login above, 2 more allowed, then refused
        tries = [anonymous.post("/api/v1/auth/token", data={"username": "bob", "password": "x"})
                 for _ in range(3)]
    assert [t.status_code for t in tries] == [401, 401, 429] and tries[-1].headers["Retry-After"]


def test_a_body_past_the_limit_is_refused_before_it_is_read(limited):
    with socket.create_connection(("127.0.0.1", limited.port), timeout=10) as raw:
        raw.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    b"multipart/form-data; boundary=b\r\nContent-Length: 1073741824\r\n\r\n")
        answer = b""
        while piece := raw.recv(4096):  # answered with no byte of the 1 GB sent; then closed
            answer += piece
    assert answer.startswith(b"HTTP/1.1 413") and b'"too_large"' in answer

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.json\"\r\n\r\n"
        for _ in range(100):
            yield b"x" * 4096

    with limited.client() as anonymous:
        assert anonymous.post("/api/v1/ingest", content=chunks(), headers={
            "Content-Type": "multipart/form-data; boundary=b"}).status_code == 413
        assert anonymous.post("/api/v1/conversations", content=b"{" + b" " * 5000 + b"}",
                              headers={"Content-Type": "application/json"}).status_code == 413


def test_open_webui_pipe_streams_the_answer_and_emits_each_memory_as_a_source(served, alice_key):
    import asyncio
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("openwebui_pipe",
                                                  REPO / "integrations" / "openwebui_pipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pipe = module.Pipe()
    pipe.valves.WORKBENCH_URL, pipe.valves.WORKBENCH_API_KEY = served.url, alice_key
    events: list[dict] = []

    async def emit(event: dict) -> None:
        events.append(event)

    async def run(text: str) -> str:
        body = {"model": "workbench.memory", "messages": [{"role": "user", "content": text}]}
        return "".join([piece async for piece in pipe.pipe(
            body, __user__={"id": "owui-user"}, __metadata__={"chat_id": "pipe-chat"},
            __event_emitter__=emit)])

    answer = asyncio.run(run("Which backup tool did we pick?"))
    assert kept(answer) and "Sources:" not in answer
    assert events and all(e["type"] == "source" for e in events)
    assert events[0]["data"]["source"]["name"].startswith("[1] ")
    assert events[0]["data"]["document"][0]
    [conversation] = served.wb.conversations.list("default", "Which backup tool did we pick?")
    alice_user = served.wb.users.get("alice")
    assert served.wb.users.client_chat(alice_user, "chat:owui-user:pipe-chat") == conversation.id
    pipe.valves.WORKBENCH_API_KEY = "wbk_wrong.key"
    assert asyncio.run(run("hello")).startswith("The workbench answered 401: unknown API key")


def test_jobs_outlive_the_server_and_one_it_was_running_is_answered_failed(tmp_path, embedder):
    import subprocess
    import sys
    import uuid

    home = tmp_path / "home"
    with Workbench.open(home, embedder, login_rate_limit="1000/minute") as wb:
        alice_id = wb.users.add(*ALICE, workspaces=["default"]).id
        wb.users.add(*BOB, workspaces=["other"])
        with Served(wb) as server, server.client(server.login(*ALICE)["access_token"]) as alice:
            small = json.dumps([{"id": "one", "conversations": [
                {"from": "human", "value": "Where did I leave the ladder?"},
                {"from": "gpt", "value": "In the shed, behind the bikes."}]}])
            job = alice.post("/api/v1/ingest", files={"file": ("sharegpt.json", small)})
            done = _wait_for_job(alice, job.json()["id"])
    assert done["status"] == "done", done
    # A job a server was running when it was killed: its process is gone, its upload left.
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stopped_id = str(uuid.uuid4())
    (home / "uploads" / stopped_id).mkdir(parents=True)
    (home / "uploads" / stopped_id / "big.json").write_text("[")
    (home / "jobs" / f"{stopped_id}.json").write_text(json.dumps({
        "job": {**done, "id": stopped_id, "status": "running", "result": None},
        "owner": alice_id, "pid": int(gone.stdout)}))

    with Workbench.open(home, embedder, login_rate_limit="1000/minute") as wb, Served(wb) as server:
        with server.client(server.login(*ALICE)["access_token"]) as alice:
            assert alice.get(f"/api/v1/jobs/{done['id']}").json() == done
            stopped = alice.get(f"/api/v1/jobs/{stopped_id}").json()
            assert stopped["status"] == "failed" and "server stopped" in stopped["error"]
            assert alice.get("/api/v1/jobs/not-a-job-id").status_code == 404
        with server.client(server.login(*BOB)["access_token"]) as bob:
            assert bob.get(f"/api/v1/jobs/{done['id']}").status_code == 404
    assert not (home / "uploads" / stopped_id).exists()
