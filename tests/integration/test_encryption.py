"""An encrypted home (gocryptfs): no message text on disk, the same answers, the key enforced.

Real gocryptfs and FUSE, the real model, DuckDB and LanceDB; the LLM is ``FakeOpenAI``. Every
test unmounts what it mounted, and a fixture checks that no mount of its folders is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import FIXTURES, Cli, ingest_into, wait_until
from tests.fake_openai import FakeOpenAI
from workbench import Workbench
from workbench.ops import encryption
from workbench.ops.encrypt_home import encrypt

pytestmark = pytest.mark.skipif(
    shutil.which("gocryptfs") is None or not os.path.exists("/dev/fuse")
    or shutil.which("fusermount3") is None and shutil.which("fusermount") is None,
    reason="gocryptfs, fusermount or /dev/fuse is missing (make crypt-setup installs them)")

KEY = "correct horse battery staple"
LAYOUT = {"default": ["legacy_nosso_projeto.db", "chatgpt_2025_linear.json"]}
QUERIES = ["backup every day", "pgvector index", "como configurar o banco", "trip to Lisbon"]


def _mounts_under(folder: Path) -> list[str]:
    with open("/proc/mounts", encoding="utf-8") as handle:
        return [line for line in handle if str(folder) in line]


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The key set and a private runtime folder for the mounts; every mount undone after."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("WORKBENCH_ENCRYPTION_KEY", KEY)
    yield tmp_path
    for line in _mounts_under(tmp_path):
        subprocess.run(["fusermount", "-u", line.split(" ")[1]], check=False)
    assert _mounts_under(tmp_path) == [], "a test left a mount behind"


def _sentences(home: Path, wanted: int = 20) -> list[bytes]:
    """Message texts of the imported exports that a byte search finds in a plain home: the
    probes the cipher folder must not contain."""
    con = duckdb.connect(str(home / "workbench.duckdb"), read_only=True)
    try:
        texts = [row[0] for row in con.execute(
            "SELECT DISTINCT content FROM messages WHERE length(content) >= 40 ORDER BY 1").fetchall()]
    finally:
        con.close()
    disk = b"\n".join(p.read_bytes() for p in home.rglob("*") if p.is_file())
    found = [t[:40].encode() for t in texts if t[:40].encode() in disk]
    assert len(found) >= wanted, f"only {len(found)} probe sentences readable in the plain home"
    return found[:wanted]


def _grep(folder: Path, sentences: list[bytes], patterns: Path) -> str:
    patterns.write_bytes(b"\n".join(sentences) + b"\n")
    done = subprocess.run(["grep", "-r", "-a", "-F", "-l", "-f", str(patterns), str(folder)],
                          capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def _hits(wb: Workbench) -> list[list[tuple[str, float]]]:
    return [[(h.message_id, round(h.score, 5)) for h in wb.search.query(q, "default", k=8).hits]
            for q in QUERIES]


def _answers(wb: Workbench):
    hits = _hits(wb)
    turn = wb.chat.ask("How do I back up the database every day?", "default")
    wb.chat.wait_for_indexing()
    return hits, turn.text, [h.message_id for h in turn.hits]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_encrypted_home_holds_no_text_and_answers_like_a_plain_one(keyed, embedder,
                                                                    monkeypatch):
    plain, secret = keyed / "plain", keyed / "secret"
    Cli(secret)("encrypt")  # a home not made yet becomes an empty encrypted one
    assert encryption.is_encrypted(secret)
    with FakeOpenAI("You back it up with a daily job.") as server:
        llm = {"llm_base_url": server.base_url, "llm_model": server.model}
        with ingest_into(plain, LAYOUT, embedder, **llm) as wb:
            expected = _answers(wb)
        with ingest_into(secret, LAYOUT, embedder, **llm) as wb:
            assert wb.settings.home == encryption.mount_point(secret)
            assert _answers(wb) == expected
            after_the_turn = _hits(wb)
    cli = Cli(secret)
    cli("backup")  # into HOME/backups: inside the cipher folder
    sealed = Path(cli.json("backup", "--to", str(keyed / "outside"))["path"])  # elsewhere: sealed
    assert encryption.is_encrypted(sealed) and sealed.parent == keyed / "outside"
    assert cli.json("backup", "verify", str(sealed))["ok"]
    cli("restore", str(sealed), "--home", str(keyed / "restored"))
    assert encryption.is_encrypted(keyed / "restored")
    with Workbench.open(keyed / "restored", embedder) as wb:
        assert _hits(wb) == after_the_turn
    for home in (secret, keyed / "restored"):
        Cli(home)("lock")
        assert not encryption.mounted(encryption.mount_point(home))
    monkeypatch.setenv("WORKBENCH_ENCRYPTION_KEY", "not the key")
    result = Cli(plain)("backup", "verify", str(sealed), ok=False)
    assert result.output == f"error: {sealed}: wrong encryption key; nothing was changed\n"

    sentences = _sentences(plain)
    assert _grep(plain, sentences, keyed / "patterns")  # the probes do find plain text
    for folder in (secret, keyed / "outside", keyed / "restored"):
        assert _grep(folder, sentences, keyed / "patterns") == ""
    names = [p.name for p in secret.rglob("*")]
    assert "workbench.duckdb" not in names and "lancedb" not in names and "backups" not in names


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_no_key_or_a_wrong_key_fails_in_one_line_and_changes_nothing(keyed, embedder,
                                                                     monkeypatch):
    home = keyed / "home"
    with ingest_into(home, {"default": ["claude_trimmed.json"]}, embedder):
        pass
    encrypt(home)
    before = _tree(home)
    cli = Cli(home)
    monkeypatch.delenv("WORKBENCH_ENCRYPTION_KEY")
    result = cli("stats", ok=False)
    assert result.exit_code == 1
    assert result.output == f"error: {home}: the home is encrypted; set WORKBENCH_ENCRYPTION_KEY\n"
    monkeypatch.setenv("WORKBENCH_ENCRYPTION_KEY", "not the key")
    for args in (["stats"], ["ingest", str(FIXTURES / "sharegpt_dummy.json")], ["decrypt"]):
        result = cli(*args, ok=False)
        assert result.exit_code == 1, result.output
        assert result.output == f"error: {home}: wrong encryption key; nothing was changed\n"
    assert _tree(home) == before and _mounts_under(keyed) == []

    # The right key opens it; a process that joins the open mount must hold the key too.
    monkeypatch.setenv("WORKBENCH_ENCRYPTION_KEY", KEY)
    assert '"messages"' in cli("stats", "--json").stdout
    monkeypatch.setenv("WORKBENCH_ENCRYPTION_KEY", "not the key")
    assert cli("stats", ok=False).output.endswith("wrong encryption key; nothing was changed\n")
    monkeypatch.setenv("WORKBENCH_ENCRYPTION_KEY", KEY)
    cli("lock")
    # And back: decrypt makes the same home plain again.
    cli("decrypt")
    assert not encryption.is_encrypted(home) and (home / "workbench.duckdb").is_file()
    monkeypatch.delenv("WORKBENCH_ENCRYPTION_KEY")
    assert '"messages"' in cli("stats", "--json").stdout


@pytest.mark.timeout(300)
def test_processes_opening_a_locked_home_at_once_share_one_mount(keyed):
    home = keyed / "home"
    encrypt(home)
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    runs = [subprocess.Popen([sys.executable, "-m", "workbench", "stats", "--json"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    for run in runs:
        stdout, stderr = run.communicate(timeout=240)
        assert run.returncode == 0, stderr
        assert json.loads(stdout)["messages"] == 0
    assert len(_mounts_under(keyed)) == 1
    Cli(home)("lock")
    assert _mounts_under(keyed) == [] and encryption.is_encrypted(home)
    assert Cli(home)("lock").output.endswith("was not open\n")


def _daemon_of(point: Path) -> int:
    """The pid of the gocryptfs process serving ``point``."""
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"gocryptfs") and str(point).encode() in argv:
            return int(entry.name)
    raise AssertionError(f"no gocryptfs process serves {point}")


@pytest.mark.timeout(120)
def test_a_mount_whose_process_died_is_mounted_again(keyed):
    home = keyed / "home"
    encrypt(home)
    point = encryption.unlock(home)
    (point / "note.txt").write_text("still here")
    os.kill(_daemon_of(point), signal.SIGKILL)
    assert wait_until(lambda: _stale(point), within_s=30)
    assert encryption.unlock(home) == point
    assert (point / "note.txt").read_text() == "still here"
    assert encryption.lock(home) and _mounts_under(keyed) == []


def _stale(point: Path) -> bool:
    try:
        os.stat(point)
    except OSError:
        return True
    return False
