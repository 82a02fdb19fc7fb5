"""Search results as Markdown: the query's words marked, long texts clipped without breaking code.

Only prose is marked: code blocks and inline code are shown as written. A query word marks the
words it begins ("backup" marks "backups"), so a search for a stem finds its forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Words too common to be worth marking (English and Portuguese, the samples' languages).
STOPWORDS = frozenset("""
a an and are as at be but by can did do does for from had has have how i in is it its me my
not of on or our so that the their them then there these they this to us was we were what when
where which who why will with you your about into over after before just also than very
o os as um uma uns umas de da do das dos em no na nos nas por para com que se e ou mas como
quando onde qual quais foi ser eu nós voce você isso isto esse essa este esta meu minha
""".split())

_WORD = re.compile(r"\w+", re.UNICODE)
# Fenced blocks first (they may hold backticks), then inline code spans.
_CODE = re.compile(r"(```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]+`)", re.DOTALL)


def query_terms(query: str, time_phrase: str | None = None) -> list[str]:
    """The words of a query worth marking: its time phrase (as the search read it) and
    stopwords left out."""
    text = query.replace(time_phrase, " ") if time_phrase else query
    words = [w.lower() for w in _WORD.findall(text)]
    return list(dict.fromkeys(w for w in words if len(w) > 2 and w not in STOPWORDS))


def mark_background(word: str) -> str:
    """Streamlit's Markdown directive for a highlighted word."""
    return f":orange-background[{word}]"


def highlight(text: str, terms: list[str], mark: Callable[[str], str] = mark_background) -> str:
    """``text`` (Markdown) with ``terms`` (``query_terms``) marked in its prose."""
    if not terms:
        return text
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\w*",
                         re.IGNORECASE | re.UNICODE)
    pieces = _CODE.split(text)
    # split() with one capturing group: code pieces sit at the odd indexes.
    return "".join(piece if n % 2 else pattern.sub(lambda m: mark(m.group(0)), piece)
                   for n, piece in enumerate(pieces))


def matches(text: str, terms: list[str]) -> bool:
    """Whether ``text`` holds one of ``terms`` (or a word one begins)."""
    lowered = text.lower()
    return any(re.search(r"\b" + re.escape(t), lowered) for t in terms)


def clip_markdown(text: str, limit: int = 1200) -> str:
    """At most about ``limit`` characters of Markdown, cut at a line or word end; a code
    block left open by the cut is closed, so what follows it still renders."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind("\n"), cut.rfind(" "))
    if end > limit // 2:
        cut = cut[:end]
    cut = cut.rstrip()
    fences = sum(1 for line in cut.splitlines() if line.lstrip().startswith(("```", "~~~")))
    if fences % 2:
        return cut + "\n```\n\n…"
    return cut + " …"
