"""Measuring the grounding threshold on labelled (sentence, memory, supported?) pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.chat.grounding import MIN_OVERLAP, Encoder, lexical_overlap, memory_sentences, negated


def read_pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def pair_features(pairs: Sequence[dict[str, Any]], encoder: Encoder
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cosine, lexical overlap, negation mismatch) of each pair, as the grounder computes them."""
    cosines, overlaps, mismatches = [], [], []
    for pair in pairs:
        parts = memory_sentences(pair["memory"])
        vectors = encoder.encode([pair["sentence"]] + parts)
        similarity = vectors[0] @ vectors[1:].T
        cosines.append(float(similarity.max()))
        overlaps.append(lexical_overlap(pair["sentence"], pair["memory"]))
        mismatches.append(negated(pair["sentence"]) != negated(parts[int(similarity.argmax())]))
    return np.array(cosines), np.array(overlaps), np.array(mismatches)


def grid(pairs: Sequence[dict[str, Any]], encoder: Encoder,
         weights: Sequence[float] = tuple(np.round(np.arange(0, 1.01, 0.1), 2)),
         thresholds: Sequence[float] = tuple(np.round(np.arange(0.2, 0.9, 0.025), 3)),
         negation: bool = True) -> list[dict[str, float]]:
    """Precision, recall and F1 of "supported" for each (cosine weight, threshold); with
    ``negation``, as the grounder scores (a negation mismatch is no support)."""
    cosines, overlaps, mismatches = pair_features(pairs, encoder)
    labels = np.array([bool(p["supported"]) for p in pairs])
    blocked = overlaps < MIN_OVERLAP
    if negation:
        blocked |= mismatches
    rows = []
    for weight in weights:
        scores = np.where(blocked, 0.0, weight * cosines + (1 - weight) * overlaps)
        for threshold in thresholds:
            predicted = scores >= threshold
            tp = int((predicted & labels).sum())
            precision = tp / max(int(predicted.sum()), 1)
            recall = tp / max(int(labels.sum()), 1)
            f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
            rows.append({"weight": float(weight), "threshold": float(threshold),
                         "precision": precision, "recall": recall, "f1": f1})
    return rows
