"""hybrid-rrf.v5: a participant's name in a question is matched by who speaks, not as a word."""

from __future__ import annotations

import json

from workbench import Workbench

# In a dialogue a name mostly addresses the other person: Ben's turns say "Anna" and "paint",
# while Anna's own turns, which answer "what has Anna painted?", never say her name.
ROWS = [
    ("Anna", "user", "I painted a horse in the meadow last week, my best work so far."),
    ("Ben", "assistant", "Anna, your paintings are lovely! Anna, will you paint more, Anna?"),
    ("Anna", "user", "My sister is moving to Porto next spring."),
    ("Ben", "assistant", "Anna, I tried to paint too, Anna, but my painting was a mess."),
    ("Anna", "user", "Yesterday I finished a sunset over the lake in watercolours, painted at dawn."),
    ("Ben", "assistant", "I finally fixed the bike's brakes last week."),
    ("Ben", "assistant", "Anna, did you see the painting exhibition downtown, Anna?"),
]


def test_a_named_participant_is_found_by_their_turns_not_by_turns_that_address_them(tmp_path):
    export = tmp_path / "chat.jsonl"
    export.write_text("\n".join(
        json.dumps({"conversation_id": "c1", "speaker": speaker, "role": role, "content": text})
        for speaker, role, text in ROWS))
    wb = Workbench.open(tmp_path / "home")
    wb.imports.ingest([export])
    question = "What has Anna painted?"
    new = [h.text for h in wb.search.query(question, k=4, retriever="hybrid-rrf.v5").hits]
    old = [h.text for h in wb.search.query(question, k=4, retriever="hybrid-rrf.v4").hits]
    horse, porto, sunset = ROWS[0][2], ROWS[2][2], ROWS[4][2]
    # v4: Ben's turns match "Anna" three times each, and Anna's turn about Porto between
    # them rises as their neighbour, above both of her paintings.
    assert old[0] == porto and horse not in old[:3]
    # v5: her paintings are found by their words; "Anna" only lifts her own turns.
    assert new[0] == sunset and horse in new and porto not in new
    assert "names" in wb.search.query(question, k=1, retriever="hybrid-rrf.v5").timings_ms

    # No participant named: one full-text pass, as v4.
    plain = wb.search.query("Who painted a horse?", k=1, retriever="hybrid-rrf.v5")
    assert "names" not in plain.timings_ms and plain.hits[0].text == horse
