"""Run one CreateTransformJob request against real `serve` processes and report it as Describe would.

Per instance, one reader thread splits that instance's files (in key order) into payloads while
MaxConcurrentTransforms workers POST them; responses are written to the file's staging copy in record
order, whatever order they come back in. A window of 2 x MaxConcurrentTransforms payloads per instance
bounds memory (instances x MCT x MaxPayloadInMB, not the file size). A file whose request still fails after
the retries, or that holds a record over the limit, gets no .out; the other files go on and the job ends
Failed with a FailureReason naming each failed file, its record range and the container's message.
Files are spread over instances by size (largest first to the least loaded), so a single file keeps the
other instances idle, as in AWS.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from leafline.processes.server import ServerProcess
from leafline.sagemaker.request import TransformRequest, parse_request
from leafline.sagemaker.storage import InputObject, Storage, StorageError, UnsafeKeyError, child_uri
from leafline.serving.errors import ModelLoadError
from leafline.serving.media import columnar_format
from leafline.serving.model_info import MODEL_FILE_NAME, read_model_info
from leafline.serving.records import blank_lines_are_records
from leafline.transform import instances as inst
from leafline.transform.dataprocessing import DataProcessingError, RecordProcessor, build_processor
from leafline.transform.invoker import InvocationError, InvocationSettings, Invoker
from leafline.transform.progress import JobProgress
from leafline.transform.splitting import InputFormatError, Payload, RecordTooLargeError, payloads

ACCOUNT_ID = "123456789012"  # moto's default account, so local ARNs line up with local AWS
FAILURE_REASON_LIMIT = 1024


@dataclass(frozen=True)
class ModelSource:
    """What CreateModel gave the container: the unpacked model directory and the model's Environment."""

    model_dir: Path
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EmulatorOptions:
    log_dir: Path | None = None  # the instances' logs (default: a temporary folder)
    serve_command: inst.ServeCommand | None = None  # another container: "{port}" replaced, or made per job
    startup_timeout_s: float = 600.0
    slice_end_inclusive: bool = True  # DataProcessing slices as the AWS page words them
    endpoint_url: str | None = None  # S3 endpoint (default: boto3's, which honours AWS_ENDPOINT_URL)
    region: str | None = None


@dataclass
class FileOutcome:
    input_uri: str
    output_uri: str
    instance: int
    records: int = 0
    payloads: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    error: str | None = None


@dataclass
class TransformJobResult:
    describe: dict[str, Any]
    metrics: dict[str, Any]
    files: list[FileOutcome]

    @property
    def status(self) -> str:
        return str(self.describe["TransformJobStatus"])

    def to_json(self) -> dict[str, Any]:
        return {**self.describe, "Metrics": self.metrics}


@dataclass
class _Task:
    file: _FileWriter
    payload: Payload
    sent_body: bytes


