"""Tells the caseworkers' Telegram group about new cases (urgent ones
first), with no personal details: reference, topic, language, urgency and a
link to the case on the desk."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from caseworkers import labels
from caseworkers.cases import CaseStore

logger = logging.getLogger(__name__)
Post = Callable[[str], Awaitable[None]]


def notice(case: dict[str, Any], desk_url: str) -> str:
    flag = "HASTER: " if case["urgency"] == "urgent" else ""
    return (f"{flag}Ny sak {case['reference']} · tema {labels.topic(case['topic'])} · "
            f"språk {labels.language(case['language'])}\n"
            f"{desk_url.rstrip('/')}/cases/{case['reference']}")


async def notify_new_cases(cases: CaseStore, post: Post, desk_url: str) -> int:
    """Post one notice per new case; a case is marked only once posted."""
    sent = 0
    for case in cases.unnotified():
        try:
            await post(notice(case, desk_url))
        except Exception as exc:  # noqa: BLE001 - try again on the next round
            logger.warning("Could not notify caseworkers: %s", type(exc).__name__)
            break
        cases.mark_notified(case["id"])
        sent += 1
    return sent
