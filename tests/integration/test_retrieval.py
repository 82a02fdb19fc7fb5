"""Cleaning → chunks → embeddings → LanceDB → hybrid search, with the real model and stores."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import duckdb
import numpy as np

import pytest

from conftest import FIXTURES
from workbench import Workbench
from workbench.text.chunking import get_chunker
from workbench.search.protocol import Filters


def test_search_finds_the_message_and_cites_it(indexed):
    result = indexed.search.query("daily backup of the sqlite database with cron", "default", k=5)
    top = result.hits[0]
    assert "backup" in top.text and "cron" in top.text
    stored = indexed.conversations.message(top.message_id)
    assert stored.source_id == top.source_id and stored.conversation_id == top.conversation_id
    assert top.title == "Backup diário"
    assert len({h.message_id for h in result.hits}) == len(result.hits) == 5


def test_hybrid_uses_words_and_meaning(indexed):
    lexical = indexed.search.query("pgvector", "default", k=3, retriever="bm25.v1")
    assert lexical.hits and all("pgvector" in h.text for h in lexical.hits)
    semantic = indexed.search.query("how do plants turn light into food", "default", k=3,
                              retriever="vector.v1")
    assert "photosynthesis" in semantic.hits[0].text.lower()


def test_scoping_by_workspace_role_and_conversation(indexed):
    assert all(h.workspace == "other" for h in indexed.search.query("joke", "other", k=5).hits)
    assert not indexed.search.query("Lisbon tram", "other", k=5, retriever="bm25.v1").hits
    users = indexed.search.query("PostgreSQL", "default", k=10, role="user").hits
    assert users and all(h.role == "user" for h in users)
    conv = users[0].conversation_id
    inside = indexed.search.query("PostgreSQL", "default", k=10, conversation=conv).hits
    assert inside and all(h.conversation_id == conv for h in inside)


def test_time_phrase_in_the_query(indexed):
    now = datetime(2024, 5, 10, tzinfo=timezone.utc)
    result = indexed.search.query("what did I ask about chickpeas last month", "default", k=3, now=now,
                            retriever="hybrid-rrf-filter.v2")
    assert result.since == datetime(2024, 4, 1, tzinfo=timezone.utc)
    assert result.until == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert result.hits and all(result.since <= h.timestamp < result.until for h in result.hits)
    assert "chickpea" in result.hits[0].text.lower()
    assert result.time_use == "filter"
    assert result.time_reading() == "“last month” kept only turns from 2024-04-01 to 2024-04-30"
    # The default retriever lifts in-range turns instead of hiding the others: no filter, and
    # the result says what the phrase did, with its window.
    soft = indexed.search.query("what did I ask in March 2024", "default", k=5, now=now)
    assert soft.hits[0].timestamp.month == 3
    assert soft.since is None and soft.until is None and soft.time_use == "lift"
    assert soft.window_since == datetime(2024, 3, 1, tzinfo=timezone.utc)
    assert soft.time_reading() == "“in March 2024” lifted turns from 2024-03-01 to 2024-03-31"
    explicit = indexed.search.query("database", "default", k=20,
                              since=datetime(2024, 3, 15, tzinfo=timezone.utc),
                              until=datetime(2024, 3, 23, tzinfo=timezone.utc))
    assert explicit.hits
    assert all(datetime(2024, 3, 15, tzinfo=timezone.utc) <= h.timestamp
               < datetime(2024, 3, 23, tzinfo=timezone.utc) for h in explicit.hits)


def test_neighbour_context(indexed):
    hit = indexed.search.query("Alfama tram 28", "default", k=1, neighbours=1).hits[0]
    assert [m["id"] for m in hit.context].index(hit.message_id) in (0, 1)
    assert 2 <= len(hit.context) <= 3


def test_incremental_indexing_embeds_only_what_changed(indexed_copy):
    again = indexed_copy.search.index_pending()
    assert again.chunks_embedded == 0 and again.conversations_rechunked == 0
    conv = indexed_copy.conversations.list("other")[0]
    indexed_copy.conversations.add_message(conv.id, "user", "Remind me to water the bonsai on Sunday.")
    report = indexed_copy.search.index_pending()
    assert report.conversations_rechunked == 1
    assert report.chunks_embedded == 1  # the new turn; earlier turns' chunks are unchanged
    assert indexed_copy.search.query("bonsai watering", "other", k=1).hits[0].text.startswith("Remind me")


def test_delete_and_reindex_keep_index_in_step(tmp_path):
    wb = Workbench.open(tmp_path)
    wb.imports.ingest([FIXTURES / "claude_trimmed.json", FIXTURES / "openwebui_chat.json"])
    index = wb.search.index()
    before = index.count()
    victim = next(c for c in wb.conversations.list() if "Goldwater" in (c.title or ""))
    wb.conversations.delete(victim.id)
    report = wb.search.index_pending()
    assert report.chunks_unindexed >= 1 and index.count() < before
    assert not wb.search.query("Goldwater rule psychiatrists", k=5, retriever="bm25.v1").hits
    count = index.count()
    rebuilt = wb.search.reindex()
    assert rebuilt.chunks_embedded == count == wb.search.index().count()


def test_interrupted_indexing_resumes_without_duplicates(tmp_path):
    wb = Workbench.open(tmp_path, index_on_ingest=False)
    wb.imports.ingest([FIXTURES / "chatgpt_2024_tools.json"])
    chunker = get_chunker(wb.settings.chunker)

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(stage, done, total):
        if stage == "embed" and 0 < done < total:
            raise Interrupted

    from workbench.search.sync import sync_index

    with pytest.raises(Interrupted):
        sync_index(wb.store, wb.search.index(), wb.embedder, chunker, stop_after_first_batch, batch_size=4)
    partial = wb.search.index().count()
    assert 0 < partial
    report = wb.search.index_pending()
    with wb.store.connect() as con:
        chunks = con.execute("SELECT count(*) FROM chunks WHERE chunker = ?", [chunker.name]).fetchone()[0]
    assert report.chunks_embedded == chunks - partial
    assert wb.search.index().count() == chunks


def test_redaction_stores_and_indexes_redacted_text(tmp_path):
    wb = Workbench.open(tmp_path, redact=True)
    wb.imports.ingest([FIXTURES / "legacy_nosso_projeto.db"])
    texts = [m.content for c in wb.conversations.list() for m in wb.conversations.messages(c.id)]
    assert not any("ana.silva@example.com" in t for t in texts)
    redacted = [t for t in texts if "[EMAIL]" in t]
    assert len(redacted) == 3
    hits = wb.search.query("ana.silva@example.com email", k=10).hits
    assert hits and not any("ana.silva" in h.text for h in hits)


def test_search_cli_contract(indexed, tmp_path):
    from conftest import Cli

    cli = Cli(indexed.settings.home)
    payload = cli.json("search", "backup sqlite", "--workspace", "default", "--k", "3")
    hit = payload["hits"][0]
    for key in ("message_id", "source_id", "conversation_id", "role", "timestamp", "score", "text"):
        assert key in hit
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "a", "query": "pgvector migration", "workspace": "default"}) + "\n"
        + json.dumps({"id": 7, "query": "joke", "workspace": "other"}) + "\n"
    )
    lines = cli("search", "--queries", queries, "--k", "4", "--json").stdout.splitlines()
    batch = [json.loads(line) for line in lines]
    assert [b["id"] for b in batch] == ["a", 7]
    for item in batch:
        ids = [h["message_id"] for h in item["hits"]]
        assert len(ids) == len(set(ids)) and 0 < len(ids) <= 4
        scores = [h["score"] for h in item["hits"]]
        assert scores == sorted(scores, reverse=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    result = cli("search", "--queries", bad, "--json", ok=False)
    assert result.exit_code == 1 and str(bad) in result.stderr


def test_ann_index_matches_exact_search(tmp_path):
    wb = Workbench.open(tmp_path, ann_threshold=300)
    wb.imports.ingest([FIXTURES / "sharegpt_dummy.json"])
    index = wb.search.index()
    assert index.count() >= 300 and index.has_ann()
    overlap = []
    for query in ["who trained you", "tell me a joke", "what is your name", "write a poem"]:
        vector = wb.embedder.encode_query(query)
        ann = [r["chunk_id"] for r in index.search_vector(vector, Filters(), 10)]
        exact = [r["chunk_id"] for r in index.search_vector(vector, Filters(), 10, exact=True)]
        overlap.append(len(set(ann) & set(exact)) / 10)
    assert sum(overlap) / len(overlap) >= 0.9


@pytest.mark.slow
@pytest.mark.timeout(900)  # imports, embeds and asks all of the dev set
def test_locomo_dev_recall(tmp_path):
    from conftest import Cli

    report = Cli(tmp_path).json("eval", "locomo", FIXTURES / "locomo_dev.json", "--k", "5,10")
    assert (report["queries"], report["skipped"]) == (231, 2)  # 2 questions list no evidence
    # Measured 69.2 / 79.3 with hybrid-rrf.v3 + turn-context.v1 (v4: 70.0 / 79.7; v2: 65.6 / 77.2);
    # DRAGON in the paper: 58.8 / 67.5.
    assert report["metrics"]["R@5"] >= 0.65
    assert report["metrics"]["R@10"] >= 0.75
    assert set(report["per_category"]) == {"multi-hop", "temporal", "open-domain", "single-hop"}


def test_query_fast_path_gives_the_vector_of_encode(indexed):
    embedder = indexed.embedder
    for text in ["hi", "what did we decide about the backup schedule last week?",
                 "ontem falamos do backup diário às 3h 🤔 " * 40]:  # past the 256-token limit
        fast = embedder.encode_query(text)
        assert fast.dtype == np.float32 and fast.shape == (embedder.dimension,)
        assert np.allclose(fast, embedder.encode([text])[0], atol=1e-5)


def test_queries_are_encoded_by_onnx_runtime_with_the_models_vectors(indexed, tmp_path):
    from workbench.embeddings import query_encoder
    from workbench.embeddings.model import Embedder, resolve_model_path

    assert indexed.embedder.onnx is not None  # the default path of every search
    model_path = resolve_model_path(indexed.embedder.name)
    cache = tmp_path / "cache"
    assert query_encoder.load_checked(model_path, cache) is None  # nothing exported there yet
    encoder = query_encoder.load(indexed.embedder.model, model_path, cache)
    exported = list((cache / "onnx").glob("*.onnx"))
    assert encoder is not None and len(exported) == 1
    for text in ["hi", "quando combinamos o backup?"]:
        assert np.allclose(encoder.encode(text), indexed.embedder.encode([text])[0], atol=1e-5)
    # Checked once, it opens without the model: same vectors, and the dimension without torch.
    checked = query_encoder.load_checked(model_path, cache)
    assert checked is not None and checked.dimension == indexed.embedder.dimension == 384
    long = "ontem falamos do backup diário às 3h 🤔 " * 40  # past the 256-token limit
    for text in ["hi", long]:
        assert np.allclose(checked.encode(text), encoder.encode(text), atol=1e-6)
    fresh = Embedder(indexed.embedder.name, cache_dir=cache)
    assert fresh.dimension == 384 and fresh._model is None
    assert np.allclose(fresh.encode_query("hi"), encoder.encode("hi"), atol=1e-6)
    # Chunking's token counts, whole (past the limit too), as the model's tokenizer counts them.
    texts = ["hi", long, "Código: `rm -rf /tmp/x` — done.\n\nNext?", ""]
    ids = indexed.embedder.model.tokenizer(texts, add_special_tokens=True, truncation=False)
    assert fresh.count_tokens(texts) == [len(i) for i in ids["input_ids"]]
    assert fresh.count_tokens([long])[0] > 256
    assert fresh._model is None
    exported[0].write_bytes(b"not a model")  # a damaged cache file is exported again
    assert query_encoder.load_checked(model_path, cache) is None
    assert query_encoder.load(indexed.embedder.model, model_path, cache) is not None
    assert exported[0].stat().st_size > 1_000_000
    torch_only = Embedder(indexed.embedder.name, query_encoder="torch")
    assert torch_only.onnx is None
    assert np.allclose(torch_only.encode_query("hi"), indexed.embedder.encode_query("hi"), atol=1e-5)


def test_a_one_shot_search_is_quiet_and_never_loads_torch(indexed):
    """`search --json` in a fresh process, as a script calls it: JSON on stdout, nothing on
    stderr, and the query embedded by ONNX Runtime without importing torch."""
    indexed.embedder.encode_query("warm up")  # the first query of a model checks its export
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "workbench", "--home", str(indexed.settings.home),
         "search", "daily backup of the sqlite database with cron", "--workspace", "default",
         "--k", "3", "--json"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert [line for line in lines if not line.startswith("import time:")] == []
    modules = {line.rsplit("|", 1)[-1].strip() for line in lines[1:]}
    assert "onnxruntime" in modules and "lancedb" in modules
    assert not {"torch", "sentence_transformers", "transformers", "spacy"} & modules
    # A local index never needs the REST namespace client (see search/lance_import.py).
    assert "lance_namespace_urllib3_client.models" in modules
    assert not {"lance_namespace_urllib3_client.api", "lance_namespace_urllib3_client.api_client",
                "lance_namespace_urllib3_client.rest"} & modules
    payload = json.loads(done.stdout)
    assert payload["query"].startswith("daily backup") and len(payload["hits"]) == 3
    expected = indexed.search.query("daily backup of the sqlite database with cron", "default", k=3)
    assert [h["message_id"] for h in payload["hits"]] == [h.message_id for h in expected.hits]


def test_chat_appends_are_folded_into_the_indexes_every_few_turns(tmp_path):
    from workbench.search.lancedb_index import LanceIndex
    from workbench.search.maintenance import FOLD_EVERY

    index = LanceIndex(tmp_path / "lancedb", "chunks", dimension=8)
    rng = np.random.default_rng(0)

    def rows(prefix: str, n: int) -> tuple[list[dict], np.ndarray]:
        made = [{"chunk_id": f"{prefix}{i}", "message_id": f"{prefix}{i}", "conversation_id": "c",
                 "workspace": "w", "source_id": None, "title": "t", "role": "user",
                 "speaker": None, "created_at": None, "position": i,
                 "text": f"{prefix} turn {i}", "search_text": f"{prefix} turn {i}"} for i in range(n)]
        vectors = rng.normal(size=(n, 8)).astype(np.float32)
        return made, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    index.upsert(*rows("bulk", 50))
    index.maintain()
    for turn in range(FOLD_EVERY - 1):
        index.append(*rows(f"chat{turn}x", 2))
    assert index.table.index_stats("search_text_idx").num_unindexed_rows == 2 * (FOLD_EVERY - 1)
    found = index.search_text("chat0x", Filters(workspace="w"), 10)  # searchable meanwhile
    assert {r["chunk_id"] for r in found} >= {"chat0x0", "chat0x1"}
    assert index.last_fold_ms is None
    index.append(*rows("last", 2))
    assert index.table.index_stats("search_text_idx").num_unindexed_rows == 2 * FOLD_EVERY
    assert index.fold_if_due()  # the fold is due after this append (a chat asks after its turn)
    assert index.table.index_stats("search_text_idx").num_unindexed_rows == 0
    assert index.last_fold_ms > 0 and index.count() == 50 + 2 * FOLD_EVERY
    index.append(*rows("last", 2))  # already present: not added twice
    assert index.count() == 50 + 2 * FOLD_EVERY
    assert {r["chunk_id"] for r in index.search_text("last", Filters(workspace="w"), 10)} == {
        "last0", "last1"}


def test_a_chat_turn_indexed_twice_is_stored_once(tmp_path):
    """A retry, or a full sync in another process, may index a turn's messages first: the
    turn's own indexing then adds nothing and keeps one row per chunk everywhere."""
    wb = Workbench.open(tmp_path)
    conv = wb.conversations.create("default", "Backups")
    question = wb.conversations.add_message(conv.id, "user", "Which rsync flags keep hard links?")
    answer = wb.conversations.add_message(conv.id, "assistant", "Use rsync -aH; -H keeps the hard links.")
    turn = [question, answer]
    first = wb.search.index_turn(conv.id, "default", conv.title, turn, {question.id, answer.id})
    again = wb.search.index_turn(conv.id, "default", conv.title, turn, {question.id, answer.id})
    assert (first.chunks_added, again.chunks_added) == (2, 0)

    later = wb.conversations.add_message(conv.id, "assistant", "Add --numeric-ids for a restore.")
    report = wb.search.index_turn(conv.id, "default", conv.title, [answer, later], {later.id})
    assert report.chunks_added == 1

    sync = wb.search.index_pending()
    assert (sync.chunks_added, sync.chunks_removed, sync.chunks_embedded) == (0, 0, 0)
    with wb.store.connect() as con:
        ledger = con.execute("SELECT count(*) FROM indexed_chunks").fetchone()[0]
        chunks = con.execute("SELECT count(*) FROM chunks").fetchone()[0]
    assert wb.search.index().count() == ledger == chunks == 3
    [hit] = wb.search.query("numeric ids restore", "default", 1).hits
    assert hit.message_id == later.id


