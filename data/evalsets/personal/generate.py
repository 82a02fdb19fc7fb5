"""Write ``conversations.json`` (a ChatGPT export) and ``qrels.jsonl`` from the hand-written
conversations and questions beside this file. Deterministic: ids are UUIDv5 of the
conversation key and turn index, times are Europe/Lisbon wall-clock read as UTC.

    python data/evalsets/personal/generate.py
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conversations import CONVERSATIONS  # noqa: E402
from questions import QUESTIONS  # noqa: E402

NAMESPACE = uuid.UUID("5b0c6f3e-2f6d-4d8e-9a53-1f0d2a7c9e11")
WORKSPACE = "personal"


def node_id(key: str, turn: int | str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{key}/{turn}"))


def conversation(key: str, title: str, start: str, turns: list[tuple[str, str]]) -> dict:
    began = datetime.fromisoformat(start).replace(tzinfo=timezone.utc)
    root = node_id(key, "root")
    mapping = {root: {"id": root, "message": None, "parent": None, "children": []}}
    parent = root
    for index, (role, text) in enumerate(turns):
        nid = node_id(key, index)
        moment = (began + timedelta(minutes=2 * index)).timestamp()
        mapping[nid] = {
            "id": nid, "parent": parent, "children": [],
            "message": {"id": nid, "author": {"role": role, "name": None, "metadata": {}},
                        "create_time": moment, "update_time": None,
                        "content": {"content_type": "text", "parts": [text]},
                        "status": "finished_successfully", "weight": 1.0, "metadata": {},
                        "recipient": "all"},
        }
        mapping[parent]["children"].append(nid)
        parent = nid
    last = (began + timedelta(minutes=2 * len(turns))).timestamp()
    return {"title": title, "create_time": began.timestamp(), "update_time": last,
            "mapping": mapping, "current_node": parent, "conversation_id": node_id(key, "c"),
            "id": node_id(key, "c")}


def main() -> None:
    keys = [c[0] for c in CONVERSATIONS]
    assert len(keys) == len(set(keys)), "conversation keys repeat"
    turns = {c[0]: len(c[3]) for c in CONVERSATIONS}
    export = [conversation(*c) for c in CONVERSATIONS]
    (HERE / "conversations.json").write_text(json.dumps(export, ensure_ascii=False, indent=1) + "\n",
                                             encoding="utf-8")
    lines = []
    for qid, query, relevant, category, now in QUESTIONS:
        for key, turn in relevant:
            assert turn < turns[key], f"{qid}: {key} has no turn {turn}"
        item = {"id": qid, "query": query, "relevant": [node_id(k, t) for k, t in relevant],
                "workspace": WORKSPACE, "category": category}
        if now:
            item["now"] = now
        lines.append(json.dumps(item, ensure_ascii=False))
    (HERE / "qrels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(export)} conversations, {sum(turns.values())} turns, {len(lines)} questions")


if __name__ == "__main__":
    main()
