"""Predictions to response bodies: exactly one output record per input record, in order.

- text/csv: one line per record; one value (probability, 0/1 label, regression value) or K values
  for a K-class model.
- application/jsonlines: one JSON value per line: a number, or an array of K numbers.
- application/json: one JSON array holding one such value per record.
Floats are written in shortest round-trip form, so no precision is lost in transit: the digits are the
shortest that read back to the same double, as repr's are; only the spelling of some differs (1e-7 for
1e-07, 0.00001 for 1e-05, 1e+15 for 1000000000000000.0). The native writer (leafline.serving.
native_format) writes a body in one pass; where it is not built, Arrow's CSV writer writes the same bytes
(`encode_with_arrow`, about 5x faster than joining Python reprs, 3-4x slower than the native writer). A
body holding NaN or an infinity, which JSON cannot spell, is written as Python writes it (`write_reprs`),
so those answers are unchanged.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from leafline.serving import native_format
from leafline.serving.media import CSV, JSON
from leafline.serving.native_format import Layout

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def warm_up() -> None:
    """Load the writers and Arrow's compute kernels before /ping turns 200 (about 1 s on a first request)."""
    import numpy as np

    encode_with_arrow(np.array([0.5, 1.0]), CSV)
    native_format.unavailable_reason()


_CSV_LINES = Layout("", "", ",", "\n", "", "")  # also JSON Lines with one value per record
_JSON_LINES_ARRAYS = Layout("", "[", ",", "]\n", "", "")
_JSON_VALUES = Layout("[", "", ",", "", ",", "]")
_JSON_ARRAYS = Layout("[", "[", ",", "]", ",", "]")


def layout(fmt: str, columns: int) -> Layout:
    """The punctuation of a body of `fmt` holding one value (columns == 1) or K values per record."""
    if fmt == CSV or (columns == 1 and fmt != JSON):
        return _CSV_LINES
    if fmt == JSON:
        return _JSON_VALUES if columns == 1 else _JSON_ARRAYS
    return _JSON_LINES_ARRAYS


def encode(predictions: npt.NDArray[np.generic], fmt: str) -> bytes:
    if predictions.size == 0 or predictions.dtype.kind not in "fiu":
        return write_reprs(predictions, fmt)
    body = native_format.write(predictions, layout(fmt, 1 if predictions.ndim == 1 else predictions.shape[1]))
    return body if body is not None else encode_with_arrow(predictions, fmt)


def encode_with_arrow(predictions: npt.NDArray[np.generic], fmt: str) -> bytes:
    """encode's body by Arrow's CSV writer: the way where the native writer is not built (same bytes)."""
    import numpy as np

    if predictions.size == 0 or predictions.dtype.kind not in "fiu":
        return write_reprs(predictions, fmt)
    if predictions.dtype.kind == "f" and not np.isfinite(predictions).all():
        return write_reprs(predictions, fmt)
    lines = _csv_lines(predictions)  # b"a\nb\n" or b"a,b,c\nd,e,f\n"
    if fmt == CSV or (predictions.ndim == 1 and fmt != JSON):
        return lines
    if predictions.ndim == 1:  # JSON, one number per record
        return b"[" + lines[:-1].replace(b"\n", b",") + b"]"
    rows = b"[" + lines[:-1].replace(b"\n", b"]\n[") + b"]"  # JSON Lines: one array per record
    return rows + b"\n" if fmt != JSON else b"[" + rows.replace(b"\n", b",") + b"]"


def _csv_lines(predictions: npt.NDArray[np.generic]) -> bytes:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    columns = [predictions] if predictions.ndim == 1 else list(predictions.T)
    table = pa.table({f"c{i}": _tokens(column) for i, column in enumerate(columns)})
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    return buffer.getvalue()


def _tokens(column: npt.NDArray[np.generic]) -> Any:
    """Arrow's shortest digits, with ".0" after a whole float it writes without a point or exponent (1, -0),
    so a JSON client reads a float (and -0.0 keeps its sign) as it did from repr."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(column).cast(pa.string())
    if column.dtype.kind != "f":
        return text
    whole = np.trunc(column) == column  # finite here; few probabilities are whole, so usually all False
    if not whole.any():
        return text
    bare = pc.and_not(pa.array(whole), pc.match_substring(text, "e"))
    return pc.if_else(bare, pc.binary_join_element_wise(text, pa.scalar(".0"), pa.scalar("")), text)


def write_reprs(predictions: npt.NDArray[np.generic], fmt: str) -> bytes:
    """The same body joined from Python's reprs (and json's spelling of NaN and infinities)."""
    values = predictions.tolist()
    lines: Iterable[str]
    if fmt == JSON:
        return json.dumps(values, separators=(",", ":")).encode()
    if predictions.ndim == 1:
        lines = map(repr, values)
    elif fmt == CSV:
        lines = (",".join(map(repr, row)) for row in values)
    else:
        lines = (json.dumps(row, separators=(",", ":")) for row in values)
    return ("\n".join(lines) + "\n").encode()
