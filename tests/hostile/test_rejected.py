"""Hostile files: one error line each, nothing written, and the other files of the command land."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from conftest import FIXTURES, run_workbench
from hostile_files import chatgpt, rejected_cases, write_json, zip_bomb
from workbench import Workbench
from workbench.errors import ImportRejected
from workbench.importers import Source, parse
from workbench.importers.base import epoch_seconds, parse_timestamp
from workbench.importers.reading import Limits


def _counts(wb: Workbench) -> dict:
    stats = wb.stats()
    return {k: v for k, v in stats.items() if k != "per_workspace"}


def test_one_error_line_per_hostile_file_and_the_others_land(tmp_path, home, monkeypatch, embedder):
    cases = rejected_cases(tmp_path / "bad")
    first = write_json(tmp_path / "a.json", [chatgpt("c-a", "alpha message from the first file")])
    last = write_json(tmp_path / "c.json", [chatgpt("c-c", "gamma message from the third file")])
    bad = [path for path, _ in cases.values()]
    monkeypatch.setenv("WORKBENCH_MAX_ZIP_MEMBERS", "10")
    monkeypatch.setenv("COLUMNS", "300")
    proc = run_workbench(home, "ingest", first, *bad, last)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(cases), proc.stderr
    for name, (path, phrase) in cases.items():
        mine = [line for line in errors if line.startswith(f"error: {path}: ")]
        assert len(mine) == 1 and phrase in mine[0], (name, mine)
    for path in (first, last, *bad):
        assert path.name in proc.stdout  # the summary names every file's fate
    with Workbench.open(home, embedder) as wb:
        assert _counts(wb)["conversations"] == 2
        hits = wb.search.query("gamma message third file", k=3).hits
    assert hits and "gamma" in hits[0].text


def test_a_rejected_file_writes_nothing_and_the_home_still_works(tmp_path, home, wb_factory):
    cases = rejected_cases(tmp_path / "bad")
    wb = wb_factory(home, max_zip_members=10)
    [done] = wb.imports.ingest([write_json(tmp_path / "a.json", [chatgpt("c-a", "alpha first")])])
    assert done.status == "done"
    before = _counts(wb)
    for name, (path, phrase) in cases.items():
        [result] = wb.imports.ingest([path])
        assert result.status == "rejected" and phrase in result.error, (name, result.error)
        assert _counts(wb) == before, name
    [later] = wb.imports.ingest([write_json(tmp_path / "c.json", [chatgpt("c-c", "gamma later")])])
    assert later.status == "done"
    assert "gamma" in wb.search.query("gamma later", k=1).hits[0].text


def test_zip_bomb_is_refused_from_the_central_directory_before_inflating(tmp_path):
    bomb = zip_bomb(tmp_path / "bomb.zip", 256 << 20)
    started = time.perf_counter()
    with pytest.raises(ImportRejected, match="inflates .* times"):
        parse(bomb)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(ImportRejected, match="WORKBENCH_MAX_INFLATED_BYTES"):
        parse(Source(bomb, limits=Limits(max_inflated_bytes=100 << 20, max_zip_ratio=1e9)))


def test_lone_surrogates_are_replaced_and_the_file_lands(tmp_path, wb):
    path = tmp_path / "surrogate.json"
    text = json.dumps([chatgpt("s", "lone X in content", title="bad X title")])
    path.write_text(text.replace("X", "\\ud800"))
    [result] = wb.imports.ingest([path])
    assert result.status == "done"
    assert any("surrogates" in w for w in result.warnings)
    [conversation] = wb.conversations.list()
    assert conversation.title == "bad \ufffd title"


def test_impossible_timestamps_are_kept_raw_with_a_warning(tmp_path, wb):
    cases = [chatgpt("old", "old", created="0001-01-01T00:00:00+01:00"),
             chatgpt("nan", "nan", created="NaN"), chatgpt("gap", "gap", created=5e11)]
    [result] = wb.imports.ingest([write_json(tmp_path / "times.json", cases)])
    assert result.status == "done"
    assert sum("impossible timestamps" in w for w in result.warnings) == 3
    stored = {c.source_id: c for c in wb.conversations.list()}
    assert stored["old"].created_at is None
    assert stored["old"].metadata["create_time"] == "0001-01-01T00:00:00+01:00"
    assert stored["gap"].metadata["create_time"] == 5e11


@pytest.mark.parametrize("value, year", [
    (253402300799, 9999), (1_700_000_000, 2023), (1_700_000_000_000, 2023),
    (1_700_000_000_000_000, 2023), (1_700_000_000_000_000_000, 2023), (0, 1970), (-86400, 1969),
    (1e11, 5138),
])
def test_epoch_units_by_magnitude_band(value, year):
    assert parse_timestamp(value).year == year


@pytest.mark.parametrize("value", [5e11, 9e11, 3e14, float("nan"), float("inf"), 1e30])
def test_a_number_in_no_band_is_no_date(value):
    assert epoch_seconds(value) is None and parse_timestamp(value) is None


def test_streamed_parse_equals_the_whole_parse():
    path = FIXTURES / "chatgpt_2024_tools.json"
    whole = parse(Source(path))
    streamed_source = Source(path, limits=Limits(stream_json_bytes=1024))
    streamed = parse(streamed_source)
    assert streamed_source.streams and not Source(path).streams
    assert [c.source_id for c in streamed.conversations] == [c.source_id for c in whole.conversations]
    assert [[m.content for m in c.messages] for c in streamed.conversations] == \
        [[m.content for m in c.messages] for c in whole.conversations]


def test_a_streamed_file_past_its_limits_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" + "[" * 500 + "]" * 500 + "]")
    with pytest.raises(ImportRejected, match="nested deeper"):
        parse(Source(path, limits=Limits(stream_json_bytes=10)))


def test_a_file_past_the_size_limit_is_refused_unread(tmp_path):
    path = write_json(tmp_path / "a.json", [chatgpt("a", "x" * 2000)])
    with pytest.raises(ImportRejected, match="WORKBENCH_MAX_FILE_BYTES"):
        parse(Source(path, limits=Limits(max_file_bytes=1000)))


def test_csv_garbage_after_a_quote_names_its_line(tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text('conversation_id,role,content\nc1,user,hi\nc1,user,"a"b\n')
    with pytest.raises(ImportRejected, match="row starting on line 3"):
        parse(path)


def test_nan_in_database_metadata_is_stored_as_null(tmp_path):
    from workbench.importers.scrub import scrub
    from workbench.records import ConversationRecord, MessageRecord, ParsedFile

    message = MessageRecord("m", "user", "hi", metadata={"score": float("nan"), "ok": 1.5})
    parsed = ParsedFile("generic", [ConversationRecord("c", None, [message])])
    scrub(parsed, Limits())
    assert message.metadata == {"score": None, "ok": 1.5}
    assert any("non-finite" in w for w in parsed.warnings)


def test_json_lines_past_the_limits_name_the_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"conversation_id": "c", "role": "user", "content": "hi"}] * 2
    lines = [json.dumps(r) for r in rows] + ['{"conversation_id": "c", "n": ' + "7" * 100 + "}"]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportRejected, match="line 3: a number of 100 digits"):
        parse(path)


def test_a_symlink_to_a_device_is_refused(tmp_path):
    link = tmp_path / "export.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(ImportRejected, match="character device"):
        parse(Path(link))


def test_a_long_message_s_index_rows_carry_only_their_parts(tmp_path, wb):
    """Each part of a split message shows its own words in the index, so the index holds the
    message about once, not once per part; the whole message stays readable from the store."""
    sentences = [f"Sentence {n} talks about topic{n} at length." for n in range(1500)]
    long = " ".join(sentences)
    [result] = wb.imports.ingest([write_json(tmp_path / "long.json", [chatgpt("l", long)])])
    assert result.status == "done"
    rows = wb.search.index().table.to_arrow().select(["message_id", "text"]).to_pylist()
    assert len(rows) > 10
    assert sum(len(r["text"]) for r in rows) < 1.1 * len(long)
    assert all(len(r["text"]) < 5000 for r in rows)
    [hit] = wb.search.query("topic1234", k=1).hits
    assert "topic1234" in hit.text and len(hit.text) < 5000
    full = wb.conversations.message(hit.message_id).content
    assert "topic0 " in full and "topic1499" in full


def test_a_warning_quoting_a_lone_surrogate_is_stored_scrubbed(tmp_path, home):
    """Found by Hypothesis: the parser's warning quoted a source id before it was scrubbed."""
    from workbench.store import DuckDBStore
    from workbench.ingest import ingest_file

    path = tmp_path / "c.json"
    payload = [{"title": "", "create_time": None, "update_time": "", "current_node": "a",
                "mapping": {"a": {"id": "a", "message": "", "parent": None, "children": []}},
                "conversation_id": "X", "extra": ""}]
    path.write_text(json.dumps(payload).replace('"X"', '"\\ud800"'))
    store = DuckDBStore(home / "w.duckdb")
    result = ingest_file(store, path, "default")
    assert result.status == "done" and any("surrogates" in w for w in result.warnings)
    assert not any("\ud800" in w for w in store.imports.list()[0]["warnings"])
