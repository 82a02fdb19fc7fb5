"""What a history holds: the queries and text analysis behind notebooks/explore_history.ipynb.

Every function reads the store through one short connection and returns a pandas DataFrame
(charts and tables take those as they are). Text analysis (spaCy entities, PII patterns) runs
on a reproducible sample: the same seed picks the same messages.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import pandas as pd

    from workbench.api import Workbench

_SCOPE = """
    FROM messages m
    JOIN conversations c ON c.id = m.conversation_id
    JOIN workspaces w ON w.id = c.workspace_id
    WHERE (?::VARCHAR IS NULL OR w.name = ?::VARCHAR)
"""
# Entity kinds worth counting in a history; dates and numbers swamp everything else.
ENTITY_LABELS = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART")
ANALYSED_CHARS = 2000  # a long paste is judged by its start: bounded cost per message


def _frame(wb: "Workbench", sql: str, workspace: str | None, *params) -> "pd.DataFrame":
    with wb.store.connect() as con:
        return con.execute(sql, [workspace, workspace, *params]).df()


def overview(wb: "Workbench", workspace: str | None = None) -> "pd.DataFrame":
    """One row: conversations, messages, dated messages, first and last message time."""
    return _frame(wb, f"""
        SELECT count(DISTINCT c.id) AS conversations, count(*) AS messages,
               count(m.created_at) AS dated, min(m.created_at) AS first, max(m.created_at) AS last
        {_SCOPE}""", workspace)


def messages_per_week(wb: "Workbench", workspace: str | None = None) -> "pd.DataFrame":
    """Messages per ISO week (Monday) and role; undated messages are left out."""
    return _frame(wb, f"""
        SELECT date_trunc('week', m.created_at)::DATE AS week, m.role, count(*) AS messages
        {_SCOPE} AND m.created_at IS NOT NULL
        GROUP BY ALL ORDER BY week, m.role""", workspace)


def conversation_lengths(wb: "Workbench", workspace: str | None = None) -> "pd.DataFrame":
    """Messages on each conversation's active branch, longest first."""
    return _frame(wb, f"""
        SELECT c.id::VARCHAR AS conversation_id, coalesce(c.title, '(untitled)') AS title,
               w.name AS workspace, count(*) AS messages,
               sum(length(m.content)) AS characters
        {_SCOPE} AND m.on_active_branch
        GROUP BY ALL ORDER BY messages DESC, title""", workspace)


def roles(wb: "Workbench", workspace: str | None = None) -> "pd.DataFrame":
    return _frame(wb, f"""
        SELECT m.role, count(*) AS messages,
               round(count(*) / sum(count(*)) OVER (), 4) AS share
        {_SCOPE} GROUP BY ALL ORDER BY messages DESC, m.role""", workspace)


def languages(wb: "Workbench", workspace: str | None = None) -> "pd.DataFrame":
    """Languages detected when messages were cleaned ("unknown": too short or unsure)."""
    return _frame(wb, f"""
        SELECT coalesce(m.language, 'unknown') AS language, count(*) AS messages
        {_SCOPE} GROUP BY ALL ORDER BY messages DESC, language""", workspace)


def duplicates(wb: "Workbench", workspace: str | None = None, top: int = 20) -> "pd.DataFrame":
    """Texts stored more than once (same content hash): copies, conversations, a preview."""
    return _frame(wb, f"""
        SELECT m.content_hash, count(*) AS copies, count(DISTINCT c.id) AS conversations,
               left(regexp_replace(any_value(m.content), '\\s+', ' ', 'g'), 120) AS text
        {_SCOPE} AND trim(m.content) <> ''
        GROUP BY m.content_hash HAVING count(*) > 1
        ORDER BY copies DESC, text LIMIT ?""", workspace, top)


def sample(wb: "Workbench", workspace: str | None = None, n: int = 300,
           seed: int = 0) -> "pd.DataFrame":
    """``n`` non-empty messages chosen by a hash of their id and ``seed`` (stable across runs)."""
    return _frame(wb, f"""
        SELECT m.id::VARCHAR AS message_id, m.content, m.language
        {_SCOPE} AND trim(m.content) <> ''
        ORDER BY md5(m.id::VARCHAR || ?::VARCHAR) LIMIT ?""", workspace, str(seed), n)


def entities_and_pii(
    wb: "Workbench",
    workspace: str | None = None,
    n: int = 300,
    seed: int = 0,
    top: int = 20,
    labels: Iterable[str] = ENTITY_LABELS,
) -> tuple["pd.DataFrame", "pd.DataFrame"]:
    """Top named entities (spaCy, English messages of the sample) and PII found in the sample.

    PII uses the redaction of ``clean.redact``: its patterns on every sampled message, and
    spaCy's PERSON entities on the English ones, as ingest would redact them. Each message is
    read up to ``ANALYSED_CHARS``.
    """
    import pandas as pd

    from workbench.text.clean import _default_model, _ner_pipeline, redact

    rows = sample(wb, workspace, n, seed)
    texts = [text[:ANALYSED_CHARS] for text in rows["content"]]
    english = [i for i, lang in enumerate(rows["language"]) if lang == "en"]
    docs = {}
    if english:
        nlp = _ner_pipeline(_default_model())
        docs = dict(zip(english, nlp.pipe((texts[i] for i in english), batch_size=64)))
    wanted = set(labels)
    entities: Counter[tuple[str, str]] = Counter()
    matches: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    for i, text in enumerate(texts):
        doc = docs.get(i)
        if doc is not None:
            entities.update((e.label_, " ".join(e.text.split())) for e in doc.ents
                            if e.label_ in wanted)
        _, counts = redact(text, doc)
        matches.update(counts)
        messages.update(counts.keys())
    top_entities = pd.DataFrame(
        [(label, text, count) for (label, text), count in entities.most_common(top)],
        columns=["label", "entity", "count"],
    )
    pii = pd.DataFrame(
        [(kind, matches[kind], messages[kind]) for kind in sorted(matches, key=matches.get,
                                                                  reverse=True)],
        columns=["kind", "matches", "messages"],
    )
    pii.attrs["sampled"] = len(rows)
    return top_entities, pii


def chunk_sizes(wb: "Workbench", chunkers: Iterable[str]) -> "pd.DataFrame":
    """Chunks per chunker and their length in words (what the embedder sees)."""
    names = list(chunkers)
    with wb.store.connect() as con:
        return con.execute("""
            SELECT chunker, count(*) AS chunks, count(DISTINCT message_id) AS messages,
                   round(avg(len(string_split(text, ' '))), 1) AS mean_words,
                   quantile_cont(len(string_split(text, ' ')), 0.95) AS p95_words
            FROM chunks WHERE list_contains(?::VARCHAR[], chunker)
            GROUP BY chunker ORDER BY list_position(?::VARCHAR[], chunker)""",
            [names, names]).df()
