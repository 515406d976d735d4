"""The SageMaker container contract, against the real `serve` process over real HTTP."""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import lightgbm
import numpy as np
import pytest

from leafline.processes.server import ServerProcess
from leafline.serving import native_columns, native_csv, native_format
from tests.conftest import CONTRACT_URL, CSV_READERS, csv_reader_server
from tests.model_kinds import scoring_rows, to_csv

CSV = {"Content-Type": "text/csv"}


@pytest.fixture(scope="module", params=CSV_READERS)
def csv_reader(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def server(csv_reader: str, binary_model_dir: Path) -> Iterator[ServerProcess]:
    """Every contract test, once per CSV reader: the native one and the pyarrow path it falls back to."""
    yield from csv_reader_server(csv_reader, binary_model_dir)


def _expected(model_dir: Path, x: np.ndarray) -> np.ndarray:
    return np.asarray(lightgbm.Booster(model_file=str(model_dir / "model.txt")).predict(x))


def _floats(body: bytes) -> np.ndarray:
    return np.array([float(line) for line in body.decode().splitlines()])


def test_ping_answers_200_with_an_empty_body_once_loaded(server: ServerProcess) -> None:
    status, _, body = server.request("GET", "/ping")
    assert (status, body) == (200, b"")


def test_execution_parameters_advertise_multi_record_within_sagemaker_limits(server: ServerProcess) -> None:
    status, headers, body = server.request("GET", "/execution-parameters")
    params = json.loads(body)
    assert status == 200 and headers["content-type"] == "application/json"
    assert params["BatchStrategy"] == "MULTI_RECORD"
    assert params["MaxConcurrentTransforms"] >= 1
    assert 1 <= params["MaxPayloadInMB"] <= 100
    assert params["MaxConcurrentTransforms"] * params["MaxPayloadInMB"] <= 100


def test_csv_batch_returns_one_line_per_record_in_order(server: ServerProcess, binary_model_dir: Path) -> None:
    x = scoring_rows(6, rows=500)
    status, headers, body = server.request("POST", "/invocations", to_csv(x), CSV)
    assert status == 200 and headers["content-type"] == "text/csv"
    assert body.endswith(b"\n") and body.count(b"\n") == 500
    np.testing.assert_allclose(_floats(body), _expected(binary_model_dir, x), rtol=0, atol=1e-12)


def test_csv_with_charset_blank_lines_crlf_nan_and_empty_fields(server: ServerProcess, binary_model_dir: Path) -> None:
    body = b"1.5,,NaN,0,-2,3\r\n\r\n,,,,,\r\n0.1,0.2,0.3,0.4,0.5,0.6"
    status, _, out = server.request("POST", "/invocations", body, {"Content-Type": "text/csv; charset=utf-8"})
    x = np.array([[1.5, np.nan, np.nan, 0, -2, 3], [np.nan] * 6, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    assert status == 200
    np.testing.assert_allclose(_floats(out), _expected(binary_model_dir, x), rtol=0, atol=1e-12)


def test_the_start_up_log_names_the_csv_reader_in_use(server: ServerProcess, csv_reader: str) -> None:
    """The image must carry the native reader, with its SSE path when it runs on x86-64 (`make test` builds
    the host's architecture); a local server says which one it runs."""
    loaded = next(e for e in server.log_events() if e["event"] == "model_loaded")
    if csv_reader != "native":
        expected = "pyarrow (LEAFLINE_CSV_READER=pyarrow)"
    elif CONTRACT_URL:
        expected = f"native ({'sse' if platform.machine() == 'x86_64' else 'fast_float'} short decimals, fast_float)"
    else:
        expected = f"native ({native_csv.short_decimals()} short decimals, fast_float)"
    assert loaded["csv_reader"].startswith(expected), (CONTRACT_URL, loaded["csv_reader"])


def test_the_start_up_log_names_the_response_writer(server: ServerProcess) -> None:
    """The image must carry the native writer with Dragonbox's digits (its build stage has fmt's header); a
    local server has what this machine built."""
    loaded = next(e for e in server.log_events() if e["event"] == "model_loaded")
    if CONTRACT_URL:
        expected = "native (dragonbox digits)"
    elif native_format.unavailable_reason() is None:
        expected = f"native ({native_format.digits()} digits)"
    else:
        expected = "pyarrow"
    assert loaded["response_writer"].startswith(expected), (CONTRACT_URL, loaded["response_writer"])


def test_the_start_up_log_names_the_column_gather(server: ServerProcess) -> None:
    """The image must carry the native column gather (it needs only the build stage's compiler); a local
    server has what this machine built."""
    loaded = next(e for e in server.log_events() if e["event"] == "model_loaded")
    expected = "native" if CONTRACT_URL or native_columns.unavailable_reason() is None else "numpy: "
    assert loaded["column_gather"].startswith(expected), (CONTRACT_URL, loaded["column_gather"])


def test_server_timing_header_names_each_stage(server: ServerProcess) -> None:
    _, headers, _ = server.request("POST", "/invocations", b"1,2,3,4,5,6\n", CSV)
    stages = [part.split(";")[0].strip() for part in headers["server-timing"].split(",")]
    assert stages == ["parse", "predict", "format"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        pytest.param("application/json", b"[[1,2,3,4,5,6],[null,0,1,2,3,4]]", id="json_rows"),
        pytest.param("application/json", b'{"instances": [[1,2,3,4,5,6],[null,0,1,2,3,4]]}', id="json_instances"),
        pytest.param("application/jsonlines", b'[1,2,3,4,5,6]\n{"features":[null,0,1,2,3,4]}\n', id="jsonlines"),
        pytest.param(
            "application/jsonlines",
            b'{"Column_0":1,"Column_1":2,"Column_2":3,"Column_3":4,"Column_4":5,"Column_5":6}\n'
            b'{"Column_1":0,"Column_2":1,"Column_3":2,"Column_4":3,"Column_5":4}\n',
            id="jsonlines_by_feature_name",
        ),
    ],
)
def test_json_inputs_score_like_csv(
    server: ServerProcess, binary_model_dir: Path, content_type: str, body: bytes
) -> None:
    x = np.array([[1, 2, 3, 4, 5, 6], [np.nan, 0, 1, 2, 3, 4]], dtype=float)
    status, _, out = server.request("POST", "/invocations", body, {"Content-Type": content_type})
    assert status == 200, out
    np.testing.assert_allclose(_floats(out), _expected(binary_model_dir, x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("content_type", ["application/x-parquet", "application/vnd.apache.arrow.stream"])
def test_columnar_inputs_score_like_csv(server: ServerProcess, binary_model_dir: Path, content_type: str) -> None:
    """Parquet and Arrow IPC bodies need pyarrow's readers in the image (the image's prune must keep them)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = scoring_rows(6, rows=50)
    table = pa.table([pa.array(x[:, i], type=pa.float64()) for i in range(6)], names=[f"Column_{i}" for i in range(6)])
    sink = pa.BufferOutputStream()
    if content_type == "application/x-parquet":
        pq.write_table(table, sink)
    else:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    status, _, out = server.request("POST", "/invocations", bytes(sink.getvalue()), {"Content-Type": content_type})
    assert status == 200, out
    np.testing.assert_allclose(_floats(out), _expected(binary_model_dir, x), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("accept", "content_type", "parse"),
    [
        ("application/json", "application/json", lambda b: json.loads(b)),
        ("application/jsonlines", "application/jsonlines", lambda b: [json.loads(x) for x in b.splitlines()]),
        ("text/csv;q=0.5, application/json", "application/json", lambda b: json.loads(b)),
        ("*/*", "text/csv", lambda b: [float(x) for x in b.splitlines()]),
    ],
)
def test_accept_chooses_the_output_format(server: ServerProcess, accept: str, content_type: str, parse) -> None:
    status, headers, out = server.request(
        "POST", "/invocations", b"1,2,3,4,5,6\n0,0,0,0,0,0\n", {**CSV, "Accept": accept}
    )
    assert status == 200 and headers["content-type"] == content_type
    assert len(parse(out)) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"1,2,3,4,5,6\n1,2,abc,4,5,6\n", "line 2, column 3: 'abc' is not a number", id="non_numeric"),
        pytest.param(b"1,2,3,4,5,6\n\n1,2,3\n", "line 3: expected 6 fields (the model's features), got 3", id="short"),
        pytest.param(b"1,2,3,4,5,6,7\n", "line 1: expected 6 fields (the model's features), got 7", id="long"),
        pytest.param(b"", "empty body", id="empty"),
        pytest.param(b"\n\n", "empty body", id="blank_lines_only"),
    ],
)
def test_bad_csv_is_a_400_naming_line_and_column(server: ServerProcess, body: bytes, message: str) -> None:
    status, headers, out = server.request("POST", "/invocations", body, CSV)
    assert status == 400 and headers["content-type"] == "text/plain"
    assert message in out.decode()
    assert b"Traceback" not in out


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b"[[1,2,3", "not valid JSON"),
        (
            "application/json",
            b'[[1,2,3,4,5,"x"]]',
            "record 1, feature 6 (Column_5): the JSON string 'x' is not a number",
        ),
        ("application/jsonlines", b"[1,2,3,4,5,6]\n[1,2]\n", "line 2: expected 6 features"),
        ("application/jsonlines", b'{"Column_0":1,"colour":2}\n', "line 1: unknown feature 'colour'"),
    ],
)
def test_bad_json_is_a_400_saying_where(server: ServerProcess, content_type: str, body: bytes, message: str) -> None:
    status, _, out = server.request("POST", "/invocations", body, {"Content-Type": content_type})
    assert status == 400
    assert message in out.decode()


def test_unsupported_content_type_is_415_and_accept_406(server: ServerProcess) -> None:
    status, _, out = server.request("POST", "/invocations", b"<x/>", {"Content-Type": "application/xml"})
    assert status == 415 and b"application/xml" in out
    status, _, out = server.request("POST", "/invocations", b"1,2,3,4,5,6\n", {**CSV, "Accept": "image/png"})
    assert status == 406 and b"image/png" in out


def test_unknown_path_is_404(server: ServerProcess) -> None:
    assert server.request("GET", "/nope")[0] == 404
    assert server.request("POST", "/predict", b"1", CSV)[0] == 404


def test_profiling_endpoints_are_off_by_default(server: ServerProcess) -> None:
    assert server.request("GET", "/debug/stats")[0] == 404
    assert server.request("GET", "/debug/profile?seconds=0.1")[0] == 404


def test_one_bad_request_does_not_disturb_concurrent_good_ones(server: ServerProcess, binary_model_dir: Path) -> None:
    batches = [scoring_rows(6, rows=200 + i, seed=i) for i in range(8)]

    def send(i: int) -> tuple[int, bytes]:
        if i % 3 == 0:
            return server.request("POST", "/invocations", b"1,2,x,4,5,6\n", CSV)[::2]
        return server.request("POST", "/invocations", to_csv(batches[i]), CSV)[::2]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(send, range(8)))
    for i, (status, body) in enumerate(results):
        if i % 3 == 0:
            assert status == 400
        else:
            assert status == 200
            np.testing.assert_allclose(_floats(body), _expected(binary_model_dir, batches[i]), rtol=0, atol=1e-12)
    assert server.request("GET", "/ping")[0] == 200


def test_each_request_is_logged_as_one_json_line_with_stage_times(server: ServerProcess) -> None:
    server.request("POST", "/invocations", b"1,2,3,4,5,6\n2,3,4,5,6,7\n", CSV)
    server.request("POST", "/invocations", b"oops\n", CSV)
    events = [e for e in server.log_events() if e["event"] == "invocation"]
    ok = next(e for e in reversed(events) if e["status"] == 200)
    bad = events[-1]
    assert ok["rows"] == 2 and ok["bytes_in"] == 24 and set(ok["ms"]) == {"parse", "predict", "format", "total"}
    assert bad["status"] == 400 and "line 1" in bad["error"]
