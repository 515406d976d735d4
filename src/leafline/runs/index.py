"""The runs index: `s3://{bucket}/{project_id}/runs/{run_date}/{run}.json`, or the same layout in a folder.

Reading is forgiving: a record that is not JSON, or not a run record, is reported with its location
instead of stopping the others from being read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leafline.jobspec import safe_name
from leafline.transform.storage import Storage, StorageError, absolute_location, join_uri


def runs_uri(bucket: str, project_id: str) -> str:
    return f"s3://{bucket}/{project_id}/runs/"


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
        return join_uri(self.uri, f"{record['run_date']}/{safe_name(str(record['run_id']))}.json")

    def write(self, record: Mapping[str, Any], also: Sequence[str] = ()) -> str:
        """Into the index (its URI is returned), and the same bytes to each of `also` (beside the outputs)."""
        uri = self.record_uri(record)
        body = json.dumps(record, indent=2, default=str).encode()
        for target in (uri, *also):
            self.storage.publish_bytes(body, target)
        return uri

    def load(self) -> LoadedRuns:
        loaded = LoadedRuns(location=self.uri)
        try:
            objects = self.storage.list_prefix(self.uri)
        except StorageError as exc:
            loaded.problems.append(str(exc))
            return loaded
        for obj in objects:
            if not obj.relative_key.endswith(".json"):
                continue
            try:
                record = json.loads(self.storage.read_bytes(obj.uri))
            except (StorageError, ValueError) as exc:
                loaded.problems.append(f"{obj.uri}: not a readable JSON run record ({exc})")
                continue
            if not isinstance(record, dict) or not str(record.get("schema", "")).startswith("leafline.run/"):
                loaded.problems.append(f"{obj.uri}: not a leafline run record (no leafline.run schema)")
                continue
            record.setdefault("outputs", {})["record_uri"] = obj.uri
            loaded.records.append(record)
        loaded.records.sort(key=_recorded, reverse=True)
        return loaded

    def previous(self, run_id: str) -> dict[str, Any] | None:
        """The newest other run whose scores passed validation: what drift is measured against."""
        for record in self.load().records:
            validation = record.get("validation") or {}
            if record.get("run_id") != run_id and validation.get("passed") and validation.get("report_uri"):
                return record
        return None


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


def _recorded(record: Mapping[str, Any]) -> str:
    return str(record.get("recorded") or record.get("transform_job", {}).get("ended") or "")
