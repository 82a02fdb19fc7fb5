"""Measuring the grounding threshold on labelled (sentence, memory, supported?) pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.chat.grounding import MIN_OVERLAP, Encoder, lexical_overlap, memory_sentences


def read_pairs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def pair_features(pairs: Sequence[dict[str, Any]], encoder: Encoder) -> tuple[np.ndarray, np.ndarray]:
    """(cosine, lexical overlap) of each pair, as the grounder computes them."""
    cosines, overlaps = [], []
    for pair in pairs:
        parts = memory_sentences(pair["memory"])
        vectors = encoder.encode([pair["sentence"]] + parts)
        cosines.append(float((vectors[0] @ vectors[1:].T).max()))
        overlaps.append(lexical_overlap(pair["sentence"], pair["memory"]))
    return np.array(cosines), np.array(overlaps)


def grid(pairs: Sequence[dict[str, Any]], encoder: Encoder,
         weights: Sequence[float] = tuple(np.round(np.arange(0, 1.01, 0.1), 2)),
         thresholds: Sequence[float] = tuple(np.round(np.arange(0.2, 0.9, 0.025), 3)),
         ) -> list[dict[str, float]]:
    """Precision, recall and F1 of "supported" for each (cosine weight, threshold)."""
    cosines, overlaps = pair_features(pairs, encoder)
    labels = np.array([bool(p["supported"]) for p in pairs])
    rows = []
    for weight in weights:
        scores = np.where(overlaps < MIN_OVERLAP, 0.0, weight * cosines + (1 - weight) * overlaps)
        for threshold in thresholds:
            predicted = scores >= threshold
            tp = int((predicted & labels).sum())
            precision = tp / max(int(predicted.sum()), 1)
            recall = tp / max(int(labels.sum()), 1)
            f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
            rows.append({"weight": float(weight), "threshold": float(threshold),
                         "precision": precision, "recall": recall, "f1": f1})
    return rows
