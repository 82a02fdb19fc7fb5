"""The benchmark commands run end to end at small sizes: their tables print and their results
are stored (the figures themselves are measured on real sizes, not here)."""

from __future__ import annotations

import json

import pytest

from conftest import Cli


def _stored(cli: Cli, name: str) -> dict:
    [path] = (cli.home / "bench").glob(f"{name}-*.json")
    return json.loads(path.read_text())


@pytest.mark.slow
def test_bench_chat_small(cli: Cli):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python[server] is installed by `make setup`")
    result = cli("bench", "chat", "--messages", "300", "--turns", "4")
    assert "chat benchmark" in result.stdout
    [row] = _stored(cli, "chat")["rows"]
    assert row["turns"] == 4 and row["messages"] >= 300
    assert 0 < row["overhead_p50_ms"] <= row["overhead_p95_ms"]
    assert row["with_indexing_p50_ms"] >= row["overhead_p50_ms"] * 0.5
    assert row["ttft_p50_ms"] > 0


@pytest.mark.slow
def test_bench_search_small(cli: Cli):
    result = cli("bench", "search", "--sizes", "600")
    assert "search benchmark" in result.stdout
    rows = _stored(cli, "search")["rows"]
    assert {r["engine"] for r in rows} == {"mirror", "lancedb"}
    for row in rows:
        assert row["messages"] == 600 and 0 < row["p50_ms"] <= row["p95_ms"]
        assert row["ann_recall_at_10"] >= 0.95  # exact below the ANN threshold
