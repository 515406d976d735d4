"""Checks of the spec's nightly keys that are text with a grammar: a 5-field cron, an IANA zone, a local time.

Checked when the spec loads (standard library only: the DAG file parses specs on every pass), so a typo is
an import error naming the key and the file rather than a scheduler that silently never runs."""

from __future__ import annotations

import re
import zoneinfo

_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("weekday", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_ITEM = re.compile(r"^(?:\*|(?P<low>\w+)(?:-(?P<high>\w+))?)(?:/(?P<step>\d+))?$")
_LOCAL_TIME = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")


def cron_problem(text: str) -> str | None:
    """Why `text` is not a 5-field cron expression (None when it is one)."""
    parts = text.split()
    if len(parts) != len(_FIELDS):
        return "expected 5 cron fields (minute hour day month weekday)"
    for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True):
        problem = _field_problem(part, low, high, names)
        if problem:
            return f"{name} {part!r} {problem}"
    return None


def _field_problem(field: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    for item in field.split(","):
        match = _ITEM.match(item.lower())
        if not match:
            return "is not a cron field"
        if match["step"] is not None and int(match["step"]) == 0:
            return "has a step of 0"
        for value in (match["low"], match["high"]):
            if value is None:
                continue
            number = names.index(value) + (low if names[0] == "jan" else 0) if value in names else None
            if number is None and not value.isdigit():
                return "is not a cron field"
            if not low <= (number if number is not None else int(value)) <= high:
                return f"is not within {low}..{high}"
    return None


def timezone_problem(name: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "not an IANA time zone name (for example America/Sao_Paulo, UTC)"
    return None


def local_time_problem(text: str) -> str | None:
    return None if _LOCAL_TIME.match(text) else "expected local time HH:MM (00:00..23:59)"


def deadline_after_s(schedule: str, deadline: str) -> int | None:
    """Seconds from a run's scheduled time to the next `deadline` (local HH:MM) after it; None when the
    schedule has no single time of day (its minute and hour are not plain numbers) to count from. A deadline
    equal to the schedule's time is the next day's."""
    minute, hour = schedule.split()[:2]
    if not (minute.isdigit() and hour.isdigit()):
        return None
    start = int(hour) * 60 + int(minute)
    end = int(deadline[:2]) * 60 + int(deadline[3:])
    return ((end - start) % (24 * 60) or 24 * 60) * 60
