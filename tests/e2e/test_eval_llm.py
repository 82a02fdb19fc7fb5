"""Eval questions written by the embedded LLM (SmolLM2 via llama.cpp) over the user's history."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from conftest import HISTORY, ingest_into
from workbench import Workbench


@pytest.fixture
def wb(tmp_path: Path, embedder) -> Iterator[Workbench]:
    """The exports in workspace "mine", store only: questions need no index."""
    with ingest_into(tmp_path / "home", {"mine": HISTORY}, embedder, index_on_ingest=False) as wb:
        yield wb


@pytest.mark.slow
def test_llm_questions_from_the_embedded_model(wb):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    # SmolLM2-135M writes a usable question for about half of the longer messages, and for
    # none of the tiny sample's short turns. The fixture's close stops the embedded server.
    made = wb.evals.generate("mine", 1, seed=3, method="llm")
    assert made.kind == "llm" and made.name == "mine-llm" and made.queries == 1
    assert made.params["model"] and made.params["temperature"] == 0.0
    for q in wb.evals.queries(made.ref):
        assert q.relevant == {q.metadata["target"]} and 3 <= len(q.text.split()) <= 40
