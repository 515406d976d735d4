"""Which operations local AWS answers, and AWS's own shape for the ones it does not.

A client must never meet an HTML page or a bare 500 (boto3 retries those, then reports them unreadably):
an operation neither leafline nor moto serves is refused up front, in the protocol of its service, naming
the operation. SageMaker (AWS JSON): `UnknownOperationException`, 400. S3 (REST-XML): `NotImplemented`,
501. SageMaker Runtime (REST-JSON): only InvokeEndpoint runs on leafline's endpoints; the others are
refused as SageMaker's are. Neither status is one boto3 retries.

moto's SageMaker serves an operation when its response class has the method moto dispatches to. Its S3
dispatches on the request's sub-resource (`?tagging`, `?uploads`, ...) and answers any sub-resource it
does not know as the plain GET or PUT: `?renameObject` would overwrite an object, `?analytics` list the
bucket. So an S3 request carrying a sub-resource of botocore's model that moto does not read is refused.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from botocore.session import get_session

from leafline.local_aws.protocol import AwsError, Response

UNSUPPORTED = "UnknownOperationException"
# The S3 sub-resources moto 5's S3 responses read (its bucket and key dispatch); any other one is ignored.
_S3_SUBRESOURCES_MOTO_READS = frozenset({
    "accelerate", "acl", "attributes", "cors", "delete", "encryption", "inventory", "legal-hold", "lifecycle",
    "list-type", "location", "logging", "notification", "object-lock", "ownershipControls", "policy",
    "policyStatus", "publicAccessBlock", "replication", "restore", "retention", "select", "select-type",
    "tagging", "uploads", "versioning", "versions", "website",
})  # fmt: skip
_RUNTIME_SERVED = "InvokeEndpoint"
_TEMPLATE_PART = re.compile(r"\{[^}]+\}")


def not_emulated(operation: str, failure: str | None = None) -> AwsError:
    """The error for an operation not served here, or (failure: what broke) one moto could not answer."""
    if failure is not None:
        return AwsError(UNSUPPORTED, f"local AWS does not emulate {operation} for this request ({failure})")
    return AwsError(UNSUPPORTED, f"local AWS does not emulate {operation}: the operation is not supported here")


def sagemaker_refusal(action: str, leafline_actions: Collection[str]) -> AwsError | None:
    """The error for a SageMaker operation nobody here serves, None when leafline or moto answers it."""
    if action in leafline_actions or action in _moto_sagemaker_actions():
        return None
    return not_emulated(action)


def runtime_refusal(path: str) -> AwsError | None:
    """The error for a SageMaker Runtime call other than InvokeEndpoint (matched on botocore's request URIs)."""
    for operation, pattern in _runtime_routes():
        if pattern.fullmatch(path):
            return None if operation == _RUNTIME_SERVED else not_emulated(operation)
    return None


def s3_unsupported(method: str, query_string: str) -> str | None:
    """The S3 operation a request names by a sub-resource moto does not read; None when moto answers it."""
    query = set(parse_qs(query_string, keep_blank_values=True))
    unread = query - _S3_SUBRESOURCES_MOTO_READS
    if not unread & _s3_subresources():
        return None
    candidates = [(len(keys), len(named & query), operation) for operation, (verb, keys, named)
                  in _s3_operations().items()
                  if verb == method and keys and keys <= query and keys & unread]  # fmt: skip
    return max(candidates)[2] if candidates else f"this S3 request ({method} ?{'&'.join(sorted(unread))})"


def s3_error(code: str, message: str, resource: str, status: str = "501 Not Implemented") -> Response:
    data = (f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{escape(code)}</Code><Message>{escape(message)}"
            f"</Message><Resource>{escape(resource)}</Resource></Error>").encode()  # fmt: skip
    return status, [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))], data


def s3_not_emulated(operation: str, resource: str) -> Response:
    return s3_error("NotImplemented", f"local AWS does not emulate {operation}", resource)


def is_aws_shaped(status: str, headers: Mapping[str, str] | list[tuple[str, str]]) -> bool:
    """False for what AWS never sends: a server error that is an HTML page (a traceback moto did not catch)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    content_type = next((value for key, value in pairs if key.lower() == "content-type"), "")
    return not (status.startswith("5") and "html" in content_type.lower())


@functools.cache
def _moto_sagemaker_actions() -> frozenset[str]:
    """The operations of botocore's model moto's SageMaker has a handler for (its own name mangling)."""
    from moto.core.utils import camelcase_to_underscores
    from moto.sagemaker.responses import SageMakerResponse

    handlers = {name for name in vars(SageMakerResponse) if not name.startswith("_")}
    operations = get_session().get_service_model("sagemaker").operation_names
    return frozenset(name for name in operations if camelcase_to_underscores(name) in handlers)


@functools.cache
def _runtime_routes() -> list[tuple[str, re.Pattern[str]]]:
    model = get_session().get_service_model("sagemaker-runtime")
    routes = []
    for operation in model.operation_names:
        uri = model.operation_model(operation).http["requestUri"]
        parts = _TEMPLATE_PART.split(uri)
        routes.append((operation, re.compile("[^/]+".join(re.escape(part) for part in parts))))
    return routes


@functools.cache
def _s3_operations() -> dict[str, tuple[str, frozenset[str], frozenset[str]]]:
    """Each S3 operation's HTTP method, the literal query keys of its request URI (`x-id` aside) and the
    query parameters its members travel in (which tell GET ?analytics&id=x from GET ?analytics)."""
    model = get_session().get_service_model("s3")
    operations: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {}
    for operation in model.operation_names:
        operation_model = model.operation_model(operation)
        http: Mapping[str, Any] = operation_model.http
        _, _, query = str(http["requestUri"]).partition("?")
        keys = frozenset(part.split("=", 1)[0] for part in query.split("&") if part and not part.startswith("x-id"))
        members = operation_model.input_shape.members if operation_model.input_shape is not None else {}
        named = frozenset(str(member.serialization["name"]) for member in members.values()
                          if member.serialization.get("location") == "querystring")  # fmt: skip
        operations[operation] = (str(http["method"]), keys, named)
    return operations


@functools.cache
def _s3_subresources() -> frozenset[str]:
    return frozenset(key for _, keys, _ in _s3_operations().values() for key in keys)