class _FileWriter:
    """Writes one file's responses in record order to a staging file; publishes it only when complete."""

    def __init__(self, outcome: FileOutcome, storage: Storage, window: threading.Semaphore, job: _JobContext) -> None:
        self.outcome = outcome
        self._storage = storage
        self._window = window
        self._job = job
        self._lock = threading.Lock()
        self._staging: IO[bytes] | None = None
        self._next = 0
        self._pending: dict[int, bytes] = {}
        self._total: int | None = None
        self.done = threading.Event()

    @property
    def failed(self) -> bool:
        return self.outcome.error is not None

    def open(self) -> None:
        self._staging = self._storage.staging_file(self.outcome.output_uri)

    def deliver(self, seq: int, data: bytes, records: int) -> None:
        with self._lock:
            if self.failed or self._staging is None:
                self._window.release()
                return
            self._pending[seq] = data
            error = None
            try:
                self._write_ready(self._staging)
                self.outcome.records += records
            except OSError as exc:
                error = self._write_error(exc)
            complete = self._total is not None and self._next == self._total
        if error is not None:
            self.fail(error)
        elif complete:
            self._publish()

    def _write_ready(self, staging: IO[bytes]) -> None:
        while self._next in self._pending:
            chunk = self._pending.pop(self._next)
            self._next += 1
            self._window.release()  # before the write, so a failing write leaves only the rest to release
            staging.write(chunk)
            self.outcome.bytes_out += len(chunk)

    def _write_error(self, exc: OSError) -> str:
        """`No space left on device writing <staging file>, the staging copy of <output>`: the path says which
        disk filled (an S3 output is staged in TMPDIR)."""
        staged = self._staging.name if self._staging is not None else "?"
        return (f"{self.outcome.input_uri}: {exc.strerror or exc} writing {staged}, the staging copy of "
                f"{self.outcome.output_uri}")  # fmt: skip

    def drop(self) -> None:
        """A payload not sent because the file already failed or the job is stopping."""
        self._window.release()

    def produced(self, total: int) -> None:
        with self._lock:
            self._total = total
            complete = not self.failed and self._next == total
        if complete:
            self._publish()

    def fail(self, reason: str) -> None:
        with self._lock:
            if self.failed:
                return
            self.outcome.error = reason
            for _ in self._pending:
                self._window.release()
            self._pending.clear()
            self._discard()
        self._job.progress.file_finished(failed=True)
        self.done.set()

    def _publish(self) -> None:
        assert self._staging is not None
        try:
            self._staging.close()  # flushes the last buffered bytes: a full disk may show only here
        except OSError as exc:
            self.fail(self._write_error(exc))
            return
        try:
            self._storage.publish(Path(self._staging.name), self.outcome.output_uri, self._job.kms_key_id)
        except StorageError as exc:
            self.outcome.error = str(exc)
            self._job.progress.file_finished(failed=True)
        else:
            self._job.progress.file_finished(failed=False)
        self.done.set()

    def _discard(self) -> None:
        if self._staging is not None:
            with contextlib.suppress(OSError):  # the bytes are thrown away: a full disk must not keep the file
                self._staging.close()
            Path(self._staging.name).unlink(missing_ok=True)
            self._staging = None


@dataclass
class _JobContext:
    request: TransformRequest
    settings: inst.TransformSettings
    storage: Storage
    processor: RecordProcessor | None
    progress: JobProgress
    stop: threading.Event
    kms_key_id: str | None
    blank_lines_are_records: bool = False
    columnar: str | None = None  # a Parquet or Arrow ContentType: records are rows


class _InstanceRunner:
    """One emulated instance: a reader thread feeding MaxConcurrentTransforms workers."""

    def __init__(self, index: int, server: ServerProcess, files: list[FileOutcome], job: _JobContext) -> None:
        self.index = index
        self.server = server
        self.files = files
        self.job = job
        mct = int(job.settings.max_concurrent_transforms.value)
        self._mct = mct
        self._tasks: queue.Queue[_Task | None] = queue.Queue(maxsize=mct)
        self._window = threading.Semaphore(2 * mct)
        self.busy_s = 0.0
        self.retries = 0

    def run(self) -> None:
        started = time.perf_counter()
        request = self.job.request
        invocation = InvocationSettings(request.invocations_timeout_s, request.invocations_max_retries,
                                        request.content_type, request.accept)  # fmt: skip
        workers = [
            threading.Thread(target=self._work, args=(Invoker(self.server.port, invocation),), daemon=True)
            for _ in range(self._mct)
        ]
        for worker in workers:
            worker.start()
        writers = []
        for outcome in self.files:
            if self.job.stop.is_set():
                break
            writers.append(self._read_file(outcome))
        for _ in workers:
            self._tasks.put(None)
        for worker in workers:
            worker.join()
        for writer in writers:
            writer.done.wait()
        self.busy_s = time.perf_counter() - started

    def _read_file(self, outcome: FileOutcome) -> _FileWriter:
        writer = _FileWriter(outcome, self.job.storage, self._window, self.job)
        request = self.job.request
        strategy = self.job.settings.batch_strategy.value
        produced = 0
        try:
            writer.open()
            with self.job.storage.open_read(outcome.input_uri) as stream:
                for payload in payloads(stream, split_lines=request.split_lines,
                                        single_record=strategy == "SingleRecord",
                                        max_bytes=self.job.settings.max_payload_bytes,
                                        gzip_input=request.gzip_input,
                                        blank_lines_are_records=self.job.blank_lines_are_records,
                                        columnar=self.job.columnar):  # fmt: skip
                    if writer.failed or self.job.stop.is_set():
                        break
                    body = payload.body
                    if self.job.processor is not None:
                        body = self.job.processor.filter_input(body, payload.first_record)
                    self._window.acquire()
                    self._tasks.put(_Task(writer, payload, body))
                    produced += 1
                    outcome.payloads = produced
        except (RecordTooLargeError, InputFormatError, DataProcessingError, StorageError, OSError) as exc:
            message = str(exc)  # a StorageError about the input names it already
            writer.fail(message if message.startswith(f"{outcome.input_uri}: ") else f"{outcome.input_uri}: {message}")
            return writer
        except Exception as exc:  # an emulator bug fails the file rather than hanging the job
            writer.fail(f"{outcome.input_uri}: {_internal(exc)}")
            return writer
        if self.job.stop.is_set() and not writer.failed:
            writer.fail(f"{outcome.input_uri}: stopped")
            return writer
        writer.produced(produced)
        return writer

    def _work(self, invoker: Invoker) -> None:
        try:
            while (task := self._tasks.get()) is not None:
                try:
                    self._handle(invoker, task)
                except Exception as exc:  # a dead worker would leave its file unfinished and the job hung
                    task.file.fail(f"{task.file.outcome.input_uri}: {_internal(exc)}")
        finally:
            invoker.close()
            self.retries += invoker.retries

    def _handle(self, invoker: Invoker, task: _Task) -> None:
        writer, payload = task.file, task.payload
        if writer.failed or self.job.stop.is_set():
            writer.drop()
            writer.fail(f"{writer.outcome.input_uri}: stopped")  # no-op when it already failed
            return
        try:
            response = invoker.invoke(task.sent_body)
            data = self._assemble(payload, response)
        except Exception as exc:  # anything else is an emulator bug: fail the file, never hang
            last = payload.first_record + payload.records - 1
            message = str(exc) if isinstance(exc, (InvocationError, DataProcessingError)) else _internal(exc)
            writer.drop()
            writer.fail(f"{writer.outcome.input_uri}: records {payload.first_record}-{last}: {message}")
            return
        writer.outcome.bytes_in += len(task.sent_body)
        self.job.progress.add_payload(payload.records, len(task.sent_body))
        writer.deliver(payload.seq, data, payload.records)

    def _assemble(self, payload: Payload, response: bytes) -> bytes:
        if self.job.processor is not None:
            return self.job.processor.assemble(payload.body, response, payload.first_record)
        if self.job.request.assemble_lines and not response.endswith(b"\n"):
            return response + b"\n"
        return response


