"""Eval questions written by the embedded LLM (SmolLM2 via llama.cpp) over the user's history."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import HISTORY, ingest_into
from workbench import Workbench


@pytest.fixture
def wb(tmp_path: Path) -> Workbench:
    """The exports in workspace "mine", store only: questions need no index."""
    return ingest_into(tmp_path / "home", {"mine": HISTORY}, index_on_ingest=False)


@pytest.mark.slow
def test_llm_questions_from_the_embedded_model(wb):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    from workbench.chat.llm import shutdown_embedded

    try:
        # SmolLM2-135M writes a usable question for about half of the longer messages, and
        # for none of the tiny sample's short turns.
        made = wb.eval_generate("mine", 1, seed=3, method="llm")
    finally:
        shutdown_embedded()
    assert made.kind == "llm" and made.name == "mine-llm" and made.queries == 1
    assert made.params["model"] and made.params["temperature"] == 0.0
    for q in wb.eval_queries(made.ref):
        assert q.relevant == {q.metadata["target"]} and 3 <= len(q.text.split()) <= 40
