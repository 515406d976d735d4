"""The runs index: `s3://{bucket}/{project_id}/runs/{run_date}/{run}.json`, or the same layout in a folder.

Beside the records, `_rows/{YYYY-MM}.jsonl` holds one line per run of that month: its key and the few fields
a runs table shows (summary()). write() keeps it current, so a page of the table reads a month's file instead
of each of its records; a record with no line there (written before this file existed) is read itself.

Reading is strict and bounded. listing() names every record file, newest run date first, without reading
one; read() parses one (leafline.runs.record.parse_record: at most 1 MiB, every field of its type) and
checks it sits where its run_date and run_id put it; scan() reads files one at a time, so no reader holds
the whole index. A file that cannot be read is reported with its location instead of stopping the others
from being read. write() refuses, before anything is written, a record the reader would refuse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leafline.runs.record import MAX_RECORD_BYTES, RecordError, check_run_date, check_run_id, parse_record
from leafline.sagemaker.storage import Storage, StorageError, absolute_location, join_uri
from leafline.spec.jobspec import safe_name

Record = dict[str, Any]
RECORD_KEY = re.compile(r"(\d{4}-\d{2}-\d{2})/([A-Za-z0-9-]{1,63})\.json")  # {run_date}/{safe_name(run_id)}.json
ROWS_FOLDER = "_rows/"
MAX_ROWS_BYTES = 4 * 2**20  # one month's rows file (a few hundred bytes a run)
# What a runs table shows and filters on, of a record: the summary keeps these and drops the rest.
_SUMMARY_FIELDS = ("schema", "run_id", "run_date", "trigger", "project_id", "experiment_id", "status", "recorded",
                   "rows_per_s", "cost")  # fmt: skip
_SUMMARY_PARTS = {"model_package": ("version",), "totals": ("rows",), "transform_job": ("duration_s", "ended",
                  "status"), "validation": ("passed",), "drift": ("status",)}  # fmt: skip


def summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a record a runs table shows and filters on (a record's shape, fewer fields)."""
    kept: dict[str, Any] = {key: record.get(key) for key in _SUMMARY_FIELDS if key in record}
    for part, keys in _SUMMARY_PARTS.items():
        value = record.get(part)
        kept[part] = {key: value.get(key) for key in keys} if isinstance(value, Mapping) else None
    return kept


def runs_uri(bucket: str, project_id: str) -> str:
    return f"s3://{bucket}/{project_id}/runs/"


def record_key(run_date: object, run_id: object) -> str:
    """Where a run's record goes below the index; RecordError for a run date or id that is not safe in a path."""
    return f"{check_run_date(run_date)}/{safe_name(check_run_id(run_id))}.json"


@dataclass(frozen=True)
class RecordFile:
    uri: str
    key: str  # "{run_date}/{name}.json" below the index
    size: int
    source: int = 0  # which index of several (ManyIndexes): projects' run ids can be the same

    @property
    def position(self) -> tuple[str, int]:
        """Where the file sorts among several indexes' files (newest is greatest; for the same key, the index
        given first)."""
        return (self.key, -self.source)

    @property
    def cursor(self) -> str:
        return self.key if self.source == 0 else f"{self.key}|{self.source}"

    @property
    def run_date(self) -> str:
        return self.key.partition("/")[0]

    @property
    def name(self) -> str:
        return self.key.partition("/")[2].removesuffix(".json")


@dataclass
class Listing:
    location: str  # the index listed
    files: list[RecordFile] = field(default_factory=list)  # newest run date first (keys in reverse order)
    problems: list[str] = field(default_factory=list)  # "{uri}: what is wrong with it", or why nothing was listed


@dataclass
class LoadedRuns:
    location: str = ""  # the index read
    records: list[dict[str, Any]] = field(default_factory=list)  # newest first
    problems: list[str] = field(default_factory=list)  # "{uri}: what is wrong with it"