def run_transform_job(
    request: Mapping[str, Any] | TransformRequest,
    model: ModelSource,
    options: EmulatorOptions | None = None,
    *,
    stop: threading.Event | None = None,
    progress_hook: Callable[[JobProgress], Any] | None = None,
    storage: Storage | None = None,
) -> TransformJobResult:
    """The whole job. An invalid request raises TransformRequestError (CreateTransformJob would refuse it);
    anything that goes wrong once the job exists ends in a Failed result instead. `storage` defaults to
    boto3's S3 at options.endpoint_url (a caller with its own credentials, such as local AWS, passes one)."""
    options = options or EmulatorOptions()
    parsed = request if isinstance(request, TransformRequest) else parse_request(request)
    created = _now()
    storage = storage or Storage(options.endpoint_url, options.region)
    stop = stop or threading.Event()
    describe = initial_describe(parsed, created, options.region)
    try:
        inputs = _list_inputs(parsed, storage)
    except StorageError as exc:
        return _finished(describe, "Failed", f"ClientError: {exc}", {}, [])
    if not inputs:
        return _finished(describe, "Failed", f"ClientError: no objects found under {parsed.input_uri}", {}, [])
    progress = JobProgress(len(inputs))
    if progress_hook is not None:
        progress_hook(progress)
    log_dir = options.log_dir or Path(tempfile.mkdtemp(prefix=f"leafline-{parsed.name}-"))
    env = inst.container_environment(parsed, model.environment)
    describe["TransformStartTime"] = _now()
    start = time.perf_counter()
    try:
        servers = inst.start_instances(parsed.instance_count, model.model_dir, env, log_dir, options.serve_command,
                                       options.startup_timeout_s)  # fmt: skip
    except inst.InstanceError as exc:
        return _finished(describe, "Failed", f"AlgorithmError: {exc}", {"logs": str(log_dir)}, [])
    except BaseException:
        _drop_temporary_logs(log_dir, options)
        raise
    ready_s = time.perf_counter() - start
    try:
        return _run_on(parsed, model.model_dir, servers, inputs, storage, stop, progress, describe, options,
                       {"logs": str(log_dir), "instances_ready_s": round(ready_s, 3)})  # fmt: skip
    except BaseException:
        _drop_temporary_logs(log_dir, options)
        raise
    finally:
        for server in servers:
            server.stop()


