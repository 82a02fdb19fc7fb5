"""Event dates are stored with each index row as it is indexed; an index made before them gets
them from ``maintain`` and answers meanwhile by reading the texts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import lancedb
import numpy as np
import pyarrow as pa

from workbench.search.lancedb_index import LanceIndex
from workbench.search.protocol import Filters
from workbench.search.rerank import _events
from workbench.search.table import EVENTS, schema

DIM = 8
SENT = datetime(2023, 5, 8, 13, 0, tzinfo=timezone.utc)
TEXTS = ["I went to the support group yesterday.", "Nothing dated here.",
         "Last month I painted a sunrise."]


def rows(prefix: str = "c") -> tuple[list[dict], np.ndarray]:
    made = [{"chunk_id": f"{prefix}{i}", "message_id": f"{prefix}{i}", "conversation_id": "conv",
             "workspace": "w", "source_id": None, "title": "t", "role": "user", "speaker": None,
             "created_at": SENT + timedelta(minutes=i), "position": i, "text": text,
             "search_text": text} for i, text in enumerate(TEXTS)]
    vectors = np.random.default_rng(0).normal(size=(len(made), DIM)).astype(np.float32)
    return made, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def by_id(found: list[dict]) -> dict[str, dict]:
    return {r["chunk_id"]: r for r in found}


def test_rows_carry_their_event_windows_in_lancedb_and_in_the_mirror(tmp_path):
    index = LanceIndex(tmp_path, "chunks", DIM, mirror=True)
    index.upsert(*rows())
    query = rows()[1][0]
    found = by_id(index.search_vector(query, Filters(), 3))
    assert found["c1"][EVENTS] == []
    [yesterday] = found["c0"][EVENTS]
    assert (yesterday["since"], yesterday["until"]) == (datetime(2023, 5, 7, tzinfo=timezone.utc),
                                                        datetime(2023, 5, 8, tzinfo=timezone.utc))
    mirrored = by_id(index.mirror(wait=True).search_vector(query, Filters(), 3))
    assert [mirrored[c][EVENTS] for c in ("c0", "c1", "c2")] == [found[c][EVENTS]
                                                                for c in ("c0", "c1", "c2")]
    # What the ranking reads is what the text says, stored or not.
    for row in found.values():
        text_only = {k: v for k, v in row.items() if k != EVENTS}
        assert _events(row) == _events(text_only)


def test_an_index_made_before_the_column_is_filled_by_maintain(tmp_path):
    made, vectors = rows()
    old = schema(DIM).remove(schema(DIM).get_field_index(EVENTS))
    table = lancedb.connect(str(tmp_path)).create_table("chunks", schema=old)
    columns = {name: [r[name] for r in made] for name in old.names[:-1]}
    columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIM)
    table.add(pa.table(columns, schema=old))

    index = LanceIndex(tmp_path, "chunks", DIM, mirror=True)
    before = by_id(index.search_vector(vectors[0], Filters(), 3))
    assert EVENTS not in before["c0"] and _events(before["c0"])  # read from the text meanwhile
    index.upsert(*rows("new"))  # writes still fit the old schema
    assert index.count() == 6
    mirror = index.mirror(wait=True)

    report = index.maintain()
    assert report.events_filled and index.lance.events_filled()
    assert not index.maintain().events_filled  # once only
    after = by_id(index.search_vector(vectors[0], Filters(), 6))
    # Rows that name no event were left null by the fill: the mark says null is none.
    assert len(after) == 6 and all(EVENTS in r for r in after.values())
    assert [len(after[c][EVENTS] or ()) for c in ("c0", "c1", "c2", "new0")] == [1, 0, 1, 1]
    for chunk_id, row in after.items():
        assert _events(row) == _events(before.get(chunk_id, row) | {"text": row["text"]})
    fresh = index.mirror(wait=True)
    assert fresh is not mirror
    assert by_id(fresh.search_vector(vectors[0], Filters(), 6))["c2"][EVENTS] == after["c2"][EVENTS]