class RunsIndex:
    def __init__(self, storage: Storage, uri: str) -> None:
        self.storage = storage
        located = absolute_location(uri)  # a folder given relative to where the command ran names that folder
        self.uri = located if located.endswith("/") else located + "/"

    def record_uri(self, record: Mapping[str, Any]) -> str:
        return join_uri(self.uri, record_key(record.get("run_date"), record.get("run_id")))

    def write(self, record: Mapping[str, Any], also: Sequence[str] = ()) -> str:
        """Into the index (its URI is returned), and the same bytes to each of `also` (beside the outputs)."""
        uri = self.record_uri(record)
        body = json.dumps(record, indent=2, default=str).encode()
        parsed = parse_record(body, uri)  # what is written is what every reader accepts
        for target in (uri, *also):
            self.storage.publish_bytes(body, target)
        self._write_row(record_key(record.get("run_date"), record.get("run_id")), parsed)
        return uri

    def rows_uri(self, month: str) -> str:
        return join_uri(self.uri, f"{ROWS_FOLDER}{month}.jsonl")

    def _write_row(self, key: str, record: Mapping[str, Any]) -> None:
        """The month's rows file with this run's line replaced or added (one run at a time writes a project's
        index: the DAG runs one night at a time)."""
        month = key[:7]
        rows = self.month_rows(month, [])
        rows[key] = summary(record)
        lines = [json.dumps({"key": k, "summary": rows[k]}, default=str) for k in sorted(rows)]
        self.storage.publish_bytes(("\n".join(lines) + "\n").encode(), self.rows_uri(month))

    def month_rows(self, month: str, problems: list[str]) -> dict[str, dict[str, Any]]:
        """{key: summary} of a month's rows file; {} when there is none; a malformed file or line is a problem
        (its runs' records are then read instead)."""
        uri = self.rows_uri(month)
        try:
            if not self.storage.exists(uri):
                return {}
            with self.storage.open_read(uri) as stream:
                body = stream.read(MAX_ROWS_BYTES + 1)
        except StorageError as exc:
            problems.append(str(exc))
            return {}
        if len(body) > MAX_ROWS_BYTES:
            problems.append(f"{uri}: over the {MAX_ROWS_BYTES:,}-byte limit of a month's rows; its records are read")
            return {}
        rows: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(body.decode(errors="replace").splitlines(), start=1):
            try:
                item = json.loads(line)
                key, kept = item["key"], item["summary"]
                if not (isinstance(key, str) and RECORD_KEY.fullmatch(key) and isinstance(kept, dict)):
                    raise ValueError("not a run's row")
            except (ValueError, KeyError, TypeError):
                problems.append(f"{uri} line {number}: not a run's row; that run's record is read instead")
                continue
            rows[key] = kept
        return rows

    def scan_rows(self, files: Iterable[RecordFile], problems: list[str]) -> Iterator[tuple[RecordFile, Record | None]]:
        """Like scan(), but each run's summary from its month's rows file where it has one (one read a month
        and project), its record otherwise."""
        months: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
        for file in files:
            month = (file.source, file.run_date[:7])
            if month not in months:
                months[month] = self._index_of(file).month_rows(month[1], problems)
            row = months[month].get(file.key)
            if row is not None:
                yield file, {**row, "outputs": {"record_uri": file.uri}}
                continue
            yield from self.scan([file], problems)

    def _index_of(self, file: RecordFile) -> RunsIndex:
        return self

    def listing(self) -> Listing:
        listing = Listing(location=self.uri)
        try:
            objects = self.storage.list_prefix(self.uri)
        except StorageError as exc:
            listing.problems.append(str(exc))
            return listing
        for obj in objects:
            if not obj.relative_key.endswith(".json"):
                continue
            if RECORD_KEY.fullmatch(obj.relative_key):
                listing.files.append(RecordFile(obj.uri, obj.relative_key, obj.size))
            else:
                listing.problems.append(f"{obj.uri}: not where a run record goes ({{run_date}}/{{run}}.json)")
        listing.files.sort(key=lambda file: file.key, reverse=True)
        return listing

    def read(self, file: RecordFile) -> dict[str, Any]:
        """One record, checked; RecordError (or StorageError) names the file and what is wrong."""
        if file.size > MAX_RECORD_BYTES:  # refused unread
            raise RecordError(f"{file.uri}: {file.size:,} bytes, over the {MAX_RECORD_BYTES:,}-byte limit of a record")
        with self.storage.open_read(file.uri) as stream:
            body = stream.read(MAX_RECORD_BYTES + 1)  # bounded even if the file grew since it was listed
        record = parse_record(body, file.uri)
        expected = record_key(record["run_date"], record["run_id"])
        if expected != file.key:
            raise RecordError(f"{file.uri}: the record of run {record['run_id']!r} of {record['run_date']} belongs "
                              f"at {expected} in the index, not here")  # fmt: skip
        record["outputs"] = {**(record.get("outputs") or {}), "record_uri": file.uri}
        return record

    def scan(self, files: Iterable[RecordFile], problems: list[str]) -> Iterator[tuple[RecordFile, Record | None]]:
        """Each file with its record, read one at a time; None for one that cannot be read (its problem appended)."""
        for file in files:
            try:
                yield file, self.read(file)
            except (RecordError, StorageError) as exc:
                problems.append(str(exc))
                yield file, None

    def find(self, listing: Listing, run_id: str, project: str | None = None) -> dict[str, Any] | None:
        """The record of run_id (only the files it can be in are read), of `project` when several projects'
        indexes are read; RecordError when its file is unreadable."""
        name, failed = safe_name(check_run_id(run_id)), None
        for file in listing.files:
            if file.name != name:
                continue
            try:
                record = self.read(file)
            except RecordError as exc:
                failed = failed or exc
                continue
            if record["run_id"] == run_id and project in (None, record.get("project_id")):
                return record
        if failed is not None:
            raise failed
        return None

    def load(self) -> LoadedRuns:
        """Every readable record, newest recorded first (for a summary over a small index; pages use scan)."""
        listing = self.listing()
        loaded = LoadedRuns(location=self.uri, problems=listing.problems)
        loaded.records = [record for _, record in self.scan(listing.files, loaded.problems) if record is not None]
        loaded.records.sort(key=recorded, reverse=True)
        return loaded

    def previous(self, run_id: str) -> dict[str, Any] | None:
        """The newest other run whose scores passed validation: what drift is measured against (read one at a time)."""
        best: dict[str, Any] | None = None
        for _, record in self.scan(self.listing().files, []):
            validation = (record or {}).get("validation") or {}
            validated = validation.get("passed") and validation.get("report_uri")
            if record is None or record["run_id"] == run_id or not validated:
                continue
            if best is None or recorded(record) > recorded(best):
                best = record
        return best


