"""The local AWS endpoint as one WSGI app: leafline answers what it runs, moto answers everything else.

Requests are told apart as AWS tells them: SageMaker's JSON API by its X-Amz-Target header, the runtime's
InvokeEndpoint by its path, S3 by neither. Leafline answers the actions below (transform jobs, endpoints,
the registry's deletes, tags of its resources, the lists moto pages wrongly); S3 and the rest of the
control plane are moto's. A call nobody serves, or one moto fails on, is refused in AWS's shape naming it
(`coverage`); every SageMaker answer leaves out what AWS leaves out and lower-cases ARNs' names (`answers`).
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

from leafline.local_aws.answers import tidy
from leafline.local_aws.containers import check_packages_approved
from leafline.local_aws.coverage import (
    is_aws_shaped,
    not_emulated,
    runtime_refusal,
    s3_error,
    s3_not_emulated,
    s3_unsupported,
    sagemaker_refusal,
)
from leafline.local_aws.endpoints import Endpoints
from leafline.local_aws.loopback import Loopback
from leafline.local_aws.protocol import (
    AwsError,
    Response,
    error_response,
    joined,
    json_response,
    read_body,
    region_of,
    validation,
)
from leafline.local_aws.registry import ModelRegistry
from leafline.local_aws.resources import KINDS, Resources, arn_of, kind_of, lowered
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
# Create calls whose name must be new, case-insensitively: (kind of resource, name member, AWS's noun).
_CREATES = {"CreateModel": ("model", "ModelName", "model"),
            "CreateEndpointConfig": ("endpoint-config", "EndpointConfigName", "endpoint configuration"),
            "CreateEndpoint": ("endpoint", "EndpointName", "endpoint"),
            "CreateModelPackageGroup": ("model-package-group", "ModelPackageGroupName", "model package group"),
            }  # fmt: skip
_DELETES = {"DeleteModel": ("model", "ModelName"), "DeleteEndpointConfig": ("endpoint-config", "EndpointConfigName"),
            "DeleteEndpoint": ("endpoint", "EndpointName")}  # fmt: skip
_TAG_ACTIONS = ("AddTags", "ListTags", "DeleteTags")
_PAGED_HERE = ("StatusEquals", "MaxResults", "NextToken")
_MODEL_SORT = {"Name": "ModelName", "CreationTime": "CreationTime"}


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
        self.resources = Resources()  # every resource created here, by ARN, with its tags
        self.registry = ModelRegistry()
        self.faults = Faults()
        self.calls: Counter[str] = Counter()  # requests per action leafline answers (how often a job was submitted)
        self._actions: dict[str, Callable[[dict[str, Any], str, dict[str, Any], bytes], Response]] = {
            "CreateTransformJob": self._create_transform_job,
            "DescribeTransformJob": lambda env, region, params, _: json_response(
                self.jobs.describe(region, params.get("TransformJobName", ""))
            ),
            "ListTransformJobs": lambda env, region, params, _: json_response(self.jobs.list_jobs(region, params)),
            "StopTransformJob": self._stop_transform_job,
            "CreateModel": self._create_model,
            "CreateEndpointConfig": self._create,
            "CreateModelPackageGroup": self._create,
            "CreateModelPackage": self._create_model_package,
            "CreateEndpoint": self._create_endpoint,
            "DescribeEndpoint": self._describe_endpoint,
            "UpdateEndpoint": self._update_endpoint,
            "DeleteEndpoint": self._delete_endpoint,
            "DeleteModel": self._delete,
            "DeleteEndpointConfig": self._delete,
            "DeleteModelPackage": self._delete_model_package,
            "DeleteModelPackageGroup": self._delete_model_package_group,
            "ListModels": self._list_models,
            "ListEndpoints": self._list_endpoints,
            **{action: self._tags for action in _TAG_ACTIONS},
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        action = target.removeprefix("SageMaker.") if target.startswith("SageMaker.") else None
        path = str(environ.get("PATH_INFO", ""))
        invocation = _INVOCATIONS.match(path)
        runtime = action is None and (invocation is not None or _signed_for(environ) == "sagemaker")
        if action is None and not runtime:
            return self._s3(environ, start_response)
        fault = self.faults.take(action or ("InvokeEndpoint" if invocation else ""))
        # An operation nobody here serves is named as such, before its members are checked.
        fault = fault or (sagemaker_refusal(action, self._actions) if action is not None else runtime_refusal(path))
        # AWS checks each request against its API model before acting on it: so does local AWS, moto or not.
        fault = fault or refusal(environ, action, unquote(invocation.group(1)) if invocation else None)
        if fault is not None:
            read_body(environ)
            return _answer(start_response, error_response(fault))
        if action is None and not (invocation and environ.get("REQUEST_METHOD") == "POST"):
            return self._moto_answer(environ, start_response, None)
        body = read_body(environ)
        region = region_of(environ)
        self.calls[action or "InvokeEndpoint"] += 1
        try:
            if invocation and action is None:
                response = self.endpoints.invoke(region, unquote(invocation.group(1)), body, _headers(environ))
            else:
                assert action is not None
                params = _params(body)
                handler = self._actions.get(action)
                response = handler(environ, region, params, body) if handler else self._forward(environ, body)
                response = _shaped(action, response)
        except AwsError as exc:
            response = error_response(exc)
        status = response[0]
        if action is not None and status.startswith("200") and self.journal is not None and self._kept(action, body):
            self.journal(region, action, body)
        return _answer(start_response, response)

    def _kept(self, action: str, body: bytes) -> bool:
        """Journaled: a change moto holds. Tags of leafline's resources are kept with the resources instead."""
        if not journaled(action):
            return False
        return not (action in _TAG_ACTIONS and kind_of(str(_params(body).get("ResourceArn", ""))) in KINDS)

    def _s3(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        unsupported = s3_unsupported(str(environ.get("REQUEST_METHOD", "")), str(environ.get("QUERY_STRING", "")))
        if unsupported is not None:
            read_body(environ)
            return _answer(start_response, s3_not_emulated(unsupported, str(environ.get("PATH_INFO", ""))))
        if self.s3_changed is not None:
            change = s3_change(environ)
            if change is not None:
                return self._write_through(environ, start_response, change, self.s3_changed)
        return self._moto_answer(environ, start_response, None)

    def _moto_answer(self, environ: dict[str, Any], start_response: Callable[..., Any],
                     action: str | None) -> Iterable[bytes]:  # fmt: skip
        """moto's answer, streamed as it comes, unless moto failed: then AWS's shape of an unsupported call."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.update(status=status, headers=headers)

        try:
            chunks = self._moto(environ, capture)
        except Exception as exc:  # a traceback in moto: werkzeug would answer an HTML page
            return _answer(start_response, _moto_failed(environ, action, exc))
        if not is_aws_shaped(captured["status"], captured["headers"]):
            joined(chunks)
            return _answer(start_response, _moto_failed(environ, action, None))
        start_response(captured["status"], captured["headers"])
        return chunks

    def _write_through(self, environ: dict[str, Any], start_response: Callable[..., Any],
                       change: tuple[str, str | None], listener: S3Listener) -> Iterable[bytes]:  # fmt: skip
        """A mutating S3 request: moto answers, the change is kept on disk, then the client hears of it."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.update(status=status, headers=headers)

        try:
            data = joined(self._moto(environ, capture))
        except Exception as exc:
            return _answer(start_response, _moto_failed(environ, None, exc))
        status, headers = captured["status"], list(captured["headers"])
        if not is_aws_shaped(status, headers):
            return _answer(start_response, _moto_failed(environ, None, None))
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

    def _create_transform_job(self, environ: dict[str, Any], region: str, params: dict[str, Any], _: bytes) -> Response:
        answer = self.jobs.create(region, params)
        self.resources.created(answer["TransformJobArn"], params.get("Tags"))
        return json_response(answer)

    def _create(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        """A Create* of a named resource: refused when the name exists in any case, else moto's, tags kept."""
        kind, member, noun = _CREATES[str(environ["HTTP_X_AMZ_TARGET"]).removeprefix("SageMaker.")]
        arn = arn_of(region, kind, str(params.get(member, "")))
        if self.resources.exists(arn):
            raise validation(f'Cannot create already existing {noun} "{arn}".')
        return self._created(self._forward(environ, body), params)

    def _created(self, response: Response, params: Mapping[str, Any]) -> Response:
        status, _, data = response
        if status.startswith("200"):
            arns = [value for key, value in json.loads(data).items() if key.endswith("Arn") and isinstance(value, str)]
            if arns:
                self.resources.created(arns[0], params.get("Tags"))
        return response

    def _create_model(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        arn = arn_of(region, "model", str(params.get("ModelName", "")))
        if self.resources.exists(arn):  # moto would overwrite it; SageMaker refuses
            raise validation(f'Cannot create already existing model "{arn}".')
        check_packages_approved(self._loopback.client("sagemaker", region), params)
        return self._created(self._forward(environ, body), params)

    def _create_model_package(self, environ: dict[str, Any], region: str, params: dict[str, Any],
                              body: bytes) -> Response:  # fmt: skip
        with self.registry.numbering(region, params.get("ModelPackageGroupName")):
            return self._created(self._forward(environ, body), params)

    def _create_endpoint(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        arn = arn_of(region, "endpoint", str(params.get("EndpointName", "")))
        if self.resources.exists(arn) or self.endpoints.status(region, params.get("EndpointName", "")) is not None:
            raise validation(f'Cannot create already existing endpoint "{arn}".')
        response = self._created(self._forward(environ, body), params)
        if response[0].startswith("200"):
            self.endpoints.created(region, params)
        return response

    def _describe_endpoint(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        status, headers, data = self._forward(environ, body)
        if not status.startswith("200"):
            return status, headers, data
        return json_response(self.endpoints.described(region, params.get("EndpointName", ""), json.loads(data)))

    def _update_endpoint(self, environ: dict[str, Any], region: str, params: dict[str, Any], _: bytes) -> Response:
        name = str(params.get("EndpointName", ""))
        self.endpoints.update(region, name, str(params.get("EndpointConfigName", "")))
        return json_response({"EndpointArn": arn_of(region, "endpoint", name)})

    def _delete_endpoint(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        self.endpoints.delete(region, params.get("EndpointName", ""))
        return self._delete(environ, region, params, body)

    def _delete(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        """A Delete* moto answers; the resource's tags go with it."""
        kind, member = _DELETES[str(environ["HTTP_X_AMZ_TARGET"]).removeprefix("SageMaker.")]
        response = self._forward(environ, body)
        if response[0].startswith("200"):
            self.resources.deleted(arn_of(region, kind, str(params.get(member, ""))))
        return response

    def _delete_model_package(self, environ: dict[str, Any], region: str, params: dict[str, Any],
                              _: bytes) -> Response:  # fmt: skip
        self.resources.deleted(self.registry.delete_package(region, str(params.get("ModelPackageName", ""))))
        return json_response({})

    def _delete_model_package_group(self, environ: dict[str, Any], region: str, params: dict[str, Any],
                                    _: bytes) -> Response:  # fmt: skip
        self.resources.deleted(self.registry.delete_group(region, str(params.get("ModelPackageGroupName", ""))))
        return json_response({})

    def _tags(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        """Tags of leafline's resources are kept here; any other kind's stay moto's."""
        action = str(environ["HTTP_X_AMZ_TARGET"]).removeprefix("SageMaker.")
        arn = str(params.get("ResourceArn", ""))
        if kind_of(arn) not in KINDS:
            return self._forward(environ, body)
        if action == "AddTags":
            return json_response({"Tags": self.resources.add_tags(arn, params.get("Tags") or [])})
        if action == "DeleteTags":
            self.resources.delete_tags(arn, params.get("TagKeys") or [])
            return json_response({})
        return json_response(self.resources.list_tags(arn, params))

    def _list_endpoints(self, environ: dict[str, Any], region: str, params: dict[str, Any], body: bytes) -> Response:
        """moto's list, with the status leafline's endpoints really have (filtered on it, then paged here)."""
        unpaged = {key: value for key, value in params.items() if key not in _PAGED_HERE}
        status, headers, data = self._forward(environ, json.dumps(unpaged).encode())
        if not status.startswith("200"):
            return status, headers, data
        endpoints = []
        for summary in json.loads(data).get("Endpoints", []):
            known = self.endpoints.status(region, summary["EndpointName"])
            if known is not None:
                summary["EndpointStatus"] = known[0]
            if params.get("StatusEquals") in (None, summary["EndpointStatus"]):
                endpoints.append(summary)
        return json_response(_page(endpoints, "Endpoints", params))

    def _list_models(self, environ: dict[str, Any], region: str, params: dict[str, Any], _: bytes) -> Response:
        """moto answers every model, whole, on one page: filtered, sorted and paged here, as ModelSummary."""
        status, headers, data = self._forward(environ, b"{}")
        if not status.startswith("200"):
            return status, headers, data
        models = json.loads(data).get("Models", [])
        contains = str(params.get("NameContains") or "").lower()
        after, before = params.get("CreationTimeAfter"), params.get("CreationTimeBefore")
        models = [m for m in models if contains in m["ModelName"].lower()
                  and (after is None or m["CreationTime"] > float(after))
                  and (before is None or m["CreationTime"] < float(before))]  # fmt: skip
        key = _MODEL_SORT.get(str(params.get("SortBy") or "CreationTime"), "CreationTime")
        models.sort(key=lambda m: m[key], reverse=params.get("SortOrder", "Descending") == "Descending")
        summaries = [{key: m[key] for key in ("ModelName", "ModelArn", "CreationTime")} for m in models]
        return json_response(_page(summaries, "Models", params))

    def _forward(self, environ: dict[str, Any], body: bytes) -> Response:
        """Hand the (already read) request to moto and keep its answer."""
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.update(status=status, headers=headers)

        body = self.resources.to_moto(body)
        forwarded = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
        action = str(environ.get("HTTP_X_AMZ_TARGET", "")).removeprefix("SageMaker.") or None
        try:
            data = joined(self._moto(forwarded, start_response))
        except Exception as exc:  # a traceback in moto: werkzeug would answer an HTML page
            return _moto_failed(environ, action, exc)
        if not is_aws_shaped(captured["status"], captured["headers"]):
            return _moto_failed(environ, action, None)
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
    return s3_error("InternalError", message, "", "500 Internal Server Error")


def _answer(start_response: Callable[..., Any], response: Response) -> list[bytes]:
    status, headers, data = response
    start_response(status, headers)
    return [data]


def _signed_for(environ: Mapping[str, Any]) -> str | None:
    """The service a request is signed for (S3 and the runtime are both plain paths on one port)."""
    signed = _SIGNED_FOR.search(str(environ.get("HTTP_AUTHORIZATION", "")) + " " + unquote(
        str(environ.get("QUERY_STRING", ""))))  # fmt: skip
    return signed.group(1) if signed else None


def _moto_failed(environ: Mapping[str, Any], action: str | None, exc: Exception | None) -> Response:
    """What a client meets when moto cannot answer a request: the call named as not emulated, in its
    service's protocol (never the HTML page of an uncaught exception)."""
    failure = f"moto: {type(exc).__name__}: {exc}" if exc is not None else "moto answered an HTML error page"
    if action is not None or _signed_for(environ) == "sagemaker":
        return error_response(not_emulated(action or "this SageMaker Runtime call", failure))
    method, path = environ.get("REQUEST_METHOD", ""), str(environ.get("PATH_INFO", ""))
    return s3_error("NotImplemented", f"local AWS does not emulate this S3 request ({method} {path}; {failure})", path)


def _shaped(action: str, response: Response) -> Response:
    """A SageMaker answer as AWS writes it: nothing it leaves out, ARNs with their names lower-cased."""
    status, _, data = response
    if not status.startswith("200") or not data:
        return response
    try:
        answer = json.loads(lowered(data.decode()))
    except ValueError:
        return response
    return json_response(tidy(action, answer)) if isinstance(answer, dict) else response


def _page(items: list[dict[str, Any]], member: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """One page of a List* answer: MaxResults items (100 at most, as the model allows) from NextToken on."""
    start = _token(params.get("NextToken"))
    end = start + int(params.get("MaxResults") or 100)
    answer: dict[str, Any] = {member: items[start:end]}
    if end < len(items):
        answer["NextToken"] = str(end)
    return answer


def _token(token: Any) -> int:
    try:
        return max(int(token or 0), 0)
    except ValueError:
        raise validation(f"The pagination token {token} is not valid") from None


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
