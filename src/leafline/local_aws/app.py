"""The local AWS endpoint as one WSGI app: leafline answers what it runs, moto answers everything else.

Requests are told apart as AWS tells them: SageMaker's JSON API by its X-Amz-Target header, the runtime's
InvokeEndpoint by its path. Only the handful of actions below are leafline's; S3, the Model Registry and
the rest of the SageMaker control plane are moto's, unchanged.
"""

from __future__ import annotations

import io
import ipaddress
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from leafline.local_aws.containers import check_packages_approved
from leafline.local_aws.endpoints import Endpoints
from leafline.local_aws.loopback import Loopback
from leafline.local_aws.protocol import (
    ACCOUNT_ID,
    AwsError,
    Response,
    error_response,
    joined,
    json_response,
    read_body,
    region_of,
    validation,
)
from leafline.local_aws.state import journaled
from leafline.local_aws.transform_jobs import TransformJobs
from leafline.local_aws.validation import refusal

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# Told of an S3 change moto accepted, before the client hears of it: (bucket, key), or (bucket, None) for
# a bucket-level one (a state folder writes the object, or the bucket's keys, through to disk).
S3Listener = Callable[[str, str | None], None]
_INVOCATIONS = re.compile(r"^/endpoints/([^/]+)/invocations$")
_SIGNED_FOR = re.compile(r"Credential=[^/]+/\d{8}/[a-z0-9-]+/([a-z0-9-]+)/aws4_request")
# Object sub-resources whose writes leave the body as it was (the multipart steps before completion too).
_BODY_UNCHANGED = ("uploads", "tagging", "acl", "retention", "legal-hold", "select", "restore", "attributes")


class Faults:
    """Errors to answer instead of the real thing, next time an action is called: clients' retry paths."""

    def __init__(self) -> None:
        self._pending: dict[str, list[AwsError | None]] = {}
        self._lock = threading.Lock()

    def fail_next(self, action: str, error: AwsError, times: int = 1, after: int = 0) -> None:
        """The next `times` calls of action fail with error, once `after` more calls have gone through."""
        with self._lock:
            self._pending.setdefault(action, []).extend([None] * after + [error] * times)

    def take(self, action: str) -> AwsError | None:
        with self._lock:
            pending = self._pending.get(action)
            return pending.pop(0) if pending else None


