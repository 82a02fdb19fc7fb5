"""An encrypted home (gocryptfs): no message text on disk, the same answers, the key enforced.

Real gocryptfs and FUSE, the real model, DuckDB and LanceDB; the LLM is ``FakeOpenAI``. Every
test unmounts what it mounted, and a fixture checks that no mount of its folders is left.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import duckdb
import pytest

from tests.conftest import FIXTURES, Cli, ingest_into, wait_until
from tests.e2e.serving import Served
from tests.fake_openai import FakeOpenAI
from workbench import Workbench
from workbench.ops import encryption
from workbench.ops.encrypt_home import encrypt
from workbench.text.clean import detect_language

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


class Written:
    """The names of the files made or written directly in ``folder`` while it is watched
    (inotify; an unnamed O_TMPFILE shows as ``#<inode>``), read afterwards from the kernel's
    queue: a temporary file that was removed again still counts."""

    _CREATE, _MODIFY, _MOVED_TO = 0x100, 0x2, 0x80

    def __init__(self, folder: Path):
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK)
        assert self._fd >= 0 and self._libc.inotify_add_watch(
            self._fd, os.fsencode(folder), self._CREATE | self._MODIFY | self._MOVED_TO) >= 0

    def names(self) -> set[str]:
        found: set[str] = set()
        try:
            events = os.read(self._fd, 1 << 20)
        except BlockingIOError:
            return found
        at = 0
        while at < len(events):
            length = struct.unpack_from("iIII", events, at)[3]
            name = events[at + 16: at + 16 + length].rstrip(b"\0").decode()
            found.update([name] if name else [])
            at += 16 + length
        return found

    def close(self) -> None:
        os.close(self._fd)


@pytest.fixture
def system_tmp(keyed: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder pointed at a folder of the test (TMPDIR, and Python's
    cached choice of it)."""
    folder = keyed / "system-tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_zip_import_and_an_upload_leave_no_text_in_the_system_temp_folder(keyed, embedder,
                                                                             system_tmp):
    folder = system_tmp
    home = keyed / "home"
    encrypt(home)
    export = keyed / "export.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.write(FIXTURES / "chatgpt_2025_linear.json", "conversations.json")
    conversations = json.loads((FIXTURES / "sharegpt_dummy.json").read_text())
    upload = keyed / "big.json"  # past Starlette's 1 MiB: the upload is spooled to a file
    upload.write_text(json.dumps([{**c, "id": f"{c['id']}-{n}"} for n in range(8)
                                  for c in conversations]))
    assert upload.stat().st_size > 1 << 20
    with Workbench.open(home, embedder, index_on_ingest=False) as wb:
        # Watched once the home is mounted (gocryptfs's own output goes to a temporary file)
        # and the language identifier loaded (py3langid unpacks its model through one).
        detect_language("The language identifier loads its model once per process.")
        watch = Written(folder)
        [zipped] = wb.imports.ingest([export], workspace="zipped")
        assert zipped.status == "done" and zipped.messages_added > 0, zipped.error
        with Served(wb, auth=False) as served, served.client() as client:
            with upload.open("rb") as handle:
                job = client.post("/api/v1/ingest", files={"file": ("big.json", handle)}).json()
            assert wait_until(lambda: client.get(f"/api/v1/jobs/{job['id']}").json()["status"]
                              not in ("queued", "running"), within_s=300)
            assert client.get(f"/api/v1/jobs/{job['id']}").json()["status"] == "done"
        assert tempfile.gettempdir() == str(folder)  # the server gave the process's back
        mount = wb.settings.home
    assert watch.names() == set(), "temporary files were written in the system's folder"
    watch.close()
    assert list(folder.iterdir()) == []
    assert list((mount / encryption.TMP).iterdir()) == []  # each removed its own
    sentences = [b"I am Vicuna, a language model trained by researchers"]
    with zipfile.ZipFile(export) as archive:
        texts = [m["content"]["parts"][0] for c in json.loads(archive.read("conversations.json"))
                 for m in (n.get("message") for n in c["mapping"].values())
                 if m and isinstance(m["content"].get("parts", [None])[0], str)
                 and len(m["content"]["parts"][0]) >= 40]
    sentences += [t[:40].encode() for t in texts[:19]]
    assert _grep(home, sentences, keyed / "patterns") == ""
    Cli(home)("lock")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_encrypt_overwrites_the_plain_home_before_deleting_it(keyed, embedder):
    home = keyed / "home"
    with ingest_into(home, LAYOUT, embedder):
        pass
    sentences = _sentences(home)
    # A second name for every file of the plain home keeps its inode alive after encrypt
    # unlinks the home's names: what the freed blocks held is what the links still read.
    links = keyed / "links"
    links.mkdir()
    files = [p for p in home.rglob("*") if p.is_file()]
    for number, path in enumerate(files):
        os.link(path, links / str(number))
    assert _grep(links, sentences, keyed / "patterns")  # the probes find the plain text
    sizes = {p.name: p.stat().st_size for p in links.iterdir()}
    encrypt(home)
    assert _grep(links, sentences, keyed / "patterns") == ""
    for path in links.iterdir():
        data = path.read_bytes()
        assert len(data) == sizes[path.name] and data.count(0) == len(data), path
    assert not list(keyed.glob(".home.*"))  # the swapped-out plain home is gone


