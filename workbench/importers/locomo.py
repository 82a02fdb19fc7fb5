"""LoCoMo benchmark files: a list of samples, each a long two-person dialogue split in sessions.

Every sample becomes its own workspace (named by ``sample_id``) and every session with turns one
conversation in it. The sample's QA, event summaries and observations are kept losslessly as
workspace metadata, so evaluation can be run against the imported store later.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from workbench.errors import ImportRejected
from workbench.records import ConversationRecord, MessageRecord, ParsedFile
from workbench.importers.base import (
    Source,
    iter_dicts,
    json_or_none,
    message_source_id,
    parse_timestamp,
)

NAME = "locomo"
DESCRIPTION = "LoCoMo benchmark file (samples of multi-session dialogues, one workspace each)"

SESSION = re.compile(r"session_(\d+)")
SESSION_TIME_FORMAT = "%I:%M %p on %d %B, %Y"
TURN_KEYS = ("speaker", "dia_id", "text")


def sniff(source: Source) -> bool:
    """True iff the source is a JSON list whose objects carry ``sample_id`` and ``conversation``."""
    try:
        items = list(iter_dicts(json_or_none(source)))[:5]
    except Exception:  # a sniffer only answers yes or no
        return False
    return bool(items) and all("sample_id" in i and "conversation" in i for i in items)


def parse(source: Source) -> ParsedFile:
    """One conversation per session with turns, in numeric session order, per sample workspace.

    A sample without an id or a conversation object is skipped with a warning.
    """
    data = source.data
    if not isinstance(data, list):
        raise ImportRejected(source.name, "not a LoCoMo file: expected a list of samples")
    parsed = ParsedFile(NAME, [])
    for index, sample in enumerate(data, start=1):
        if not _valid(sample, index, parsed.warnings):
            continue
        sample_id = str(sample["sample_id"])
        conversation = sample["conversation"]
        parsed.conversations.extend(_sessions(sample_id, conversation, sample))
        parsed.workspace_metadata[sample_id] = {"locomo": _sample_metadata(sample)}
    return parsed


def _valid(sample: Any, index: int, warnings: list[str]) -> bool:
    if not isinstance(sample, dict) or sample.get("sample_id") in (None, ""):
        warnings.append(f"sample #{index}: no sample_id; skipped")
        return False
    if not isinstance(sample.get("conversation"), dict):
        warnings.append(f"sample {sample['sample_id']}: no conversation object; skipped")
        return False
    return True


def _session_numbers(conversation: dict[str, Any]) -> list[int]:
    """The numbers of sessions that have a turn list, ascending (session_2 before session_10)."""
    numbers = set()
    for key, value in conversation.items():
        match = SESSION.fullmatch(key)
        if match and isinstance(value, list) and value:
            numbers.add(int(match.group(1)))
    return sorted(numbers)


def _sessions(
    sample_id: str, conversation: dict[str, Any], sample: dict[str, Any]
) -> list[ConversationRecord]:
    speaker_a, speaker_b = conversation.get("speaker_a"), conversation.get("speaker_b")
    summaries = sample.get("session_summary")
    summaries = summaries if isinstance(summaries, dict) else {}
    records = []
    for number in _session_numbers(conversation):
        raw_time = conversation.get(f"session_{number}_date_time")
        created = _session_time(raw_time)
        metadata: dict[str, Any] = {
            "sample_id": sample_id,
            "session": number,
            "date_time": raw_time,
            "speaker_a": speaker_a,
            "speaker_b": speaker_b,
        }
        if f"session_{number}_summary" in summaries:
            metadata["session_summary"] = summaries[f"session_{number}_summary"]
        records.append(
            ConversationRecord(
                source_id=f"{sample_id}/session_{number}",
                title=f"{speaker_a} & {speaker_b} · session {number}",
                messages=_turns(conversation[f"session_{number}"], created),
                created_at=created,
                updated_at=created,
                metadata=metadata,
                workspace=sample_id,
            )
        )
    return records


def _session_time(raw: Any) -> datetime | None:
    """``"1:56 pm on 8 May, 2023"`` as aware UTC (the benchmark gives no zone)."""
    if not isinstance(raw, str):
        return parse_timestamp(raw)
    try:
        return datetime.strptime(raw.strip(), SESSION_TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return parse_timestamp(raw.replace(" on ", " "))


def _turns(turns: list[Any], created: datetime | None) -> list[MessageRecord]:
    records: list[MessageRecord] = []
    for index, turn in enumerate(iter_dicts(turns)):
        content = str(turn.get("text") or "")
        records.append(
            MessageRecord(
                source_id=message_source_id(turn.get("dia_id"), index, "user", content),
                role="user",
                content=content,
                speaker=turn.get("speaker"),
                created_at=created,
                parent_source_id=records[-1].source_id if records else None,
                metadata={k: v for k, v in turn.items() if k not in ("speaker", "text")},
            )
        )
    return records


def _sample_metadata(sample: dict[str, Any]) -> dict[str, Any]:
    """Everything of the sample but its turns: speakers, QA, summaries, and unused session dates."""
    conversation = sample["conversation"]
    sessions = set(_session_numbers(conversation))
    extra = {
        key: value
        for key, value in conversation.items()
        if key not in ("speaker_a", "speaker_b") and not _used(key, sessions)
    }
    metadata = {
        "speaker_a": conversation.get("speaker_a"),
        "speaker_b": conversation.get("speaker_b"),
        **{k: v for k, v in sample.items() if k not in ("sample_id", "conversation")},
    }
    if extra:
        metadata["conversation_extra"] = extra
    return metadata


def _used(key: str, sessions: set[int]) -> bool:
    """Whether ``key`` is a session's turns or date of a session imported as a conversation."""
    match = re.fullmatch(r"session_(\d+)(_date_time)?", key)
    return bool(match) and int(match.group(1)) in sessions
