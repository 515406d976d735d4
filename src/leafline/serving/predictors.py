"""Prediction backends behind one interface: LightGBM itself, or an ahead-of-time compiled library.

Both release the GIL while they compute, so request threads use every core.
"""

from __future__ import annotations

import ctypes
import queue
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from leafline.serving.errors import ModelLoadError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from leafline.serving.model_info import ModelInfo

    Matrix = npt.NDArray[np.float64]

_ENTRY = ctypes.CFUNCTYPE(
    None,
    ctypes.POINTER(ctypes.c_double),  # features, row-major
    ctypes.POINTER(ctypes.c_double),  # output, row-major (rows x output columns)
    ctypes.c_int32,  # first row
    ctypes.c_int32,  # one past the last row
)

# LightGBM's kZeroThreshold (the float 1e-35 widened to double). Before any tree sees a dense row, LightGBM
# drops every value with |x| <= this, so the trees see exactly 0.0; a compiled model must see the same.
ZERO_THRESHOLD = 1.0000000180025095e-35


class Predictor(Protocol):
    name: str

    def predict(self, matrix: Matrix, threads: int) -> Matrix:
        """(rows, features) -> (rows,) or (rows, K), the same values Booster.predict returns."""
        ...


class LightGBMPredictor:
    """LightGBM's own Booster: exact by definition, the fallback for anything a compiled model can't do.

    One Booster per concurrent request: LightGBM has a data race when predictors are built concurrently
    on one Booster (microsoft/LightGBM#6142), and a pool keeps requests from queueing on a lock.
    """

    name = "lightgbm"

    def __init__(self, info: ModelInfo, pool_size: int) -> None:
        import lightgbm

        self._boosters: queue.Queue[object] = queue.Queue()
        model_text = info.path.read_text()
        for _ in range(max(1, pool_size)):
            self._boosters.put(lightgbm.Booster(model_str=model_text))

    def predict(self, matrix: Matrix, threads: int) -> Matrix:
        booster = self._boosters.get()
        try:
            result: Matrix = booster.predict(matrix, num_threads=threads)  # type: ignore[attr-defined]
        finally:
            self._boosters.put(booster)
        return result


class CompiledPredictor:
    """A shared library produced by `leafline compile`, called through ctypes (which drops the GIL)."""

    name = "compiled"

    def __init__(
        self,
        library: Path,
        symbol: str,
        num_features: int,
        output_columns: int,
        workers: int,
        zero_band_features: list[int] | None = None,
    ) -> None:
        """zero_band_features: the features whose tiny values can change a split (see
        compiler.zero_band_features); None, as in manifests written before, means every feature."""
        try:
            self._library = ctypes.CDLL(str(library))
            address = ctypes.cast(getattr(self._library, symbol), ctypes.c_void_p).value
        except (OSError, AttributeError) as exc:
            raise ModelLoadError(f"{library}: cannot load the compiled model ({exc})") from None
        if not address:
            raise ModelLoadError(f"{library}: symbol {symbol} has no address")
        self._entry = _ENTRY(address)
        self._num_features = num_features
        self._output_columns = output_columns
        self._zero_band = zero_band_features
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="predict")

    def predict(self, matrix: Matrix, threads: int) -> Matrix:
        import numpy as np

        rows = matrix.shape[0]
        data = np.ascontiguousarray(matrix, dtype=np.float64)
        if self._zero_band is None or self._zero_band:
            data = as_lightgbm_sees_it(data, self._zero_band)
        shape = (rows,) if self._output_columns == 1 else (rows, self._output_columns)
        out = np.empty(shape, dtype=np.float64)
        data_ptr = data.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        out_ptr = out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        if threads <= 1 or rows < 2 * threads:
            self._entry(data_ptr, out_ptr, 0, rows)
            return out
        step = -(-rows // threads)
        futures = [
            self._pool.submit(self._entry, data_ptr, out_ptr, start, min(start + step, rows))
            for start in range(0, rows, step)
        ]
        for future in futures:
            future.result()
        return out


def as_lightgbm_sees_it(data: Matrix, features: list[int] | None = None) -> Matrix:
    """The rows with every nonzero |x| <= ZERO_THRESHOLD (subnormals, +-1e-35) in those features (default:
    all) made 0.0, as LightGBM's predictor does before the trees; a copy only when there is one (~0.6 ms to
    look through a whole 6 MB batch). NaN stays NaN, and -0.0 is left alone: it compares and truncates
    exactly as 0.0 does."""
    import numpy as np

    values = data if features is None else data[:, features]
    tiny = np.less_equal(np.abs(values), ZERO_THRESHOLD)
    tiny &= values != 0.0  # exact zeros are already what the trees must see; skip the copy for them
    if not tiny.any():
        return data
    if features is None:
        return np.where(tiny, 0.0, data)
    flushed = data.copy()
    flushed[:, features] = np.where(tiny, 0.0, values)
    return flushed
