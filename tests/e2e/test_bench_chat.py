"""The chat benchmark end to end at a small size, against the embedded LLM server."""

from __future__ import annotations

import json

import pytest

from conftest import Cli


def _stored(cli: Cli, name: str) -> dict:
    [path] = (cli.home / "bench").glob(f"{name}-*.json")
    return json.loads(path.read_text())


@pytest.mark.slow
@pytest.mark.timeout(600)  # starts the embedded server, then 300 messages and four turns
def test_bench_chat_small(cli: Cli):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is installed by `make setup`")
    result = cli("bench", "chat", "--messages", "300", "--turns", "4")
    assert "chat benchmark" in result.stdout
    [row] = _stored(cli, "chat")["rows"]
    assert row["turns"] == 4 and row["messages"] >= 300
    assert 0 < row["overhead_p50_ms"] <= row["overhead_p95_ms"]
    assert row["with_indexing_p50_ms"] >= row["overhead_p50_ms"] * 0.5
    assert row["ttft_p50_ms"] > 0
