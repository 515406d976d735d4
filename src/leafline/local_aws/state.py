"""Local AWS state kept in a folder, so runs, outputs and model versions outlive one session (and a kill -9).

Everything is written as it changes, before the client gets its answer, so a SIGKILL at any point loses
nothing that was acknowledged:
- S3: every object as a file, STATE/s3/{bucket}/{key}, written (temp file, fsync, rename) when a PUT,
  multipart completion or copy succeeds and removed when a delete does; a key that cannot be a file path
  (a folder marker "a/", "." segments, a key that is also a folder) goes to STATE/s3-keys/{bucket}/ as one
  file holding the key and the body. buckets.json keeps each bucket's region.
- The SageMaker control plane (model package groups, versions and their approval, models, endpoint
  configs, pipelines): a journal of the successful requests that changed it, appended and fsynced before
  the answer, replayed at start (restored versions keep their numbers; their creation times are the
  restart's). An entry counts once its newline is on disk: a torn last line (a crash mid-append) is dropped
  with a warning; a damaged entry before it, or one that no longer replays, stops start-up naming the line.
- Transform jobs: each job's DescribeTransformJob, STATE/transform-jobs/{region}/{name}.json, rewritten at
  every status change; a job InProgress when local AWS died is Failed at restart.
- The resources local AWS created and their tags (AddTags / DeleteTags, tags of Create* requests):
  STATE/sagemaker-resources.json, rewritten at each change; restored after the journal's replay.
One local AWS at a time holds the folder (an flock on STATE/lock, which names its PID).
Endpoints are processes and do not survive a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from leafline.errors import LeaflineError
from leafline.local_aws.protocol import wire

_JOB_TIMES = ("CreationTime", "TransformStartTime", "TransformEndTime")
# Control-plane actions that change what moto holds and are worth replaying (leafline's own are not moto's).
_MUTATING = ("Create", "Update", "Delete", "Add", "Put")
_NOT_JOURNALED = {"CreateTransformJob", "StopTransformJob", "CreateEndpoint", "DeleteEndpoint", "UpdateEndpoint",
                  "CreatePresignedDomainUrl"}  # fmt: skip
_MISSING = ("NoSuchKey", "NoSuchBucket", "404", "NotFound")
_NAME_LIMIT = 255  # bytes per path segment on common filesystems


def journaled(action: str) -> bool:
    return action.startswith(_MUTATING) and action not in _NOT_JOURNALED


class StateError(LeaflineError):
    """The state folder is held by another local AWS, or a file in it is damaged; the message says where."""


@dataclass(frozen=True)
class JournalEntry:
    line: int
    region: str
    action: str
    body: str


class StateFolder:
    def __init__(self, root: Path, warn: Callable[[str], None] | None = None) -> None:
        self.root = root
        self.s3_root = root / "s3"
        self.journal_path = root / "sagemaker-journal.jsonl"
        self._keys_root = root / "s3-keys"
        self._jobs_root = root / "transform-jobs"
        self._resources = root / "sagemaker-resources.json"
        self._legacy_jobs = root / "transform-jobs.json"  # written at stop by earlier versions
        self._tmp = root / "tmp"
        self._warn = warn or (lambda line: None)
        self._journal_lock = threading.Lock()
        self._buckets_lock = threading.Lock()
        self._key_locks = [threading.Lock() for _ in range(64)]  # one write-through at a time per key
        self._held: IO[str] | None = None

    # --- the lock ---------------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Hold the folder for this process (released by release() or by the process's death)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            handle = (self.root / "lock").open("a+")
        except OSError as exc:
            raise StateError(f"cannot use the state dir {self.root} ({exc.strerror})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StateError(f"the state dir {self.root} is in use by another local AWS (PID {holder}); "
                             "stop it or choose another --state-dir") from None  # fmt: skip
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._held = handle
        shutil.rmtree(self._tmp, ignore_errors=True)  # half-written files of a process that died

    def release(self) -> None:
        if self._held is not None:
            self._held.close()  # closing drops the flock
            self._held = None

    # --- the SageMaker journal --------------------------------------------------------------------------
    def record(self, region: str, action: str, body: bytes) -> None:
        line = json.dumps({"region": region, "action": action, "body": body.decode()}) + "\n"
        with self._journal_lock, self.journal_path.open("a") as journal:
            journal.write(line)
            journal.flush()
            os.fsync(journal.fileno())

    def journal(self) -> list[JournalEntry]:
        """The entries to replay; a torn last line is cut off the file (so the next append starts clean)."""
        if not self.journal_path.is_file():
            return []
        data = self.journal_path.read_bytes()
        complete, _, torn = data.rpartition(b"\n")
        lines = complete.split(b"\n") if complete else []
        if torn:
            self._warn(f"{self.journal_path}, line {len(lines) + 1}: an incomplete last entry (local AWS died "
                       "writing it; its request was never answered) is dropped")  # fmt: skip
            with self.journal_path.open("r+b") as journal:
                journal.truncate(len(complete) + 1 if complete else 0)
                os.fsync(journal.fileno())
        return [entry for number, line in enumerate(lines, start=1) if (entry := self._entry(number, line))]

    def _entry(self, number: int, line: bytes) -> JournalEntry | None:
        if not line.strip():
            return None
        where = f"{self.journal_path}, line {number}"
        try:
            entry = json.loads(line)
        except ValueError:
            raise StateError(f"{where}: not a JSON journal entry") from None
        fields = ("region", "action", "body")
        if not isinstance(entry, dict) or not all(isinstance(entry.get(key), str) for key in fields):
            raise StateError(f'{where}: not a journal entry (expected string "region", "action" and "body")')
        return JournalEntry(number, entry["region"], entry["action"], entry["body"])

    # --- S3, written through ----------------------------------------------------------------------------
    def object_changed(self, s3: Any, bucket: str, key: str) -> None:
        """Make the folder hold what moto now holds for this key (the object, or nothing)."""
        with self._key_locks[hash((bucket, key)) % len(self._key_locks)]:
            try:
                answer = s3.get_object(Bucket=bucket, Key=key)
            except Exception as exc:
                if _error_code(exc) == "InvalidObjectState":  # an archived storage class: moto will not read it
                    self._warn(f"s3://{bucket}/{key} is in an archive storage class: not kept in {self.root}")
                    return
                if _error_code(exc) not in _MISSING:
                    raise
                self._remove_object(bucket, key)
                return
            answers = iter([answer])

            def open_body() -> contextlib.closing[Any]:  # the first answer, then a fresh GET if one is needed
                reply = next(answers, None) or s3.get_object(Bucket=bucket, Key=key)
                return contextlib.closing(reply["Body"])

            self._write_object(bucket, key, open_body)

    def bucket_changed(self, s3: Any, bucket: str) -> None:
        """After a bucket-level change (create, delete, batch delete, a form upload): its region, no file
        moto lacks, and a file for each object moto holds that the folder lacks."""
        try:
            region = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
        except Exception as exc:
            if _error_code(exc) not in _MISSING:
                raise
            self._set_bucket(bucket, None)
            for folder in (self.s3_root / bucket, self._keys_root / bucket):
                shutil.rmtree(folder, ignore_errors=True)
            return
        self._set_bucket(bucket, region)
        keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                for o in page.get("Contents", [])}  # fmt: skip
        stored = {key for key, _ in self.stored_objects(bucket)}
        for key in stored - keys:
            with self._key_locks[hash((bucket, key)) % len(self._key_locks)]:
                self._remove_object(bucket, key)
        for key in sorted(keys - stored):
            self.object_changed(s3, bucket, key)

    def buckets(self) -> dict[str, str]:
        """Bucket -> region; a bucket folder that buckets.json does not name is in the default region ("")."""
        regions: dict[str, str] = _read_json(self.s3_root / "buckets.json", {})
        for folder in (self.s3_root, self._keys_root):
            for path in sorted(folder.glob("*")) if folder.is_dir() else []:
                if path.is_dir():
                    regions.setdefault(path.name, "")
        return regions

    def stored_objects(self, bucket: str) -> Iterator[tuple[str, Callable[[], IO[bytes]]]]:
        """(key, opener of its body) for every object kept for the bucket."""
        plain = self.s3_root / bucket
        if plain.is_dir():
            for path in sorted(p for p in plain.rglob("*") if p.is_file()):
                yield path.relative_to(plain).as_posix(), _opener(path, 0)
        escaped = self._keys_root / bucket
        if escaped.is_dir():
            for path in sorted(p for p in escaped.iterdir() if p.is_file()):
                key, offset = _escaped_header(path)
                yield key, _opener(path, offset)

    def _set_bucket(self, bucket: str, region: str | None) -> None:
        with self._buckets_lock:
            regions: dict[str, str] = _read_json(self.s3_root / "buckets.json", {})
            if regions.get(bucket) == region:
                return
            if region is None:
                regions.pop(bucket, None)
            else:
                regions[bucket] = region
                self._make_dirs(self.s3_root / bucket)
            data = (json.dumps(regions, indent=2) + "\n").encode()
            self._replace(self.s3_root / "buckets.json", lambda out: out.write(data))

    def _write_object(self, bucket: str, key: str, open_body: Callable[[], contextlib.closing[Any]]) -> None:
        plain = self._plain_path(bucket, key)
        escaped = self._escaped_path(bucket, key)
        if plain is not None:
            try:
                with open_body() as body:
                    self._replace(plain, lambda out: shutil.copyfileobj(body, out, 8 * 2**20))
            except (IsADirectoryError, NotADirectoryError, FileExistsError):
                pass  # the key is also a folder of other keys (or the reverse): kept escaped instead
            else:
                escaped.unlink(missing_ok=True)
                return
        header = (json.dumps({"key": key}) + "\n").encode()

        def fill(out: IO[bytes]) -> None:
            out.write(header)
            with open_body() as body:
                shutil.copyfileobj(body, out, 8 * 2**20)

        self._replace(escaped, fill)
        if plain is not None and plain.is_file():
            plain.unlink()

    def _remove_object(self, bucket: str, key: str) -> None:
        plain = self._plain_path(bucket, key)
        if plain is not None and plain.is_file():
            plain.unlink()
            _fsync_dir(plain.parent)
            _prune_empty(plain.parent, self.s3_root / bucket)
        escaped = self._escaped_path(bucket, key)
        if escaped.is_file():
            escaped.unlink()
            _fsync_dir(escaped.parent)

    def _plain_path(self, bucket: str, key: str) -> Path | None:
        """Where the key is a browsable file, or None when it cannot be one (or would leave the bucket's folder)."""
        parts = key.split("/")
        if not _plain_name(bucket) or not all(_plain_name(part) for part in parts):
            return None
        return self.s3_root.joinpath(bucket, *parts)

    def _escaped_path(self, bucket: str, key: str) -> Path:
        folder = bucket if _plain_name(bucket) else hashlib.sha256(bucket.encode()).hexdigest()
        return self._keys_root / folder / hashlib.sha256(key.encode()).hexdigest()

    # --- transform jobs ---------------------------------------------------------------------------------
    def save_job(self, record: dict[str, Any]) -> None:
        describe = record["describe"]
        data = (json.dumps(wire(record), indent=2) + "\n").encode()
        self._replace(self._jobs_root / record["region"] / f"{describe['TransformJobName']}.json",
                      lambda out: out.write(data))  # fmt: skip

    def load_jobs(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = list(_read_json(self._legacy_jobs, []))
        if self._jobs_root.is_dir():
            for path in sorted(self._jobs_root.glob("*/*.json")):
                try:
                    records.append(json.loads(path.read_text()))
                except ValueError as exc:
                    raise StateError(f"{path}: not a transform job record ({exc})") from None
        for record in records:
            describe = record["describe"]
            for key in _JOB_TIMES:
                if isinstance(describe.get(key), int | float):
                    describe[key] = datetime.fromtimestamp(describe[key], UTC)
        return records

    # --- SageMaker resources and their tags ---------------------------------------------------------------
    def save_resources(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, indent=2) + "\n").encode()
        self._replace(self._resources, lambda out: out.write(data))

    def load_resources(self) -> dict[str, Any] | None:
        """The resources table last kept, None when this folder has none (written by an earlier version)."""
        if not self._resources.is_file():
            return None
        try:
            record = json.loads(self._resources.read_text())
        except ValueError as exc:
            raise StateError(f"{self._resources}: not a resources record ({exc})") from None
        if not isinstance(record, dict) or not isinstance(record.get("tags"), dict):
            raise StateError(f'{self._resources}: not a resources record (expected an object with "tags")')
        return record

    # --- durable writes ---------------------------------------------------------------------------------
    def _replace(self, target: Path, fill: Callable[[IO[bytes]], object]) -> None:
        """Write-then-rename: the target is the old file or the new one, never half of one, even after a crash."""
        self._make_dirs(self._tmp)
        handle, name = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(handle, "wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            self._make_dirs(target.parent)
            os.replace(name, target)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)

    def _make_dirs(self, folder: Path) -> None:
        """mkdir -p, with each new folder's entry fsynced into its parent (a new folder is data too)."""
        missing = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            path.mkdir(exist_ok=True)
            _fsync_dir(path.parent)


def _plain_name(part: str) -> bool:
    return part not in ("", ".", "..") and "\x00" not in part and len(part.encode()) <= _NAME_LIMIT


def _escaped_header(path: Path) -> tuple[str, int]:
    with path.open("rb") as stored:
        header = stored.readline()
    try:
        key = json.loads(header)["key"]
    except (ValueError, KeyError, TypeError):
        raise StateError(f"{path}: not a stored S3 object (its first line should name the key)") from None
    return str(key), len(header)


def _opener(path: Path, offset: int) -> Callable[[], IO[bytes]]:
    def open_body() -> IO[bytes]:
        stored = path.open("rb")
        stored.seek(offset)
        return stored

    return open_body


def _prune_empty(folder: Path, top: Path) -> None:
    while folder != top and folder.is_relative_to(top):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty
        folder = folder.parent


def _fsync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    return str(error.get("Code", ""))


def _read_json(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    return json.loads(path.read_text())
