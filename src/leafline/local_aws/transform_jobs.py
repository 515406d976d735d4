"""CreateTransformJob that really runs: each job is leafline's emulator in a thread, against local S3.

Create checks what SageMaker checks up front (a unique name, a model that exists, a valid request) and
returns while the job is InProgress; Describe then shows the emulator's times, settings and FailureReason,
and Stop ends the job as Stopped. A job's instance logs stay under the work folder.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leafline.local_aws.containers import resolve_model
from leafline.local_aws.host import Host
from leafline.local_aws.protocol import AwsError, validation
from leafline.sagemaker.request import TransformRequest, TransformRequestError, parse_request
from leafline.transform.instances import InstanceError, fetch_model
from leafline.transform.job import EmulatorOptions, ModelSource, initial_describe, run_transform_job
from leafline.transform.progress import JobProgress, Snapshot

FINAL = ("Completed", "Failed", "Stopped")
_SORT_KEYS = {"Name": "TransformJobName", "CreationTime": "CreationTime", "Status": "TransformJobStatus"}


@dataclass
class _Job:
    region: str
    describe: dict[str, Any]
    log_dir: Path
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    progress: JobProgress | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


class TransformJobs:
    def __init__(self, host: Host) -> None:
        self.host = host
        # Called with each job's final Describe before anyone can see it (tests tamper with outputs here).
        self.on_finished: list[Callable[[dict[str, Any]], None]] = []
        # Told of each status change (a record: region, describe, log_dir) before anyone can see it.
        self.on_change: Callable[[dict[str, Any]], None] | None = None
        self._jobs: dict[tuple[str, str], _Job] = {}
        self._lock = threading.Lock()

    def create(self, region: str, request: Mapping[str, Any]) -> dict[str, Any]:
        try:
            parsed = parse_request(request)
        except TransformRequestError as exc:
            raise validation(str(exc)) from None
        container = resolve_model(self.host.loopback.client("sagemaker", region), parsed.model_name)
        describe = initial_describe(parsed, datetime.now(UTC), region)
        with self._lock:
            existing = self._jobs.get((region, parsed.name.lower()))  # names are case-insensitive
            if existing is not None:
                raise validation(
                    "Job name must be unique within an AWS account and region, and a job with this name already "
                    f"exists ({existing.describe['TransformJobArn']})"
                )
            job = _Job(region, describe, self.host.workdir / "transform-jobs" / region / parsed.name)
            self._changed(job, describe)
            self._jobs[(region, parsed.name.lower())] = job
        job.thread = threading.Thread(target=self._run, args=(job, parsed, container.model_data_url,
                                      container.environment), name=f"transform-{parsed.name}", daemon=True)  # fmt: skip
        job.thread.start()
        self.host.log(f"transform job {parsed.name}: InProgress ({parsed.model_name} on {parsed.instance_count} x "
                  f"{parsed.raw['TransformResources']['InstanceType']})")  # fmt: skip
        return {"TransformJobArn": describe["TransformJobArn"]}

    def _run(self, job: _Job, request: TransformRequest, model_data_url: str, environment: dict[str, str]) -> None:
        name = request.name
        try:
            result = self._execute(job, request, model_data_url, environment)
            describe, job.metrics = result
        except InstanceError as exc:
            describe = _ended(job.describe, "Failed", f"ClientError: {exc}")
        except Exception as exc:  # whatever breaks, the job ends Failed instead of hanging InProgress
            describe = _ended(job.describe, "Failed", f"InternalServerError: {type(exc).__name__}: {exc}")
        describe["CreationTime"] = job.describe["CreationTime"]
        for listener in self.on_finished:
            listener(describe)
        with self._lock:
            try:
                self._changed(job, describe)
            except AwsError as exc:
                self.host.log(f"transform job {name}: {exc.message}")
            job.describe = describe
        reason = describe.get("FailureReason")
        records = job.metrics.get("records")
        detail = f": {reason}" if reason else (f", {records:,} records" if records is not None else "")
        self.host.log(f"transform job {name}: {describe['TransformJobStatus']}{detail} (logs: {job.log_dir})")

    def _execute(
        self, job: _Job, request: TransformRequest, model_data_url: str, environment: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        storage = self.host.loopback.storage(job.region)
        job.log_dir.mkdir(parents=True, exist_ok=True)
        model_root = job.log_dir / "container"
        model_root.mkdir(exist_ok=True)
        try:
            model_dir = fetch_model(model_data_url, storage, model_root)

            def keep(progress: JobProgress) -> None:
                job.progress = progress

            options = EmulatorOptions(log_dir=job.log_dir, region=job.region, serve_command=self.host.serve_command)
            result = run_transform_job(request, ModelSource(model_dir, environment), options, stop=job.stop,
                                       progress_hook=keep, storage=storage)  # fmt: skip
        finally:
            shutil.rmtree(model_root, ignore_errors=True)  # the model copy; the logs stay
        return result.describe, result.metrics

    def describe(self, region: str, name: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get((region, name.lower()))
            if job is None:
                raise AwsError("ValidationException", f"Could not find requested job with name {name}")
            return dict(job.describe)

    def list_jobs(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            jobs = [dict(job.describe) for (r, _), job in self._jobs.items() if r == region]
        if params.get("NameContains"):
            jobs = [j for j in jobs if params["NameContains"] in j["TransformJobName"]]
        if params.get("StatusEquals"):
            jobs = [j for j in jobs if j["TransformJobStatus"] == params["StatusEquals"]]
        key = _SORT_KEYS.get(params.get("SortBy", "CreationTime"), "CreationTime")
        jobs.sort(key=lambda j: j[key], reverse=params.get("SortOrder", "Descending") == "Descending")
        start = int(params.get("NextToken") or 0)
        end = start + int(params.get("MaxResults") or 100)
        answer: dict[str, Any] = {"TransformJobSummaries": [_summary(j) for j in jobs[start:end]]}
        if end < len(jobs):
            answer["NextToken"] = str(end)
        return answer

    def stop(self, region: str, name: str) -> None:
        with self._lock:
            job = self._jobs.get((region, name.lower()))
            if job is None:
                raise AwsError("ValidationException", f"Could not find requested job with name {name}")
            status = job.describe["TransformJobStatus"]
            if status in FINAL:
                raise validation(f"The transform job {name} is not in progress: its status is {status}")
            self._changed(job, {**job.describe, "TransformJobStatus": "Stopping"})
            job.describe["TransformJobStatus"] = "Stopping"
            job.stop.set()
        self.host.log(f"transform job {name}: Stopping")

    def progress(self) -> dict[str, Snapshot]:
        """What each running job has done so far (the demo's progress line)."""
        with self._lock:
            running = {job.describe["TransformJobName"]: job.progress for job in self._jobs.values()
                       if job.describe["TransformJobStatus"] not in FINAL}  # fmt: skip
        return {name: progress.snapshot() for name, progress in running.items() if progress is not None}

    def wait(self, timeout: float | None = None) -> None:
        for job in list(self._jobs.values()):
            if job.thread is not None:
                job.thread.join(timeout)

    def shutdown(self) -> None:
        """Stop every running job; their server processes end with them."""
        with self._lock:
            for job in self._jobs.values():
                job.stop.set()
        self.wait()

    def _changed(self, job: _Job, describe: dict[str, Any]) -> None:
        """Keep the new status (called with the lock held, so two changes are kept in the order they happen)."""
        if self.on_change is None:
            return
        try:
            self.on_change({"region": job.region, "describe": describe, "log_dir": str(job.log_dir)})
        except OSError as exc:
            raise AwsError("InternalFailure", f"local AWS could not keep the job's record: {exc}", 500) from None

    def restore(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Jobs of an earlier session; those it left running (it was killed) are Failed now: the records changed."""
        changed = []
        with self._lock:
            for record in records:
                describe = record["describe"]
                status = describe["TransformJobStatus"]
                if status not in FINAL:
                    describe = _ended(describe, "Failed", f"InternalServerError: local AWS stopped while the job was "
                                                          f"{status}; run it again")  # fmt: skip
                    changed.append({**record, "describe": describe})
                job = _Job(record["region"], describe, Path(record["log_dir"]))
                self._jobs[(record["region"], describe["TransformJobName"].lower())] = job
        return changed


def _ended(describe: Mapping[str, Any], status: str, reason: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {**describe, "TransformJobStatus": status, "FailureReason": reason[:1024],
            "TransformStartTime": describe.get("TransformStartTime", now), "TransformEndTime": now}  # fmt: skip


def _summary(describe: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("TransformJobName", "TransformJobArn", "CreationTime", "TransformEndTime", "TransformJobStatus",
            "FailureReason")  # fmt: skip
    summary = {key: describe[key] for key in keys if describe.get(key) is not None}
    summary["LastModifiedTime"] = describe.get("TransformEndTime") or describe["CreationTime"]
    return summary
