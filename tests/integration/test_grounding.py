"""Grounding answers in memories: the measured threshold, attribution, the extractive answer."""

from __future__ import annotations

import pytest

from conftest import FIXTURES, ingest_into
from workbench.chat.answer import UNSUPPORTED_NOTE, Composer
from workbench.chat.grounding import (COSINE_WEIGHT, SUPPORT_THRESHOLD, Evidence, Grounder,
                                      split_answer, with_citations)
from workbench.evaluation.calibration import grid, read_pairs

PAIRS = FIXTURES / "grounding_pairs.jsonl"
NEGATION_PAIRS = FIXTURES / "negation_pairs.jsonl"
BACKUP = 'Use sqlite3 nosso_projeto.db ".backup backup/AAAAMMDD.db" num cron diário.'


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder):
    """The legacy export alone: the session's indexed home holds far more than these tests read."""
    with ingest_into(tmp_path_factory.mktemp("grounding") / "home",
                     {"default": ["legacy_nosso_projeto.db"]}, embedder) as wb:
        yield wb


def _evidence(*texts: str) -> list[Evidence]:
    return [Evidence(n, f"m{n}", "c", "Backup diário", None, "assistant", text)
            for n, text in enumerate(texts, start=1)]


def test_shipped_threshold_is_the_measured_one(embedder):
    rows = grid(read_pairs(PAIRS), embedder)
    shipped = next(r for r in rows if r["weight"] == COSINE_WEIGHT
                   and abs(r["threshold"] - SUPPORT_THRESHOLD) < 1e-9)
    assert shipped["precision"] >= 0.95 and shipped["recall"] >= 0.85
    precise = [r for r in rows if r["precision"] >= 0.95]
    assert shipped["f1"] == pytest.approx(max(r["f1"] for r in precise))
    # Either signal alone does worse at the same precision: both are needed.
    for weight in (0.0, 1.0):
        alone = [r for r in precise if r["weight"] == weight]
        assert max(r["f1"] for r in alone) < shipped["f1"]


def _shipped(rows):
    return next(r for r in rows if r["weight"] == COSINE_WEIGHT
                and abs(r["threshold"] - SUPPORT_THRESHOLD) < 1e-9)


def test_negation_mismatch_is_no_support_and_costs_no_recall(embedder):
    for pairs in (read_pairs(PAIRS), read_pairs(NEGATION_PAIRS)):
        checked, unchecked = _shipped(grid(pairs, embedder)), _shipped(grid(pairs, embedder,
                                                                           negation=False))
        assert checked["precision"] >= unchecked["precision"]
        assert checked["recall"] == unchecked["recall"]
    # Without the check, "X is sentient" rests on "X is not sentient"; with it, on nothing.
    assert unchecked["precision"] < 0.6 and checked["precision"] == 1.0
    memories = _evidence("Google said LaMDA is not sentient; the engineer's claims were unfounded.")
    grounder = Grounder(embedder)
    assert not grounder.ground("LaMDA is sentient.", memories).supported
    assert grounder.ground("LaMDA is not sentient.", memories).supported


def test_sentences_attributed_and_written_citations_checked(embedder):
    grounder = Grounder(embedder)
    memories = _evidence("Visit Alfama early in the morning and take tram 28 before the crowds.",
                         BACKUP)
    answer = ("Run sqlite3 nosso_projeto.db \".backup backup/AAAAMMDD.db\" every day [1]. "
              "Backups are stored in Amazon S3 with versioning enabled. Sure!")
    grounding = grounder.ground(answer, memories)
    first, second, third = grounding.sentences
    assert first.written == [1] and list(first.support) == [2]  # written [1] is wrong: [2] holds it
    assert not second.supported and not third.substantive
    # One unsupported claim is enough for the answer not to lead (the extractive one does).
    assert grounding.unsupported_rate == pytest.approx(0.5) and not grounding.supported
    text, cited = with_citations(grounding)
    assert text == 'Run sqlite3 nosso_projeto.db ".backup backup/AAAAMMDD.db" every day [2]. Sure!'
    assert cited == [(2, "attributed")]
    confirmed = grounder.ground("Take tram 28 before the crowds [1].", memories)
    assert with_citations(confirmed)[1] == [(1, "written")]


def test_code_block_is_one_sentence():
    pieces = split_answer("Do this:\n```bash\nsqlite3 a.db \".backup b.db\"\necho done\n```\nThen rest.")
    assert [p for _, p in pieces] == ["Do this:", "```bash\nsqlite3 a.db \".backup b.db\"\necho done\n```",
                                      "Then rest."]


def test_unsupported_answer_replaced_by_the_memory_that_answers(indexed):
    hits = indexed.search.query("What did I decide about backups?", "default", k=6).hits
    composer = Composer(Grounder(indexed.embedder),
                        lambda mid: indexed.store.messages.neighbours(mid, 1))
    before = len(hits)
    composed = composer.compose("What did I decide about backups?",
                                "You chose to decide about backups.", hits)
    assert not composed.grounding.supported and composed.extractive is not None
    assert composed.text.startswith("From your memories (2024-04-05, “Backup diário”)")
    assert ".backup backup/AAAAMMDD.db" in composed.text and UNSUPPORTED_NOTE in composed.text
    [citation] = composed.citations
    assert citation["kind"] == "attributed" and f"[{citation['n']}]" in composed.text
    cited = indexed.store.messages.get(citation["message_id"])
    assert cited.role == "assistant" and ".backup" in cited.content
    assert len(hits) == before + len(composed.added)
    assert hits[citation["n"] - 1].message_id == cited.id


def test_supported_answer_keeps_the_models_words(indexed):
    hits = indexed.search.query("What did I decide about backups?", "default", k=6).hits
    composer = Composer(Grounder(indexed.embedder))
    answer = ('You back up nosso_projeto.db daily: sqlite3 nosso_projeto.db '
              '".backup backup/AAAAMMDD.db" in cron.')
    composed = composer.compose("What did I decide about backups?", answer, hits)
    assert composed.grounding.supported and composed.extractive is None
    assert composed.text.startswith("You back up nosso_projeto.db daily")
    assert composed.citations and all(".backup" in hits[c["n"] - 1].text for c in composed.citations)
