"""Load the model behind the fastest faithful backend, and score one request body."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leafline.serving import artifacts
from leafline.serving.columnar import decode_columnar
from leafline.serving.decoding import decode
from leafline.serving.encoding import encode
from leafline.serving.errors import ModelLoadError
from leafline.serving.media import COLUMNAR, request_format, response_format
from leafline.serving.model_info import MODEL_FILE_NAME, ModelInfo, read_model_info
from leafline.serving.predictors import CompiledPredictor, LightGBMPredictor, Predictor

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class LoadedModel:
    info: ModelInfo
    predictor: Predictor
    backend: str  # e.g. "compiled (lleaves 1.3.0, x86_64)" or "lightgbm"
    fallback_reason: str  # why the compiled artifact is not used; empty when it is


def load_model(model_dir: Path, *, force_lightgbm: bool, concurrency: int, workers: int) -> LoadedModel:
    info = read_model_info(model_dir / MODEL_FILE_NAME)
    reason = "LEAFLINE_BACKEND=lightgbm"
    if not force_lightgbm:
        compiled, reason = _load_compiled(model_dir, info, workers)
        if compiled is not None:
            return compiled
    try:
        predictor = LightGBMPredictor(info, pool_size=concurrency)
    except Exception as exc:  # LightGBM's own parse errors are plain exceptions with a useful message
        raise ModelLoadError(f"{info.path}: LightGBM cannot load the model ({exc})") from None
    return LoadedModel(info=info, predictor=predictor, backend="lightgbm", fallback_reason=reason)


def _load_compiled(model_dir: Path, info: ModelInfo, workers: int) -> tuple[LoadedModel | None, str]:
    entry, reason = artifacts.find_artifact(model_dir, info.sha256, artifacts.machine_arch())
    if entry is None:
        return None, reason
    library = model_dir / artifacts.COMPILED_DIR / entry.library
    try:
        predictor = CompiledPredictor(library, entry.symbol, info.num_features, entry.output_columns, workers,
                                      entry.zero_band_features)  # fmt: skip
    except ModelLoadError as exc:
        return None, exc.message
    mismatch = _probe(predictor, entry)
    if mismatch > artifacts.PROBE_TOLERANCE:
        return None, f"{entry.library} disagrees with LightGBM on its probe rows (max diff {mismatch:.3g})"
    backend = f"compiled ({entry.backend} {entry.backend_version}, {entry.arch})"
    return LoadedModel(info=info, predictor=predictor, backend=backend, fallback_reason=""), ""


def _probe(predictor: Predictor, entry: artifacts.ArtifactEntry) -> float:
    import numpy as np

    rows = np.array([[np.nan if v is None else v for v in row] for row in entry.probe_rows], dtype=np.float64)
    return artifacts.probe_mismatch(entry.probe_expected, predictor.predict(rows, threads=1).tolist())


@dataclass
class Scored:
    body: bytes
    content_type: str
    rows: int
    stages_ms: dict[str, float] = field(default_factory=dict)


class Scorer:
    """Body in, body out: decode -> predict -> (threshold) -> encode, timing each stage."""

    def __init__(
        self,
        model: LoadedModel,
        threshold: float | None,
        default_accept: str,
        threads: int,
        max_matrix_bytes: int | None = None,
        native_csv: bool = True,
    ) -> None:
        """threads: native threads per request when the caller does not say (see `score`);
        max_matrix_bytes: how large a Parquet or Arrow body may be once decoded (None: no bound);
        native_csv: try the native CSV reader first (LEAFLINE_CSV_READER)."""
        self.model = model
        self._native_csv = native_csv
        self._max_matrix_bytes = max_matrix_bytes
        self._threshold = threshold if model.info.is_binary else None
        self._default_accept = default_accept
        self._threads = threads

    def score(
        self, body: bytes | bytearray, content_type: str | None, accept: str | None, threads: int | None = None
    ) -> Scored:
        threads = threads or self._threads
        in_fmt = request_format(content_type)
        out_fmt = response_format(accept, self._default_accept)
        started = time.perf_counter()
        names = self.model.info.feature_names
        if in_fmt in COLUMNAR:
            matrix = decode_columnar(body, in_fmt, names, threads, self._max_matrix_bytes)
        else:
            matrix = decode(body, in_fmt, names, threads, native=self._native_csv)
        parsed = time.perf_counter()
        predictions = self._finish(self.model.predictor.predict(matrix, threads))
        predicted = time.perf_counter()
        payload = encode(predictions, out_fmt)
        done = time.perf_counter()
        stages = {
            "parse": (parsed - started) * 1e3,
            "predict": (predicted - parsed) * 1e3,
            "format": (done - predicted) * 1e3,
        }
        return Scored(body=payload, content_type=out_fmt, rows=matrix.shape[0], stages_ms=stages)

    def _finish(self, predictions: npt.NDArray[np.float64]) -> npt.NDArray[np.generic]:
        if self._threshold is None:
            return predictions
        import numpy as np

        return (predictions >= self._threshold).astype(np.int8)
