"""Request bodies to a float64 feature matrix (rows x features), with errors that say where.

Shapes accepted (one record = one row of features; what a value is, number or missing, is decided
once for every shape in leafline.serving.numbers):
- text/csv: one record per line, no header; RFC 4180 quoting. Blank lines are not records, except for a
  one-feature model, where a blank line is a record whose value is missing (leafline.serving.records).
- application/jsonlines: one record per line, each a JSON array of numbers, an object
  {"features": [...]}, or an object keyed by the model's feature names.
- application/json: a JSON array of such records, or {"instances": [...]}; a flat array of numbers
  is one record.
A JSON feature value is a number or null; booleans and strings ("1.5") are refused, never coerced.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import TYPE_CHECKING, Any

from leafline.serving import native_csv, numbers
from leafline.serving.errors import InvalidInputError
from leafline.serving.matrices import empty_matrix
from leafline.serving.media import CSV, JSON
from leafline.serving.numbers import clip
from leafline.serving.records import blank_lines_are_records, count_records

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float64]

# How deep arrays and objects nest in a body at most: {"instances": [{"features": [...]}]} in JSON,
# {"features": [...]} in JSON Lines. Only consulted to say where a body too deep for json.loads is.
_MAX_DEPTH = {JSON: 4, "line": 2}


def warm_up() -> None:
    """Import the parsers before /ping turns 200, so the first request does not pay for them."""
    import pyarrow.csv  # noqa: F401

    native_csv.unavailable_reason()


def decode(
    body: bytes | bytearray, fmt: str, feature_names: tuple[str, ...], threads: int = 1, native: bool = True
) -> Matrix:
    """native: try the native CSV reader first (LEAFLINE_CSV_READER=pyarrow turns it off)."""
    blanks = fmt == CSV and blank_lines_are_records(len(feature_names))  # then "\n" is a record, missing
    if not body or (not blanks and body.isspace()):  # isspace: strip()'s test without copying the body
        raise InvalidInputError("empty body: no records to score")
    if fmt == CSV:
        return decode_csv(body, len(feature_names), threads, native=native)
    text = bytes(body)  # the server reads into a bytearray; JSON's cost dwarfs this one copy
    if fmt == JSON:
        return _records_to_matrix(_json_records(text), feature_names, "record")
    return _records_to_matrix(_jsonlines_records(text), feature_names, "line")


def decode_csv(
    body: bytes | bytearray, num_features: int, threads: int = 1, fast_path: bool = True, native: bool = True
) -> Matrix:
    """The native reader (leafline.serving.native_csv) when it is built and can decide; else pyarrow's
    reader when it can be trusted to read fields as leafline.serving.numbers does; the field-by-field
    reader otherwise, which is the definition and also finds the first bad field. fast_path=False goes
    straight to the field-by-field reader, native=False skips the native reader (tests run both ways).

    pyarrow runs multi-threaded only when this request has more than one core to itself (with one
    request per core, a single thread per request spends less CPU per row). Bodies with bytes where
    pyarrow reads more than the table go to the fallback: a quote (pyarrow appends text after a closing
    quote) and "(" (it reads `nan(1)` as missing); numeric CSV rarely has either. test_hostile_bodies
    fuzzes both paths against each other to keep this list complete."""
    if fast_path and native:
        matrix = native_csv.read(body, num_features, threads)
        if matrix is not None:
            return matrix
    if fast_path and b'"' not in body and b"(" not in body:
        matrix = _pyarrow_csv(body, num_features, threads)
        if matrix is not None:
            return matrix
    return _fallback_csv(body, num_features)


def _pyarrow_csv(body: bytes | bytearray, num_features: int, threads: int) -> Matrix | None:
    """The matrix, or None when pyarrow refuses the body (the fallback then says where, or reads it)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(num_features)]
    blanks = blank_lines_are_records(num_features)
    try:
        table = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=threads > 1, block_size=4 * 2**20),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=not blanks),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.float64()),
                null_values=_ARROW_NULL_VALUES,
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows == 0:
        raise InvalidInputError("empty body: no records to score")
    if b"\r" in body and table.num_rows != count_records(body, blanks):
        raise _lone_carriage_return(body)
    matrix = empty_matrix(table.num_rows, num_features)
    row = 0
    for batch in table.to_batches():
        for index, column in enumerate(batch.columns):
            matrix[row : row + batch.num_rows, index] = _float_values(column)
        row += batch.num_rows
    return matrix