def _run_on(
    request: TransformRequest,
    model_dir: Path,
    servers: list[ServerProcess],
    inputs: list[InputObject],
    storage: Storage,
    stop: threading.Event,
    progress: JobProgress,
    describe: dict[str, Any],
    options: EmulatorOptions,
    metrics: dict[str, Any],
) -> TransformJobResult:
    try:
        settings = inst.resolve_settings(request, inst.execution_parameters(servers[0]))
    except inst.InstanceError as exc:
        return _finished(describe, "Failed", f"ClientError: {exc}", metrics, [])
    describe.update({
        "MaxConcurrentTransforms": settings.max_concurrent_transforms.value,
        "MaxPayloadInMB": settings.max_payload_mb.value,
        "BatchStrategy": settings.batch_strategy.value,
    })  # fmt: skip
    blanks = blank_lines_are_records(_feature_count(model_dir), request.content_type or "",
                                     not request.data_processing.input_filter.is_root)  # fmt: skip
    processor = build_processor(request.data_processing, request.content_type, request.accept,
                                split_lines=request.split_lines, inclusive=options.slice_end_inclusive,
                                blank_lines_are_records=blanks)  # fmt: skip
    kms = request.raw["TransformOutput"].get("KmsKeyId")
    job = _JobContext(request, settings, storage, processor, progress, stop, kms, blanks,
                      columnar_format(request.content_type))  # fmt: skip
    assignments = _spread(inputs, len(servers))
    outcomes = {obj.uri: _outcome(obj, request.output_path, index, progress)
                for index, objs in enumerate(assignments) for obj in objs}  # fmt: skip
    runners = [
        _InstanceRunner(i, server, [outcomes[o.uri] for o in assignments[i] if not outcomes[o.uri].error], job)
        for i, server in enumerate(servers)
    ]
    progress.restart_clock()
    started = time.perf_counter()
    _run_all(runners, servers, stop)
    elapsed = time.perf_counter() - started
    files = [outcomes[obj.uri] for obj in inputs]
    metrics.update(_metrics(files, runners, settings, elapsed))
    if stop.is_set():
        return _finished(describe, "Stopped", None, metrics, files)
    failures = [f.error for f in files if f.error]
    if failures:
        return _finished(describe, "Failed", _failure_reason(failures, len(files)), metrics, files)
    return _finished(describe, "Completed", None, metrics, files)


def _run_all(runners: list[_InstanceRunner], servers: list[ServerProcess], stop: threading.Event) -> None:
    """Every instance's work, to its end. A stop signal in the main thread (leafline.processes.termination) ends the
    work first, so that each file discards its staging. Waits are on events: Thread.join interrupted by a
    signal marks the thread finished while it still runs (CPython 3.11), and the process would not wait for it."""
    done = [threading.Event() for _ in runners]

    def run(runner: _InstanceRunner, finished: threading.Event) -> None:
        try:
            runner.run()
        finally:
            finished.set()

    for runner, finished in zip(runners, done, strict=True):
        threading.Thread(target=run, args=(runner, finished), name=f"instance-{runner.index + 1}").start()
    try:
        for finished in done:
            finished.wait()
    except BaseException:
        stop.set()
        for server in servers:
            server.stop()  # in-flight payloads fail at once instead of running to their end
        for finished in done:
            finished.wait()
        raise


def _drop_temporary_logs(log_dir: Path, options: EmulatorOptions) -> None:
    """A stop signal (leafline.processes.termination) ends the job without a result to name its temporary logs."""
    if options.log_dir is None:
        shutil.rmtree(log_dir, ignore_errors=True)


def _outcome(obj: InputObject, output_path: str, instance: int, progress: JobProgress) -> FileOutcome:
    """The file's outcome, failed before it starts when its output key would leave S3OutputPath."""
    try:
        return FileOutcome(obj.uri, child_uri(output_path, obj.relative_key + ".out", "a key under S3OutputPath"),
                           instance)  # fmt: skip
    except UnsafeKeyError as exc:
        progress.file_finished(failed=True)
        return FileOutcome(obj.uri, "", instance, error=f"{obj.uri}: its output key {exc}")


