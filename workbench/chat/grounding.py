"""Which memories each sentence of an answer rests on, and whether the answer rests on any.

A sentence is *supported* by a memory when its embedding is close to one of the memory's
sentences and its content words appear in the memory (``support_score``). The weight and
the threshold were measured on a labelled set of (sentence, memory, supported?) pairs kept with
the tests (``tests/fixtures/grounding_pairs.jsonl``). Citations the model wrote are checked the
same way: a written ``[n]`` whose memory does not support its sentence is dropped. Neither
signal sees negation ("X is not sentient" reads close to "X is sentient"), so a sentence whose
negation cues disagree with those of the memory sentence closest to it is not supported by it.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np

# Measured on the labelled pairs (``workbench.evaluation.calibration``): of the grid's settings
# with precision ≥ 0.95 (a wrong citation costs more than a missing one), the best F1.
COSINE_WEIGHT = 0.5
SUPPORT_THRESHOLD = 0.425
MIN_OVERLAP = 0.15  # a sentence none of whose own words the memory holds is not supported by it
MIN_CONTENT_WORDS = 2  # fewer is a greeting or a connective: neither supported nor not

# English and Portuguese negation cues (accents folded by ``normalise``): the words spaCy's parser
# labels ``neg``, found without a parse so Portuguese memories are read the same way.
_NEGATION = re.compile(r"\b(?:not|no|never|nor|neither|none|nobody|nothing|cannot|nao|nunca|nem|"
                       r"nenhum|nenhuma|nada|jamais)\b|n't\b")
_CITATION = re.compile(r"\s*\[(\d{1,3})\]")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'“(*\[A-Z0-9À-Ý`])")
_WORD = re.compile(r"[\w][\w./:-]*[\w]|\.\w+|\w", re.UNICODE)
_STOP = frozenset("""
a about above after again all also am an and any are as at be because been before being below
between both but by can could did do does doing done down during each few for from further had
has have having he her here hers him his how i if in into is it its itself just me more most my
no nor not now of off on once only or other our out over own same she should so some such than
that the their them then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yes sure here's
i'm you're it's let let's one ok okay well use used using like also can't don't
de do da dos das o a os as e é em no na nos nas um uma para por com que se ao à mais ou seu sua
""".split())


class Encoder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Evidence:
    """A memory an answer may rest on; ``n`` is its number in the prompt (0: not numbered)."""

    n: int
    message_id: str
    conversation_id: str
    title: str | None
    timestamp: Any
    role: str
    text: str
    source_id: str | None = None
    asked: str = ""  # for a reply: the message (the user's, or a question) it answers
    speaker: str | None = None  # who said it, when the conversation names people
    asked_by: str = ""  # who asked ``asked``: a speaker, or the role ("user")


@dataclass
class Sentence:
    """One answer sentence: its text without citation marks, the numbers the model wrote, the
    memories that support it (number → score, best first) and whether it counts at all."""

    text: str
    written: list[int]
    support: dict[int, float] = field(default_factory=dict)
    substantive: bool = True
    line: int = 0

    @property
    def supported(self) -> bool:
        return bool(self.support)

    @property
    def kept_written(self) -> list[int]:
        """The written citations the check confirmed."""
        return [n for n in self.written if n in self.support]


@dataclass
class Grounding:
    sentences: list[Sentence]

    @property
    def counted(self) -> list[Sentence]:
        return [s for s in self.sentences if s.substantive]

    @property
    def supported(self) -> bool:
        """Every sentence that says something rests on a memory (at least one does)."""
        counted = self.counted
        return bool(counted) and all(s.supported for s in counted)

    @property
    def unsupported_rate(self) -> float:
        counted = self.counted
        return sum(not s.supported for s in counted) / len(counted) if counted else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"supported": self.supported, "unsupported_rate": round(self.unsupported_rate, 3),
                "sentences": [{"text": s.text, "written": s.written,
                               "support": {str(n): round(v, 3) for n, v in s.support.items()},
                               "substantive": s.substantive} for s in self.sentences]}


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


def content_words(text: str) -> set[str]:
    """Lower-cased, accent-free words that carry meaning, crudely singular."""
    words = set()
    for word in _WORD.findall(normalise(text)):
        word = word.strip(".:-/")
        if not word or word in _STOP or (len(word) < 3 and not word.isdigit()):
            continue
        words.add(word[:-1] if len(word) > 4 and word.endswith("s") else word)
    return words


def negated(text: str) -> bool:
    """Whether ``text`` carries a negation cue."""
    return bool(_NEGATION.search(normalise(text.replace("\u2019", "'"))))


def lexical_overlap(sentence: str, memory: str, known: frozenset[str] = frozenset()) -> float:
    """The share of the sentence's content words the memory holds, leaving out ``known``
    words (the question's: repeating it is not support)."""
    return word_overlap(content_words(sentence) - known, content_words(memory))


def word_overlap(mine: set[str], theirs: set[str]) -> float:
    """The share of ``mine`` that ``theirs`` holds (0 when ``mine`` is empty)."""
    return len(mine & theirs) / len(mine) if mine else 0.0


def split_answer(text: str) -> list[tuple[int, str]]:
    """(line number, sentence) of an answer; a fenced code block is one sentence."""
    pieces: list[tuple[int, str]] = []
    fence: list[str] | None = None
    for number, line in enumerate(text.splitlines()):
        if line.strip().startswith("```"):
            if fence is None:
                fence = [line]
                continue
            fence.append(line)
            pieces.append((number, "\n".join(fence)))
            fence = None
            continue
        if fence is not None:
            fence.append(line)
        elif line.strip():
            pieces += [(number, s.strip()) for s in _SENTENCE_END.split(line) if s.strip()]
    if fence:
        pieces.append((len(text.splitlines()), "\n".join(fence)))
    return pieces


def memory_sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    parts = [s for s in _SENTENCE_END.split(flat) if len(s) > 3]
    return [flat[:2000]] + parts[:12]


def support_score(cosine: float, overlap: float) -> float:
    """How well a memory supports a sentence; none without a word of it (beyond the
    question's) in the memory, however close the meaning reads to the embedding."""
    if overlap < MIN_OVERLAP:
        return 0.0
    return COSINE_WEIGHT * cosine + (1 - COSINE_WEIGHT) * overlap


class Grounder:
    """Attributes answer sentences to memories with one embedding model (the index's)."""

    def __init__(self, encoder: Encoder, threshold: float = SUPPORT_THRESHOLD, cache: int = 512):
        self.encoder = encoder
        self.threshold = threshold
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._size = cache
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``; the memories of a turn are grounded against more than once
        (the answer, the extractive choice), so recent vectors are kept."""
        with self._lock:
            known = {t: self._cache[t] for t in texts if t in self._cache}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            known.update(zip(missing, self.encoder.encode(missing)))
        # Turns (and a turn's extractive choice, made while the model writes) share the cache.
        with self._lock:
            for text in texts:
                self._cache[text] = known[text]
                self._cache.move_to_end(text)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return np.stack([known[t] for t in texts]) if texts else np.zeros((0, 0))

    def scores(self, sentences: Sequence[str], memories: Sequence[str],
               known: frozenset[str] = frozenset()) -> np.ndarray:
        """support_score of each sentence (rows) against each memory (columns)."""
        out = np.zeros((len(sentences), len(memories)))
        # ``lexical_overlap`` of every pair, each text's words read once (a memory is up to
        # 2,000 characters, and it meets every sentence).
        theirs = [content_words(m) for m in memories]
        overlaps = np.zeros((len(sentences), len(memories)))
        for i, sentence in enumerate(sentences):
            mine = content_words(sentence) - known
            overlaps[i] = [word_overlap(mine, words) for words in theirs]
        # A pair with too few shared words scores 0 whatever its meaning: only the sentences
        # and memories of the other pairs are embedded (each text costs a turn milliseconds).
        rows = [i for i in range(len(sentences)) if (overlaps[i] >= MIN_OVERLAP).any()]
        columns = [j for j in range(len(memories)) if (overlaps[:, j] >= MIN_OVERLAP).any()]
        if not rows or not columns:
            return out
        parts = [memory_sentences(memories[j]) for j in columns]
        flat = [p for ps in parts for p in ps]
        vectors = self.encode([sentences[i] for i in rows] + flat)
        mine, theirs = vectors[: len(rows)], vectors[len(rows):]
        cosines = mine @ theirs.T
        start = 0
        for j, ps in zip(columns, parts):
            block = cosines[:, start: start + len(ps)]
            start += len(ps)
            for r, i in enumerate(rows):
                if overlaps[i, j] < MIN_OVERLAP:
                    continue
                if negated(sentences[i]) != negated(ps[int(block[r].argmax())]):
                    continue
                out[i, j] = support_score(float(block[r].max()), overlaps[i, j])
        return out

    def ground(self, answer: str, evidence: Sequence[Evidence], question: str = "") -> Grounding:
        """Each sentence's support; a sentence that says nothing beyond ``question`` (an echo
        such as "The daily backup command is:") counts neither way."""
        known = frozenset(content_words(question))
        sentences = []
        for line, raw in split_answer(answer):
            written = [int(n) for n in _CITATION.findall(raw)]
            text = _CITATION.sub("", raw).strip()
            substantive = len(content_words(text) - known) >= MIN_CONTENT_WORDS
            sentences.append(Sentence(text, written, substantive=substantive, line=line))
        counted = [s for s in sentences if s.substantive]
        matrix = self.scores([s.text for s in counted], [e.text for e in evidence], known)
        for row, sentence in zip(matrix, counted):
            ranked = sorted(((float(v), e.n) for v, e in zip(row, evidence)
                             if v >= self.threshold), reverse=True)
            sentence.support = {n: v for v, n in ranked}
        return Grounding(sentences)


def with_citations(grounding: Grounding, keep_unsupported: bool = False) -> tuple[str, list[tuple[int, str]]]:
    """The answer rebuilt from its sentences, each supported one followed by its citations
    (the confirmed written ones, else the best attributed one); ``(number, kind)`` of every
    citation kept. Unsupported sentences are left out unless ``keep_unsupported``."""
    lines: dict[int, list[str]] = {}
    cited: dict[int, str] = {}
    for s in grounding.sentences:
        if s.substantive and not s.supported and not keep_unsupported:
            continue
        marks = s.kept_written or ([next(iter(s.support))] if s.support else [])
        for n in marks:
            cited.setdefault(n, "written" if n in s.kept_written else "attributed")
        text = _mark(s.text, "".join(f" [{n}]" for n in marks))
        lines.setdefault(s.line, []).append(text)
    return "\n".join(" ".join(parts) for _, parts in sorted(lines.items())), list(cited.items())


def _mark(sentence: str, marks: str) -> str:
    """``marks`` before the sentence's closing punctuation, as a writer places them."""
    if not marks or sentence.endswith("```"):
        return sentence + marks
    body = sentence.rstrip(".!?…:;")
    return body + marks + sentence[len(body):]