class ManyIndexes(RunsIndex):
    """Several projects' indexes read as one, for the dashboard: one listing, newest run date first across
    projects (ties in the order the indexes were given). Read-only."""

    def __init__(self, indexes: Sequence[RunsIndex]) -> None:
        self.indexes = list(indexes)
        self.storage = self.indexes[0].storage if self.indexes else Storage()
        self.uri = ", ".join(index.uri for index in self.indexes)

    def write(self, record: Mapping[str, Any], also: Sequence[str] = ()) -> str:
        raise StorageError("several indexes are read together here; a record is written to its project's own")

    def listing(self) -> Listing:
        listing = Listing(location=self.uri)
        for source, index in enumerate(self.indexes):
            part = index.listing()
            listing.problems.extend(part.problems)
            listing.files.extend(RecordFile(f.uri, f.key, f.size, source) for f in part.files)
        listing.files.sort(key=lambda file: file.position, reverse=True)
        return listing

    def read(self, file: RecordFile) -> dict[str, Any]:
        return self.indexes[file.source].read(file)

    def _index_of(self, file: RecordFile) -> RunsIndex:
        return self.indexes[file.source]


def previous_report(storage: Storage, index_uri: str, run_id: str) -> tuple[str | None, dict[str, Any] | None]:
    """The newest other validated run's id and validation report, to measure drift against; (None, None) for a
    project's first run, or when that report is gone (the run then simply has no drift figure)."""
    previous = RunsIndex(storage, index_uri).previous(run_id)
    if previous is None:
        return None, None
    try:
        report: dict[str, Any] = json.loads(storage.read_bytes(previous["validation"]["report_uri"]))
    except (StorageError, ValueError):
        return None, None
    return str(previous["run_id"]), report


def recorded(record: Mapping[str, Any]) -> str:
    """When a record was written (older records: when their job ended), for ordering."""
    return str(record.get("recorded") or (record.get("transform_job") or {}).get("ended") or "")
