"""What the server needs to know about a LightGBM model.txt, read without importing LightGBM."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from leafline.serving.errors import ModelLoadError

MODEL_FILE_NAME = "model.txt"
_MULTICLASS_OBJECTIVES = ("multiclass", "multiclassova")


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    sha256: str
    format_version: str  # "v3" for LightGBM 2.3-3.3, "v4" from 4.0
    objective: str  # the objective's name, e.g. "binary", "multiclass", "regression"
    objective_spec: str  # the whole objective line, e.g. "binary sigmoid:1", "regression sqrt"
    num_class: int
    feature_names: tuple[str, ...]
    num_trees: int
    has_linear_trees: bool
    has_categorical_splits: bool
    size_bytes: int

    @property
    def num_features(self) -> int:
        return len(self.feature_names)

    @property
    def output_columns(self) -> int:
        return self.num_class if self.objective in _MULTICLASS_OBJECTIVES else 1

    @property
    def is_binary(self) -> bool:
        return self.objective == "binary"


def read_model_info(path: Path) -> ModelInfo:
    """Scan a model.txt once: header fields, tree count, and the features that matter for backends."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None
    header: dict[str, str] = {}
    num_trees = 0
    linear = False
    categorical = False
    for raw in data.splitlines():
        line = raw.decode("utf-8", errors="replace").strip()
        if line.startswith("Tree="):
            num_trees += 1
        elif line == "is_linear=1":
            linear = True
        elif line.startswith("num_cat=") and line != "num_cat=0":
            categorical = True
        elif num_trees == 0 and "=" in line:
            key, _, value = line.partition("=")
            header.setdefault(key, value)
        elif line == "end of trees":
            break
    return _build_info(path, data, header, num_trees, linear, categorical)


def _build_info(
    path: Path, data: bytes, header: dict[str, str], num_trees: int, linear: bool, categorical: bool
) -> ModelInfo:
    if "version" not in header or "max_feature_idx" not in header:
        raise ModelLoadError(f"{path}: not a LightGBM text model (no version/max_feature_idx header)")
    if num_trees == 0:
        raise ModelLoadError(f"{path}: the model has no trees")
    try:
        num_features = int(header["max_feature_idx"]) + 1
        num_class = int(header.get("num_class", "1"))
    except ValueError as exc:
        raise ModelLoadError(f"{path}: malformed header ({exc})") from None
    names = tuple(header.get("feature_names", "").split())
    if len(names) != num_features:
        names = tuple(f"Column_{i}" for i in range(num_features))
    objective_spec = header.get("objective", "").strip() or "custom"
    return ModelInfo(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        format_version=header["version"],
        objective=objective_spec.split()[0],
        objective_spec=objective_spec,
        num_class=num_class,
        feature_names=names,
        num_trees=num_trees,
        has_linear_trees=linear,
        has_categorical_splits=categorical,
        size_bytes=len(data),
    )
