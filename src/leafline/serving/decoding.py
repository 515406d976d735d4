"""Request bodies to a float64 feature matrix (rows x features), with errors that say where.

Shapes accepted (one record = one row of features; missing values are empty CSV fields, NaN, or JSON
null / absent keys):
- text/csv: one record per line, no header; RFC 4180 quoting. Blank lines are not records, except for a
  one-feature model, where a blank line is a record whose value is missing (leafline.serving.records).
- application/jsonlines: one record per line, each a JSON array of numbers, an object
  {"features": [...]}, or an object keyed by the model's feature names.
- application/json: a JSON array of such records, or {"instances": [...]}; a flat array of numbers
  is one record.
"""

from __future__ import annotations

import csv
import json
import math
import re
from typing import TYPE_CHECKING, Any

from leafline.serving.errors import InvalidInputError
from leafline.serving.media import CSV, JSON
from leafline.serving.records import blank_lines_are_records, count_records

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float64]

# Fields that mean "missing" besides the empty field (pyarrow's defaults accept these too).
_MISSING = frozenset({"", "nan", "-nan", "na", "n/a", "null", "none", "#n/a"})


def warm_up() -> None:
    """Import the parser before /ping turns 200, so the first request does not pay for it."""
    import pyarrow.csv  # noqa: F401


def decode(body: bytes, fmt: str, feature_names: tuple[str, ...], threads: int = 1) -> Matrix:
    blanks = fmt == CSV and blank_lines_are_records(len(feature_names))  # then "\n" is a record, missing
    if not (body if blanks else body.strip()):
        raise InvalidInputError("empty body: no records to score")
    if fmt == CSV:
        return decode_csv(body, len(feature_names), threads)
    if fmt == JSON:
        return _records_to_matrix(_json_records(body), feature_names, "record")
    return _records_to_matrix(_jsonlines_records(body), feature_names, "line")


def decode_csv(body: bytes, num_features: int, threads: int = 1) -> Matrix:
    """pyarrow's CSV reader; multi-threaded only when this request has more than one core to itself
    (with one request per core, a single thread per request spends less CPU per row)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(num_features)]
    blanks = blank_lines_are_records(num_features)
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=threads > 1, block_size=4 * 2**20),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=not blanks),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64())),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise _diagnose_csv(body, num_features, str(exc)) from None
    if table.num_rows == 0:
        raise InvalidInputError("empty body: no records to score")
    if b"\r" in body and table.num_rows != count_records(body, blanks):
        raise _lone_carriage_return(body)
    matrix = np.empty((table.num_rows, num_features), dtype=np.float64)
    row = 0
    for batch in table.to_batches():
        for index, column in enumerate(batch.columns):
            matrix[row : row + batch.num_rows, index] = _float_values(column)
        row += batch.num_rows
    return matrix


def _float_values(array: Any) -> Any:
    """A float64 arrow array as numpy with nulls as NaN, read from its buffers directly.

    (Array.to_numpy would do the same but imports pandas when it is installed: +0.7 s, +60 MB.)
    """
    import numpy as np

    validity, values = array.buffers()
    data = np.frombuffer(values, dtype=np.float64, count=len(array), offset=array.offset * 8)
    if not array.null_count:
        return data
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little", count=array.offset + len(array))
    return np.where(bits[array.offset :].astype(bool), data, np.nan)


def _lone_carriage_return(body: bytes) -> InvalidInputError:
    """The parser ends a line at a lone "\r" too, Batch Transform only at "\n": refuse rather than answer
    more records than were sent."""
    found = re.search(rb"\r(?!\n)", body)
    line = body.count(b"\n", 0, found.start() if found else 0) + 1
    return InvalidInputError(f"line {line}: a carriage return not followed by a newline; records end with \\n")


def _diagnose_csv(body: bytes, num_features: int, fallback: str) -> InvalidInputError:
    """Find the first bad line and column; only runs after the fast parser refused the body."""
    text = body.decode("utf-8", errors="replace")
    for line_number, raw in enumerate(text.split("\n"), start=1):  # "\n" only, as the parser splits
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        fields = next(csv.reader([line]))
        if len(fields) != num_features:
            return InvalidInputError(
                f"line {line_number}: expected {num_features} fields (the model's features), got {len(fields)}"
            )
        for column, field in enumerate(fields, start=1):
            if not _is_number_or_missing(field):
                return InvalidInputError(f"line {line_number}, column {column}: {_clip(field)!r} is not a number")
    return InvalidInputError(f"the body is not valid CSV: {fallback}")


def _is_number_or_missing(field: str) -> bool:
    value = field.strip()
    if value.lower() in _MISSING:
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True


def _json_records(body: bytes) -> list[tuple[int, Any]]:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the body is not valid JSON: {_json_error(exc)}") from None
    if isinstance(document, dict):
        if "instances" not in document:
            raise InvalidInputError('a JSON object body must hold the records under "instances"')
        document = document["instances"]
    if not isinstance(document, list):
        raise InvalidInputError('a JSON body must be an array of records or {"instances": [...]}')
    if document and all(not isinstance(item, list | dict) for item in document):
        document = [document]  # a flat array of numbers is a single record
    return list(enumerate(document, start=1))


def _jsonlines_records(body: bytes) -> list[tuple[int, Any]]:
    records: list[tuple[int, Any]] = []
    for line_number, line in enumerate(body.split(b"\n"), start=1):  # "\n" only, as Batch Transform splits
        if not line.strip():
            continue
        try:
            records.append((line_number, json.loads(line)))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"line {line_number}: not valid JSON: {_json_error(exc)}") from None
    return records


def _records_to_matrix(records: list[tuple[int, Any]], names: tuple[str, ...], unit: str) -> Matrix:
    import numpy as np

    if not records:
        raise InvalidInputError("empty body: no records to score")
    rows = [_record_row(position, record, names, unit) for position, record in records]
    try:
        return np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        for (position, _), row in zip(records, rows, strict=True):
            for column, value in enumerate(row, start=1):
                if not _is_json_number(value):
                    raise InvalidInputError(
                        f"{unit} {position}, feature {column} ({names[column - 1]}): "
                        f"{_clip(repr(value))} is not a number"
                    ) from None
        raise


def _record_row(position: int, record: Any, names: tuple[str, ...], unit: str) -> list[Any]:
    if isinstance(record, dict) and "features" in record:
        record = record["features"]
    if isinstance(record, list):
        if len(record) != len(names):
            raise InvalidInputError(
                f"{unit} {position}: expected {len(names)} features (the model's features), got {len(record)}"
            )
        return [math.nan if value is None else value for value in record]
    if isinstance(record, dict):
        unknown = [key for key in record if key not in _index(names)]
        if unknown:
            raise InvalidInputError(f"{unit} {position}: unknown feature {_clip(unknown[0])!r}")
        return [math.nan if record.get(name) is None else record[name] for name in names]
    raise InvalidInputError(f"{unit} {position}: a record must be a JSON array or object")


_INDEX_CACHE: dict[tuple[str, ...], frozenset[str]] = {}


def _index(names: tuple[str, ...]) -> frozenset[str]:
    found = _INDEX_CACHE.get(names)
    if found is None:
        found = _INDEX_CACHE[names] = frozenset(names)
    return found


def _is_json_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    return str(exc)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
