"""The native response writer (native/: leafline_native._format, C++ with Dragonbox's digits from fmt's
header, or std::to_chars' where fmt was not there at build time), tried before the pyarrow path.

It writes the same bytes as leafline.serving.encoding's Arrow path (shortest round-trip digits in Arrow's
notation, ".0" after a whole float), about 3-4x faster on one core; NaN and infinities it leaves to the
caller, which writes them as Python does. Where the extension was not built (no C++ compiler),
`unavailable_reason` says so and every body takes the pyarrow path.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class Layout(NamedTuple):
    """A body's punctuation: start, each row as row_open + values joined by field_separator + row_close,
    rows joined by row_separator, end."""

    start: str
    row_open: str
    field_separator: str
    row_close: str
    row_separator: str
    end: str


@functools.cache
def _module() -> ModuleType | None:
    try:
        from leafline_native import _format
    except ImportError:
        return None
    return _format


def unavailable_reason() -> str | None:
    """None when the native writer is there; else why not, for the start-up log and skipped tests."""
    if _module() is not None:
        return None
    return "leafline_native._format is not built (it needs a C++17 compiler): bodies take the pyarrow writer"


def digits() -> str | None:
    """The shortest-digits algorithm the built writer uses ("dragonbox" or "to_chars"), None without it."""
    module = _module()
    return None if module is None else str(module.DIGITS)


def write(predictions: npt.NDArray[np.generic], layout: Layout) -> bytes | None:
    """The body, or None when the writer is missing or the values are not all finite float64 / integers."""
    module = _module()
    if module is None:
        return None
    import numpy as np

    if predictions.dtype.kind in "iu":
        if predictions.dtype == np.uint64 and predictions.size and int(predictions.max()) >= 2**63:
            return None
        values = np.ascontiguousarray(predictions, dtype=np.int64)
    elif predictions.dtype == np.float64:
        values = np.ascontiguousarray(predictions)
    else:
        return None  # float32/float16 have their own shortest digits; the Arrow path writes those
    body: bytes | None = module.format_rows(values, *layout)
    return body
