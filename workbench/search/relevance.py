"""A relevance floor for what a person searches: fused ranks say which hit is better, not
whether any is good, so a query that matches nothing would still fill the page.

A hit passes when it holds one of the query's words (or a word one begins), or when its text is
close enough in meaning (cosine of the normalised embeddings). Searches without words worth
matching (a time phrase alone) keep every hit: their filter is the question.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workbench.embeddings.model import Embedder
from workbench.search.retrieve import Hit
from workbench.text.highlight import matches

# MiniLM cosines on the samples: unrelated words ≤ 0.2, a paraphrase ≥ 0.35 (see the note).
RELEVANCE_FLOOR = 0.3


def above_floor(embedder: Embedder, query: str, terms: Sequence[str], hits: list[Hit],
                floor: float = RELEVANCE_FLOOR) -> list[Hit]:
    """``hits`` (in their order) that hold a query term or pass the semantic floor."""
    if not hits or not terms:
        return hits
    lexical = [matches(h.text, list(terms)) for h in hits]
    if all(lexical):
        return hits
    query_vector = embedder.encode_query(query)
    vectors = embedder.encode([h.text for h in hits])
    cosines = vectors @ (query_vector / (np.linalg.norm(query_vector) or 1.0))
    return [h for h, word, cosine in zip(hits, lexical, cosines) if word or cosine >= floor]
