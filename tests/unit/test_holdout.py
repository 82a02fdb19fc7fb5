"""The generalisation report: bootstrap intervals, leave-one-out choices, per-category tables;
and the v4 reordering rules on candidates built by hand."""

from __future__ import annotations

from datetime import datetime, timezone

from workbench.evaluation import holdout
from workbench.records import Query
from workbench.search import rerank


def _queries() -> list[Query]:
    return [Query(f"{space}#{n}", "q", {"x"}, space, "temporal" if n % 2 else "single-hop")
            for space in ("a", "b") for n in range(4)]


def test_bootstrap_brackets_the_mean_and_is_repeatable():
    values = [1.0] * 30 + [0.0] * 10
    low, high = holdout.bootstrap(values)
    assert low < 0.75 < high and holdout.bootstrap(values) == (low, high)
    assert holdout.bootstrap([1.0, 1.0]) == (1.0, 1.0) and holdout.bootstrap([]) == (0.0, 0.0)


def test_leave_one_out_scores_each_conversation_with_what_won_on_the_other():
    queries = _queries()
    good_on_a = holdout.Setting("r", "c", (("w", 1),))
    good_on_b = holdout.Setting("r", "c", (("w", 2),))

    def values(winner: str) -> holdout.PerQuery:
        return {q.id: {"R@5": float(q.workspace == winner), "R@10": 1.0} for q in queries}

    scored = {good_on_a: values("a"), good_on_b: values("b")}
    loo, chosen = holdout.leave_one_out(queries, scored)
    # Tuned on b, scored on a (and back): each fold picks the setting that fails it.
    assert chosen == {"a": good_on_b.label, "b": good_on_a.label}
    assert all(v["R@5"] == 0.0 for v in loo.values()) and len(loo) == len(queries)


def test_summary_has_each_category_and_all_last():
    queries = _queries()
    values = {q.id: {"R@5": 1.0 if q.category == "temporal" else 0.0, "R@10": 1.0} for q in queries}
    table = holdout.summarise(queries, values)
    assert list(table) == ["single-hop", "temporal", "all"]
    assert table["temporal"]["R@5"] == 1.0 and table["all"]["R@5"] == 0.5
    assert table["all"]["questions"] == 8 and table["all"]["R@10 ci"] == (1.0, 1.0)


def test_paired_differences_count_the_questions_that_moved():
    queries = _queries()
    base = {q.id: {"R@5": 0.0, "R@10": 1.0} for q in queries}
    # Better at 5 on every temporal question of "a", worse at 10 on one single-hop of "b".
    other = {q.id: {"R@5": float(q.workspace == "a" and q.category == "temporal"),
                    "R@10": 0.0 if q.id == "b#0" else 1.0} for q in queries}
    table = holdout.paired(queries, base, other)
    assert table["temporal"]["R@5"] == 0.5 and table["temporal"]["R@5 better"] == 2
    assert table["all"]["R@5 worse"] == 0 and table["all"]["R@10 worse"] == 1
    assert table["single-hop"]["R@10"] == -0.25 and table["single-hop"]["R@10 better"] == 0
    low, high = table["all"]["R@5 ci"]
    assert low <= 0.25 <= high
    assert holdout.paired(queries, base, base)["all"]["R@5 ci"] == (0.0, 0.0)
    assert sorted(holdout.per_workspace(queries)) == ["a", "b"]
    assert holdout.per_workspace(queries[:4]) == {}  # one conversation: nothing to split


def test_grid_expands_every_combination():
    base = holdout.Setting("r", "c")
    assert holdout.grid(base, {}) == [base]
    assert len(holdout.grid(base, {"a": [1, 2], "b": [0, 1, 2]})) == 6


def _candidate(mid: str, score: float, text: str, role: str = "user", position: int = 0,
               day: int = 1) -> list:
    row = {"message_id": mid, "conversation_id": "c", "position": position, "role": role,
           "text": text, "created_at": datetime(2025, 1, day, tzinfo=timezone.utc)}
    return [score, row, [mid]]


def test_repeated_turns_take_one_slot_and_are_counted():
    ask = "Object of type datetime is not JSON serializable"
    kept, duplicates = rerank.collapse_duplicates([
        _candidate("q1", 3.0, ask), _candidate("q2", 2.9, ask + " (continuação 2)"),
        _candidate("a1", 2.0, "Use isoformat() before json.dumps", "assistant"),
    ], pool=30)
    assert [c[1]["message_id"] for c in kept] == ["q1", "a1"] and duplicates == {"q1": ["q2"]}


def test_the_reply_to_a_matching_question_rises_and_the_latest_match_wins_when_asked():
    lifted = rerank.lift_answers([
        _candidate("q", 1.0, "how do I fix it", "user", 0),
        _candidate("other", 0.8, "unrelated", "user", 5),
        _candidate("a", 0.5, "the fix", "assistant", 1),
    ], weight=0.5)
    assert [c[1]["message_id"] for c in lifted][:2] == ["q", "a"]
    latest = rerank.prefer_latest([_candidate("old", 1.0, "NAS", day=1),
                                   _candidate("new", 0.9, "B2", day=20)], unit=0.25, weight=1.0)
    assert latest[0][1]["message_id"] == "new"
    assert rerank.asks_for_current_state("What did I finally decide?")
    assert rerank.asks_for_current_state("Qual é o fornecedor atualmente?")
    assert not rerank.asks_for_current_state("What did I decide in March?")
    assert rerank.asks_how("How did we fix the error?") and not rerank.asks_how("Where do I live?")
    assert rerank.asks_when("When did I adopt the dog?")
    assert rerank.asks_since("How long has Caroline had her current group of friends?")
