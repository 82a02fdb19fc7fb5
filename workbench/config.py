"""Settings: one typed object read from ``WORKBENCH_*`` variables (``.env`` only at entry points)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the stores live and how the pipeline behaves; every field has a working default."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", extra="ignore")

    home: Path = Field(Path("data/workbench"), description="Folder of the DuckDB file and indexes")
    default_workspace: str = "default"
    lock_timeout_s: float = Field(
        30.0, description="How long to wait for another process's write lock before failing"
    )
    store_linger_s: float = Field(
        0.0,
        description="Keep the database open this long after any use (another workbench process "
        "that needs it gets it within 50 ms); 0: only while a chat turn is in flight",
    )
    embedding_model: str = Field(
        "packaged:all-MiniLM-L6-v2",
        description="packaged:all-MiniLM-L6-v2 (offline, from PyPI), a model folder or a hub name",
    )
    device: str | None = Field(None, description="cpu, cuda, ...; default: cuda when present")
    query_encoder: str = Field(
        "onnx", description="onnx (ONNX Runtime on CPU, same vectors, faster) or torch"
    )
    cache_dir: Path | None = Field(
        None, description="Derived model files (the ONNX export); default ~/.cache/workbench"
    )
    chunker: str = "turn-context.v1"
    retriever: str = "hybrid-rrf.v6"
    ann_threshold: int = Field(20000, description="Rows past which the vector index is built")
    search_mirror: bool = Field(
        True,
        description="Search from an in-memory copy of the index (built in the background on "
        "first use; 1.1 GB of data, 3.8 GB resident at 1M chunks); false: always query LanceDB",
    )
    redact: bool = Field(False, description="Redact PII before anything is stored or indexed")
    max_file_bytes: int = Field(4 << 30, description="Import files larger than this are refused")
    max_inflated_bytes: int = Field(
        2 << 30, description="A zip whose members inflate past this in total is refused"
    )
    max_zip_members: int = Field(10000, description="A zip with more members is refused")
    max_zip_ratio: float = Field(
        200.0, description="A zip member inflating more than this many times its size is refused"
    )
    max_json_depth: int = Field(64, description="JSON nested deeper is refused")
    max_number_digits: int = Field(40, description="A JSON number with more digits is refused")
    max_message_chars: int = Field(
        1_000_000, description="A file holding a longer message (title, metadata string) is refused"
    )
    stream_json_bytes: int = Field(
        32 << 20, description="JSON files past this size are parsed as a stream, item by item"
    )
    index_on_ingest: bool = Field(True, description="Chunk, embed and index right after import")
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint; none = the embedded local model"
    )
    llm_model: str | None = Field(None, description="Model name at that endpoint")
    llm_embedded_url: str | None = Field(
        None, description="Set by `workbench serve`: the embedded model it started, used by the "
        "app when no endpoint is configured (never shown as one)")
    llm_timeout_s: float = Field(60.0, description="Per-request timeout for the LLM endpoint")
    llm_max_tokens: int = 256
    llm_temperature: float = 0.2
    llm_n_ctx: int = Field(4096, description="Context size of the embedded server")
    llm_startup_timeout_s: float = 60.0
    llm_gguf: Path | None = Field(None, description="Another GGUF for the embedded server")
    llm_embedded: str = Field(
        "smollm2-135m-instruct",
        description="The packaged model the embedded server runs (workbench.chat.models); with "
        "llm_gguf, the family whose chat layout that file uses")
    chat_k: int = Field(6, description="Memories retrieved per chat turn")
    server_model: str = Field(
        "workbench-memory", description="The model name the server's OpenAI-compatible API lists"
    )
    jwt_secret: str | None = Field(
        None, description="Signs the server's tokens; none = a secret made on first start in the home"
    )
    jwt_access_s: int = Field(900, description="Lifetime of an access token")
    jwt_refresh_s: int = Field(7 * 86400, description="Lifetime of a refresh token")
    rate_limit: str = Field("300/minute", description="Requests per user or API key")
    login_rate_limit: str = Field("10/minute", description="Login attempts per client address")
    max_request_bytes: int = Field(16 << 20, description="Largest request body (JSON)")
    max_upload_bytes: int = Field(512 << 20, description="Largest export uploaded to the server")
    auth_cache_s: float = Field(
        2.0, description="How long the server trusts a checked key or token's user (a user disabled "
        "or a key revoked from another process is refused within this)"
    )
    slow_ms: float = Field(
        500.0, description="Store operations and searches slower than this are logged (shape only)"
    )
    database_url: str | None = Field(
        None, description="postgresql://... : store and index on that PostgreSQL server (pgvector); "
        "none = the embedded DuckDB + LanceDB home"
    )
    pg_bin: Path | None = Field(
        None, description="Folder of the pg_dump and pg_restore that back up a PostgreSQL store "
        "(none = the newest found on PATH or in pgserver's)")
    index_generated: bool = Field(
        False, description="Make the chat's supported answers searchable, ranked below imported "
        "history (run `workbench reindex` after changing it)")

    @property
    def duckdb_path(self) -> Path:
        return self.home / "workbench.duckdb"

    @property
    def lancedb_path(self) -> Path:
        return self.home / "lancedb"

    @property
    def runs_path(self) -> Path:
        return self.home / "runs"

    @property
    def secret_path(self) -> Path:
        return self.home / "server.secret"


def load_settings(env_file: str | Path | None = None, unlock: bool = True,
                  **overrides: object) -> Settings:
    """Settings from the environment, then ``env_file`` (entry points pass ``.env``), then overrides.

    An encrypted home is opened (mounted) here, so every entry point works in its mount;
    ``unlock=False`` leaves the home as it is on disk (for commands that encrypt or lock it)."""
    if env_file is not None and Path(env_file).exists():
        settings = Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    else:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    if not unlock:
        return settings
    from workbench.ops.encryption import open_home  # the ops layer imports config

    return open_home(settings)
