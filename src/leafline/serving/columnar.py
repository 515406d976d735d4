"""Parquet and Arrow IPC stream bodies to a float64 feature matrix, without parsing text.

- Columns: by the model's feature names when every feature has a column of that name (other columns,
  such as ids, are ignored); by position when no column is named after a feature, and then the body must
  have exactly one column per feature (pandas' unnamed index columns, `__index_level_N__`, do not count).
  A body that names some features but not all is refused, naming the first missing feature: a renamed
  column must not shift the features silently.
- Types: integer, floating-point, boolean (true 1.0, false 0.0) and decimal columns, dictionary-encoded
  or not, and all-null columns. Integers beyond 2**53 and decimals are read as the nearest double
  (decimals correctly rounded, as Python's float(Decimal) does; pyarrow's own cast is not). Strings,
  dates, timestamps, binary and nested columns are refused, never coerced, as JSON strings are.
- Missing values: nulls and NaN are both LightGBM's missing value.
- Memory: the whole body is in memory already (within MaxPayloadInMB); a columnar file can hold far more
  values than bytes (a column of one repeated value takes a few bytes), so the decoded matrix is bounded
  too, checked from the row count before any column is read (Parquet) or as batches arrive (Arrow).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from leafline.serving import native_columns
from leafline.serving.errors import InvalidInputError, PayloadTooLargeError
from leafline.serving.matrices import empty_matrix
from leafline.serving.media import PARQUET
from leafline.serving.numbers import clip

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float64]

# The decoded float64 matrix may be this many times the payload limit: Parquet's encodings compress
# typical numeric exports 2-10x, and one row more than the bound is a 413, never an out-of-memory kill.
DECODED_PER_PAYLOAD = 16
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
# Decimals this narrow are an exact int64 over an exact power of ten: one correctly rounded division.
_EXACT_DECIMAL_DIGITS = 15
_EXACT_POWER_OF_TEN = 22


def warm_up() -> None:
    """Import the readers before /ping turns 200, so the first columnar request does not pay for them."""
    import pyarrow.ipc
    import pyarrow.parquet  # noqa: F401


def decode_columnar(
    body: bytes | bytearray,
    fmt: str,
    feature_names: tuple[str, ...],
    threads: int = 1,
    max_matrix_bytes: int | None = None,
) -> Matrix:
    """The (rows, features) matrix of a Parquet or Arrow IPC stream body; InvalidInputError names the
    column (or says the body is not that format), PayloadTooLargeError the decoded size and the limit."""
    if fmt == PARQUET:
        return _parquet(body, feature_names, threads, max_matrix_bytes)
    return _arrow_stream(body, feature_names, max_matrix_bytes)


def count_rows(body: bytes | bytearray, fmt: str) -> int:
    """The records (rows) of a columnar body, from its metadata where it has one; InvalidInputError when
    the body is not that format."""
    if fmt == PARQUET:
        return int(_open_parquet(body).metadata.num_rows)
    return sum(batch.num_rows for batch in _open_arrow(body))


def _parquet(body: bytes | bytearray, names: tuple[str, ...], threads: int, limit: int | None) -> Matrix:
    import pyarrow as pa

    parquet = _open_parquet(body)
    schema = parquet.schema_arrow
    columns = select_columns(schema.names, names)
    _check_types(schema, columns, names)
    rows = int(parquet.metadata.num_rows)
    _check_size(rows, len(names), limit)
    try:
        table = parquet.read(columns=[schema.names[i] for i in columns], use_threads=threads > 1)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(f"the Parquet body cannot be read: {_detail(exc)}") from None
    return _matrix([table.column(i) for i in range(len(columns))], table.num_rows)


def _arrow_stream(body: bytes | bytearray, names: tuple[str, ...], limit: int | None) -> Matrix:
    import pyarrow as pa

    reader = _open_arrow(body)
    schema = reader.schema
    columns = select_columns(schema.names, names)
    _check_types(schema, columns, names)
    batches = []
    rows = 0
    try:
        for batch in reader:
            rows += batch.num_rows
            _check_size(rows, len(names), limit)
            batches.append([batch.column(i) for i in columns])
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(f"the Arrow IPC stream cannot be read: {_detail(exc)}") from None
    chunked = [pa.chunked_array([b[k] for b in batches], type=schema.field(i).type) for k, i in enumerate(columns)]
    return _matrix(chunked, rows)


def _open_parquet(body: bytes | bytearray) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(pa.BufferReader(body))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(f"the body is not a Parquet file ({_detail(exc)})") from None


def _open_arrow(body: bytes | bytearray) -> Any:
    """A reader of record batches; an Arrow IPC file (magic ARROW1), as pyarrow.feather writes it, is
    read as well as a stream."""
    import pyarrow as pa

    try:
        if body.startswith(b"ARROW1"):
            file = pa.ipc.open_file(pa.py_buffer(body))
            return _FileBatches(file)
        return pa.ipc.open_stream(pa.py_buffer(body))
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(f"the body is not an Arrow IPC stream ({_detail(exc)})") from None


class _FileBatches:
    """An Arrow IPC file's batches with a stream reader's interface (schema, iteration)."""

    def __init__(self, file: Any) -> None:
        self.schema = file.schema
        self._file = file

    def __iter__(self) -> Any:
        return (self._file.get_batch(i) for i in range(self._file.num_record_batches))


def select_columns(columns: list[str], features: tuple[str, ...]) -> list[int]:
    """The body's column index of each feature, by the rule in this module's docstring."""
    where: dict[str, list[int]] = {}
    for index, name in enumerate(columns):
        where.setdefault(name, []).append(index)
    named = [f for f in features if f in where]
    if len(named) == len(features):
        repeated = next((f for f in features if len(where[f]) > 1), None)
        if repeated is not None:
            raise InvalidInputError(
                f"column {clip(repeated)!r} appears {len(where[repeated])} times; each feature column must appear once"
            )
        return [where[f][0] for f in features]
    if named:
        position, missing = next((p, f) for p, f in enumerate(features, start=1) if f not in where)
        raise InvalidInputError(
            f"no column named {clip(missing)!r} (feature {position}): the body names {len(named)} of the model's "
            f"{len(features)} features, so every feature column must be there by name"
        )
    positional = [i for i, name in enumerate(columns) if not _PANDAS_INDEX.fullmatch(name)]
    if len(positional) != len(features):
        raise InvalidInputError(
            f"the body has {len(positional)} columns and none is named after a feature; read by position it must "
            f"have {len(features)}, one per feature (the model's features: {clip(', '.join(features), 80)})"
        )
    return positional


def _check_types(schema: Any, columns: list[int], features: tuple[str, ...]) -> None:
    for position, index in enumerate(columns):
        kind = schema.field(index).type
        if not _numeric(kind):
            raise InvalidInputError(
                f"column {clip(schema.names[index])!r} (feature {position + 1}, {clip(features[position])}) is "
                f"{kind}, not numeric; a feature column is integer, floating-point, boolean or decimal "
                "(nulls are missing values)"
            )


def _numeric(kind: Any) -> bool:
    import pyarrow.types as pat

    if pat.is_dictionary(kind):
        return _numeric(kind.value_type)
    return bool(
        pat.is_integer(kind) or pat.is_floating(kind) or pat.is_boolean(kind) or pat.is_decimal(kind)
        or pat.is_null(kind)
    )  # fmt: skip


def _check_size(rows: int, features: int, limit: int | None) -> None:
    size = rows * features * 8
    if limit is not None and size > limit:
        raise PayloadTooLargeError(
            f"decoded, the body holds {rows} rows x {features} features = {size} bytes of float64 values, over "
            f"{DECODED_PER_PAYLOAD} x MaxPayloadInMB ({limit} bytes); send fewer rows per object"
        )


def _matrix(columns: list[Any], rows: int) -> Matrix:
    if rows == 0:
        raise InvalidInputError("empty body: no records to score")
    matrix = empty_matrix(rows, len(columns))
    row = 0
    for chunks in _aligned_chunks(columns):
        count = len(chunks[0])
        native_columns.fill_rows(matrix, row, count, [_source(chunk) for chunk in chunks])
        row += count
    return matrix


def _aligned_chunks(columns: list[Any]) -> list[list[Any]]:
    """The columns' arrays, cut at the same rows: a Parquet row group's or an Arrow batch's columns already
    are; any others are combined into one array each first."""
    chunked = [[chunk for chunk in column.chunks if len(chunk)] for column in columns]
    lengths = [len(chunk) for chunk in chunked[0]]
    if any([len(chunk) for chunk in chunks] != lengths for chunks in chunked[1:]):
        chunked = [[column.combine_chunks()] for column in columns]
    return [list(segment) for segment in zip(*chunked, strict=True)]


def _source(array: Any) -> native_columns.Source:
    """One arrow array as float64 values and its validity bitmap, for native_columns.fill_rows. Read from
    the buffers: Array.to_numpy imports pandas when it is installed (+0.7 s, +60 MB)."""
    import pyarrow as pa
    import pyarrow.types as pat

    kind = array.type
    if pat.is_dictionary(kind):
        return _source(array.dictionary_decode())
    if pat.is_null(kind):
        return None
    if pat.is_decimal(kind):
        values, value_offset = _decimal_values(array), 0
    else:
        if kind != pa.float64():
            array = array.cast(pa.float64(), safe=False)  # integers beyond 2**53: the nearest double
        values, value_offset = array.buffers()[1], array.offset
    validity = array.buffers()[0] if array.null_count else None
    return (values, value_offset, validity, array.offset)


def _decimal_values(array: Any) -> Any:
    """Decimals as the nearest double. Up to 15 digits the unscaled value is an exact int64 (the low word
    of the two's complement) and 10**scale an exact double, so one IEEE division rounds correctly; wider
    decimals go through Python's Decimal, which rounds correctly at any width."""
    import numpy as np

    kind = array.type
    width = kind.bit_width // 64
    if kind.precision <= _EXACT_DECIMAL_DIGITS and abs(kind.scale) <= _EXACT_POWER_OF_TEN and width >= 1:
        data, count = array.buffers()[1], len(array) * width
        words = np.frombuffer(data, dtype=np.int64, count=count, offset=array.offset * width * 8)
        unscaled = words[::width].astype(np.float64)
        if kind.scale >= 0:
            return unscaled / (10.0**kind.scale)
        return unscaled * (10.0**-kind.scale)
    return np.array([np.nan if value is None else float(value) for value in array.to_pylist()], dtype=np.float64)


def _detail(exc: BaseException) -> str:
    return clip(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, 200)