def _counts(wb) -> tuple[int, int, int]:
    with wb.store.connect() as con:
        ledger = con.execute("SELECT count(*) FROM indexed_chunks").fetchone()[0]
        chunks = con.execute("SELECT count(*) FROM chunks").fetchone()[0]
    return wb.search.index().count(), ledger, chunks


def test_a_recorded_turn_is_appended_or_pending_again(tmp_path):
    """A chat answer's chunks are stored and marked indexed with the answer, then appended.
    A failed append takes the marks back; marks that a crash left without rows are dropped by
    the next full sync, which embeds those chunks again."""
    from workbench.search.sync import append_turn, plan_turn, record_turn

    wb = Workbench.open(tmp_path)
    conv = wb.conversations.create("default", "Backups")
    question = wb.conversations.add_message(conv.id, "user", "Which rsync flags keep hard links?")
    wb.search.index_turn(conv.id, "default", conv.title, [question], {question.id})
    chunker, index = get_chunker(wb.settings.chunker), wb.search.index()

    def recorded(text: str, before):
        answer = wb.conversations.add_message(conv.id, "assistant", text)
        plan = plan_turn(chunker, index, wb.embedder, conv.id, "default", conv.title,
                         [before, answer], {answer.id})
        with wb.store.transaction():
            record_turn(wb.store, plan)
        return answer, plan

    answer, plan = recorded("Use rsync -aH; -H keeps the hard links.", question)
    assert _counts(wb) == (1, 2, 2)
    wrong = np.zeros((1, 3), dtype=np.float32)  # not the table's dimension: the append fails
    with pytest.raises(Exception):
        append_turn(wb.store, index, plan, wrong)
    assert _counts(wb) == (1, 1, 2)  # the chunk is pending again
    assert wb.search.index_pending().chunks_embedded == 1
    assert _counts(wb) == (2, 2, 2)

    crashed, plan = recorded("Add --numeric-ids for a restore.", answer)  # no append: a crash
    report = wb.search.index_pending()
    assert (report.marks_dropped, report.chunks_embedded) == (1, 1)
    assert _counts(wb) == (3, 3, 3)
    [hit] = wb.search.query("numeric ids restore", "default", 1).hits
    assert hit.message_id == crashed.id
    append_turn(wb.store, index, plan, wb.embedder.encode(plan.texts))  # a late append: no copy
    assert _counts(wb) == (3, 3, 3)