_ARROW_NULL_VALUES = numbers.arrow_null_values()


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


def _lone_carriage_return(body: bytes | bytearray) -> InvalidInputError:
    """The parser ends a line at a lone "\r" too, Batch Transform only at "\n": refuse rather than answer
    more records than were sent."""
    found = re.search(rb"\r(?!\n)", body)
    line = body.count(b"\n", 0, found.start() if found else 0) + 1
    return _lone_carriage_return_at(line)


def _lone_carriage_return_at(line: int) -> InvalidInputError:
    return InvalidInputError(f"line {line}: a carriage return not followed by a newline; records end with \\n")


def _fallback_csv(body: bytes | bytearray, num_features: int) -> Matrix:
    """Field by field, by the same record rule as the fast path; the first bad field is a 400 naming its
    1-based line and column (fields of any size: no csv module field limit)."""
    import numpy as np

    blanks = blank_lines_are_records(num_features)
    lines = body.decode("utf-8", errors="replace").split("\n")  # "\n" only, as Batch Transform splits
    if lines[-1] == "":
        lines.pop()  # nothing follows a final newline
    rows: list[list[float]] = []
    for line_number, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        if "\r" in line:
            raise _lone_carriage_return_at(line_number)
        if not line and not blanks:
            continue
        fields = csv_fields(line, line_number)
        if len(fields) != num_features:
            raise InvalidInputError(
                f"line {line_number}: expected {num_features} fields (the model's features), got {len(fields)}"
            )
        rows.append([_csv_value(field, line_number, column) for column, field in enumerate(fields, start=1)])
    if not rows:
        raise InvalidInputError("empty body: no records to score")
    return np.array(rows, dtype=np.float64)


def csv_fields(line: str, line_number: int = 1) -> list[str]:
    """One line's fields, RFC 4180 quoting ("" is a quote inside a quoted field)."""
    if '"' not in line:
        return line.split(",")
    fields: list[str] = []
    start = 0
    while True:
        if line.startswith('"', start):
            close = start + 1
            while (close := line.find('"', close)) != -1 and line.startswith('"', close + 1):
                close += 2
            if close == -1:
                raise InvalidInputError(
                    f"line {line_number}, column {len(fields) + 1}: a quoted field with no closing quote"
                )
            end = line.find(",", close + 1)
            end = len(line) if end == -1 else end
            fields.append(line[start + 1 : close].replace('""', '"') + line[close + 1 : end])
        else:
            end = line.find(",", start)
            end = len(line) if end == -1 else end
            fields.append(line[start:end])
        if end == len(line):
            return fields
        start = end + 1


def _csv_value(field: str, line_number: int, column: int) -> float:
    value = numbers.field_value(field)
    if value is None:
        raise InvalidInputError(
            f"line {line_number}, column {column}: {clip(field)!r} is not a number ({numbers.MISSING_HINT})"
        )
    return value


def _json_records(body: bytes) -> list[tuple[int, Any]]:
    try:
        document = _json_loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the body is not valid JSON: {_json_error(exc)}") from None
    except RecursionError:
        raise InvalidInputError(_too_deep(body, _MAX_DEPTH[JSON])) from None
    if isinstance(document, dict):
        if "instances" not in document:
            raise InvalidInputError('a JSON object body must hold the records under "instances"')
        _only_key(document, "instances", "the body")
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
            records.append((line_number, _json_loads(line)))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"line {line_number}: not valid JSON: {_json_error(exc)}") from None
        except RecursionError:
            raise InvalidInputError(_too_deep(line, _MAX_DEPTH["line"], line_number)) from None
    return records


