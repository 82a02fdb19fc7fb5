"""Issue 16, item 4: "The Streamlit app asks for a login when the home has users", in a real
browser. The home has two users, each owning a workspace with one conversation; the app runs
as ``streamlit run`` runs it. Screenshots: ``tmp_path/screenshots`` (and
``$WORKBENCH_SCREENSHOTS``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser import NEEDS_BROWSER, Shots, opened_page, streamlit_app
from workbench import Workbench

ALICE, BOB = ("alice", "alice-password"), ("bob", "bob-password")
MINE, THEIRS = "Tomato seedlings schedule", "Bob's secret salary talk"
FIRST_MS = 180_000  # the first page opens the workbench (embedding model) in Streamlit
UI_MS = 120_000  # a 2-core machine shared with other work

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), *NEEDS_BROWSER]


def _home(home: Path) -> dict[str, str]:
    with Workbench.open(home) as wb:
        wb.users.add(*ALICE, workspaces=["garden"])
        wb.users.add(*BOB, workspaces=["work"])
        ids = {}
        for space, title, text in (("garden", MINE, "Sow the tomato seedlings in March."),
                                   ("work", THEIRS, "My salary talk is on Friday, tell no one.")):
            conversation = wb.conversations.create(space, title)
            wb.conversations.add_message(conversation.id, "user", text)
            ids[space] = conversation.id
        wb.search.index_pending()
        return ids


@pytest.fixture
def app(tmp_path: Path):
    home = tmp_path / "home"
    ids = _home(home)
    with streamlit_app(home, tmp_path, {"WORKBENCH_LOGIN_RATE_LIMIT": "2/hour"}) as served:
        yield served, ids


def test_a_home_with_users_opens_to_each_user_their_own_conversations(app, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_MS)
    served, ids = app
    shots = Shots(tmp_path / "screenshots")
    with opened_page(served, shots, UI_MS) as page:
        _walk(page, served.url, ids, shots)


def _sign_in(page, name: str, password: str) -> None:
    form = page.get_by_test_id("stForm")
    form.get_by_label("User name").fill(name)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Sign in").click()


def _walk(page, url: str, ids: dict[str, str], shots: Shots) -> None:
    from playwright.sync_api import expect

    heading = page.get_by_role("heading", name="Sign in", exact=True)
    bar = page.get_by_test_id("stSidebar")
    # Any page's URL asks for the login first and shows nothing of the home.
    page.goto(f"{url}/conversations", wait_until="domcontentloaded")
    expect(heading).to_be_visible(timeout=FIRST_MS)
    expect(page.get_by_text(MINE)).to_have_count(0)
    expect(page.get_by_text(THEIRS)).to_have_count(0)
    expect(page.get_by_role("heading", name="Conversations", exact=True)).to_have_count(0)
    shots.take(page, "sign-in")

    _sign_in(page, ALICE[0], "not-her-password")
    error = page.get_by_test_id("stAlert").filter(has_text="wrong user name or password")
    expect(error).to_have_count(1)
    expect(page.get_by_test_id("stAlert")).to_have_count(1)
    expect(heading).to_be_visible()
    expect(page.get_by_text(MINE)).to_have_count(0)
    shots.take(page, "wrong-password")

    _sign_in(page, *ALICE)
    expect(heading).to_have_count(0)
    expect(bar.get_by_role("button", name=re.compile(re.escape(MINE)))).to_be_visible()
    expect(page.get_by_text(THEIRS)).to_have_count(0)
    workspace = bar.get_by_role("combobox", name="Workspace")
    expect(workspace).to_have_value("garden")
    workspace.click()
    expect(page.get_by_role("option")).to_have_text(["garden"])  # bob's is not offered
    page.keyboard.press("Escape")
    shots.take(page, "alice-chat")

    _nothing_of_bob(page, ids, shots)

    bar.get_by_role("button", name="Sign out (alice)").click()
    expect(heading).to_be_visible()
    expect(page.get_by_text(MINE)).to_have_count(0)
    expect(page.get_by_test_id("stAlert")).to_have_count(0)
    shots.take(page, "signed-out")

    # Failed sign-ins are limited (2 an hour here): past that, not even the right password.
    _sign_in(page, ALICE[0], "still-not-her-password")
    expect(page.get_by_test_id("stAlert").filter(has_text="wrong user name or password")
           ).to_have_count(1)
    _sign_in(page, *ALICE)
    expect(page.get_by_test_id("stAlert").filter(has_text="too many failed sign-ins; try again in")
           ).to_have_count(1)
    expect(heading).to_be_visible()
    expect(bar.get_by_role("button", name=re.compile(re.escape(MINE)))).to_have_count(0)
    shots.take(page, "sign-ins-limited")


def _nothing_of_bob(page, ids: dict[str, str], shots: Shots) -> None:
    """Bob's conversation, by title, by id and by its words: not there."""
    from playwright.sync_api import expect

    bar = page.get_by_test_id("stSidebar")
    bar.get_by_role("link", name="Conversations").click()
    expect(page.get_by_role("heading", name="Conversations", exact=True)).to_be_visible()
    expect(page.get_by_role("combobox", name="Conversation")).to_have_value(
        re.compile(f"^{re.escape(MINE)} · "))
    title_filter = page.get_by_label("Filter by title")
    for probe in ("secret", ids["work"]):
        title_filter.fill(probe)
        title_filter.press("Enter")
        expect(page.get_by_text("No title matches.")).to_be_visible()
    expect(page.get_by_text(THEIRS)).to_have_count(0)
    bar.get_by_role("link", name="Search").click()
    query = page.get_by_label("Search your conversations")
    query.fill("salary talk on Friday")
    query.press("Enter")
    expect(page.get_by_text("Nothing found.")).to_be_visible()
    expect(page.get_by_text(re.compile("tell no one"))).to_have_count(0)
    shots.take(page, "alice-search")
