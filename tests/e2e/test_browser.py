"""End to end in a real browser: the app served by Streamlit, the embedded LLM, Chromium.

What ``workbench serve`` does, done by the test so that it can stop everything: the embedded
SmolLM2 server is started in this process (``LLMSource``), and ``streamlit run`` in a child
process is handed it through ``WORKBENCH_LLM_EMBEDDED_URL``, against a fresh home that already
holds the legacy fixture. Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright;
``.ci/browser-setup.sh`` installs both) sends a message, waits for the
streamed answer and its sources, and after a reload finds the conversation in the sidebar.

Screenshot: the test's tmp_path and ``tests/output/browser-chat.png`` (git-ignored).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import CHROMIUM, CHROMIUM_ARGS, NEEDS_BROWSER, Served, streamlit_app
from conftest import FIXTURES, TESTS
from workbench import Workbench, load_settings
from workbench.chat.turn import title_from
from workbench.chat.llm import LLMSource

OUTPUT = TESTS / "output"
QUESTION = "How did we set up the daily backup?"

# Bounds on every wait, generous for a loaded 2-core machine (milliseconds for Playwright).
FIRST_RENDER_MS = 180_000  # the first run opens the workbench (embedding model) in Streamlit
ANSWER_MS = 240_000  # retrieval + a streamed SmolLM2 answer; 30-60 s is usual under load
UI_MS = 60_000

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),  # the bounds above, one after another
    *NEEDS_BROWSER,
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The app on a free port of 127.0.0.1 with the embedded LLM; both stopped afterwards."""
    home = tmp_path / "home"
    with Workbench.open(home) as wb:
        results = wb.imports.ingest([FIXTURES / "legacy_nosso_projeto.db"])
    assert [r.status for r in results] == ["done"], results

    source: LLMSource | None = None
    try:
        # llm_base_url=None: the embedded server, whatever the caller's environment says.
        source = LLMSource(load_settings(home=home, llm_base_url=None, llm_model=None), home)
        client = source.client()
        assert source.server is not None and source.server.is_running()
        # As `workbench serve` hands it over: the embedded model, not a configured endpoint.
        with streamlit_app(home, tmp_path, {"WORKBENCH_LLM_EMBEDDED_URL": client.endpoint}) as app:
            yield app
    finally:
        if source is not None:
            source.close()


def test_chat_in_a_real_browser_answers_cites_and_lists_the_conversation(served, tmp_path):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    title = title_from(QUESTION)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS, timeout=UI_MS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(UI_MS)
            try:
                page.goto(served.url, wait_until="domcontentloaded", timeout=UI_MS)
                sidebar = page.get_by_test_id("stSidebar")
                box = page.get_by_test_id("stChatInputTextArea")
                # The script ran to its end: the fixture's conversations are listed.
                expect(sidebar.get_by_role("button", name=re.compile(r"^Backup diário · "))) \
                    .to_be_visible(timeout=FIRST_RENDER_MS)
                expect(page.get_by_role("heading", name="New chat")).to_be_visible(timeout=UI_MS)
                expect(box).to_be_editable(timeout=UI_MS)

                box.fill(QUESTION)
                box.press("Enter")

                question = page.locator('[data-testid="stChatMessageContent"]'
                                        '[aria-label="Chat message from user"]')
                expect(question.filter(has_text=QUESTION)).to_be_visible(timeout=UI_MS)
                answer = page.locator('[data-testid="stChatMessageContent"]'
                                      '[aria-label="Chat message from assistant"]').last
                sources = answer.get_by_test_id("stExpander").filter(has_text="Sources ·")
                failed = answer.get_by_test_id("stAlert")
                # Sources come after the stream has ended; an error block instead means no answer.
                expect(sources.or_(failed).first).to_be_visible(timeout=ANSWER_MS)
                assert not failed.count(), f"no answer: {failed.first.inner_text()}\n" \
                                           f"{served.log_tail()}"
                expect(sources).to_have_count(1, timeout=UI_MS)
                expect(sources.locator("summary")).to_contain_text(
                    re.compile(r"Sources · \d+ cited, \d+ attributed, \d+ retrieved"), timeout=UI_MS)
                # The streamed answer: text in the assistant message outside the sources block.
                answer_text = answer.evaluate(
                    """el => { const c = el.cloneNode(true);
                               c.querySelectorAll('[data-testid="stExpander"]')
                                .forEach(e => e.remove());
                               return c.innerText.trim(); }""")
                assert answer_text, "the assistant message has no text"
                # Open the sources: the backup conversation is among the memories.
                sources.locator("summary").click()
                expect(sources.get_by_test_id("stExpanderDetails")).to_contain_text(
                    "Backup diário", timeout=UI_MS)
                # The sidebar, rendered after the send, lists the new conversation already.
                expect(sidebar.get_by_role("button", name=re.compile(re.escape(title)))) \
                    .to_be_visible(timeout=UI_MS)
                expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=UI_MS)

                shot = tmp_path / "browser-chat.png"
                page.screenshot(path=str(shot), full_page=True)
                OUTPUT.mkdir(exist_ok=True)
                shutil.copyfile(shot, OUTPUT / "browser-chat.png")
                assert shot.stat().st_size > 10_000

                # A new session: the conversation is read back from the store.
                page.reload(wait_until="domcontentloaded", timeout=UI_MS)
                expect(page.get_by_role("heading", name="New chat")).to_be_visible(timeout=UI_MS)
                listed = sidebar.get_by_role("button", name=re.compile(re.escape(title)))
                expect(listed).to_be_visible(timeout=UI_MS)
                listed.click()
                expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(
                    timeout=UI_MS)
                expect(page.locator('[data-testid="stChatMessageContent"]'
                                    '[aria-label="Chat message from assistant"]')) \
                    .to_have_count(1, timeout=UI_MS)
            except (AssertionError, PlaywrightError):
                page.screenshot(path=str(tmp_path / "browser-failure.png"), full_page=True)
                print(f"streamlit log tail:\n{served.log_tail()}")
                raise
        finally:
            browser.close()

    wb = Workbench.open(served.home)
    stored = [c for c in wb.conversations.list("default") if c.title == title]
    assert len(stored) == 1
    messages = wb.conversations.messages(stored[0].id)
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content.strip()
