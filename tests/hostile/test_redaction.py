"""With redaction on, no planted value lands anywhere in the home: not in DuckDB, not in any
LanceDB file, not in an export, whichever field of which format carried it."""

from __future__ import annotations

import json
from pathlib import Path

from hostile_files import write_json

EMAIL = "planted.person@example.org"
PHONE = "+55 11 98765-4321"
CPF = "529.982.247-25"
CARD = "4111 1111 1111 1111"
PASSWORD = "Sup3rS3cretPw"
URL = f"https://admin:{PASSWORD}@db.example.com/prod"
NAME = "Mary Jones"
PLANTED = [EMAIL, PHONE, CPF, "52998224725", CARD, "4111111111111111", PASSWORD, NAME]
PT_NAME = "Maria Aparecida Souza"
SECRET = f"mail {EMAIL}, call {PHONE}, CPF {CPF}, card {CARD}, db {URL}"


def _node(nid: str, parent: str | None, role: str, content: dict, name: str | None = None) -> dict:
    return {"id": nid, "parent": parent, "children": [], "message": {
        "id": nid, "author": {"role": role, "name": name}, "create_time": 1700000000,
        "content": content, "metadata": {"note": f"metadata copy: {SECRET}"}}}


def _chatgpt() -> list:
    nodes = [
        _node("u1", None, "user", {"content_type": "multimodal_text", "parts": [
            {"content_type": "image_asset_pointer", "asset_pointer": "file://x"},
            f"Please look at this, {NAME} sent it: {SECRET}"]}),
        _node("a1", "u1", "assistant", {"content_type": "code", "language": "python",
                                        "text": f"connect('{URL}')  # {EMAIL}"}),
        _node("t1", "a1", "tool", {"content_type": "execution_output",
                                   "text": f"row: {CPF} {CARD}"}, name=NAME),
        _node("u2", "t1", "user", {"content_type": "text", "parts": [
            f"Ontem falei com a {PT_NAME} sobre o contrato."]}),
    ]
    return [{"id": "g1", "conversation_id": "g1", "title": f"Call with {NAME} <{EMAIL}>",
             "create_time": 1700000000, "current_node": "missing",
             "mapping": {n["id"]: n for n in nodes}, "owner": EMAIL}]


def _claude() -> list:
    return [{"uuid": "k1", "name": f"Contract for {NAME}", "created_at": "2024-01-01T00:00:00Z",
             "account": {"email": EMAIL}, "chat_messages": [
                 {"uuid": "m1", "sender": "human", "text": SECRET, "created_at": "2024-01-01",
                  "content": [{"type": "text", "text": f"Hello, this is {NAME}: {SECRET}",
                               "citations": [EMAIL]},
                              {"type": "tool_use", "name": "lookup",
                               "input": {"cpf": CPF, "card": CARD, "url": URL}},
                              {"type": "tool_result", "content": [{"type": "text",
                                                                   "text": PHONE}]},
                              {"type": "image", "alt": f"photo of {NAME}, {EMAIL}"}]}]}]


def _generic(path: Path) -> Path:
    header = "conversation_id,role,content,title,speaker,contact,email\n"
    rows = [f'c1,user,"Hi, reach me at {EMAIL}",Meeting with {NAME},{NAME},"{PHONE}",{EMAIL}\n',
            f'c1,assistant,"Noted {CPF}",Meeting with {NAME},Bot,"{URL}",{EMAIL}\n']
    path.write_text(header + "".join(rows))
    return path


def _files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()]


def test_no_planted_value_lands_anywhere_in_the_home(tmp_path, home, wb_factory):
    wb = wb_factory(home, redact=True)
    files = [write_json(tmp_path / "chatgpt.json", _chatgpt()),
             write_json(tmp_path / "claude.json", _claude()), _generic(tmp_path / "rows.csv")]
    results = wb.imports.ingest(files)
    assert [r.status for r in results] == ["done"] * 3, [r.error for r in results]
    assert results[0].warnings  # quoting the title, and stored with the import
    assert wb.stats()["messages"] >= 8
    wb.store.release()  # no open database file while the files are read
    leaks = {}
    for path in _files(home):
        data = path.read_bytes()
        found = [v for v in PLANTED if v.encode() in data]
        if found:
            leaks[str(path.relative_to(home))] = found
    assert not leaks, leaks
    exported = "".join(wb.conversations.export(c.id, "json") for c in wb.conversations.list())
    hits = wb.search.query("contract card call mail", k=20).hits
    shown = exported + json.dumps([h.__dict__ for h in hits], default=str)
    assert not [v for v in PLANTED if v in shown]
    assert "[EMAIL]" in exported and "[PERSON]" in exported


def test_portuguese_names_are_redacted_by_rule(tmp_path, home, wb_factory):
    wb = wb_factory(home, redact=True, index_on_ingest=False)
    [result] = wb.imports.ingest([write_json(tmp_path / "chatgpt.json", _chatgpt())])
    assert result.status == "done"
    exported = "".join(wb.conversations.export(c.id, "json") for c in wb.conversations.list())
    assert PT_NAME not in exported and "Aparecida" not in exported
