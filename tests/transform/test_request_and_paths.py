"""The request checks CreateTransformJob applies, and the DataProcessing JsonPath subset."""

from __future__ import annotations

import pytest

from leafline.sagemaker.jsonpath import JsonPathError, parse_jsonpath
from leafline.sagemaker.request import TransformRequestError, parse_request
from tests.transform.helpers import request

VALID = request("file:///in/", "file:///out/")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"MaxConcurrentTransforms": 20, "MaxPayloadInMB": 6}, "20 x 6 = 120 MB, over the 100 MB limit"),
        ({"MaxPayloadInMB": 101}, "MaxPayloadInMB = 101: must be 0..100"),
        ({"TransformInput": {"SplitType": "RecordIO"}}, "TransformInput.SplitType RecordIO"),
        ({"TransformJobName": "x" * 64}, "1-63 letters, digits or hyphens"),
        ({"Unknown": 1}, "unknown parameter(s) in the request: Unknown"),
        ({"TransformResources": {"InstanceCount": 0}}, "TransformResources.InstanceCount = 0: must be 1..100"),
        ({"ModelClientConfig": {"InvocationsMaxRetries": 4}}, "ModelClientConfig.InvocationsMaxRetries = 4"),
        ({"BatchStrategy": "Batched"}, "BatchStrategy 'Batched': expected SingleRecord or MultiRecord"),
        ({"Environment": {f"K{i}": "v" for i in range(17)}}, "Environment: 17 entries, over the limit of 16"),
        ({"TransformOutput": {"S3OutputPath": "/tmp/out"}}, "TransformOutput.S3OutputPath '/tmp/out'"),
        ({"DataProcessing": {"InputFilter": "$[1:]"}, "TransformOutput": {"AssembleWith": "None"}},
         "DataProcessing on CSV needs TransformInput.SplitType=Line, TransformOutput.AssembleWith=Line"),
        ({"DataProcessing": {"InputFilter": "$" + ".a" * 40}}, "DataProcessing.InputFilter: 81 characters"),
        ({"DataProcessing": {"OutputFilter": "$[a-b]"}}, "DataProcessing.OutputFilter '$[a-b]'"),
    ],
)  # fmt: skip
def test_invalid_requests_are_refused_naming_the_key_and_limit(change: dict[str, object], message: str) -> None:
    raw = request("file:///in/", "file:///out/", **change)

    with pytest.raises(TransformRequestError) as caught:
        parse_request(raw)

    assert message in str(caught.value)


def test_both_batch_strategy_spellings_mean_the_same() -> None:
    assert parse_request({**VALID, "BatchStrategy": "MULTI_RECORD"}).batch_strategy == "MultiRecord"
    assert parse_request({**VALID, "BatchStrategy": "SingleRecord"}).batch_strategy == "SingleRecord"


def test_unset_values_are_left_for_the_container_and_the_defaults() -> None:
    parsed = parse_request({**VALID, "MaxConcurrentTransforms": 0})

    assert (parsed.max_concurrent_transforms, parsed.max_payload_mb, parsed.batch_strategy) == (None, None, None)
    assert (parsed.invocations_timeout_s, parsed.invocations_max_retries) == (600, 3)


ROW = ["a", "b", "c", "d", "e", "f"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", ROW),
        ("$[1:4]", ["b", "c", "d", "e"]),  # "the second through fifth columns"
        ("$[:5]", ROW),  # "from the first column (index 0) through the sixth column"
        ("$[1:]", ROW[1:]),
        ("$[0,-1]", ["a", "f"]),
        ("$[2]", ["c"]),
        ("$[*]", ROW),
    ],
)
def test_slices_and_indexes_select_columns_as_documented(path: str, expected: list[str]) -> None:
    assert parse_jsonpath(path).apply(ROW) == expected


def test_python_slices_are_available_behind_a_switch() -> None:
    assert parse_jsonpath("$[1:4]").apply(ROW, slice_end_inclusive=False) == ["b", "c", "d"]


def test_names_select_attributes_and_keep_objects_for_several() -> None:
    record = {"id": 7, "features": [1, 2, 3], "SageMakerOutput": 0.5}

    assert parse_jsonpath("$.features").apply(record) == [1, 2, 3]
    assert parse_jsonpath("$.features[0,2]").apply(record) == [1, 3]
    assert parse_jsonpath("$['id','SageMakerOutput']").apply(record) == {"id": 7, "SageMakerOutput": 0.5}


@pytest.mark.parametrize(
    ("path", "record", "message"),
    [
        ("$[7]", ROW, "index 7 is out of range for a record of 6 columns"),
        ("$.missing", {"id": 1}, "the record has no attribute 'missing'"),
        ("$.id", ROW, "cannot take id of a list"),
    ],
)
def test_selecting_what_a_record_lacks_is_an_error_naming_it(path: str, record: object, message: str) -> None:
    with pytest.raises(JsonPathError, match=message):
        parse_jsonpath(path).apply(record)


@pytest.mark.parametrize("path", ["features", "$.a[", "$['a.b']", "$..a"])
def test_paths_outside_the_subset_are_refused(path: str) -> None:
    with pytest.raises(JsonPathError):
        parse_jsonpath(path)
