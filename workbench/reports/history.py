"""What a history holds: the queries and text analysis behind notebooks/explore_history.ipynb.

The counts come from the store's history queries as pandas DataFrames (charts and tables take
those as they are). Text analysis (spaCy entities, PII patterns) runs
on a reproducible sample: the same seed picks the same messages.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    import pandas as pd

    from workbench.api import Workbench

# Entity kinds worth counting in a history; dates and numbers swamp everything else.
ENTITY_LABELS = ("PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART")
ANALYSED_CHARS = 2000  # a long paste is judged by its start: bounded cost per message


def overview(wb: "Workbench", workspace: str | None = None) -> "pd.DataFrame":
    """One row: conversations, messages, dated messages, first and last message time."""
    return wb.store.history.overview(workspace)


def messages_per_week(wb: "Workbench", workspace: str | None = None) -> "pd.DataFrame":
    """Messages per ISO week (Monday) and role; undated messages are left out."""
    return wb.store.history.messages_per_week(workspace)


def conversation_lengths(wb: "Workbench", workspace: str | None = None) -> "pd.DataFrame":
    """Messages on each conversation's active branch, longest first."""
    return wb.store.history.conversation_lengths(workspace)


def roles(wb: "Workbench", workspace: str | None = None) -> "pd.DataFrame":
    return wb.store.history.roles(workspace)


def languages(wb: "Workbench", workspace: str | None = None) -> "pd.DataFrame":
    """Languages detected when messages were cleaned ("unknown": too short or unsure)."""
    return wb.store.history.languages(workspace)


def duplicates(wb: "Workbench", workspace: str | None = None, top: int = 20) -> "pd.DataFrame":
    """Texts stored more than once (same content hash): copies, conversations, a preview."""
    return wb.store.history.duplicates(workspace, top)


def sample(wb: "Workbench", workspace: str | None = None, n: int = 300,
           seed: int = 0) -> "pd.DataFrame":
    """``n`` non-empty messages chosen by a hash of their id and ``seed`` (stable across runs)."""
    return wb.store.history.sample(workspace, n, seed)


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

    from workbench.text.clean import default_model, ner_pipeline, redact

    rows = sample(wb, workspace, n, seed)
    texts = [text[:ANALYSED_CHARS] for text in rows["content"]]
    english = [i for i, lang in enumerate(rows["language"]) if lang == "en"]
    docs = {}
    if english:
        nlp = ner_pipeline(default_model())
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
    return wb.store.history.chunk_sizes(list(chunkers))
