"""The native CSV reader (native/: leafline_native, C++ on fast_float), tried before the pyarrow path.

It reads a body only when every field is plain (a number by leafline.serving.numbers' grammar, or a
missing-value spelling), every record has the model's field count and the lines end in "\\n" or "\\r\\n";
for anything else it cannot decide and the caller reads the body as before, which gives the same numbers
or the 400 naming line and column. Where the extension was not built (no compiler or fast_float header),
`unavailable_reason` says so and every body takes the pyarrow path.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING

from leafline.serving.matrices import empty_matrix
from leafline.serving.records import blank_lines_are_records

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float64]


@functools.cache
def _module() -> ModuleType | None:
    try:
        from leafline_native import _csv
    except ImportError:
        return None
    return _csv


def unavailable_reason() -> str | None:
    """None when the native reader is there; else why not, for the start-up log and skipped tests."""
    if _module() is not None:
        return None
    return (
        "leafline_native._csv is not built (it needs a C++ compiler and fast_float's header, Debian's "
        "libfast-float-dev; `make .venv/.synced` installs the header as root): CSV takes the pyarrow path"
    )


def short_decimals() -> str | None:
    """Who reads the common short field ("sse" on x86-64 builds, else "fast_float"), None without the reader."""
    module = _module()
    return None if module is None else str(module.SHORT_DECIMALS)


def read(body: bytes | bytearray, num_features: int, threads: int = 1) -> Matrix | None:
    """The matrix, or None when the native reader is missing or cannot decide."""
    module = _module()
    if module is None:
        return None
    # Rows never written are never touched: the pages a request uses follow its records, not the bound.
    out = empty_matrix(module.rows_needed(len(body), num_features, threads), num_features)
    rows = module.parse_csv(body, num_features, out, blank_lines_are_records(num_features), threads)
    return None if rows is None else out[:rows]
