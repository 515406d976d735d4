"""Start and stop local AWS: one HTTP endpoint on 127.0.0.1 for S3, SageMaker and SageMaker Runtime.

moto's server (S3, the Model Registry, the control plane) runs behind leafline's app in a werkzeug
thread of this process; transform jobs and endpoints run the real server as child processes, all
stopped by `stop()`. Clients need only the endpoint URL and any credentials (nothing checks them).
"""

from __future__ import annotations

import http.client
import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from leafline.errors import LeaflineError
from leafline.local_aws.app import LocalAwsApp
from leafline.local_aws.endpoints import Endpoints
from leafline.local_aws.host import Host
from leafline.local_aws.loopback import LOCAL_CREDENTIALS, Loopback
from leafline.local_aws.state import StateError, StateFolder
from leafline.local_aws.transform_jobs import TransformJobs
from leafline.transform.instances import ServeCommand

DEFAULT_REGION = "sa-east-1"


class LocalAwsError(LeaflineError):
    """Local AWS could not start or restore its state folder; the message says what and where."""


class LocalAws:
    def __init__(
        self,
        port: int = 0,
        *,
        state_dir: Path | None = None,
        region: str = DEFAULT_REGION,
        log: Callable[[str], None] | None = None,
        host: str = "127.0.0.1",
        serve_command: ServeCommand | None = None,
    ) -> None:
        self.host = host
        self.serve_command = serve_command  # the container jobs and endpoints run (default: `serve` of this Python)
        self.requested_port = port
        self.region = region
        self.log = log or (lambda line: None)
        self.state = StateFolder(state_dir, self._warn) if state_dir is not None else None
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._workdir: Path | None = None
        self.app: LocalAwsApp | None = None

    def _warn(self, line: str) -> None:
        self.log(f"warning: {line}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalAws:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        if self.state is not None:
            self.state.acquire()  # before the port: a second instance on the folder changes nothing
        try:
            self._server = make_server(self.host, self.requested_port, _not_ready, threaded=True,
                                       request_handler=MotoRequestHandler)  # fmt: skip
        except BaseException:
            if self.state is not None:
                self.state.release()
            raise
        self.port = self._server.server_port
        if self.state is not None:
            self._workdir = self.state.root / "work"
            _sweep_work(self._workdir)
            self._workdir.mkdir(parents=True, exist_ok=True)
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix="leafline-local-aws-"))
        loopback = Loopback(self.url)
        host = Host(loopback, self._workdir, self.log, self.serve_command)
        self.app = LocalAwsApp(
            DomainDispatcherApplication(create_backend_app),
            loopback,
            TransformJobs(host),
            Endpoints(host),
        )
        self._server.app = self.app
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()
        self._post("/moto-api/reset")  # moto's backends live in the process: start from nothing
        if self.state is not None:
            try:
                self._restore(self.state, loopback)
            except (LocalAwsError, StateError, OSError, ValueError, KeyError) as exc:
                self.stop()
                raise LocalAwsError(f"cannot restore the state in {self.state.root}: {exc}") from None
            self._keep_changes(self.state, loopback)
        return self

    def _keep_changes(self, state: StateFolder, loopback: Loopback) -> None:
        """From now on every change is written to the state folder before its request is answered."""
        assert self.app is not None
        s3 = loopback.client("s3", self.region)
        self.app.journal = state.record
        self.app.jobs.on_change = state.save_job
        self.app.resources.on_change = state.save_resources
        self.app.s3_changed = lambda bucket, key: (
            state.object_changed(s3, bucket, key) if key is not None else state.bucket_changed(s3, bucket)
        )

    def _restore(self, state: StateFolder, loopback: Loopback) -> None:
        entries = state.journal()
        for entry in entries:
            try:
                scope = f"local/20260101/{entry.region}/sagemaker/aws4_request"
                self._post("/", entry.body.encode(), {
                    "X-Amz-Target": f"SageMaker.{entry.action}",
                    "Content-Type": "application/x-amz-json-1.1",
                    "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}",
                })  # fmt: skip
            except LocalAwsError as exc:
                raise StateError(f"{state.journal_path}, line {entry.line}: {entry.action} does not replay "
                                 f"({exc})") from None  # fmt: skip
        objects = self._load_s3(state, loopback)
        assert self.app is not None
        jobs = state.load_jobs()
        interrupted = self.app.jobs.restore(jobs)
        for record in interrupted:
            state.save_job(record)
        # Endpoints are processes: they, and their tags, do not survive (CreateEndpoint is not replayed).
        self.app.resources.restore(state.load_resources(), [record["describe"]["TransformJobArn"] for record in jobs])
        if entries or objects:
            self.log(f"restored from {state.root}: {objects} S3 objects, {len(entries)} SageMaker changes")

    def _load_s3(self, state: StateFolder, loopback: Loopback) -> int:
        count = 0
        for bucket, kept_region in state.buckets().items():
            region = kept_region or self.region
            s3 = loopback.client("s3", region)
            config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=bucket, **config)
            for key, open_body in state.stored_objects(bucket):
                with open_body() as body:
                    if body.tell():  # a key kept escaped: its body follows a header line
                        s3.put_object(Bucket=bucket, Key=key, Body=body.read())
                    else:
                        s3.upload_fileobj(body, bucket, key)
                count += 1
        return count

    def _post(self, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request("POST", path, body=body, headers=headers or {})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200:
                raise LocalAwsError(f"local AWS answered {response.status} to {path}: {answer[:300]!r}")
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop every job and endpoint (and their processes), close the port, release the state folder
        (already up to date: every change was written as it happened)."""
        if self._server is None:
            return
        assert self.app is not None
        self.app.jobs.shutdown()
        self.app.endpoints.shutdown()
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join()
        self._server.server_close()
        self._server = None
        if self.state is None and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        if self.state is not None:
            self.state.release()
            self.log(f"state kept in {self.state.root}")

    def environment(self) -> dict[str, str]:
        """What a process needs to use local AWS through boto3, the AWS CLI or the SageMaker SDK."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def airflow_connection(self) -> str:
        """An Airflow AWS connection (JSON, for AIRFLOW_CONN_AWS_DEFAULT) pointing every service here."""
        return json.dumps({
            "conn_type": "aws",
            "login": LOCAL_CREDENTIALS["aws_access_key_id"],
            "password": LOCAL_CREDENTIALS["aws_secret_access_key"],
            "extra": {"region_name": self.region, "endpoint_url": self.url},
        })  # fmt: skip

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _sweep_work(workdir: Path) -> None:
    """What a local AWS killed mid-job left: endpoints' and jobs' model copies (jobs' logs stay)."""
    shutil.rmtree(workdir / "endpoints", ignore_errors=True)
    for copy in workdir.glob("transform-jobs/*/*/container"):
        shutil.rmtree(copy, ignore_errors=True)


def _not_ready(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"local AWS is starting"]
