"""The wire format local AWS speaks where leafline answers instead of moto: AWS JSON 1.1 and its errors.

Errors carry the code and message real SageMaker gives for the same mistake, so botocore raises the
same ClientError and callers' handling (retry, reattach, "already exists") is tested as it will run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

ACCOUNT_ID = "123456789012"  # moto's default account: ARNs line up with what moto returns
DEFAULT_REGION = "us-east-1"
JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")


class AwsError(Exception):
    """An error response: botocore raises ClientError with this code and message."""

    def __init__(self, code: str, message: str, status: int = 400, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = dict(extra or {})


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def region_of(environ: Mapping[str, Any]) -> str:
    """The region the caller signed for (SigV4 credential scope): moto keeps one backend per region."""
    match = _CREDENTIAL_SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    return match.group(1) if match else DEFAULT_REGION


def wire(value: Any) -> Any:
    """Datetimes as epoch seconds, as the JSON protocol sends timestamps."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Mapping):
        return {key: wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [wire(item) for item in value]
    return value


Response = tuple[str, list[tuple[str, str]], bytes]


def json_response(body: Mapping[str, Any], status: str = "200 OK") -> Response:
    data = json.dumps(wire(body)).encode()
    return status, [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(data)))], data


def error_response(error: AwsError) -> Response:
    body = {"__type": error.code, "message": error.message, "Message": error.message, **error.extra}
    data = json.dumps(body).encode()
    headers = [
        ("Content-Type", JSON_CONTENT_TYPE),
        ("x-amzn-ErrorType", error.code),
        ("Content-Length", str(len(data))),
    ]
    return f"{error.status} {_REASONS.get(error.status, 'Error')}", headers, data


def read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    body: bytes = stream.read(length) if length else b""
    return body


def joined(chunks: Iterable[bytes]) -> bytes:
    try:
        return b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


_REASONS = {400: "Bad Request", 404: "Not Found", 413: "Payload Too Large", 424: "Failed Dependency",
            500: "Internal Server Error", 503: "Service Unavailable"}  # fmt: skip