def _internal(exc: Exception) -> str:
    return f"internal emulator error ({type(exc).__name__}: {exc})"


def _list_inputs(request: TransformRequest, storage: Storage) -> list[InputObject]:
    if request.input_is_manifest:
        return storage.list_manifest(request.input_uri)
    return storage.list_prefix(request.input_uri)


def _feature_count(model_dir: Path) -> int | None:
    """The model's feature count, which says what a record is; None when the directory has no model.txt
    (another container's own model) or one the server could not load either."""
    try:
        return read_model_info(model_dir / MODEL_FILE_NAME).num_features
    except ModelLoadError:
        return None


def _spread(inputs: list[InputObject], count: int) -> list[list[InputObject]]:
    """Largest file first to the least-loaded instance; each instance then reads its files in key order."""
    loads = [0] * count
    assigned: list[list[InputObject]] = [[] for _ in range(count)]
    for obj in sorted(inputs, key=lambda o: (-o.size, o.relative_key)):
        index = loads.index(min(loads))
        assigned[index].append(obj)
        loads[index] += obj.size
    return [sorted(files, key=lambda o: o.relative_key) for files in assigned]


def _failure_reason(failures: list[str], total: int) -> str:
    head = f"ClientError: {len(failures)} of {total} input files failed: "
    reason = head + "; ".join(failures)
    if len(reason) <= FAILURE_REASON_LIMIT:
        return reason
    return reason[: FAILURE_REASON_LIMIT - 25].rstrip() + " ... (see Metrics.files)"


def _metrics(
    files: list[FileOutcome], runners: list[_InstanceRunner], settings: inst.TransformSettings, elapsed: float
) -> dict[str, Any]:
    records = sum(f.records for f in files)
    return {
        "records": records,
        "bytes_in": sum(f.bytes_in for f in files),
        "bytes_out": sum(f.bytes_out for f in files),
        "files": len(files),
        "files_failed": sum(1 for f in files if f.error),
        "transform_s": round(elapsed, 3),
        "rows_per_s": round(records / elapsed, 1) if elapsed > 0 else 0.0,
        "settings": settings.to_json(),
        "instances": [
            {
                "instance": r.index + 1,
                "files": len(r.files),
                "records": sum(f.records for f in r.files),
                "busy_s": round(r.busy_s, 3),
                "rows_per_s": round(sum(f.records for f in r.files) / r.busy_s, 1) if r.busy_s > 0 else 0.0,
                "retries": r.retries,
                "pid": r.server.pid,
            }
            for r in runners
        ],
        "per_file": [vars(f) for f in files],
    }


def initial_describe(request: TransformRequest, created: datetime, region: str | None) -> dict[str, Any]:
    """DescribeTransformJob of a job just created: InProgress, the request's fields, no times but its creation."""
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "sa-east-1"
    raw = request.raw
    describe: dict[str, Any] = {
        "TransformJobName": request.name,
        "TransformJobArn": f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:transform-job/{request.name.lower()}",
        "TransformJobStatus": "InProgress",
        "ModelName": request.model_name,
        "ModelClientConfig": {
            "InvocationsTimeoutInSeconds": request.invocations_timeout_s,
            "InvocationsMaxRetries": request.invocations_max_retries,
        },
        "Environment": dict(request.environment),
        "TransformInput": raw["TransformInput"],
        "TransformOutput": raw["TransformOutput"],
        "TransformResources": raw["TransformResources"],
        "CreationTime": created,
    }
    for key in ("MaxConcurrentTransforms", "MaxPayloadInMB", "BatchStrategy", "DataProcessing", "DataCaptureConfig",
                "ExperimentConfig"):  # fmt: skip
        if key in raw:
            describe[key] = raw[key]
    return describe


def _finished(
    describe: dict[str, Any], status: str, reason: str | None, metrics: dict[str, Any], files: list[FileOutcome]
) -> TransformJobResult:
    describe["TransformJobStatus"] = status
    if reason:
        describe["FailureReason"] = reason[:FAILURE_REASON_LIMIT]
    describe.setdefault("TransformStartTime", describe["CreationTime"])
    describe["TransformEndTime"] = _now()
    if not metrics.get("per_file") and files:
        metrics["per_file"] = [vars(f) for f in files]
    return TransformJobResult(describe, metrics, files)


def _now() -> datetime:
    return datetime.now(UTC)
