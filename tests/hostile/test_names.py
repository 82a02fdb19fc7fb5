"""Portuguese names: recall of the redaction on a small labelled set, and what it leaves alone."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.text.clean import Cleaner

LABELLED = json.loads((Path(__file__).parent / "names_pt.json").read_text())


def _recall() -> tuple[int, int, list[str]]:
    texts = [text for text, _ in LABELLED["with_names"]]
    cleaned = Cleaner(redact=True).clean(texts)
    names = [(name, c.text) for (_, labelled), c in zip(LABELLED["with_names"], cleaned)
             for name in labelled]
    missed = [name for name, text in names if any(part in text for part in name.split()
                                                  if part[0].isupper())]
    return len(names) - len(missed), len(names), missed


def test_portuguese_name_recall_on_the_labelled_set():
    found, total, missed = _recall()
    print(f"recall {found}/{total} = {found / total:.2f}; missed: {missed}")
    assert found / total >= 0.75, missed


def test_sentences_without_names_keep_their_words():
    cleaned = Cleaner(redact=True).clean(LABELLED["without_names"])
    touched = [c.text for c in cleaned if "[PERSON]" in c.text]
    assert len(touched) <= 1, touched
