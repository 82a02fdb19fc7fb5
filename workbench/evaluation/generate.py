"""Eval sets made from the user's own history, the same for the same seed and store content.

Known-item queries are a salient sentence of a message, paraphrased by dropping and reordering
words, whose target is that message; LLM queries are questions a model writes about a message.
"""

from __future__ import annotations

import functools
import importlib
import math
import random
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Callable

from workbench.records import SetQuery, TextMessage
from workbench.store import Store

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
class Candidate(TextMessage):
    """An active-branch user or assistant text message a generated query may target."""

    @cached_property
    def words(self) -> list[str]:
        return _WORD.findall(self.content)

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        return frozenset(w.lower() for w in self.words)


def candidates(store: Store, workspace: str) -> list[Candidate]:
    """The workspace's active-branch user/assistant text messages, sorted by id (so a seeded
    sample depends on the store's content only, never on the order rows come back in)."""
    return [Candidate(m.id, m.role, m.content, m.conversation_id, m.language)
            for m in store.messages.texts(workspace)]


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
