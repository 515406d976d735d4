"""Parquet and Arrow columns into the request's matrix: through the native gather and through the numpy copy it
falls back to, the same bits as each value's own float64, nulls as NaN, for every column kind and layout
the readers can hand over (offsets, chunks, null columns, more columns than one pass copies)."""

from __future__ import annotations

import decimal
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

from leafline.serving import columnar, native_columns
from leafline.serving.media import ARROW_STREAM, PARQUET
from tests.columnar_bodies import arrow_body, parquet_body

NATIVE_MISSING = native_columns.unavailable_reason()
EDGES = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, np.inf, -np.inf, np.nan,
         1e-7, 0.30000000000000004, 2.0**53 + 2, -1.0]  # fmt: skip


@pytest.fixture(params=["native", "numpy"])
def gather(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test below runs through the native gather and through the numpy copy it falls back to."""
    if request.param == "native":
        if NATIVE_MISSING:
            pytest.skip(NATIVE_MISSING)
    else:
        monkeypatch.setattr(native_columns, "_module", lambda: None)
    yield request.param


def _expected(table: pa.Table) -> np.ndarray:
    """Each value's own float64 (Python's float() of it), missing as NaN: independent of both paths."""
    columns = []
    for column in table.columns:
        values = column.to_pylist()
        columns.append([np.nan if v is None else float(v) for v in values])
    return np.array(columns, dtype=np.float64).T.reshape(table.num_rows, table.num_columns)


def _same_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape and actual.flags.c_contiguous
    expected = np.where(np.isnan(expected), np.nan, expected)  # any NaN in is LightGBM's missing value out
    assert np.array_equal(actual.view(np.uint64), expected.view(np.uint64)), np.argwhere(
        actual.view(np.uint64) != expected.view(np.uint64)
    )[:5]


def _decode(body: bytes, fmt: str, table: pa.Table) -> np.ndarray:
    return columnar.decode_columnar(body, fmt, tuple(table.column_names))


def _wide(rows: int, columns: int, seed: int) -> pa.Table:
    """float64 columns with ~5% nulls at random rows (Spark's and pandas' shape), the edge values among them."""
    rng = np.random.default_rng(seed)
    arrays = []
    for index in range(columns):
        values = rng.normal(0, 3, rows)
        values[rng.integers(0, rows, len(EDGES))] = EDGES
        mask = rng.random(rows) < 0.05
        arrays.append(pa.array(values, mask=mask if index % 3 else None, type=pa.float64()))
    return pa.table(arrays, names=[f"f{i}" for i in range(columns)])


@pytest.mark.parametrize(("rows", "columns"), [(1, 1), (63, 1), (64, 16), (65, 17), (1000, 50), (4099, 33)])
def test_wide_float_columns_with_nulls_give_each_values_bits(gather: str, rows: int, columns: int) -> None:
    table = _wide(rows, columns, seed=rows + columns)
    _same_bits(_decode(parquet_body(table), PARQUET, table), _expected(table))
    _same_bits(_decode(arrow_body(table), ARROW_STREAM, table), _expected(table))


def test_arrow_batches_of_odd_sizes_fill_the_rows_in_order(gather: str) -> None:
    """Batches cut rows mid validity byte and mid 64-row word: each batch's arrays start at a bit offset."""
    table = _wide(1000, 20, seed=3)
    _same_bits(_decode(arrow_body(table, max_chunksize=77), ARROW_STREAM, table), _expected(table))


def test_parquet_row_groups_fill_the_rows_in_order(gather: str) -> None:
    table = _wide(1000, 20, seed=4)
    _same_bits(_decode(parquet_body(table, row_group_size=129), PARQUET, table), _expected(table))


def test_sliced_arrays_are_read_from_their_offset() -> None:
    """A sliced array shares its parent's buffers from a value and bit offset: both paths read from there."""
    table = _wide(300, 18, seed=5)
    sliced = table.slice(37, 200)
    chunked = [column.chunks for column in sliced.columns]
    assert all(chunks[0].offset == 37 for chunks in chunked)
    for name in ("native", "numpy"):
        if name == "native" and NATIVE_MISSING:
            continue
        matrix = np.empty((200, 18))
        sources = [columnar._source(chunks[0]) for chunks in chunked]
        fill = native_columns.fill_rows if name == "native" else native_columns.fill_rows_with_numpy
        fill(matrix, 0, 200, sources)
        _same_bits(matrix, _expected(sliced))


def test_every_numeric_kind_and_null_columns_read_as_their_values(gather: str) -> None:
    rows = 130
    rng = np.random.default_rng(6)
    mask = rng.random(rows) < 0.1
    big = rng.integers(-(2**62), 2**62, rows)
    big[:3] = [2**53 + 1, -(2**53) - 1, 2**62 + 3]  # not doubles: the nearest one
    decimals = [decimal.Decimal(f"{v:.4f}") for v in rng.normal(size=rows)]
    table = pa.table(
        {
            "int8": pa.array(rng.integers(-128, 127, rows).astype(np.int8), mask=mask),
            "uint64": pa.array(rng.integers(0, 2**63, rows).astype(np.uint64)),
            "int64_big": pa.array(big, mask=mask),
            "float32": pa.array(rng.normal(size=rows).astype(np.float32), mask=mask),
            "bool": pa.array(rng.random(rows) < 0.5, mask=mask),
            "null": pa.nulls(rows),
            "decimal": pa.array(decimals, type=pa.decimal128(12, 4), mask=mask),
            "dictionary": pa.array(rng.choice([0.5, -0.0, 3.25], rows)).dictionary_encode(),
        }
    )
    _same_bits(_decode(arrow_body(table), ARROW_STREAM, table), _expected(table))
    _same_bits(_decode(parquet_body(table), PARQUET, table), _expected(table))


def test_columns_cut_at_different_rows_are_combined_first(gather: str) -> None:
    """Readers hand over aligned chunks; a table built by hand may not: its columns still line up by row."""
    first = pa.chunked_array([pa.array([1.0, 2.0]), pa.array([3.0, None, 5.0])])
    second = pa.chunked_array([pa.array([10.0, None, 30.0]), pa.array([], pa.float64()), pa.array([40.0, 50.0])])
    matrix = columnar._matrix([first, second], 5)
    _same_bits(matrix, np.array([[1, 10], [2, np.nan], [3, 30], [np.nan, 40], [5, 50]], dtype=np.float64))


@pytest.mark.skipif(NATIVE_MISSING is not None, reason=str(NATIVE_MISSING))
def test_the_native_gather_refuses_buffers_shorter_than_the_rows_it_is_told() -> None:
    """A wrong call is a ValueError naming the column, never a read past a buffer."""
    from leafline_native import _columns

    matrix = np.empty((10, 2))
    values = np.zeros(10)
    with pytest.raises(ValueError, match="column 1: its value buffer has 80 bytes, 88 needed"):
        _columns.fill_rows(matrix, 0, 10, [(values, 0, None, 0), (values, 1, None, 0)])
    with pytest.raises(ValueError, match="column 0: its validity buffer has 1 bytes, 2 needed"):
        _columns.fill_rows(matrix, 0, 10, [(values, 0, b"\xff", 0), None])
    with pytest.raises(ValueError, match="out has 160 bytes"):
        _columns.fill_rows(matrix, 5, 6, [None, None])
