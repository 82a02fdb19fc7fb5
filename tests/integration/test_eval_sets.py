"""Eval sets in the real store: generated known-item sets, qrels and LoCoMo imports, versions."""

from __future__ import annotations

import json
from pathlib import Path

from typing import Iterator

import pytest

from conftest import HISTORY, Cli, copy_home, ingest_into, run_workbench
from workbench import Workbench
from workbench.evaluation.generate import parse_question, question_prompt
from workbench.evaluation.sets import fingerprint
from workbench.errors import NotFound


def tiny_locomo() -> list[dict]:
    """A LoCoMo-format sample small enough to import in a second."""
    turns = [
        ("Ana", "D1:1", "I adopted a grey cat named Pixel last weekend."),
        ("Rui", "D1:2", "Lovely! I am training for the Lisbon half marathon in October."),
        ("Ana", "D1:3", "My sister Marta is moving to Porto to study architecture."),
    ]
    later = [
        ("Rui", "D2:1", "The marathon went well, I finished in one hour fifty."),
        ("Ana", "D2:2", "Pixel knocked my grandmother's vase off the shelf."),
        # A conversation forked from another keeps its turns' ids; both copies are relevant.
        ("Ana", "D1:3", "Marta moved to Porto and loves her architecture course."),
    ]

    def session(items):
        return [{"speaker": s, "dia_id": d, "text": t} for s, d, t in items]

    return [{
        "sample_id": "tiny",
        "conversation": {
            "speaker_a": "Ana", "speaker_b": "Rui",
            "session_1_date_time": "1:56 pm on 8 May, 2023", "session_1": session(turns),
            "session_2_date_time": "7:10 pm on 20 October, 2023", "session_2": session(later),
        },
        "qa": [
            {"question": "What is the name of Ana's cat?", "answer": "Pixel", "evidence": ["D1:1"],
             "category": 4},
            {"question": "Where does Marta study?", "answer": "Porto", "evidence": ["D1:3"],
             "category": 1},
            {"question": "How long did Rui's race take?", "answer": "1:50",
             "evidence": ["D2:1; D1:2"], "category": 2},
            {"question": "What did Ana say about her dog?", "answer": "none", "evidence": [],
             "category": 3},
            {"question": "Adversarial", "answer": "", "evidence": ["D1:1"], "category": 5},
        ],
    }]


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """A home with the exports in workspace "mine" and a tiny LoCoMo sample; no index (sets
    need none, and the store alone imports in seconds where the session's indexed home takes
    minutes). Tests copy it, so each starts from the same store."""
    home = tmp_path_factory.mktemp("history") / "home"
    with ingest_into(home, {"mine": HISTORY}, index_on_ingest=False) as wb:
        locomo = home.parent / "tiny_locomo.json"
        locomo.write_text(json.dumps(tiny_locomo()), encoding="utf-8")
        assert wb.imports.ingest([locomo])[0].status == "done"
    return home


@pytest.fixture
def wb(history, tmp_path, embedder) -> Iterator[Workbench]:
    home = tmp_path / "home"
    copy_home(history, home)
    with Workbench.open(home, embedder, index_on_ingest=False) as opened:
        yield opened


def _message_ids(wb: Workbench, workspace: str) -> dict[str, list[str]]:
    """source id → message ids of the workspace."""
    found: dict[str, list[str]] = {}
    for conversation in wb.conversations.list(workspace):
        for message in wb.conversations.messages(conversation.id):
            found.setdefault(message.source_id, []).append(message.id)
    return found


def test_generated_set_is_reproducible_across_processes(wb, monkeypatch):
    first = wb.evals.generate("mine", 12, seed=7)
    assert (first.name, first.version, first.kind, first.seed) == ("mine-known-item", 1, "known-item", 7)
    assert first.queries == 12 and first.params["method"] == "known-item"
    queries = wb.evals.queries(first.ref)
    assert [q.id for q in queries] == [f"ki-{i:03d}" for i in range(12)]
    targets = set()
    for q in queries:
        target = wb.conversations.message(q.metadata["target"])
        assert q.relevant == {target.id} and q.category == target.role
        assert target.on_active_branch and q.workspace == "mine"
        words = q.text.lower().split()
        # A paraphrase: fewer words than the sentence, all taken from it, none from elsewhere.
        assert 3 <= len(words) < len(q.metadata["sentence"].split())
        assert all(w in q.metadata["sentence"].lower() for w in words)
        assert q.metadata["sentence"] in " ".join(target.content.split()) or all(
            w in target.content.lower() for w in words)
        targets.add(target.id)
    assert len(targets) == 12

    # The same seed in the same process: the same set, no new version.
    again = wb.evals.generate("mine", 12, seed=7)
    assert again.id == first.id and again.ref == "mine-known-item@1"
    # ... and in another process with another hash seed: the same queries (fingerprint).
    monkeypatch.setenv("PYTHONHASHSEED", "12345")
    done = run_workbench(wb.settings.home, "eval", "generate", "--workspace", "mine", "--n", "12",
                         "--seed", "7", "--name", "elsewhere", "--json")
    assert done.returncode == 0, done.stderr
    other = json.loads(done.stdout)
    assert other["fingerprint"] == first.fingerprint and other["ref"] == "elsewhere@1"
    assert [q.text for q in wb.evals.queries("elsewhere")] == [q.text for q in queries]

    # Another seed: other queries, stored as version 2.
    second = wb.evals.generate("mine", 12, seed=8)
    assert second.ref == "mine-known-item@2" and second.fingerprint != first.fingerprint
    texts = [q.text for q in wb.evals.queries(second.ref)]
    assert texts != [q.text for q in queries]
    assert wb.evals.set("mine-known-item").id == second.id
    assert wb.evals.set("mine-known-item@1").id == first.id