@pytest.mark.timeout(600)
def test_a_scheduled_backup_opens_the_encrypted_home_with_a_key_file(keyed, embedder,
                                                                     monkeypatch):
    home = keyed / "home"
    encrypt(home)
    Workbench.open(home, embedder).close()  # a database to back up
    crontab = keyed / "crontab"
    cli = Cli(home)
    install = ["schedule", "install", "--backup", "--crontab-file", str(crontab), "--yes"]
    result = cli(*install, ok=False)  # the key only in the environment: cron would need it too
    assert result.exit_code == 1
    assert result.output == (f"error: {home}: the home is encrypted and a scheduled job needs "
                             "its key in a file: set WORKBENCH_ENCRYPTION_KEY_FILE to an "
                             "owner-only file (chmod 600) holding it; the key is never "
                             "written into the crontab\n")
    key_file, other = keyed / "key", keyed / "other-key"
    key_file.write_text(KEY + "\n")
    other.write_text("not the key\n")
    other.chmod(0o600)
    for path, mode, problem in (
            (key_file, 0o644, "the key file must be readable by its owner only (chmod 600)"),
            (other, 0o600, f"the key in this file does not open {home}")):
        path.chmod(mode)
        monkeypatch.setenv("WORKBENCH_ENCRYPTION_KEY_FILE", str(path))
        result = cli(*install, ok=False)
        assert (result.exit_code, result.output) == (1, f"error: {path}: {problem}\n")
    assert not crontab.exists()

    key_file.chmod(0o600)
    monkeypatch.setenv("WORKBENCH_ENCRYPTION_KEY_FILE", str(key_file))
    line = cli(*install).stdout.strip()
    assert f"WORKBENCH_ENCRYPTION_KEY_FILE={key_file}" in line
    assert KEY not in crontab.read_text() and line in crontab.read_text()
    cli("lock")  # the job has to open the home itself
    command = line.split(" ", 5)[5].replace("\\%", "%")  # what cron hands to /bin/sh
    cron_env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    done = subprocess.run(["/bin/sh", "-c", command], env=cron_env, timeout=300, check=False)
    log = keyed / "home.cron.log"  # beside the cipher folder: the shell writes it unmounted
    assert done.returncode == 0, log.read_text()
    assert [p.name for p in home.iterdir() if p.name in ("runs", "backups")] == []
    [backup] = (encryption.unlock(home) / "backups").glob("workbench-*")
    assert json.loads((backup / "manifest.json").read_text())["database"]["tables"]
    Cli(home)("lock")
