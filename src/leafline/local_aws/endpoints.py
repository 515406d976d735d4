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
from leafline.local_aws.resources import arn_of
from leafline.processes.server import ServerProcess
from leafline.transform.instances import fetch_model

INVOKE_LIMIT_BYTES = 6 * 2**20  # SageMaker real-time InvokeEndpoint's payload limit
_FORWARDED = ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes")


@dataclass
class _Endpoint:
    region: str
    name: str
    variant: str
    folder: Path
    config_name: str = ""
    variants: list[dict[str, Any]] = field(default_factory=list)
    status: str = "Creating"
    failure: str | None = None
    server: ServerProcess | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    generation: int = 0  # each UpdateEndpoint serves from a folder of its own


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
        variants = config["ProductionVariants"]
        endpoint = _Endpoint(region, name, variants[0]["VariantName"], self.host.workdir / "endpoints" / region / name,
                             config_name=request["EndpointConfigName"], variants=variants)  # fmt: skip
        with self._lock:
            self._endpoints[(region, name)] = endpoint
        threading.Thread(target=self._start, args=(endpoint, variants[0]["ModelName"]), name=f"endpoint-{name}",
                         daemon=True).start()  # fmt: skip

    def _start(self, endpoint: _Endpoint, model_name: str) -> None:
        try:
            endpoint.server = self._serve(endpoint, endpoint.folder, model_name)
            endpoint.status = "InService"
            self.host.log(f"endpoint {endpoint.name}: InService on 127.0.0.1:{endpoint.server.port} "
                          f"(log: {endpoint.server.log_path})")  # fmt: skip
        except (AwsError, LeaflineError) as exc:
            endpoint.status, endpoint.failure = "Failed", str(exc)
            self.host.log(f"endpoint {endpoint.name}: Failed: {exc}")
        finally:
            endpoint.ready.set()

    def _serve(self, endpoint: _Endpoint, folder: Path, model_name: str) -> ServerProcess:
        container = resolve_model(self.host.loopback.client("sagemaker", endpoint.region), model_name)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        storage = self.host.loopback.storage(endpoint.region)
        model_dir = fetch_model(container.model_data_url, storage, folder)
        command = self.host.serve_command
        argv = command(container.environment, model_dir) if callable(command) else command
        return ServerProcess(model_dir, container.environment, folder / "serve.log", argv).start()

    def update(self, region: str, name: str, config_name: str) -> None:
        """UpdateEndpoint: Updating while the new config's model starts, then InService on it; if it cannot
        start, InService again on the old one with the FailureReason, as SageMaker rolls back."""
        sagemaker = self.host.loopback.client("sagemaker", region)
        with self._lock:
            endpoint = self._endpoints.get((region, name))
        if endpoint is None:
            raise validation(f'Could not find endpoint "{arn_of(region, "endpoint", name)}".')
        if endpoint.status != "InService":
            raise validation(f"Cannot update in-progress endpoint \"{arn_of(region, 'endpoint', name)}\": its "
                             f"status is {endpoint.status}.")  # fmt: skip
        try:
            config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        except sagemaker.exceptions.ClientError:
            config_arn = arn_of(region, "endpoint-config", config_name)
            raise validation(f'Could not find endpoint configuration "{config_arn}".') from None
        endpoint.status, endpoint.failure = "Updating", None
        endpoint.ready.clear()
        threading.Thread(target=self._switch, args=(endpoint, config_name, config["ProductionVariants"]),
                         name=f"endpoint-{name}-update", daemon=True).start()  # fmt: skip

    def _switch(self, endpoint: _Endpoint, config_name: str, variants: list[dict[str, Any]]) -> None:
        endpoint.generation += 1
        folder = endpoint.folder.with_name(f"{endpoint.name}.{endpoint.generation}")
        old = endpoint.server
        try:
            server = self._serve(endpoint, folder, variants[0]["ModelName"])
        except (AwsError, LeaflineError) as exc:
            endpoint.status, endpoint.failure = "InService", f"Update to {config_name} failed: {exc}"
            self.host.log(f"endpoint {endpoint.name}: update to {config_name} failed, still on "
                          f"{endpoint.config_name}: {exc}")  # fmt: skip
        else:
            endpoint.server, endpoint.config_name, endpoint.variants = server, config_name, variants
            endpoint.variant = variants[0]["VariantName"]
            endpoint.status = "InService"
            if old is not None:
                old.stop()
            self.host.log(f"endpoint {endpoint.name}: InService on {config_name}, 127.0.0.1:{server.port}")
        finally:
            endpoint.ready.set()

    def described(self, region: str, name: str, describe: dict[str, Any]) -> dict[str, Any]:
        """moto's DescribeEndpoint with what leafline knows: status, failure, the config it serves now."""
        with self._lock:
            endpoint = self._endpoints.get((region, name))
        if endpoint is None:
            return describe
        answer = {**describe, "EndpointStatus": endpoint.status, "EndpointConfigName": endpoint.config_name}
        if endpoint.failure:
            answer["FailureReason"] = endpoint.failure
        answer["ProductionVariants"] = [_variant_summary(variant) for variant in endpoint.variants]
        return answer

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
        if endpoint.status not in ("InService", "Updating") or endpoint.server is None:  # the old one serves on
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


def _variant_summary(variant: Mapping[str, Any]) -> dict[str, Any]:
    weight = float(variant.get("InitialVariantWeight", 1.0))
    count = variant.get("InitialInstanceCount", 1)
    return {"VariantName": variant["VariantName"], "CurrentWeight": weight, "DesiredWeight": weight,
            "CurrentInstanceCount": count, "DesiredInstanceCount": count}  # fmt: skip


def _model_error(endpoint: _Endpoint, status: int, message: str) -> AwsError:
    side = "client" if 400 <= status < 500 else "server"
    log = endpoint.server.log_path if endpoint.server is not None else endpoint.folder
    text = f'Received {side} error ({status}) from primary with message "{message}". See {log} for more information.'
    return AwsError("ModelError", text, 424, {"OriginalStatusCode": status, "OriginalMessage": message,
                                              "LogStreamArn": str(log)})  # fmt: skip