def test_a_question_naming_a_participant_lifts_their_own_turns(tmp_path):
    from workbench.search.retrieve import _named_speakers

    rows = [
        ("Anna", "user", "We went camping in the mountains and hiked to a glacier lake."),
        ("Ben", "assistant", "Anna, camping by the river sounds lovely, I went camping there too!"),
        ("Anna", "user", "My sister is moving to Porto next spring."),
        ("Ben", "assistant", "I finally fixed the bike's brakes last week."),
    ]
    export = tmp_path / "chat.jsonl"
    export.write_text("\n".join(
        json.dumps({"conversation_id": "c1", "speaker": speaker, "role": role, "content": text})
        for speaker, role, text in rows))
    wb = Workbench.open(tmp_path / "home")
    wb.imports.ingest([export])
    for name in ("Anna", "Ben"):
        [top] = wb.search.query(f"Where did {name} go camping?", k=1, retriever="hybrid-rrf.v3").hits
        assert top.speaker == name and "camping" in top.text

    candidates = [{"speaker": "Anna Lima", "role": "user"}, {"speaker": "python", "role": "tool"},
                  {"speaker": None, "role": "assistant"}]
    assert _named_speakers("what did anna's python script print?", candidates) == {"Anna Lima"}


def test_v4_finds_the_reply_that_holds_the_fix_and_counts_the_repeated_question(indexed):
    question = "How did we fix the datetime JSON serialization error?"
    result = indexed.search.query(question, "default", k=6, retriever="hybrid-rrf.v4")
    assert any(h.role == "assistant" and "isoformat()" in h.text for h in result.hits[:3])
    repeated = [h for h in result.hits if "not JSON serializable" in h.text]
    assert len(repeated) == 1 and len(repeated[0].duplicates) >= 1
    assert result.hits[0].to_dict()["duplicates"] == len(result.hits[0].duplicates)
    old = indexed.search.query(question, "default", k=6, retriever="hybrid-rrf.v3")
    assert all(h.duplicates == [] for h in old.hits)


