"""Pure pieces: server settings, content negotiation, resources, and splitting input into payloads."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from leafline.serving.errors import ConfigurationError, NotAcceptableError
from leafline.serving.matrices import HUGE_PAGE, empty_matrix
from leafline.serving.media import CSV, JSON, JSONLINES, request_format, response_format
from leafline.serving.resources import Resources, _cpus, execution_parameters
from leafline.serving.settings import ServerSettings
from leafline.transform.splitting import RecordTooLargeError, payloads


def test_settings_defaults_follow_the_sagemaker_contract() -> None:
    settings = ServerSettings.from_env({})
    assert (settings.port, settings.model_dir, settings.region) == (8080, Path("/opt/ml/model"), "sa-east-1")
    assert settings.max_payload_mb is None and settings.max_concurrency is None and not settings.profiling
    assert (settings.read_timeout, settings.idle_timeout, settings.workers) == (60.0, 60.0, None)
    assert settings.min_body_rate == 500.0
    assert ServerSettings.from_env({"LEAFLINE_MIN_BODY_RATE": "0"}).min_body_rate == 0
    assert (settings.max_unpacked_bytes, settings.max_archive_members) == (4 * 2**30, 10_000)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "101"}, "SAGEMAKER_MAX_PAYLOAD_IN_MB=101 exceeds SageMaker's limit of 100"),
        ({"PREDICTION_THRESHOLD": "1.5"}, "PREDICTION_THRESHOLD=1.5 must be between 0 and 1"),
        ({"PREDICTION_THRESHOLD": "high"}, "PREDICTION_THRESHOLD='high' is not a number"),
        ({"MODEL_S3_BUCKET": "b"}, "MODEL_S3_BUCKET and MODEL_S3_KEY must be set together"),
        ({"SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "-1"}, "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS=-1 must be >= 0"),
        ({"LEAFLINE_BACKEND": "gpu"}, "LEAFLINE_BACKEND='gpu' must be 'auto' or 'lightgbm'"),
        ({"LEAFLINE_CSV_READER": "polars"}, "LEAFLINE_CSV_READER='polars' must be 'auto' or 'pyarrow'"),
        ({"LEAFLINE_READ_TIMEOUT": "0"}, "LEAFLINE_READ_TIMEOUT=0 must be a number of seconds above 0"),
        ({"LEAFLINE_IDLE_TIMEOUT": "nan"}, "LEAFLINE_IDLE_TIMEOUT=nan must be a number of seconds above 0"),
        ({"LEAFLINE_WORKERS": "0"}, "LEAFLINE_WORKERS=0 must be >= 1"),
        ({"LEAFLINE_MIN_BODY_RATE": "-1"}, "LEAFLINE_MIN_BODY_RATE=-1 must be a number of bytes per second, 0 or"),
        ({"LEAFLINE_MIN_BODY_RATE": "nan"}, "LEAFLINE_MIN_BODY_RATE=nan must be a number of bytes per second"),
        ({"LEAFLINE_MIN_BODY_RATE": "fast"}, "LEAFLINE_MIN_BODY_RATE='fast' is not a number"),
        ({"LEAFLINE_MAX_UNPACKED_MB": "lots"}, "LEAFLINE_MAX_UNPACKED_MB='lots' is not an integer"),
    ],
)
def test_invalid_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ServerSettings.from_env(env)


def test_zero_concurrency_means_the_container_decides() -> None:
    assert ServerSettings.from_env({"SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "0"}).max_concurrency is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, CSV), ("text/csv; charset=utf-8", CSV), ("application/json", JSON), ("application/x-ndjson", JSONLINES)],
)
def test_request_format_ignores_parameters(header: str | None, expected: str) -> None:
    assert request_format(header) == expected


def test_response_format_honours_q_values_and_wildcards() -> None:
    assert response_format("application/json;q=0.2, application/jsonlines;q=0.9", CSV) == JSONLINES
    assert response_format("*/*", JSON) == JSON
    assert response_format(None, CSV) == CSV
    with pytest.raises(NotAcceptableError):
        response_format("text/html", CSV)


def test_cgroup_cpu_quota_limits_the_cores(tmp_path: Path) -> None:
    (tmp_path / "sys/fs/cgroup").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/cpu.max").write_text("100000 100000\n")
    assert _cpus(tmp_path) == 1


def test_execution_parameters_stay_within_sagemaker_limits() -> None:
    big = Resources(cpus=64, memory_bytes=256 * 2**30)
    params = execution_parameters(big, concurrency=64, payload_mb=None, model_bytes=10**6)
    assert params["MaxConcurrentTransforms"] * params["MaxPayloadInMB"] <= 100  # type: ignore[operator]
    small = Resources(cpus=2, memory_bytes=64 * 2**20)
    assert execution_parameters(small, concurrency=2, payload_mb=None, model_bytes=10**6)["MaxPayloadInMB"] == 3
    assert execution_parameters(small, concurrency=2, payload_mb=12, model_bytes=0)["MaxPayloadInMB"] == 12


def test_payloads_keep_whole_records_within_the_limit() -> None:
    data = b"aaaa\nbb\ncccccc\nd"
    batches = list(payloads(io.BytesIO(data), split_lines=True, single_record=False, max_bytes=8))
    assert [(b.body, b.first_record, b.records) for b in batches] == [(b"aaaa\nbb", 1, 2), (b"cccccc\nd", 3, 2)]


def test_a_record_over_the_limit_is_refused() -> None:
    with pytest.raises(RecordTooLargeError, match=r"record 2 \(line 2\) is over the 8-byte payload limit"):
        list(payloads(io.BytesIO(b"aaaa\nbbbbbbbbbb\nc\n"), split_lines=True, single_record=False, max_bytes=8))


def test_without_the_native_reader_csv_takes_the_pyarrow_path_and_says_why() -> None:
    """A machine without a compiler or fast_float's header installs leafline without the extension: the
    server still reads CSV (the pyarrow path) and its start-up log says why."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['leafline_native._csv'] = None\n"  # what an install without the extension has
        "from leafline.serving import native_csv\n"
        "from leafline.serving.decoding import decode_csv\n"
        "print(native_csv.unavailable_reason())\n"
        "print(decode_csv(b'1,2\\n-0,nan\\n', 2).tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    reason, matrix = done.stdout.splitlines()
    assert "leafline_native._csv is not built" in reason and "libfast-float-dev" in reason
    assert matrix == "[[1.0, 2.0], [-0.0, nan]]"


