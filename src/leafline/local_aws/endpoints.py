"""Real-time endpoints: CreateEndpoint starts the real `serve` process, InvokeEndpoint is forwarded to it.

moto keeps the endpoint's configuration and answers Describe/List; this module owns what moto cannot:
the process behind each endpoint, its status (Creating -> InService, or Failed with the reason) and the
invocation, including SageMaker's ModelError (424) when the container answers 4xx/5xx.
"""

from __future__ import annotations

import http.client
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leafline.errors import LeaflineError
from leafline.local_aws.containers import resolve_model
from leafline.local_aws.host import Host
from leafline.local_aws.protocol import ACCOUNT_ID, AwsError, Response, validation
from leafline.server_process import ServerProcess
from leafline.transform.instances import fetch_model

INVOKE_LIMIT_BYTES = 6 * 2**20  # SageMaker real-time InvokeEndpoint's payload limit
_FORWARDED = ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes")


@dataclass
class _Endpoint:
    region: str
    name: str
    variant: str
    folder: Path
    status: str = "Creating"
    failure: str | None = None
    server: ServerProcess | None = None
    ready: threading.Event = field(default_factory=threading.Event)


class Endpoints:
    def __init__(self, host: Host) -> None:
        self.host = host
        self._endpoints: dict[tuple[str, str], _Endpoint] = {}
        self._lock = threading.Lock()

    def created(self, region: str, request: Mapping[str, Any]) -> None:
        """moto accepted CreateEndpoint: bring up the variant's model behind it."""
        name = request["EndpointName"]
        sagemaker = self.host.loopback.client("sagemaker", region)
        config = sagemaker.describe_endpoint_config(EndpointConfigName=request["EndpointConfigName"])
        variant = config["ProductionVariants"][0]
        endpoint = _Endpoint(region, name, variant["VariantName"], self.host.workdir / "endpoints" / region / name)
        with self._lock:
            self._endpoints[(region, name)] = endpoint
        threading.Thread(target=self._start, args=(endpoint, variant["ModelName"]), name=f"endpoint-{name}",
                         daemon=True).start()  # fmt: skip

    def _start(self, endpoint: _Endpoint, model_name: str) -> None:
        try:
            container = resolve_model(self.host.loopback.client("sagemaker", endpoint.region), model_name)
            shutil.rmtree(endpoint.folder, ignore_errors=True)
            endpoint.folder.mkdir(parents=True)
            storage = self.host.loopback.storage(endpoint.region)
            model_dir = fetch_model(container.model_data_url, storage, endpoint.folder)
            log = endpoint.folder / "serve.log"
            command = self.host.serve_command
            argv = command(container.environment, model_dir) if callable(command) else command
            server = ServerProcess(model_dir, container.environment, log, argv)
            endpoint.server = server
            server.start()
            endpoint.status = "InService"
            self.host.log(f"endpoint {endpoint.name}: InService on 127.0.0.1:{server.port} (log: {server.log_path})")
        except (AwsError, LeaflineError) as exc:
            endpoint.status, endpoint.failure = "Failed", str(exc)
            self.host.log(f"endpoint {endpoint.name}: Failed: {exc}")
        finally:
            endpoint.ready.set()

    def status(self, region: str, name: str) -> tuple[str, str | None] | None:
        with self._lock:
            endpoint = self._endpoints.get((region, name))
        return None if endpoint is None else (endpoint.status, endpoint.failure)

    def wait_ready(self, region: str, name: str, timeout: float | None = None) -> None:
        with self._lock:
            endpoint = self._endpoints.get((region, name))
        if endpoint is not None:
            endpoint.ready.wait(timeout)

    def delete(self, region: str, name: str) -> None:
        with self._lock:
            endpoint = self._endpoints.pop((region, name), None)
        if endpoint is not None:
            self._stop(endpoint)
            self.host.log(f"endpoint {name}: deleted")

    def invoke(self, region: str, name: str, body: bytes, headers: Mapping[str, str]) -> Response:
        with self._lock:
            endpoint = self._endpoints.get((region, name))
        if endpoint is None:
            raise validation(f"Endpoint {name} of account {ACCOUNT_ID} not found.")
        if endpoint.status != "InService" or endpoint.server is None:
            raise validation(f"Endpoint {name} of account {ACCOUNT_ID} is not InService: its status is "
                             f"{endpoint.status}.")  # fmt: skip
        if len(body) > INVOKE_LIMIT_BYTES:
            message = (f"Request payload of {len(body):,} bytes exceeds InvokeEndpoint's limit of "
                       f"{INVOKE_LIMIT_BYTES:,} bytes (6 MB); use Batch Transform for larger inputs")  # fmt: skip
            raise AwsError("ValidationException", message, 413)
        forwarded = {key: headers[key] for key in _FORWARDED if headers.get(key)}
        try:
            status, answer_headers, answer = endpoint.server.request("POST", "/invocations", body, forwarded, 60)
        except (OSError, http.client.HTTPException) as exc:
            raise _model_error(endpoint, 500, f"no response from the container ({exc})") from None
        if status != 200:
            raise _model_error(endpoint, status, answer.decode(errors="replace"))
        reply = [
            ("Content-Type", answer_headers.get("content-type", "application/octet-stream")),
            ("x-Amzn-Invoked-Production-Variant", endpoint.variant),
            ("Content-Length", str(len(answer))),
        ]
        return "200 OK", reply, answer

    def shutdown(self) -> None:
        with self._lock:
            endpoints = list(self._endpoints.values())
            self._endpoints.clear()
        for endpoint in endpoints:
            self._stop(endpoint)

    def _stop(self, endpoint: _Endpoint) -> None:
        endpoint.ready.wait(120)  # a server still starting is stopped once it has a PID
        if endpoint.server is not None:
            endpoint.server.stop()


def _model_error(endpoint: _Endpoint, status: int, message: str) -> AwsError:
    side = "client" if 400 <= status < 500 else "server"
    log = endpoint.server.log_path if endpoint.server is not None else endpoint.folder
    text = f'Received {side} error ({status}) from primary with message "{message}". See {log} for more information.'
    return AwsError("ModelError", text, 424, {"OriginalStatusCode": status, "OriginalMessage": message,
                                              "LogStreamArn": str(log)})  # fmt: skip