def test_search_reads_time_phrases_against_now(indexed, tmp_path):
    from conftest import Cli

    cli = Cli(indexed.settings.home)
    payload = cli.json("search", "backup last March", "--workspace", "default", "--now", "2024-07-01",
                       "--retriever", "hybrid-rrf-filter.v2")
    assert payload["time_phrase"] == "last March"
    assert payload["since"].startswith("2024-03-01") and payload["until"].startswith("2024-04-01")
    assert payload["time_use"] == "filter"
    lifted = cli.json("search", "backup last year", "--workspace", "default", "--now", "2025-07-01")
    assert lifted["time_phrase"] == "last year" and lifted["since"] is None
    assert lifted["time_use"] == "lift" and lifted["window"]["since"].startswith("2024-01-01")
    assert lifted["window"]["until"].startswith("2025-01-01")
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"id": "a", "query": "backup", "now": "2024-07-01"}) + "\n")
    assert cli("search", "--queries", queries, "--json").exit_code == 0
    queries.write_text(json.dumps({"id": "a", "query": "backup", "now": "July"}) + "\n")
    bad = cli("search", "--queries", queries, "--json", ok=False)
    assert bad.exit_code == 1 and "ISO date" in bad.stderr


def test_chunks_the_store_lost_leave_the_index_by_maintain_and_never_by_a_reader(indexed_copy,
                                                                                embedder):
    """Chunks gone from the store (as m007 took the chat's answers) stay in the index until a
    writer's upkeep: a one-shot search of a read-only home writes nothing."""
    settings = indexed_copy.settings
    other = indexed_copy.conversations.list("other")[0]
    assert indexed_copy.search.query("hello", "other", k=5).hits
    count = indexed_copy.search.index().count()
    indexed_copy.close()
    con = duckdb.connect(str(settings.duckdb_path))
    lost = con.execute("DELETE FROM chunks WHERE conversation_id = ? RETURNING 1", [other.id]).fetchall()
    con.close()
    with Workbench(settings, embedder, read_only=True) as reader:
        name = reader.search.index().name
        reader.search.query("hello", "other", k=5)
        orphans = reader.store.chunks.orphan_marks(name)
        assert len(orphans) == len(lost) > 0
    with Workbench(settings, embedder) as writer:  # no migration to apply: nothing settled
        assert len(writer.store.chunks.orphan_marks(name)) == len(lost)
        writer.search.maintain()
        assert writer.store.chunks.orphan_marks(name) == []
        assert writer.search.index().count() == count - len(lost)
        assert not writer.search.query("hello", "other", k=5).hits


def test_maintain_command_keeps_the_answers(cli):
    cli("ingest", FIXTURES / "chatgpt_2025_linear.json")
    before = cli.json("search", "pgvector", "--k", "5")["hits"]
    report = cli.json("maintain")  # the import's indexing built everything already
    assert report["rows"] > 0 and report["built"] == [] and not report["rebuilt"]
    assert before and cli.json("search", "pgvector", "--k", "5")["hits"] == before
