"""What the pages show, from run records: the filtered runs table and one run with its neighbours."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from leafline.errors import UsageError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STATUSES = ("succeeded", "failed")


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    project: str | None = None
    model_version: int | None = None
    trigger: str | None = None
    date_from: str | None = None  # run dates, inclusive, YYYY-MM-DD
    date_to: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> RunFilter:
        values: dict[str, Any] = {f.name: (query.get(f.name) or None) for f in fields(cls)}
        if values["status"] not in (None, *STATUSES):
            raise UsageError(f"status={values['status']!r}: expected one of {', '.join(STATUSES)}")
        if values["model_version"] is not None:
            try:
                values["model_version"] = int(values["model_version"])
            except ValueError:
                raise UsageError(f"model_version={values['model_version']!r}: expected a whole number") from None
        for key in ("date_from", "date_to"):
            if values[key] is not None and not _DATE.match(values[key]):
                raise UsageError(f"{key}={values[key]!r}: expected a date, YYYY-MM-DD")
        return cls(**values)

    def matches(self, record: Mapping[str, Any]) -> bool:
        version = (record.get("model_package") or {}).get("version")
        date = str(record.get("run_date") or "")
        return (
            (self.status is None or run_status(record) == self.status)
            and (self.project is None or record.get("project_id") == self.project)
            and (self.model_version is None or version == self.model_version)
            and (self.trigger is None or record.get("trigger") == self.trigger)
            and (self.date_from is None or date >= self.date_from)
            and (self.date_to is None or date <= self.date_to)
        )


def run_status(record: Mapping[str, Any]) -> str:
    """The record's status; records older than leafline.run/2 carry none, so it is read off the job and checks."""
    if record.get("status"):
        return str(record["status"])
    job = (record.get("transform_job") or {}).get("status")
    return "succeeded" if job == "Completed" and (record.get("validation") or {}).get("passed") else "failed"


def table_row(record: Mapping[str, Any]) -> dict[str, Any]:
    validation = record.get("validation") or {}
    cost = record.get("cost") or {}
    totals = record.get("totals") or {}
    drift = record.get("drift") or {}
    return {
        "run_id": record.get("run_id"),
        "status": run_status(record),
        "run_date": record.get("run_date"),
        "trigger": record.get("trigger"),
        "project": record.get("project_id"),
        "model_version": (record.get("model_package") or {}).get("version"),
        "rows": totals.get("rows"),
        "duration_s": (record.get("transform_job") or {}).get("duration_s"),
        "rows_per_s": record.get("rows_per_s"),
        "cost_usd": cost.get("usd"),
        "validation": "passed" if validation.get("passed") else ("failed" if validation else "not run"),
        "drift": drift.get("status"),
    }


def neighbours(record: Mapping[str, Any], records: Sequence[Mapping[str, Any]], count: int) -> list[dict[str, Any]]:
    """The project's runs up to and including this one, oldest first, at most count of them."""
    project = record.get("project_id")
    newest_first = [dict(r) for r in records if r.get("project_id") == project]
    position = next((i for i, r in enumerate(newest_first) if r.get("run_id") == record.get("run_id")), 0)
    return list(reversed(newest_first[position : position + count]))


def previous_run(record: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The run drift was measured against (the record names it), if it is still in the index."""
    wanted = (record.get("drift") or {}).get("previous_run_id")
    return next((dict(r) for r in records if wanted and r.get("run_id") == wanted), None)
