"""Evaluation sets: versioned lists of judged queries stored in DuckDB.

A set comes from a LoCoMo file, from JSONL qrels the user brings, or is generated from the
user's own history: known-item queries (a salient sentence of a message, paraphrased by
dropping and reordering words, whose target is that message) or questions an LLM writes about
a message. Relevant ids are resolved to message ids when a set is stored, so every judgement
compares message ids. Storing a set under an existing name adds version + 1, unless its queries
are those of the latest version, which is then returned unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import math
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import duckdb
import pyarrow as pa

from workbench.evaluation.metrics import Query, locomo_queries
from workbench.store import Store
from workbench.errors import Ambiguous, InvalidInput, NotFound

KINDS = ("locomo", "qrels", "known-item", "llm")


@dataclass
class EvalSet:
    """One stored version of a named set; ``fingerprint`` identifies its queries' content."""

    id: str
    name: str
    version: int
    kind: str
    workspace: str | None
    seed: int | None
    params: dict[str, Any]
    source: str | None
    fingerprint: str
    queries: int
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "version": self.version, "ref": self.ref,
            "kind": self.kind, "workspace": self.workspace, "seed": self.seed,
            "params": self.params, "source": self.source, "fingerprint": self.fingerprint,
            "queries": self.queries, "created_at": self.created_at.isoformat(),
        }


@dataclass
class SetQuery(Query):
    """A query as stored: ``metadata`` says where it came from (the target, the given ids)."""

    metadata: dict[str, Any] = field(default_factory=dict)


# --- storing and loading ----------------------------------------------------------------------

_QUERY_SCHEMA = pa.schema([
    ("query_id", pa.string()), ("position", pa.int32()), ("text", pa.string()),
    ("relevant", pa.list_(pa.string())), ("workspace", pa.string()),
    ("category", pa.string()), ("metadata", pa.string()),
])
_SET_COLUMNS = """id::VARCHAR, name, version, kind, workspace, seed, params::VARCHAR, source,
                  fingerprint, queries, created_at"""


def _eval_set(row: tuple) -> EvalSet:
    values = list(row)
    values[6] = json.loads(values[6]) if values[6] else {}
    return EvalSet(*values)


