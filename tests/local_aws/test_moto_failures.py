"""When moto breaks (a traceback, an HTML error page), the client still gets an error in its service's
protocol naming what local AWS could not do: the app is driven with a stand-in for moto's WSGI app that
fails as moto does, and the answer is parsed by botocore's own parsers."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from botocore.parsers import create_parser
from botocore.session import get_session

from leafline.local_aws.app import LocalAwsApp
from leafline.local_aws.coverage import s3_unsupported

_S3_AUTH = "AWS4-HMAC-SHA256 Credential=local/20260101/sa-east-1/s3/aws4_request"
_SAGEMAKER_AUTH = "AWS4-HMAC-SHA256 Credential=local/20260101/sa-east-1/sagemaker/aws4_request"


def _raising(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    raise ValueError("too many values to unpack (expected 2)")


def _html_500(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("500 INTERNAL SERVER ERROR", [("Content-Type", "text/html; charset=utf-8")])
    return [b"<!doctype html><title>500 Internal Server Error</title>"]


def _call(moto: Any, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict[str, str],
                                                                                                  bytes]:  # fmt: skip
    app = LocalAwsApp(moto, None, None, None)  # type: ignore[arg-type]  # nothing of leafline's is reached
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body), **headers}  # fmt: skip
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer.update(status=int(status.split(maxsplit=1)[0]), headers=dict(response_headers))

    data = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], data


def _parsed(service: str, operation: str, status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    model = get_session().get_service_model(service)
    parser = create_parser(model.metadata["protocol"])
    response = {"status_code": status, "headers": headers, "body": body}
    shape = model.operation_model(operation).output_shape
    assert shape is not None
    error: dict[str, Any] = parser.parse(response, shape)["Error"]
    return error


@pytest.mark.parametrize("moto", [_raising, _html_500])
def test_an_s3_request_moto_fails_on_is_an_s3_error(moto: Any) -> None:
    status, headers, body = _call(moto, "GET", "/bucket/key", {"HTTP_AUTHORIZATION": _S3_AUTH})
    assert status == 501
    error = _parsed("s3", "GetObject", status, headers, body)
    assert error["Code"] == "NotImplemented"
    assert error["Message"].startswith("local AWS does not emulate this S3 request (GET /bucket/key; moto")


@pytest.mark.parametrize("moto", [_raising, _html_500])
def test_a_sagemaker_call_moto_fails_on_is_a_json_error_naming_it(moto: Any) -> None:
    body = json.dumps({"ModelPackageGroupName": "group"}).encode()
    headers = {"HTTP_AUTHORIZATION": _SAGEMAKER_AUTH, "HTTP_X_AMZ_TARGET": "SageMaker.DescribeModelPackageGroup",
               "CONTENT_TYPE": "application/x-amz-json-1.1"}  # fmt: skip
    status, response_headers, data = _call(moto, "POST", "/", headers, body)
    assert status == 400
    error = _parsed("sagemaker", "DescribeModelPackageGroup", status, response_headers, data)
    assert error["Code"] == "UnknownOperationException"
    assert error["Message"].startswith("local AWS does not emulate DescribeModelPackageGroup for this request (moto")


def test_s3_operations_are_named_from_botocore_s_model() -> None:
    assert s3_unsupported("PUT", "renameObject") == "RenameObject"
    assert s3_unsupported("GET", "analytics&id=x") == "GetBucketAnalyticsConfiguration"
    assert s3_unsupported("GET", "analytics") == "ListBucketAnalyticsConfigurations"
    assert s3_unsupported("GET", "tagging") is None  # moto reads it
    assert s3_unsupported("GET", "list-type=2&prefix=a%2F") is None  # a plain listing's parameters
