"""Parquet and Arrow IPC stream bodies, against the real `serve` process over HTTP: the same scores as
LightGBM on the same values, one output row per input row, and a 400 that names the column."""

from __future__ import annotations

import decimal
import json
from collections.abc import Iterator
from pathlib import Path

import lightgbm
import numpy as np
import pyarrow as pa
import pytest

from leafline.processes.server import ServerProcess
from tests.columnar_bodies import arrow_body, parquet_body
from tests.model_kinds import scoring_rows

PARQUET = {"Content-Type": "application/x-parquet"}
ARROW = {"Content-Type": "application/vnd.apache.arrow.stream"}
NAMES = [f"Column_{i}" for i in range(6)]  # the binary test model's feature names (trained from numpy)


def _expected(model_dir: Path, x: np.ndarray) -> np.ndarray:
    return np.asarray(lightgbm.Booster(model_file=str(model_dir / "model.txt")).predict(x))


def _floats(body: bytes) -> np.ndarray:
    return np.array([float(line) for line in body.decode().splitlines()])


def _table(x: np.ndarray, names: list[str] | None = None) -> pa.Table:
    """Columns of float64 with NaN written as null in every other column (both must read as missing)."""
    names = names or NAMES
    arrays = []
    for index in range(x.shape[1]):
        values = x[:, index]
        arrays.append(pa.array(values, mask=np.isnan(values) if index % 2 else None, type=pa.float64()))
    return pa.table(arrays, names=names)


def test_parquet_by_feature_name_scores_as_lightgbm_with_extra_columns_ignored(
    server: ServerProcess, binary_model_dir: Path
) -> None:
    x = scoring_rows(6, rows=700)
    table = _table(x)
    shuffled = table.select([3, 0, 5, 1, 4, 2]).append_column("customer_id", pa.array([f"c{i}" for i in range(700)]))
    body = parquet_body(shuffled, row_group_size=128)  # several row groups, columns out of order
    status, headers, out = server.request("POST", "/invocations", body, PARQUET)
    assert status == 200 and headers["content-type"] == "text/csv", out
    assert out.count(b"\n") == 700
    np.testing.assert_allclose(_floats(out), _expected(binary_model_dir, x), rtol=0, atol=1e-12)


def test_parquet_by_position_when_no_column_is_named_after_a_feature(
    server: ServerProcess, binary_model_dir: Path
) -> None:
    x = scoring_rows(6, rows=300, seed=3)
    body = parquet_body(_table(x, [str(i) for i in range(6)]), compression="zstd")
    status, _, out = server.request("POST", "/invocations", body, PARQUET)
    assert status == 200, out
    np.testing.assert_allclose(_floats(out), _expected(binary_model_dir, x), rtol=0, atol=1e-12)


def test_arrow_stream_of_many_batches_scores_as_lightgbm(server: ServerProcess, binary_model_dir: Path) -> None:
    x = scoring_rows(6, rows=1000, seed=5)
    body = arrow_body(_table(x), max_chunksize=97)
    status, _, out = server.request("POST", "/invocations", body, ARROW)
    assert status == 200, out
    assert out.count(b"\n") == 1000
    np.testing.assert_allclose(_floats(out), _expected(binary_model_dir, x), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("accept", "parse"),
    [
        ("application/json", lambda b: json.loads(b)),
        ("application/jsonlines", lambda b: [json.loads(line) for line in b.splitlines()]),
        ("text/csv", lambda b: [float(line) for line in b.splitlines()]),
    ],
)
def test_columnar_output_follows_accept_as_for_csv(
    server: ServerProcess, binary_model_dir: Path, accept: str, parse: object
) -> None:
    x = scoring_rows(6, rows=40, seed=8)
    status, headers, out = server.request(
        "POST", "/invocations", parquet_body(_table(x)), {**PARQUET, "Accept": accept}
    )
    assert status == 200 and headers["content-type"] == accept
    np.testing.assert_allclose(parse(out), _expected(binary_model_dir, x), rtol=0, atol=1e-12)  # type: ignore[operator]


