"""The app served by ``streamlit run`` on 127.0.0.1 for a browser test, and the Chromium that
drives it (Debian's ``/usr/bin/chromium`` through Playwright; ``.ci/browser-setup.sh`` installs
both). Shared by the browser tests."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import APP
from workbench.chat.llm import free_port, stop_process

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]
HEALTH_TIMEOUT_S = 90

NEEDS_BROWSER = [
    pytest.mark.skipif(not CHROMIUM.is_file(),
                       reason=f"{CHROMIUM} is missing: run .ci/browser-setup.sh (make browser-setup)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright package is missing: run .ci/browser-setup.sh "
                              "(make browser-setup)"),
]


@dataclass
class Served:
    url: str
    home: Path
    log: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log})"
        return "\n".join(text.splitlines()[-lines:])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], served: Served) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if (code := proc.poll()) is not None:
            pytest.fail(f"streamlit exited with code {code} before answering:\n"
                        f"{served.log_tail()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"streamlit at {url} not healthy after {HEALTH_TIMEOUT_S}s:\n{served.log_tail()}")


@contextmanager
def streamlit_app(home: Path, workdir: Path, env: dict[str, str]) -> Iterator[Served]:
    """``streamlit run app_streamlit.py`` on a free port for ``home``, stopped afterwards.

    ``workdir`` is the child's cwd: no developer ``.env`` or ``.streamlit/`` of the checkout
    leaks in, so what the app sets itself (its toolbar, its theme) is what is tested."""
    port = free_port()
    log = workdir / "streamlit.log"
    full_env = {**os.environ, "WORKBENCH_HOME": str(home), "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", **env}
    for name in ("WORKBENCH_LLM_BASE_URL", "WORKBENCH_LLM_MODEL", "WORKBENCH_LLM_EMBEDDED_URL"):
        if name not in env:  # the caller's environment never picks the model
            full_env.pop(name, None)
    command = [sys.executable, "-m", "streamlit", "run", str(APP),
               "--server.headless", "true", "--server.address", "127.0.0.1",
               "--server.port", str(port), "--browser.gatherUsageStats", "false",
               # No watcher: nothing to rerun on save, and no inotify load on a busy tree.
               "--server.fileWatcherType", "none"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=full_env, cwd=workdir, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        served = Served(f"http://127.0.0.1:{port}", home, log)
        _wait_healthy(served.url, proc, served)
        yield served
    finally:
        stop_process(proc, 10.0)


class Shots:
    """Screenshots named in order into ``folder`` (and copied to ``$WORKBENCH_SCREENSHOTS``)."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        extra = os.environ.get("WORKBENCH_SCREENSHOTS")
        self.extra = Path(extra) if extra else None
        if self.extra is not None:
            self.extra.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def take(self, page, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if self.extra is not None:
            shutil.copyfile(path, self.extra / path.name)
        return path


@contextmanager
def opened_page(served: Served, shots: Shots, ui_ms: int, clipboard: bool = False) -> Iterator[Any]:
    """A page of headless Chromium on the app; a failed assertion or browser error leaves a
    screenshot and prints the app's log tail before it goes on up."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS, timeout=ui_ms)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            if clipboard:
                context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.url)
            page = context.new_page()
            page.set_default_timeout(ui_ms)
            try:
                yield page
            except (AssertionError, PlaywrightError):
                shots.take(page, "failure")
                print(f"streamlit log tail:\n{served.log_tail()}")
                raise
        finally:
            browser.close()
