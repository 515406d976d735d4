"""Local AWS state kept in a folder, so runs, outputs and model versions outlive one session.

- S3: every object as a file, STATE/s3/{bucket}/{key} (buckets.json keeps each bucket's region).
  Written when local AWS stops and loaded when it starts; the folder is also plain files to browse.
- The SageMaker control plane (model package groups, versions and their approval, models, endpoint
  configs, pipelines): a journal of the successful requests that changed it, appended as they happen
  and replayed at start (restored versions keep their numbers; their creation times are the restart's).
- Transform jobs: their final DescribeTransformJob, written at stop.
Endpoints are processes and do not survive a restart.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leafline.local_aws.loopback import Loopback
from leafline.local_aws.protocol import wire

_JOB_TIMES = ("CreationTime", "TransformStartTime", "TransformEndTime")
# Control-plane actions that change what moto holds and are worth replaying (leafline's own are not moto's).
_MUTATING = ("Create", "Update", "Delete", "Add", "Put")
_NOT_JOURNALED = {"CreateTransformJob", "StopTransformJob", "CreateEndpoint", "DeleteEndpoint", "UpdateEndpoint",
                  "CreatePresignedDomainUrl"}  # fmt: skip


def journaled(action: str) -> bool:
    return action.startswith(_MUTATING) and action not in _NOT_JOURNALED


class StateFolder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.s3_root = root / "s3"
        self._journal = root / "sagemaker-journal.jsonl"
        self._jobs = root / "transform-jobs.json"
        self._lock = threading.Lock()
        # (bucket, key) -> ETag as loaded: objects still unchanged at stop are not written again
        self._loaded: dict[tuple[str, str], str] = {}

    def record(self, region: str, action: str, body: bytes) -> None:
        line = json.dumps({"region": region, "action": action, "body": body.decode()})
        with self._lock, self._journal.open("a") as journal:
            journal.write(line + "\n")

    def journal(self) -> list[dict[str, str]]:
        if not self._journal.is_file():
            return []
        entries = []
        for number, line in enumerate(self._journal.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    raise ValueError(f"{self._journal}, line {number}: not a JSON journal entry") from None
        return entries

    def load_s3(self, loopback: Loopback, default_region: str) -> int:
        regions = _read_json(self.s3_root / "buckets.json", {})
        count = 0
        for bucket_dir in sorted(p for p in self.s3_root.glob("*") if p.is_dir()):
            region = regions.get(bucket_dir.name, default_region)
            s3 = loopback.client("s3", region)
            config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=bucket_dir.name, **config)
            for path in sorted(p for p in bucket_dir.rglob("*") if p.is_file()):
                with path.open("rb") as body:
                    s3.upload_fileobj(body, bucket_dir.name, path.relative_to(bucket_dir).as_posix())
                count += 1
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket_dir.name):
                self._loaded.update({(bucket_dir.name, o["Key"]): o["ETag"] for o in page.get("Contents", [])})
        return count

    def save_s3(self, loopback: Loopback, default_region: str) -> int:
        s3 = loopback.client("s3", default_region)
        regions: dict[str, str] = {}
        count = 0
        for bucket in s3.list_buckets().get("Buckets", []):
            name = bucket["Name"]
            regions[name] = s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
            target = self.s3_root / name
            keys = set()
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
                for obj in page.get("Contents", []):
                    keys.add(obj["Key"])
                    path = target / obj["Key"]
                    if path.is_file() and self._loaded.get((name, obj["Key"])) == obj["ETag"]:
                        continue  # unchanged since it was loaded
                    path.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(name, obj["Key"], str(path))
                    count += 1
            _remove_others(target, keys)
        self.s3_root.mkdir(parents=True, exist_ok=True)
        (self.s3_root / "buckets.json").write_text(json.dumps(regions, indent=2) + "\n")
        return count

    def save_jobs(self, records: list[dict[str, Any]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._jobs.write_text(json.dumps(wire(records), indent=2) + "\n")

    def load_jobs(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = _read_json(self._jobs, [])
        for record in records:
            describe = record["describe"]
            for key in _JOB_TIMES:
                if isinstance(describe.get(key), int | float):
                    describe[key] = datetime.fromtimestamp(describe[key], UTC)
        return records


def _remove_others(folder: Path, keys: set[str]) -> None:
    if not folder.is_dir():
        return
    for path in folder.rglob("*"):
        if path.is_file() and path.relative_to(folder).as_posix() not in keys:
            path.unlink()


def _read_json(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    return json.loads(path.read_text())