def test_integer_boolean_decimal_and_dictionary_columns_read_as_their_nearest_doubles(
    server: ServerProcess, binary_model_dir: Path
) -> None:
    rng = np.random.default_rng(2)
    rows = 400
    ints = rng.integers(-5, 5, size=rows)
    small = rng.integers(0, 4, size=rows)
    flags = rng.random(rows) < 0.5
    cents = [decimal.Decimal(int(v)) / 100 for v in rng.integers(-400, 400, size=rows)]
    wide = [decimal.Decimal(int(v)).scaleb(-17) for v in rng.integers(-4 * 10**17, 4 * 10**17, size=rows)]
    singles = rng.normal(size=rows).astype(np.float32)
    table = pa.table(
        {
            "Column_0": pa.array(ints, type=pa.int8()),
            "Column_1": pa.array(small, type=pa.uint16()),
            "Column_2": pa.array([*flags.tolist()[:-1], None]),
            "Column_3": pa.array(cents, type=pa.decimal128(12, 2)),
            "Column_4": pa.array(wide, type=pa.decimal128(38, 17)),
            "Column_5": pa.array(singles).dictionary_encode(),
        }
    )
    x = np.column_stack([
        ints.astype(np.float64),
        small.astype(np.float64),
        np.append(flags[:-1].astype(np.float64), np.nan),
        [float(v) for v in cents],  # Python's float(Decimal): correctly rounded
        [float(v) for v in wide],
        singles.astype(np.float64),
    ])  # fmt: skip
    for body, headers in ((parquet_body(table), PARQUET), (arrow_body(table), ARROW)):
        status, _, out = server.request("POST", "/invocations", body, headers)
        assert status == 200, out
        np.testing.assert_array_equal(_floats(out), _expected(binary_model_dir, x))


def test_integers_beyond_two_to_the_53_are_the_nearest_double(server: ServerProcess, binary_model_dir: Path) -> None:
    big = np.array([2**53 + 1, 2**63 - 1, -(2**62) - 3], dtype=np.int64)
    table = pa.table({name: pa.array(big) for name in NAMES})
    status, _, out = server.request("POST", "/invocations", parquet_body(table), PARQUET)
    assert status == 200, out
    x = np.tile(big.astype(np.float64)[:, None], (1, 6))
    np.testing.assert_array_equal(_floats(out), _expected(binary_model_dir, x))


def _bad_bodies() -> Iterator[object]:
    x = scoring_rows(6, rows=5)
    good = _table(x)
    yield pytest.param(
        parquet_body(good.drop_columns(["Column_4"])), PARQUET,
        "no column named 'Column_4' (feature 5): the body names 5 of the model's 6 features", id="missing_column",
    )  # fmt: skip
    yield pytest.param(
        parquet_body(good.set_column(2, "Column_2", pa.array(["1.5"] * 5))), PARQUET,
        "column 'Column_2' (feature 3, Column_2) is string, not numeric", id="string_column",
    )  # fmt: skip
    yield pytest.param(
        arrow_body(good.set_column(0, "Column_0", pa.array([0] * 5, type=pa.timestamp("s")))), ARROW,
        "column 'Column_0' (feature 1, Column_0) is timestamp[s], not numeric", id="timestamp_column",
    )  # fmt: skip
    yield pytest.param(
        parquet_body(_table(x[:, :5], ["a", "b", "c", "d", "e"])), PARQUET,
        "the body has 5 columns and none is named after a feature; read by position it must have 6", id="positional_5",
    )  # fmt: skip
    yield pytest.param(b"1,2,3,4,5,6\n", PARQUET, "the body is not a Parquet file (", id="csv_sent_as_parquet")
    yield pytest.param(parquet_body(good)[:-40], PARQUET, "the body is not a Parquet file (", id="truncated_parquet")
    yield pytest.param(parquet_body(good), ARROW, "the body is not an Arrow IPC stream (", id="parquet_sent_as_arrow")
    yield pytest.param(parquet_body(good.slice(0, 0)), PARQUET, "empty body: no records to score", id="no_rows")
    yield pytest.param(b"", PARQUET, "the body is not a Parquet file (", id="empty_body")


