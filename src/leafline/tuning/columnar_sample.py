"""The rows `leafline tune` writes into Parquet or Arrow payloads: from a sample file, or synthetic."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from leafline.errors import UsageError
from leafline.serving.errors import InvalidInputError
from leafline.tuning.measure import MB, Build, columnar_payload

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_SUFFIXES = {
    ".parquet": "application/x-parquet",
    ".arrow": "application/vnd.apache.arrow.stream",
    ".arrows": "application/vnd.apache.arrow.stream",
    ".feather": "application/vnd.apache.arrow.stream",
}
_BYTES_PER_VALUE = 4  # rows enough that the largest payload holds distinct rows (Parquet dictionary-encodes repeats)


def columnar_builder(
    sample: Path | None, names: tuple[str, ...], content_type: str, largest_mb: int
) -> tuple[Build, str]:
    """payload MB -> (body, rows), and where the rows come from."""
    if sample is None:
        from leafline import samples

        rows = largest_mb * MB // (_BYTES_PER_VALUE * len(names)) + 1
        matrix, source = samples.features(rows, seed=11, num_features=len(names)), "synthetic rows"
    else:
        matrix, source = _sample_matrix(sample, names), f"sample {sample}"
    return functools.partial(columnar_payload, matrix, names, fmt=content_type), source


def _sample_matrix(sample: Path, names: tuple[str, ...]) -> npt.NDArray[np.float64]:
    from leafline.serving.columnar import decode_columnar
    from leafline.serving.decoding import decode_csv

    try:
        body = sample.read_bytes()
    except OSError as exc:
        raise UsageError(f"--sample {sample}: cannot read ({exc.strerror})") from None
    try:
        fmt = _SUFFIXES.get(sample.suffix.lower())
        return decode_columnar(body, fmt, names) if fmt else decode_csv(body, len(names))
    except InvalidInputError as exc:
        raise UsageError(f"--sample {sample}: {exc.message}") from None