def fingerprint(queries: Iterable[Query]) -> str:
    """sha256 over each query's text, relevant ids, workspace and category, in order."""
    digest = hashlib.sha256()
    for q in queries:
        item = [q.text, sorted(q.relevant), q.workspace, q.category]
        digest.update(json.dumps(item, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def store_set(
    store: Store,
    name: str,
    kind: str,
    queries: list[SetQuery],
    workspace: str | None = None,
    seed: int | None = None,
    params: dict[str, Any] | None = None,
    source: str | None = None,
) -> EvalSet:
    """Store ``queries`` as the next version of ``name`` (or return the latest if identical)."""
    if not name or "@" in name:
        raise InvalidInput(f"eval set name {name!r} must be non-empty and without '@'")
    if kind not in KINDS:
        raise InvalidInput(f"unknown eval set kind {kind!r}; known: {', '.join(KINDS)}")
    ids = [q.id for q in queries]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i, n in Counter(ids).items() if n > 1)
        raise InvalidInput(f"eval set {name!r}: query id {duplicate!r} appears twice")
    print_ = fingerprint(queries)
    with store.transaction() as con:
        latest = con.execute(
            f"SELECT {_SET_COLUMNS} FROM eval_sets WHERE name = ? ORDER BY version DESC LIMIT 1",
            [name],
        ).fetchone()
        if latest is not None and latest[8] == print_:
            return _eval_set(latest)
        version = latest[2] + 1 if latest else 1
        set_id = str(uuid.uuid4())
        con.execute(
            "INSERT INTO eval_sets VALUES (?, ?, ?, ?, ?, ?, ?::JSON, ?, ?, ?, ?)",
            [set_id, name, version, kind, workspace, seed, json.dumps(params or {}), source,
             print_, len(queries), datetime.now(timezone.utc)],
        )
        # One Arrow table, not a statement per row: a LoCoMo set has two thousand queries.
        con.register("incoming_queries", pa.Table.from_pylist([
            {"query_id": q.id, "position": position, "text": q.text,
             "relevant": sorted(q.relevant), "workspace": q.workspace, "category": q.category,
             "metadata": json.dumps(q.metadata, ensure_ascii=False)}
            for position, q in enumerate(queries)
        ], schema=_QUERY_SCHEMA))
        con.execute(
            """INSERT INTO eval_queries SELECT ?::UUID, query_id, position, text,
                   relevant::UUID[], workspace, category, metadata::JSON
               FROM incoming_queries""",
            [set_id],
        )
        row = con.execute(f"SELECT {_SET_COLUMNS} FROM eval_sets WHERE id = ?", [set_id]).fetchone()
    return _eval_set(row)


def list_sets(store: Store) -> list[EvalSet]:
    """Every version of every set, newest first."""
    with store.connect() as con:
        rows = con.execute(
            f"SELECT {_SET_COLUMNS} FROM eval_sets ORDER BY created_at DESC, name, version DESC"
        ).fetchall()
    return [_eval_set(r) for r in rows]


def resolve_set(con: duckdb.DuckDBPyConnection, ref: str) -> tuple:
    """The row of ``name`` (its latest version), ``name@version``, or an id (or its unique
    prefix of at least 6 characters)."""
    ref = ref.strip()
    if "@" in ref:
        name, _, version = ref.rpartition("@")
        if not version.isdigit():
            raise NotFound(f"eval set {ref!r} does not exist (use NAME@VERSION, e.g. {name}@1)")
        rows = con.execute(f"SELECT {_SET_COLUMNS} FROM eval_sets WHERE name = ? AND version = ?",
                           [name, int(version)]).fetchall()
    else:
        rows = con.execute(f"SELECT {_SET_COLUMNS} FROM eval_sets WHERE name = ? "
                           "ORDER BY version DESC LIMIT 1", [ref]).fetchall()
        if not rows and len(ref) >= 6:
            rows = con.execute(f"SELECT {_SET_COLUMNS} FROM eval_sets WHERE id::VARCHAR LIKE ? "
                               "LIMIT 2", [ref.lower() + "%"]).fetchall()
            if len(rows) > 1:
                raise Ambiguous(f"eval set {ref!r} is ambiguous")
    if not rows:
        raise NotFound(f"eval set {ref!r} does not exist")
    return rows[0]


def get_set(store: Store, ref: str) -> EvalSet:
    with store.connect() as con:
        return _eval_set(resolve_set(con, ref))


def load_queries(store: Store, set_id: str) -> list[SetQuery]:
    """The set's queries in their stored order; ``relevant`` holds message ids."""
    with store.connect() as con:
        rows = con.execute(
            """SELECT query_id, text, relevant::VARCHAR[], workspace, category, metadata::VARCHAR
               FROM eval_queries WHERE set_id = ? ORDER BY position""",
            [set_id],
        ).fetchall()
    return [SetQuery(r[0], r[1], set(r[2]), r[3], r[4], json.loads(r[5]) if r[5] else {})
            for r in rows]


# --- importing files --------------------------------------------------------------------------

def detect(path: Path) -> str:
    """"locomo" for a LoCoMo JSON file, else "qrels" (JSONL); decided by content, not name."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "qrels"
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    if isinstance(data, list) and data and all(
        isinstance(s, dict) and "sample_id" in s and "conversation" in s for s in data
    ):
        return "locomo"
    return "qrels"


@dataclass
class _QrelsLine:
    number: int
    id: str
    text: str
    given: list[str]
    workspace: str
    category: str | None


def _bad_line(path: Path, number: int, problem: str) -> InvalidInput:
    return InvalidInput(f"{path}: line {number}: {problem}")


def read_qrels(path: Path, workspace: str | None = None) -> list[_QrelsLine]:
    """Parse and check every line of a qrels file; the first bad line raises InvalidInput."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    items = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        bad = functools.partial(_bad_line, path, number)
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise bad(f"invalid JSON ({exc.msg})") from None
        if not isinstance(item, dict):
            raise bad("expected a JSON object")
        text = item.get("query")
        if not isinstance(text, str) or not text.strip():
            raise bad('needs a non-empty "query"')
        relevant = item.get("relevant")
        if isinstance(relevant, (str, int)):
            relevant = [relevant]
        if not isinstance(relevant, list) or not relevant or not all(
            isinstance(r, (str, int)) and str(r).strip() for r in relevant
        ):
            raise bad('needs "relevant": a non-empty list of message or source ids')
        space = item.get("workspace") or workspace
        if not isinstance(space, str) or not space:
            raise bad('needs a "workspace" (or pass one for the whole file)')
        category = item.get("category")
        items.append(_QrelsLine(number, str(item.get("id", number)), text.strip(),
                                [str(r).strip() for r in relevant], space,
                                None if category is None else str(category)))
    if not items:
        raise InvalidInput(f"{path}: no queries")
    return items


def _id_maps(con: duckdb.DuckDBPyConnection, workspace: str,
             wanted: list[str]) -> tuple[set[str], dict[str, list[str]]]:
    """Of ``wanted``, the message ids of the workspace and its source ids → message ids."""
    if not wanted:
        return set(), {}
    rows = con.execute(
        """WITH wanted AS (SELECT DISTINCT unnest(?::VARCHAR[]) AS ref)
           SELECT m.id::VARCHAR, m.source_id
           FROM messages m JOIN conversations c ON m.conversation_id = c.id
           JOIN workspaces w ON c.workspace_id = w.id
           WHERE w.name = ? AND (m.source_id IN (SELECT ref FROM wanted)
                                 OR m.id::VARCHAR IN (SELECT lower(ref) FROM wanted))
           ORDER BY m.id""",
        [wanted, workspace],
    ).fetchall()
    by_source: dict[str, list[str]] = {}
    for message_id, source_id in rows:
        by_source.setdefault(source_id, []).append(message_id)
    return {r[0] for r in rows}, by_source


def _workspaces(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM workspaces").fetchall()}


def _resolve(workspace: str, given: list[str], maps: dict) -> tuple[set[str], list[str]]:
    """(message ids, entries that matched nothing); a message id wins over a source id."""
    if workspace not in maps:
        return set(), given
    ids, by_source = maps[workspace]
    found: set[str] = set()
    missing = []
    for entry in given:
        if entry.lower() in ids:
            found.add(entry.lower())
        elif entry in by_source:
            found.update(by_source[entry])
        else:
            missing.append(entry)
    return found, missing


def _maps_for(con, wanted: dict[str, list[str]]) -> dict[str, tuple]:
    known = _workspaces(con)
    return {w: _id_maps(con, w, sorted(set(ids))) for w, ids in sorted(wanted.items()) if w in known}


def qrels_queries(store: Store, path: Path, workspace: str | None = None) -> list[SetQuery]:
    """The queries of a qrels JSONL file with relevant ids resolved; any unknown workspace or
    id raises ValueError naming the file and line."""
    items = read_qrels(path, workspace)
    wanted: dict[str, list[str]] = {}
    for item in items:
        wanted.setdefault(item.workspace, []).extend(item.given)
    with store.connect() as con:
        maps = _maps_for(con, wanted)
    queries, seen = [], set()
    for item in items:
        if item.workspace not in maps:
            raise InvalidInput(f"{path}: line {item.number}: workspace {item.workspace!r} does not exist")
        if item.id in seen:
            raise InvalidInput(f"{path}: line {item.number}: query id {item.id!r} appears twice")
        seen.add(item.id)
        relevant, missing = _resolve(item.workspace, item.given, maps)
        if missing:
            raise InvalidInput(f"{path}: line {item.number}: no message or source id "
                             f"{missing[0]!r} in workspace {item.workspace!r}")
        queries.append(SetQuery(item.id, item.text, relevant, item.workspace, item.category,
                                {"given": item.given, "line": item.number}))
    return queries


def locomo_set_queries(store: Store, path: Path) -> list[SetQuery]:
    """LoCoMo questions (categories 1-4) with evidence dia_ids resolved in each sample's
    workspace. Evidence naming no turn (the full benchmark has a few typos) is dropped and kept
    in the query's metadata, so the set stays usable; questions without evidence are kept and
    skipped by runs, as LoCoMo's own scoring does."""
    raw = locomo_queries(path)
    wanted: dict[str, list[str]] = {}
    for q in raw:
        wanted.setdefault(q.workspace, []).extend(q.relevant)
    with store.connect() as con:
        maps = _maps_for(con, wanted)
    queries = []
    for q in raw:
        relevant, missing = _resolve(q.workspace, sorted(q.relevant), maps)
        metadata: dict[str, Any] = {"evidence": sorted(q.relevant)}
        if missing:
            metadata["unresolved"] = missing
        queries.append(SetQuery(q.id, q.text, relevant, q.workspace, q.category, metadata))
    return queries


# --- generation from the user's own history ---------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_FENCE = re.compile(r"(```|~~~).*?(\1|\Z)", re.S)
_MARKUP = re.compile(r"`[^`\n]*`|https?://\S+|\[[A-Z_]+\]")


@lru_cache(maxsize=16)
def stopwords(language: str | None) -> frozenset[str]:
    """spaCy's stop words for ``language`` plus English ones (chats mix languages)."""
    words: set[str] = set()
    for code in dict.fromkeys(["en", language or "en"]):
        try:
            words |= importlib.import_module(f"spacy.lang.{code}.stop_words").STOP_WORDS
        except (ImportError, AttributeError):
            continue
    return frozenset(words)


@dataclass
class Candidate:
    """An active-branch user or assistant text message a generated query may target."""

    id: str
    role: str
    content: str
    conversation_id: str
    language: str | None

    @cached_property
    def words(self) -> list[str]:
        return _WORD.findall(self.content)

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        return frozenset(w.lower() for w in self.words)


def candidates(store: Store, workspace: str) -> list[Candidate]:
    """The workspace's active-branch user/assistant text messages, sorted by id (so a seeded
    sample depends on the store's content only, never on the order rows come back in)."""
    with store.connect() as con:
        if workspace not in _workspaces(con):
            raise NotFound(f"workspace {workspace!r} does not exist")
        rows = con.execute(
            """SELECT m.id::VARCHAR, m.role, m.content, m.conversation_id::VARCHAR, m.language
               FROM messages m JOIN conversations c ON m.conversation_id = c.id
               JOIN workspaces w ON c.workspace_id = w.id
               WHERE w.name = ? AND m.on_active_branch AND m.role IN ('user', 'assistant')
                 AND m.content_type = 'text'
               ORDER BY m.id""",
            [workspace],
        ).fetchall()
    return [Candidate(*r) for r in rows]


def _content_words(text: str, stop: frozenset[str]) -> list[str]:
    """Distinct non-stopword words in text order (first spelling kept), numbers excluded."""
    seen: dict[str, str] = {}
    for word in _WORD.findall(text):
        key = word.lower()
        if key not in stop and not key.isdigit() and len(key) > 1 and key not in seen:
            seen[key] = word
    return list(seen.values())


def _prose(text: str) -> str:
    return _MARKUP.sub(" ", _FENCE.sub(" ", text))


@dataclass(frozen=True)
class KnownItemParams:
    """How known-item queries are made; recorded with the set so it can be made again."""

    min_words: int = 8  # a shorter message rarely has a sentence that identifies it
    min_sentence_words: int = 3  # content words a chosen sentence must have
    max_query_words: int = 8
    drop: float = 0.25  # share of the sentence's content words left out of the query

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def known_item_queries(store: Store, workspace: str, n: int, seed: int = 0,
                       params: KnownItemParams = KnownItemParams()) -> list[SetQuery]:
    """``n`` known-item queries over ``workspace``, the same for the same seed and store content.

    For each sampled message: its most salient sentence (spaCy sentence boundaries; salience =
    mean inverse document frequency, over the workspace's messages, of the sentence's three
    rarest content words) whose content words no other message holds all of, keeps at most
    ``max_query_words`` of its rarest content words, loses a seeded ``drop`` share of them, and
    is shuffled. The message is the one relevant answer; a message without such a sentence (a
    copy of another, give or take a word) is no known item and is passed over.
    """
    from workbench.text.clean import Cleaner

    pool = candidates(store, workspace)
    postings, idf = _vocabulary_index(pool)
    rng = random.Random(seed)
    order = _sample_order(pool, params.min_words, rng)
    queries: list[SetQuery] = []
    # Sentences are cut in batches as the sample is consumed: most of a big workspace is
    # never looked at.
    batch = max(2 * n, 16)
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        cleaned = Cleaner().clean([_prose(pool[i].content) for i in chunk])
        for index, result in zip(chunk, cleaned):
            if len(queries) >= n:
                return queries
            target = pool[index]
            stop = stopwords(target.language)
            own = functools.partial(_unique, owner=index, pool=pool, postings=postings, idf=idf,
                                    stop=stop)
            sentence = _salient_sentence(result.sentences, idf, stop, params, own)
            if sentence is None:
                continue
            queries.append(SetQuery(
                f"ki-{len(queries):03d}", _paraphrase(sentence, idf, stop, params, rng),
                {target.id}, workspace, target.role,
                {"target": target.id, "sentence": sentence,
                 "conversation_id": target.conversation_id},
            ))
    return queries


def _vocabulary_index(pool: list[Candidate]) -> tuple[dict[str, list[int]], dict[str, float]]:
    """Word → positions in ``pool`` of the messages holding it, and each word's idf."""
    postings: dict[str, list[int]] = {}
    for i, c in enumerate(pool):
        for word in sorted(c.vocabulary):
            postings.setdefault(word, []).append(i)
    idf = {w: math.log((len(pool) + 1) / (len(ids) + 1)) + 1.0 for w, ids in postings.items()}
    return postings, idf


def _sample_order(pool: list[Candidate], min_words: int, rng: random.Random) -> list[int]:
    """Positions of the messages long enough to query, in a seeded random order."""
    eligible = [i for i, c in enumerate(pool) if len(c.words) >= min_words]
    return rng.sample(eligible, len(eligible))


def _unique(sentence: str, owner: int, pool: list[Candidate], postings: dict[str, list[int]],
            idf: dict[str, float], stop: frozenset[str]) -> bool:
    """Whether no message but ``pool[owner]`` holds every content word of ``sentence``: a
    query made of those words could not tell such a copy (a re-sent message, an edit that
    adds "(2)") from the target. Only messages holding the rarest word are looked at."""
    words = {w.lower() for w in _content_words(sentence, stop)}
    if not words:
        return False
    rarest = max(words, key=lambda w: (idf.get(w, 0.0), w))
    return not any(i != owner and words <= pool[i].vocabulary for i in postings.get(rarest, ()))


def _rarity(word: str, idf: dict[str, float]) -> float:
    return idf.get(word.lower(), max(idf.values(), default=1.0))


def _salient_sentence(sentences: list[str], idf: dict[str, float], stop: frozenset[str],
                      params: KnownItemParams, acceptable: Callable[[str], bool]) -> str | None:
    scored = []
    for position, sentence in enumerate(sentences):
        words = _content_words(sentence, stop)
        if len(words) < params.min_sentence_words:
            continue
        rarest = sorted((_rarity(w, idf) for w in words), reverse=True)[:3]
        scored.append((-sum(rarest) / len(rarest), position, sentence.rstrip(" ([{")))
    for _, _, sentence in sorted(scored):  # the earlier sentence wins a tie
        if acceptable(sentence):
            return sentence
    return None


def _paraphrase(sentence: str, idf: dict[str, float], stop: frozenset[str],
                params: KnownItemParams, rng: random.Random) -> str:
    words = _content_words(sentence, stop)
    if len(words) > params.max_query_words:
        ranked = sorted(range(len(words)), key=lambda i: (-_rarity(words[i], idf), i))
        keep = sorted(ranked[: params.max_query_words])
        words = [words[i] for i in keep]
    dropped = min(int(len(words) * params.drop), max(0, len(words) - params.min_sentence_words))
    gone = set(rng.sample(range(len(words)), dropped))
    words = [w for i, w in enumerate(words) if i not in gone]
    rng.shuffle(words)
    return " ".join(words)


# --- LLM-written questions --------------------------------------------------------------------

QUESTION_PROMPT_VERSION = "question.v1"
_MAX_MESSAGE_CHARS = 1500


def question_prompt(message: str) -> list[dict[str, str]]:
    """Chat messages asking for one question that ``message`` answers (``question.v1``)."""
    text = message.strip()
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[:_MAX_MESSAGE_CHARS] + " …"
    return [
        {"role": "system",
         "content": "You write search questions to test a memory of past chat messages."},
        {"role": "user",
         "content": f"Message:\n\"\"\"\n{text}\n\"\"\"\n\nWrite one short question (at most 20 "
                    "words) that this message answers, as its author might ask it later. Do "
                    "not copy whole sentences. Reply with the question only."},
    ]


_LEAD = re.compile(r"^\s*(?:[-*>#]+|\d+[.)])?\s*(?:\*\*)?(?:question|q)?\s*(?:\d+)?\s*[:：]\s*",
                   re.I)


def parse_question(answer: str, message: str | None = None) -> str | None:
    """The question in a model's answer: its first non-empty line without list markers,
    "Question:" labels or quotes, cut after its first "?". None when there is no "?", when the
    question is not 3-25 words, or when it is copied from ``message`` (small models echo)."""
    for line in answer.splitlines():
        line = _LEAD.sub("", line.strip()).strip().strip("*\"'“”‘’`").strip()
        if not line:
            continue
        if "?" not in line:
            return None
        line = line[: line.index("?") + 1]
        if not 3 <= len(line.split()) <= 25:
            return None
        if message is not None and _words_line(line) in _words_line(message):
            return None
        return line
    return None


def _words_line(text: str) -> str:
    return " " + " ".join(w.lower() for w in _WORD.findall(text)) + " "


def llm_queries(store: Store, workspace: str, n: int, ask: Callable[[list[dict]], str],
                seed: int = 0, min_words: int = 8) -> list[SetQuery]:
    """``n`` questions written by a model, one per sampled message (sampled as for known-item
    sets, copies of other messages passed over); a message whose answer does not parse is
    skipped, and at most ``3 n`` messages are tried."""
    pool = candidates(store, workspace)
    postings, idf = _vocabulary_index(pool)
    queries: list[SetQuery] = []
    tried = 0
    for index in _sample_order(pool, min_words, random.Random(seed)):
        if len(queries) >= n or tried >= 3 * n:
            break
        target = pool[index]
        if not _unique(target.content, index, pool, postings, idf, stopwords(target.language)):
            continue
        tried += 1
        question = parse_question(ask(question_prompt(target.content)), target.content)
        if question is None:
            continue
        queries.append(SetQuery(
            f"llm-{len(queries):03d}", question, {target.id}, workspace, target.role,
            {"target": target.id, "conversation_id": target.conversation_id},
        ))
    return queries