def test_copies_are_not_known_items(wb):
    # The legacy export repeats each message as "... (continuação N)": no query targets one.
    legacy = {m.id for c in wb.conversations.list("mine") if c.source_format == "legacy"
              for m in wb.conversations.messages(c.id)}
    targets = {q.metadata["target"] for q in wb.evals.queries(wb.evals.generate("mine", 40).ref)}
    assert targets and not targets & legacy


def test_generation_errors(wb):
    with pytest.raises(NotFound, match="nowhere"):
        wb.evals.generate("nowhere", 5)
    with pytest.raises(ValueError, match="known-item or llm"):
        wb.evals.generate("mine", 5, method="magic")
    with pytest.raises(ValueError, match="at least 1"):
        wb.evals.generate("mine", 0)
    assert wb.evals.sets() == []


def test_qrels_import_resolves_source_and_message_ids(wb, tmp_path):
    tiny = _message_ids(wb, "tiny")
    mine_message = wb.conversations.list("mine")[0]
    message_id = wb.conversations.messages(mine_message.id)[0].id
    qrels = tmp_path / "qrels.jsonl"
    lines = [
        {"id": "cat", "query": "name of the cat", "relevant": ["D1:1"], "workspace": "tiny",
         "category": "pets"},
        {"query": "where does Marta study", "relevant": ["D1:3", "D2:1"], "workspace": "tiny"},
        {"query": "my own message", "relevant": [message_id.upper()]},
    ]
    qrels.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    imported = wb.evals.import_file(qrels, workspace="mine")
    assert (imported.name, imported.version, imported.kind, imported.queries) == ("qrels", 1, "qrels", 3)
    assert imported.workspace is None  # the queries span two workspaces
    cat, marta, own = wb.evals.queries("qrels")
    assert (cat.id, cat.relevant, cat.category, cat.workspace) == ("cat", set(tiny["D1:1"]), "pets", "tiny")
    assert len(tiny["D1:3"]) == 2  # one source id, two messages: both are relevant
    assert marta.id == "2" and marta.relevant == set(tiny["D1:3"]) | set(tiny["D2:1"])
    assert own.workspace == "mine" and own.relevant == {message_id}


