"""Answer evaluation: does an answer contain the fact, cite the messages that hold it, and say
only what the memories support?

An answer set is a versioned JSONL file (``NAME.vN.jsonl``): per line ``id``, ``question``,
``fact`` (strings, any of which a correct answer contains), ``answers`` (the source or message
ids of the messages that answer it) and, optionally, ``workspace`` (where those messages are,
when not the workspace the run is given: a LoCoMo sample's own). Each question is answered once
by the model over the memories retrieved for it; the same generation is scored three ways
(*modes*): ``model`` (the model's text and the citations it wrote), ``grounded`` (what the chat
shows: supported sentences cited, else the extractive answer) and ``extractive`` (the quoted
memory alone, no model).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from workbench.chat.answer import Composer, evidence, quoted
from workbench.chat.grounding import Grounder, normalise
from workbench.chat.llm import LLMClient
from workbench.chat.prompt import PROMPT_VERSION, build_prompt
from workbench.errors import InvalidInput
from workbench.ingest import Progress, no_progress
from workbench.search.retrieve import Hit

MODES = ("model", "grounded", "extractive")
_NAME = re.compile(r"^(?P<name>.+)\.v(?P<version>\d+)\.jsonl$")
DEFAULT_SET = Path(__file__).resolve().parents[2] / "data" / "evalsets" / "answers" / "fixtures.v1.jsonl"
_WRITTEN = re.compile(r"\[(\d{1,3})\]")
_DIA_ID = re.compile(r"D\d+:\d+")
_QUOTES = str.maketrans("‘’‚“”„«»", "\'\'\'\"\"\"\"\"")


@dataclass(frozen=True)
class AnswerQuestion:
    id: str
    question: str
    fact: tuple[str, ...]
    answers: tuple[str, ...]
    workspace: str | None = None


@dataclass(frozen=True)
class AnswerSet:
    name: str
    version: int
    questions: tuple[AnswerQuestion, ...]


def read_answer_set(path: Path | str) -> AnswerSet:
    """The set in ``path``; InvalidInput naming the file and line when it is not one."""
    path = Path(path)
    match = _NAME.match(path.name)
    if not match:
        raise InvalidInput(f"{path}: an answer set file is named NAME.vN.jsonl")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror or exc}") from exc
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            fact = [row["fact"]] if isinstance(row["fact"], str) else list(row["fact"])
            question = AnswerQuestion(str(row["id"]), str(row["question"]),
                                      tuple(map(str, fact)), tuple(map(str, row["answers"])),
                                      str(row["workspace"]) if row.get("workspace") else None)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{path}:{number}: not an answer-set line ({exc})") from exc
        if not question.fact or not question.answers:
            raise InvalidInput(f"{path}:{number}: 'fact' and 'answers' must not be empty")
        questions.append(question)
    if not questions:
        raise InvalidInput(f"{path}: no questions")
    return AnswerSet(match["name"], int(match["version"]), tuple(questions))


def contains_fact(text: str, fact: Sequence[str]) -> bool:
    """Whether ``text`` holds one of the facts where a word starts: case, accents, quotation
    marks and commas aside ('"Finding Freedom"' is in “Finding Freedom”, "love, faith, and
    strength" in "love, faith and strength"); "pots" is not in "spots", but "index" is in
    "indexes" (an inflection may follow). Code stays exact: ".backup" is not "backup"."""
    flat = _flat(text)
    for wanted in map(_flat, fact):
        left = r"(?<!\w)" if wanted[:1].isalnum() else ""
        if wanted and re.search(left + re.escape(wanted), flat):
            return True
    return False


def _flat(text: str) -> str:
    folded = normalise(text.translate(_QUOTES))
    return " ".join(folded.replace('"', " ").replace(",", " ").split())


def score(text: str, cited: Sequence[str], answering: set[str], fact: Sequence[str],
          unsupported_rate: float) -> dict[str, Any]:
    """One answer's metrics; precision is None when it cites nothing."""
    right = len(set(cited) & answering)
    return {"fact": contains_fact(text, fact),
            "precision": right / len(set(cited)) if cited else None,
            "recall": 1.0 if right else 0.0, "unsupported": unsupported_rate, "cited": len(cited)}


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fact contained (share), citation precision (mean over answers that cite) and recall
    (share citing an answering message), unsupported-sentence rate, TTFT and total time p50."""
    precisions = [r["precision"] for r in rows if r["precision"] is not None]
    ttft = [r["ttft_ms"] for r in rows if r.get("ttft_ms") is not None]
    return {
        "fact": sum(r["fact"] for r in rows) / len(rows),
        "citation_precision": statistics.fmean(precisions) if precisions else None,
        "citation_recall": statistics.fmean(r["recall"] for r in rows),
        "unsupported_rate": statistics.fmean(r["unsupported"] for r in rows),
        "ttft_ms_p50": statistics.median(ttft) if ttft else None,
        "total_ms_p50": statistics.median(r["total_ms"] for r in rows),
        "tokens_per_s": (sum(r.get("tokens", 0) for r in rows)
                         / max(sum(r.get("generation_ms", 0) for r in rows) / 1000, 1e-9)),
        "answers_citing": len(precisions),
    }


Search = Callable[[AnswerQuestion], list[Hit]]  # the memories retrieved for a question


class AnswerBench:
    """Answers every question of a set with one model and scores the modes of each answer."""

    def __init__(self, search: Search, llm: LLMClient | None, composer: Composer,
                 grounder: Grounder, progress: Progress = no_progress):
        self.search, self.llm, self.composer, self.grounder = search, llm, composer, grounder
        self.progress = progress

    def run(self, questions: Sequence[AnswerQuestion], answering: dict[str, set[str]],
            modes: Sequence[str] = MODES) -> dict[str, list[dict[str, Any]]]:
        """Per mode, one row per question: its answer, cited message ids and metrics."""
        out: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        for number, question in enumerate(questions, start=1):
            self.progress("answer", number - 1, len(questions))
            for mode, row in self._answer(question, answering[question.id], modes).items():
                out[mode].append(row)
        return out

    def _answer(self, q: AnswerQuestion, answering: set[str], modes: Sequence[str]):
        started = time.perf_counter()
        hits = self.search(q)
        retrieval_ms = (time.perf_counter() - started) * 1000
        rows: dict[str, dict[str, Any]] = {}
        text, stats, generation_ms = "", None, 0.0
        if self.llm is not None and ({"model", "grounded"} & set(modes)):
            model = self.llm.config.model or ""
            began = time.perf_counter()
            stream = self.llm.stream_chat(build_prompt(hits, [], q.question, model))
            text = "".join(stream).strip()
            generation_ms = (time.perf_counter() - began) * 1000
            stats = stream.stats
        timing = {"ttft_ms": (stats.ttft_s or 0) * 1000 if stats else None,
                  "generation_ms": generation_ms,
                  "tokens": stats.completion_tokens if stats else 0}
        if "model" in modes:
            cited = [hits[int(n) - 1].message_id for n in dict.fromkeys(_WRITTEN.findall(text))
                     if 1 <= int(n) <= len(hits)]
            rate = self.grounder.ground(text, evidence(hits), q.question).unsupported_rate
            rows["model"] = self._row(q, text, cited, answering, rate, timing,
                                      retrieval_ms + generation_ms)
        if "grounded" in modes:
            began = time.perf_counter()
            shown = list(hits)
            composed = self.composer.compose(q.question, text, shown)
            spent = (time.perf_counter() - began) * 1000
            rate = self.grounder.ground(composed.claims, evidence(shown), q.question).unsupported_rate
            rows["grounded"] = self._row(q, composed.text, [c["message_id"] for c in composed.citations],
                                         answering, rate, timing, retrieval_ms + generation_ms + spent)
        if "extractive" in modes:
            began = time.perf_counter()
            best = self.composer.best_memory(q.question, hits)
            spent = (time.perf_counter() - began) * 1000
            quote = quoted(q.question, best) if best else ""
            rows["extractive"] = self._row(q, quote, [best.message_id] if best else [], answering,
                                           0.0, {"ttft_ms": None, "generation_ms": 0, "tokens": 0},
                                           retrieval_ms + spent)
        return rows

    @staticmethod
    def _row(q: AnswerQuestion, text: str, cited: list[str], answering: set[str], rate: float,
             timing: dict[str, Any], total_ms: float) -> dict[str, Any]:
        metrics = {**score(text, cited, answering, q.fact, rate), **timing, "total_ms": total_ms}
        return {"question_id": q.id, "answer": text, "cited": cited, "metrics": metrics}


def run_record(answer_set: AnswerSet, mode: str, rows: list[dict[str, Any]], **fields: Any
               ) -> dict[str, Any]:
    """The stored run of one mode (``fields``: workspace, model, retriever, k, label, ...)."""
    return {"set_name": answer_set.name, "set_version": answer_set.version, "mode": mode,
            "prompt": PROMPT_VERSION, "questions": len(rows),
            "metrics": summary([r["metrics"] for r in rows]), **fields}


def locomo_answer_lines(path: Path | str, categories: Sequence[int] = (1, 2, 4),
                        max_words: int = 6) -> list[dict[str, Any]]:
    """Answer-set lines built from a LoCoMo file's QA: the questions of ``categories`` (single-
    and multi-hop, temporal) whose answer is short and found, as written, in its evidence turns,
    so that "the answer contains the fact" is a fair test. The fact is the QA answer, the
    answering messages are the evidence dia_ids, the workspace is the sample (as imported)."""
    lines = []
    for sample in json.loads(Path(path).read_text(encoding="utf-8")):
        turns = {str(t.get("dia_id")): str(t.get("text") or "")
                 for value in sample.get("conversation", {}).values() if isinstance(value, list)
                 for t in value if isinstance(t, dict)}
        for number, qa in enumerate(sample.get("qa", [])):
            fact = str(qa.get("answer", "")).strip()
            evidence = sorted({m for e in qa.get("evidence", []) for m in _DIA_ID.findall(str(e))})
            said = " ".join(turns.get(e, "") for e in evidence)
            if (qa.get("category") in categories and evidence and fact
                    and len(fact.split()) <= max_words and contains_fact(said, [fact])):
                lines.append({"id": f"{sample['sample_id']}#{number}", "question": qa["question"],
                              "fact": [fact], "answers": evidence,
                              "workspace": str(sample["sample_id"])})
    return lines
