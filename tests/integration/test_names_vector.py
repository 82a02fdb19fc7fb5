"""hybrid-rrf.v6: the question without the participants' names is embedded too, and the two
vector lists share the vector weight."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES
from workbench import Workbench


@pytest.mark.slow
@pytest.mark.timeout(900)  # embeds one LoCoMo conversation (369 turns)
def test_a_question_that_names_a_participant_is_also_embedded_without_the_name(tmp_path):
    samples = json.loads((FIXTURES / "locomo_dev.json").read_text())
    [jon_and_gina] = [s for s in samples if s["sample_id"] == "conv-30"]
    export = tmp_path / "conv-30.json"
    export.write_text(json.dumps([jon_and_gina]))
    wb = Workbench.open(tmp_path / "home")
    wb.imports.ingest([export])

    def found(question: str, retriever: str) -> set[str]:
        result = wb.search.query(question, "conv-30", k=5, retriever=retriever)
        return {hit.source_id for hit in result.hits}

    # Jon's trips are told in his own turns, which share no word with the question; with his
    # name, the question's embedding is mostly "Jon" and finds the turns that address him.
    cities = {"D2:4", "D15:1"}  # Paris, Rome: the question's evidence in the file
    question = "Which cities has Jon visited?"
    assert not found(question, "hybrid-rrf.v5") & cities
    assert found(question, "hybrid-rrf.v6") & cities
    assert "names" in wb.search.query(question, "conv-30", k=5,
                                      retriever="hybrid-rrf.v6").timings_ms

    # A question that names nobody is searched once, as v5 searches it.
    for plain in ("Which cities were visited?", "What does the dance studio look like?"):
        assert found(plain, "hybrid-rrf.v6") == found(plain, "hybrid-rrf.v5")
    wb.close()