def test_without_the_native_gather_parquet_columns_are_copied_by_numpy_and_it_says_why() -> None:
    """Without the column gather extension a Parquet body still decodes, nulls as NaN, and the reason is
    there for the start-up log."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['leafline_native._columns'] = None\n"
        "import io, pyarrow as pa, pyarrow.parquet as pq\n"
        "from leafline.serving import columnar, native_columns\n"
        "sink = io.BytesIO(); pq.write_table(pa.table({'a': [1.5, None], 'b': [-0.0, 2.0]}), sink)\n"
        "print(native_columns.unavailable_reason())\n"
        "print(columnar.decode_columnar(sink.getvalue(), 'application/x-parquet', ('a', 'b')).tolist())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    reason, matrix = done.stdout.splitlines()
    assert "leafline_native._columns is not built" in reason
    assert matrix == "[[1.5, -0.0], [nan, 2.0]]"


@pytest.mark.parametrize("rows", [1, 1000, 14_470, 125_000])
def test_a_request_matrix_is_c_ordered_and_large_ones_start_on_a_huge_page(rows: int) -> None:
    """The predictors take the matrix as it is (C order, float64); a large one starts on a 2 MiB boundary
    so that a fresh request's pages are huge pages, not ~500 small faults."""
    import numpy as np

    matrix = empty_matrix(rows, 50)
    assert matrix.shape == (rows, 50) and matrix.dtype == np.float64 and matrix.flags.c_contiguous
    assert matrix.flags.writeable and matrix[:7].flags.c_contiguous
    if matrix.nbytes >= 2 * HUGE_PAGE:
        assert matrix.ctypes.data % HUGE_PAGE == 0
    matrix[:] = 1.5  # the whole view is usable memory
    assert float(matrix.sum()) == 1.5 * rows * 50
