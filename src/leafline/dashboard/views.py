"""What the pages show, from run records: a page of the filtered runs table and one run with its neighbours.

Every page reads a bounded part of the index: the runs table reads runs newest first (their month's rows
file where there is one, else their records: leafline.runs.index) until it has a page
of matching runs (PAGE_SIZE) or has read SCAN_RECORDS records or SCAN_BYTES, and links to the older ones
from where it stopped; a run's page reads its own record, the previous run's and at most SCAN_RECORDS of
the older ones for its plots. Records are read one at a time; only the rows shown are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from leafline.errors import UsageError
from leafline.runs.cost import amount_text
from leafline.runs.index import RECORD_KEY, Listing, RunsIndex, record_key, recorded
from leafline.runs.record import STATUSES, RecordError, check_run_id

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PAGE_SIZE = 50  # runs in one page of the table
SCAN_RECORDS, SCAN_BYTES = 500, 32 * 2**20  # the most one page reads (a filter that matches few runs)
RECENT_RUNS = 20  # a run's plots: the project's runs up to this one
# A record's link is an href only when it is a plain http(s) URL (no credentials, no backslash, printable
# ASCII) or the Airflow run path leafline writes (leafline.orchestration.airflow.tasks); any other
# (javascript:, data:, a protocol-relative //host, entity or whitespace tricks) is shown as text. Jinja
# escapes the attribute.
_WEB_LINK = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:[/?#][!#-\[\]-~]*)?", re.ASCII)
_AIRFLOW_RUN = re.compile(r"(?!.*\.\.)/dags/[A-Za-z0-9_.-]+/runs/[A-Za-z0-9_.~:+-]+", re.ASCII)


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

    def query(self) -> dict[str, str]:
        """The filter as query parameters (for the links to other pages)."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None}

    def covers(self, run_date: str) -> bool:
        return (self.date_from or run_date) <= run_date <= (self.date_to or run_date)

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
        "cost": amount_text(cost) if cost else None,  # the record's figure as every display writes it
        "validation": "passed" if validation.get("passed") else ("failed" if validation else "not run"),
        "drift": drift.get("status"),
    }


def link_href(link: str) -> str | None:
    """The href a record's link may have, or None: it is then shown as text."""
    return link if _WEB_LINK.fullmatch(link) or _AIRFLOW_RUN.fullmatch(link) else None


def page_cursor(query: Mapping[str, str]) -> tuple[str, int] | None:
    """`before`: the position of the last record the previous page read (the table goes on with older ones):
    its key, and after a `|` which of several projects' indexes it is in."""
    before = query.get("before") or None
    if before is None:
        return None
    key, _, source = before.partition("|")
    if not RECORD_KEY.fullmatch(key) or not (source == "" or source.isdigit()):
        raise UsageError(f"before={before!r}: expected a record's key, YYYY-MM-DD/RUN.json")
    return (key, -int(source or 0))  # as RecordFile.position orders


@dataclass
class RunsPage:
    location: str
    rows: list[dict[str, Any]] = field(default_factory=list)  # newest first
    problems: list[str] = field(default_factory=list)  # the records this page could not read, and the listing's
    runs: int = 0  # record files listed, less those found unreadable
    older: str | None = None  # the `before` of the next page; None: no older records
    projects: list[str] = field(default_factory=list)  # of the runs read, for the filter


def runs_page(index: RunsIndex, chosen: RunFilter, before: tuple[str, int] | None) -> RunsPage:
    listing = index.listing()
    shown = RunsPage(listing.location, problems=list(listing.problems))
    files = [f for f in listing.files if (before is None or f.position < before) and chosen.covers(f.run_date)]
    found: list[tuple[tuple[str, str], dict[str, Any]]] = []
    projects: set[Any] = set()
    unreadable = read_bytes = 0
    for position, (file, record) in enumerate(index.scan_rows(files, shown.problems)):
        unreadable += record is None
        read_bytes += file.size
        if record is not None and chosen.matches(record):
            found.append(((file.run_date, recorded(record)), table_row(record)))
        projects.add(record.get("project_id") if record else None)
        if len(found) >= PAGE_SIZE or position + 1 >= SCAN_RECORDS or read_bytes >= SCAN_BYTES:
            shown.older = file.cursor if position + 1 < len(files) else None
            break
    found.sort(key=lambda pair: pair[0], reverse=True)
    shown.rows = [row for _, row in found]
    shown.runs = len(listing.files) - unreadable
    shown.projects = sorted(str(p) for p in projects | {chosen.project} if p)
    return shown


@dataclass
class RunView:
    record: dict[str, Any]
    row: dict[str, Any]
    recent: list[dict[str, Any]]  # the project's runs up to and including this one, oldest first (table rows)
    previous: dict[str, Any] | None  # the run drift was measured against, if it is still in the index


class RunNotFound(UsageError):
    """No record of that run in the index."""


def run_view(index: RunsIndex, run_id: str, project: str | None = None) -> RunView:
    """RunNotFound, or RecordError when the run's own record cannot be read (the message says why). Projects
    may share run ids (scheduled runs are named by their time): `project` says whose."""
    try:
        check_run_id(run_id)
    except RecordError as exc:
        raise RunNotFound(f"no run {run_id!r} can be in {index.uri} ({exc})") from None
    listing = index.listing()
    record = index.find(listing, run_id, project)
    if record is None:
        of = f" of project {project!r}" if project else ""
        raise RunNotFound(f"no run {run_id!r}{of} in {listing.location}")
    return RunView(record, table_row(record), _recent(index, listing, record), _previous(index, listing, record))


def _recent(index: RunsIndex, listing: Listing, record: Mapping[str, Any]) -> list[dict[str, Any]]:
    key = record_key(record["run_date"], record["run_id"])
    older = [file for file in listing.files if file.key < key][:SCAN_RECORDS]
    rows = [table_row(record)]
    for _, other in index.scan(older, []):
        if other is not None and other.get("project_id") == record.get("project_id"):
            rows.append(table_row(other))
        if len(rows) >= RECENT_RUNS:
            break
    return list(reversed(rows))


def _previous(index: RunsIndex, listing: Listing, record: Mapping[str, Any]) -> dict[str, Any] | None:
    wanted = (record.get("drift") or {}).get("previous_run_id")
    if not wanted:
        return None
    try:
        return index.find(listing, wanted)
    except RecordError:  # shown on the runs table; this page simply has no comparison
        return None
