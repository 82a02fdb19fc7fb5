"""Pseudo-relevance feedback: words of the first pass's best turns, for a second full-text pass.

A question often uses other words than the turns that answer it ("what activities does she
do?" against "I took up pottery"); the turns that match best on the first pass carry words the
question lacks. This is RM3's relevance model (Lavrenko and Croft 2001; Abdul-Jaleel et al.
2004) on the candidates in hand: a word's weight is its share of each feedback turn, weighted by
that turn's fused score, times its rarity among all the candidates (a word in every candidate
tells nothing). The defaults are the literature's, not fitted here.
"""

from __future__ import annotations

import importlib
import math
import re
from collections import Counter
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_]{3,}")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """spaCy's English and Portuguese stop words (the histories mix both)."""
    words: set[str] = set()
    for code in ("en", "pt"):
        words |= importlib.import_module(f"spacy.lang.{code}.stop_words").STOP_WORDS
    return frozenset(words)


def _terms(text: str, stop: frozenset[str]) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in stop]


def expansion_terms(query: str, ranked: list[tuple[float, str]], every: list[str],
                    docs: int = 10, terms: int = 10) -> list[str]:
    """The ``terms`` best words of the ``docs`` best turns (``ranked``: score and text, best
    first) that the query does not hold; ``every``: all candidate texts, for the rarity."""
    stop = stopwords()
    asked = set(_terms(query, stop))
    holders = Counter(w for text in every for w in set(_terms(text, stop)))
    total = max(len(every), 1)
    weights: Counter[str] = Counter()
    top = ranked[:docs]
    mass = sum(score for score, _ in top) or 1.0
    for score, text in top:
        words = _terms(text, stop)
        for word, count in Counter(words).items():
            if word not in asked:
                weights[word] += (score / mass) * count / len(words)
    for word in weights:
        weights[word] *= math.log(1 + total / holders.get(word, 1))
    return [w for w, _ in weights.most_common(terms)]
