"""Predictions to response bodies: exactly one output record per input record, in order.

- text/csv: one line per record; one value (probability, 0/1 label, regression value) or K values
  for a K-class model.
- application/jsonlines: one JSON value per line: a number, or an array of K numbers.
- application/json: one JSON array holding one such value per record.
Floats are written with Python's shortest round-trip repr, so no precision is lost in transit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from leafline.serving.media import CSV, JSON

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def encode(predictions: npt.NDArray[np.generic], fmt: str) -> bytes:
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
