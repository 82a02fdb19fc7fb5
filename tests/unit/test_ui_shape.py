"""The app's shaping helpers (no Streamlit): sidebar periods, the branch tree, search marks,
clipped Markdown, the home's preferences."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

from workbench.config import load_settings
from workbench.records import Conversation, Message
from workbench.text.highlight import clip_markdown, highlight, matches, query_terms
from workbench.ui import preferences
from workbench.ui.shape import by_period, percent, period, short_date, tree

TODAY = date(2026, 12, 6)  # a Sunday


def local(y: int, m: int, d: int, h: int = 12) -> datetime:
    return datetime(y, m, d, h).astimezone()


def conversation(title: str, moment: datetime | None) -> Conversation:
    return Conversation(title, "default", title, "workbench", title, {}, moment, moment, 2)


def message(mid: str, parent: str | None, position: int, active: bool = True,
            role: str = "user") -> Message:
    return Message(mid, "c", parent, role, None, mid, "text",
                   datetime(2026, 1, 1, tzinfo=timezone.utc), mid, {}, active, mid, position)


def test_periods_are_days_then_weeks():
    assert period(local(2026, 12, 6, 9), TODAY) == "Today"
    assert period(local(2026, 12, 5), TODAY) == "Yesterday"
    assert period(local(2026, 12, 1), TODAY) == "Previous 7 days"
    assert period(local(2026, 11, 26), TODAY) == "Week of 23 Nov 2026"  # a Thursday
    assert period(local(2026, 11, 23), TODAY) == "Week of 23 Nov 2026"  # its Monday
    assert period(None, TODAY) == "Undated"


def test_sidebar_groups_keep_the_list_order_and_dates_are_short():
    listed = [conversation("a", local(2026, 12, 6)), conversation("b", local(2026, 12, 5)),
              conversation("c", local(2026, 12, 5)), conversation("d", local(2024, 3, 12))]
    groups = by_period(listed, TODAY)
    assert [(name, [c.title for c in cs]) for name, cs in groups] == [
        ("Today", ["a"]), ("Yesterday", ["b", "c"]), ("Week of 11 Mar 2024", ["d"])]
    assert short_date(local(2026, 12, 6, 9), TODAY) == "09:00"
    assert short_date(local(2026, 3, 2), TODAY) == "2 Mar"
    assert short_date(local(2024, 3, 12), TODAY) == "12 Mar 2024"


def test_tree_shows_other_branches_right_after_their_branch_point():
    # q1 → a1 (regenerated: a1 kept off, a2 kept); q2 edited as q2b (kept), q2 → a3 not kept
    messages = [message("q1", None, 0), message("a1", "q1", 1, active=False),
                message("q2", "a1", 2, active=False), message("a3", "q2", 3, active=False),
                message("a2", "q1", 4), message("q3", "a2", 5)]
    rows = tree(messages)
    assert [(r.message.id, r.depth, r.branch) for r in rows] == [
        ("q1", 0, None),
        ("a1", 1, "branch 2 of 2"), ("q2", 1, None), ("a3", 1, None),
        ("a2", 0, "branch 1 of 2, kept"), ("q3", 0, None),
    ]


def test_a_long_conversation_is_one_line_without_recursion():
    messages = [message(f"m{n}", f"m{n - 1}" if n else None, n) for n in range(5000)]
    rows = tree(messages)
    assert len(rows) == 5000 and {r.depth for r in rows} == {0}


def test_query_terms_leave_out_stopwords_and_the_time_phrase():
    assert query_terms("How did we set up the backup last April?", "last April") == [
        "set", "backup"]
    assert query_terms("the of and") == []


def test_highlight_marks_prose_not_code():
    text = "Backups run daily.\n\n```sh\nsqlite3 db \".backup x\"\n```\nSee `backup.sh` too."
    marked = highlight(text, ["backup"])
    assert marked.startswith(":orange-background[Backups] run daily.")
    assert '".backup x"' in marked and "`backup.sh`" in marked  # code untouched
    assert marked.count(":orange-background[") == 1
    assert matches(text, ["daily"]) and not matches(text, ["weekly"])


def test_clip_markdown_closes_an_open_code_block():
    text = "Intro line\n```python\n" + "x = 1\n" * 400 + "```\nafter"
    clipped = clip_markdown(text, 300)
    assert len(clipped) < 320
    assert clipped.count("```") % 2 == 0
    assert clip_markdown("short", 300) == "short"


def test_percent_is_the_cli_rule():
    assert percent(0.8123) == "81.2" and percent(None) == "" and percent(1.0) == "100.0"


def test_preferences_persist_in_the_home_and_a_broken_file_is_ignored(tmp_path):
    settings = load_settings(home=tmp_path, llm_base_url=None, chat_k=6)
    assert preferences.load(settings)["k"] == 6
    chosen = {**preferences.load(settings), "k": 9, "theme": "dark", "unknown": 1}
    path = preferences.save(settings, chosen)
    assert json.loads(path.read_text())["k"] == 9 and "unknown" not in json.loads(path.read_text())
    again = preferences.load(settings)
    assert again["k"] == 9 and again["theme"] == "dark"
    path.write_text("{not json")
    assert preferences.load(settings)["k"] == 6
    path.write_text(json.dumps({"k": "nine", "theme": "purple"}))  # wrong types: defaults
    assert preferences.load(settings)["k"] == 6 and preferences.load(settings)["theme"] == "light"