def _json_loads(data: bytes) -> Any:
    """json.loads with the table's options, without building a decoder per call (json.loads does when
    given options: a third of the time of a short JSON Lines record). Duplicate keys keep the last, as
    json does: an object_pairs_hook to refuse them would double the cost of decoding keyed JSON Lines."""
    return _JSON_DECODER.decode(data.decode(json.detect_encoding(data), "surrogatepass"))


_JSON_DECODER = json.JSONDecoder(**numbers.JSON_OPTIONS)


def _records_to_matrix(records: list[tuple[int, Any]], names: tuple[str, ...], unit: str) -> Matrix:
    import numpy as np

    if not records:
        raise InvalidInputError("empty body: no records to score")
    rows = [_record_row(position, record, names, unit) for position, record in records]
    if not _ONLY_FLOATS.issuperset(map(type, itertools.chain.from_iterable(rows))):  # one pass, in C
        raise next(
            _not_a_feature_value(row, f"{unit} {position}", names)
            for (position, _), row in zip(records, rows, strict=True)
            if not _ONLY_FLOATS.issuperset(map(type, row))
        )
    return np.array(rows, dtype=np.float64)


# JSON numbers are floats (numbers.JSON_OPTIONS) and null is NaN by now: any other type is refused
# (np.array would read True as 1.0 and "1.5" as 1.5).
_ONLY_FLOATS = frozenset({float})


def _record_row(position: int, record: Any, names: tuple[str, ...], unit: str) -> list[Any]:
    where = f"{unit} {position}"
    if isinstance(record, dict) and "features" in record and "features" not in _index(names):
        _only_key(record, "features", where)
        record = record["features"]
        if not isinstance(record, list):
            raise InvalidInputError(f'{where}: "features" must be a JSON array of the model\'s features')
    if isinstance(record, list):
        if len(record) != len(names):
            raise InvalidInputError(
                f"{where}: expected {len(names)} features (the model's features), got {len(record)}"
            )
        values = [math.nan if value is None else value for value in record]
    elif isinstance(record, dict):
        unknown = [key for key in record if key not in _index(names)]
        if unknown:
            raise InvalidInputError(f"{where}: unknown feature {clip(unknown[0])!r}")
        values = [math.nan if (value := record.get(name)) is None else value for name in names]
    else:
        raise InvalidInputError(f"{where}: a record must be a JSON array or object")
    return values


def _not_a_feature_value(values: list[Any], where: str, names: tuple[str, ...]) -> InvalidInputError:
    column, value = next((c, v) for c, v in enumerate(values, start=1) if not numbers.is_feature_value(v))
    return InvalidInputError(
        f"{where}, feature {column} ({names[column - 1]}): {numbers.describe_json_value(value)} is not a "
        "number (a feature value is a JSON number, or null when missing)"
    )


def _only_key(document: dict[str, Any], key: str, where: str) -> None:
    for other in document:
        if other != key:
            raise InvalidInputError(f'{where}: unknown key {clip(other)!r} beside "{key}"')


_INDEX_CACHE: dict[tuple[str, ...], frozenset[str]] = {}


def _index(names: tuple[str, ...]) -> frozenset[str]:
    found = _INDEX_CACHE.get(names)
    if found is None:
        found = _INDEX_CACHE[names] = frozenset(names)
    return found


def _too_deep(text: bytes, depth: int, first_line: int = 1) -> str:
    """Where arrays and objects first nest deeper than a body can hold (1-based line and column); only
    run once json.loads ran out of recursion."""
    level = 0
    for found in re.finditer(rb'"(?:[^"\\]++|\\.)*+"|[\[{]|[\]}]', text):
        token = found.group()
        if token in (b"[", b"{"):
            level += 1
            if level > depth:
                start = found.start()
                line = text.count(b"\n", 0, start) + first_line
                column = start - (text.rfind(b"\n", 0, start) + 1) + 1
                return f"line {line}, column {column}: JSON nested more than {depth} levels deep"
        elif token in (b"]", b"}"):
            level -= 1
    return f"JSON nested more than {depth} levels deep"


def _json_error(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
    return str(exc)