@pytest.mark.parametrize(("body", "headers", "message"), list(_bad_bodies()))
def test_bad_columnar_body_is_a_400_naming_the_column(
    server: ServerProcess, body: bytes, headers: dict[str, str], message: str
) -> None:
    status, response_headers, out = server.request("POST", "/invocations", body, headers)
    assert status == 400 and response_headers["content-type"] == "text/plain", out
    assert message in out.decode()
    assert b"Traceback" not in out


def test_a_few_bytes_of_parquet_that_decode_past_the_payload_bound_are_a_413(binary_model_dir: Path) -> None:
    """A column of one repeated value compresses to almost nothing: the decoded size is what is bounded."""
    rows = 1_000_000  # 48 MB of float64 once decoded, over 16 x a 1 MB payload limit; ~20 KB as Parquet
    table = pa.table({name: pa.array(np.zeros(rows)) for name in NAMES})
    body = parquet_body(table)
    assert len(body) < 2**20
    with ServerProcess(binary_model_dir, {"SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}) as server:
        status, _, out = server.request("POST", "/invocations", body, PARQUET)
        assert status == 413
        assert "decoded, the body holds 1000000 rows x 6 features = 48000000 bytes of float64 values" in out.decode()
        assert "over 16 x MaxPayloadInMB (16777216 bytes)" in out.decode()
        small = parquet_body(table.slice(0, 1000))
        assert server.request("POST", "/invocations", small, PARQUET)[0] == 200


def test_multiclass_parquet_answers_k_columns_per_row(multiclass_model_dir: Path) -> None:
    x = scoring_rows(6, rows=50, seed=4)
    with ServerProcess(multiclass_model_dir) as server:
        status, _, out = server.request("POST", "/invocations", parquet_body(_table(x)), PARQUET)
    assert status == 200, out
    got = np.array([[float(v) for v in line.split(",")] for line in out.decode().splitlines()])
    np.testing.assert_allclose(got, _expected(multiclass_model_dir, x), rtol=0, atol=1e-12)


def test_parquet_is_input_only_accept_cannot_ask_for_it(server: ServerProcess) -> None:
    body = parquet_body(_table(scoring_rows(6, rows=2)))
    status, _, out = server.request("POST", "/invocations", body, {**PARQUET, "Accept": "application/x-parquet"})
    assert status == 406 and b"application/x-parquet" in out


def test_the_iana_parquet_name_and_an_arrow_ipc_file_are_read_too(
    server: ServerProcess, binary_model_dir: Path
) -> None:
    x = scoring_rows(6, rows=60, seed=9)
    table = _table(x)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:  # the file format (ARROW1), as pyarrow.feather writes
        writer.write_table(table, max_chunksize=25)
    bodies = [
        (parquet_body(table), {"Content-Type": "application/vnd.apache.parquet"}),
        (bytes(sink.getvalue()), ARROW),
    ]
    for body, headers in bodies:
        status, _, out = server.request("POST", "/invocations", body, headers)
        assert status == 200, out
        np.testing.assert_allclose(_floats(out), _expected(binary_model_dir, x), rtol=0, atol=1e-12)


def test_a_feature_column_named_twice_is_a_400(server: ServerProcess) -> None:
    x = scoring_rows(6, rows=3)
    table = _table(x).append_column("Column_1", pa.array([1.0, 2.0, 3.0]))
    status, _, out = server.request("POST", "/invocations", parquet_body(table), PARQUET)
    assert status == 400
    assert "column 'Column_1' appears 2 times; each feature column must appear once" in out.decode()