@pytest.mark.parametrize("line, problem", [
    ('{"query": "q", "relevant": ["D9:9"], "workspace": "tiny"}', "no message or source id 'D9:9'"),
    ('{"query": "q", "relevant": ["D1:1"], "workspace": "mine"}', "no message or source id 'D1:1'"),
    ('{"query": "q", "relevant": ["D1:1"], "workspace": "gone"}', "workspace 'gone' does not exist"),
    ('{"query": "q", "relevant": ["D1:1"]', "invalid JSON"),
    ('{"relevant": ["D1:1"], "workspace": "tiny"}', 'needs a non-empty "query"'),
    ('{"query": "q", "relevant": [], "workspace": "tiny"}', 'needs "relevant"'),
    ('{"query": "q", "relevant": ["D1:1"]}', 'needs a "workspace"'),
    ('{"id": "a", "query": "again", "relevant": ["D1:2"], "workspace": "tiny"}', "appears twice"),
])
def test_bad_qrels_line_is_rejected_and_nothing_stored(wb, tmp_path, line, problem):
    qrels = tmp_path / "bad.jsonl"
    good = {"id": "a", "query": "cat", "relevant": ["D1:1"], "workspace": "tiny"}
    qrels.write_text(json.dumps(good) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        wb.evals.import_file(qrels)
    assert str(caught.value).startswith(f"{qrels}: line 2: ") and problem in str(caught.value)
    assert wb.evals.sets() == []
    with wb.store.connect() as con:
        assert con.execute("SELECT count(*) FROM eval_queries").fetchone()[0] == 0


def test_bad_qrels_through_the_cli(wb, tmp_path):
    qrels = tmp_path / "bad.jsonl"
    qrels.write_text('{"query": "cat", "relevant": ["D1:1"], "workspace": "tiny"}\nnot json\n')
    result = Cli(wb.settings.home)("eval", "import", qrels, ok=False)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {qrels}: line 2: invalid JSON (Expecting value)"]
    assert Cli(wb.settings.home).json("eval", "sets") == []


def test_versions_follow_content(wb, tmp_path):
    qrels = tmp_path / "mine.jsonl"

    def write(*relevant: str) -> None:
        qrels.write_text(json.dumps({"query": "cat", "relevant": list(relevant),
                                     "workspace": "tiny"}) + "\n")

    write("D1:1")
    v1 = wb.evals.import_file(qrels, name="pets")
    assert wb.evals.import_file(qrels, name="pets").id == v1.id  # same content: same version
    write("D1:1", "D2:2")
    v2 = wb.evals.import_file(qrels, name="pets")
    assert (v1.version, v2.version) == (1, 2) and v1.fingerprint != v2.fingerprint
    assert [s.ref for s in wb.evals.sets()] == ["pets@2", "pets@1"]
    assert wb.evals.set("pets").id == v2.id and wb.evals.set("pets@1").id == v1.id
    assert wb.evals.set(v1.id[:8]).id == v1.id and wb.evals.set(v2.id).ref == "pets@2"
    assert fingerprint(wb.evals.queries("pets@2")) == v2.fingerprint
    for missing in ("pets@3", "cats", "pets@x"):
        with pytest.raises(NotFound):
            wb.evals.set(missing)
    listed = Cli(wb.settings.home).json("eval", "sets")
    assert [(s["ref"], s["kind"], s["queries"]) for s in listed] == [("pets@2", "qrels", 1),
                                                                     ("pets@1", "qrels", 1)]
    assert Cli(wb.settings.home)("eval", "sets").stdout.count("pets@") == 2


def test_locomo_file_is_detected_and_resolved(wb, tmp_path):
    path = tmp_path / "renamed.jsonl"  # detected by content, not by its name
    path.write_text(json.dumps(tiny_locomo()), encoding="utf-8")
    imported = wb.evals.import_file(path, name="tiny-locomo")
    assert (imported.kind, imported.workspace, imported.queries) == ("locomo", "tiny", 4)
    tiny = _message_ids(wb, "tiny")
    queries = {q.id: q for q in wb.evals.queries("tiny-locomo")}
    assert queries["tiny#0"].relevant == set(tiny["D1:1"]) and queries["tiny#0"].category == "single-hop"
    assert queries["tiny#2"].relevant == set(tiny["D2:1"]) | set(tiny["D1:2"])
    assert queries["tiny#3"].relevant == set()  # no evidence: kept, skipped by runs
    assert "tiny#4" not in queries  # category 5 (adversarial) is not a retrieval question


def test_locomo_file_is_imported_when_its_samples_are_missing(tmp_path):
    wb = Workbench.open(tmp_path / "empty", index_on_ingest=False)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_locomo()), encoding="utf-8")
    imported = wb.evals.import_file(path)
    assert imported.ref == "tiny@1" and [w["name"] for w in wb.workspaces()] == ["tiny"]
    assert all(q.relevant for q in wb.evals.queries("tiny") if q.id != "tiny#3")


def test_question_prompt_and_parse():
    prompt = question_prompt("x" * 5000)
    assert [m["role"] for m in prompt] == ["system", "user"]
    assert len(prompt[1]["content"]) < 2000 and "question only" in prompt[1]["content"]
    assert parse_question("Where did Marta move to study?") == "Where did Marta move to study?"
    assert parse_question('\n  Question: "What is the cat called?" It is Pixel.') == \
        "What is the cat called?"
    assert parse_question("1. **Q:** which tram goes to Alfama?\n2. another?") == \
        "which tram goes to Alfama?"
    assert parse_question("") is None and parse_question("Yes.") is None
    assert parse_question("This message is about a cat.\nWhat cat?") is None  # first line only
    assert parse_question("word " * 30 + "?") is None
    # Small models echo the message; a copied sentence is no paraphrased question.
    message = "Sure, here's one. Why don't scientists trust atoms? They make up everything."
    assert parse_question("Why don't scientists trust atoms?", message) is None
    assert parse_question("Why do scientists distrust atoms?", message) == \
        "Why do scientists distrust atoms?"