class LocalAwsApp:
    def __init__(
        self,
        moto: Wsgi,
        loopback: Loopback,
        jobs: TransformJobs,
        endpoints: Endpoints,
        journal: Callable[[str, str, bytes], None] | None = None,
    ) -> None:
        self._moto = moto
        self.s3_changed: S3Listener | None = None
        self.journal = journal  # told of each successful control-plane change (a state folder keeps them)
        self._loopback = loopback
        self.jobs = jobs
        self.endpoints = endpoints
        self.faults = Faults()
        self.calls: Counter[str] = Counter()  # requests per action leafline answers (how often a job was submitted)
        self._actions: dict[str, Callable[[dict[str, Any], str, dict[str, Any], bytes], Response]] = {
            "CreateTransformJob": lambda env, region, params, _: json_response(self.jobs.create(region, params)),
            "DescribeTransformJob": lambda env, region, params, _: json_response(
                self.jobs.describe(region, params.get("TransformJobName", ""))
            ),
            "ListTransformJobs": lambda env, region, params, _: json_response(self.jobs.list_jobs(region, params)),
            "StopTransformJob": self._stop_transform_job,
            "CreateModel": self._create_model,
            "CreateEndpoint": self._create_endpoint,
            "DescribeEndpoint": self._describe_endpoint,
            "DeleteEndpoint": self._delete_endpoint,
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        action = target.removeprefix("SageMaker.") if target.startswith("SageMaker.") else None
        invocation = _INVOCATIONS.match(str(environ.get("PATH_INFO", "")))
        fault = self.faults.take(action or ("InvokeEndpoint" if invocation else ""))
        # AWS checks each request against its API model before acting on it: so does local AWS, moto or not.
        fault = fault or refusal(environ, action, unquote(invocation.group(1)) if invocation else None)
        if fault is not None:
            read_body(environ)
            status, headers, data = error_response(fault)
            start_response(status, headers)
            return [data]
        if action is None and not invocation and self.s3_changed is not None:
            change = s3_change(environ)
            if change is not None:
                return self._write_through(environ, start_response, change, self.s3_changed)
        keep = action is not None and self.journal is not None and journaled(action)
        if action not in self._actions and not keep and not (invocation and environ.get("REQUEST_METHOD") == "POST"):
            return self._moto(environ, start_response)
        body = read_body(environ)
        region = region_of(environ)
        self.calls[action or "InvokeEndpoint"] += 1
        try:
            if invocation:
                response = self.endpoints.invoke(region, unquote(invocation.group(1)), body, _headers(environ))
            elif action in self._actions:
                response = self._actions[action](environ, region, _params(body), body)
            else:
                response = self._forward(environ, body)
        except AwsError as exc:
            response = error_response(exc)
        status, headers, data = response
        if keep and status.startswith("200") and self.journal is not None and action is not None:
            self.journal(region, action, body)
        start_response(status, headers)
        return [data]

    def _write_through(self, environ: dict[str, Any], start_response: Callable[..., Any],
                       change: tuple[str, str | None], listener: S3Listener) -> Iterable[bytes]:  # fmt: skip
        """A mutating S3 request: moto answers, the change is kept on disk, then the client hears of it."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.update(status=status, headers=headers)

        data = joined(self._moto(environ, capture))
        status, headers = captured["status"], list(captured["headers"])
        if status.startswith("2"):
            try:
                listener(*change)
            except Exception as exc:  # a full disk, say: the client must not believe the write is kept
                status, headers, data = _s3_error(f"local AWS could not keep {'/'.join(filter(None, change))} in "
                                                  f"its state folder: {exc}")  # fmt: skip
        start_response(status, headers)
        return [data]

    def _stop_transform_job(self, environ: dict[str, Any], region: str, params: dict[str, Any], _: bytes) -> Response:
        self.jobs.stop(region, params.get("TransformJobName", ""))
        return json_response({})

    def _create_model(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        sagemaker = self._loopback.client("sagemaker", region)
        name = params.get("ModelName", "")
        try:
            sagemaker.describe_model(ModelName=name)
        except sagemaker.exceptions.ClientError:
            pass
        else:  # moto would overwrite it; SageMaker refuses
            arn = f"arn:aws:sagemaker:{region}:{ACCOUNT_ID}:model/{name.lower()}"
            raise validation(f'Cannot create already existing model "{arn}".')
        check_packages_approved(sagemaker, params)
        return self._forward(environ, body)

    def _create_endpoint(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        if self.endpoints.status(region, params.get("EndpointName", "")) is not None:
            raise validation(f'Cannot create already existing endpoint "{params.get("EndpointName")}".')
        response = self._forward(environ, body)
        if response[0].startswith("200"):
            self.endpoints.created(region, params)
        return response

    def _describe_endpoint(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        status, headers, data = self._forward(environ, body)
        known = self.endpoints.status(region, params.get("EndpointName", ""))
        if not status.startswith("200") or known is None:
            return status, headers, data
        describe = json.loads(data)
        describe["EndpointStatus"], failure = known
        if failure:
            describe["FailureReason"] = failure
        return json_response(describe)

    def _delete_endpoint(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        self.endpoints.delete(region, params.get("EndpointName", ""))
        return self._forward(environ, body)

    def _forward(self, environ: dict[str, Any], body: bytes) -> Response:
        """Hand the (already read) request to moto and keep its answer."""
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.update(status=status, headers=headers)

        forwarded = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        data = joined(self._moto(forwarded, start_response))
        return captured["status"], list(captured["headers"]), data


def s3_change(environ: Mapping[str, Any]) -> tuple[str, str | None] | None:
    """(bucket, key) a request may change in S3, (bucket, None) for a bucket-level change, None for neither."""
    method = environ.get("REQUEST_METHOD")
    signed = _SIGNED_FOR.search(str(environ.get("HTTP_AUTHORIZATION", "")) + " " + unquote(
        str(environ.get("QUERY_STRING", ""))))  # fmt: skip
    if method not in ("PUT", "POST", "DELETE") or (signed is not None and signed.group(1) != "s3"):
        return None
    raw = str(environ.get("RAW_URI") or quote(str(environ.get("PATH_INFO", ""))))
    path = unquote(raw.split("?", 1)[0])
    if path.startswith("/moto-api"):
        return None
    host = str(environ.get("HTTP_HOST", "")).rsplit(":", 1)[0].strip("[]")
    if _path_style(host):
        bucket, _, key = path.lstrip("/").partition("/")
    else:  # bucket.host: virtual-hosted style, as moto reads it
        bucket, key = host.split(".", 1)[0], path[1:]
    if not bucket:
        return None
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if key and (any(name in query for name in _BODY_UNCHANGED) or ("uploadId" in query and method != "POST")):
        return None
    return bucket, key or None


def _path_style(host: str) -> bool:
    """moto's rule: an IP address, localhost or a name without a dot carries the bucket in the path."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.startswith("localhost") or "." not in host
    return True


def _s3_error(message: str) -> Response:
    from xml.sax.saxutils import escape

    data = f"<Error><Code>InternalError</Code><Message>{escape(message)}</Message></Error>".encode()
    return "500 Internal Server Error", [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))], data


def _params(body: bytes) -> dict[str, Any]:
    try:
        params = json.loads(body or b"{}")
    except ValueError:
        raise AwsError("SerializationException", "the request body is not valid JSON") from None
    if not isinstance(params, dict):
        raise AwsError("SerializationException", "the request body is not a JSON object")
    return params


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    return {
        "Content-Type": str(environ.get("CONTENT_TYPE", "")),
        "Accept": str(environ.get("HTTP_ACCEPT", "")),
        "X-Amzn-SageMaker-Custom-Attributes": str(environ.get("HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES", "")),
    }
