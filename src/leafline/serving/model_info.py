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
    """Scan a model.txt once: header fields, tree count, and the features that matter for backends.

    Also checks the file's structure where LightGBM trusts it blindly: LightGBM reads the trees at the
    offsets the header's tree_sizes gives and crashes (SIGSEGV/abort) when they do not match the file.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None
    header: dict[str, str] = {}
    tree_starts: list[int] = []
    trees_end = -1
    linear = False
    categorical = False
    offset = 0
    shape: dict[str, str] = {}
    for raw in data.split(b"\n"):
        line = raw.decode("utf-8", errors="replace").strip()
        if tree_starts and line.partition("=")[0] in _TREE_ARRAYS:
            key, _, value = line.partition("=")
            shape[key] = value
        if line.startswith("Tree=") or line == "end of trees":
            if tree_starts:
                _check_tree_shape(path, len(tree_starts) - 1, shape)
            shape = {}
        if line.startswith("Tree="):
            tree_starts.append(offset)
        elif line == "is_linear=1":
            linear = True
        elif line.startswith("num_cat=") and line != "num_cat=0":
            categorical = True
        elif not tree_starts and "=" in line:
            key, _, value = line.partition("=")
            header.setdefault(key, value)
        elif line == "end of trees":
            trees_end = offset
            break
        offset += len(raw) + 1
    _check_tree_sizes(path, header, tree_starts, trees_end)
    return _build_info(path, data, header, len(tree_starts), linear, categorical)


# A tree's arrays and how many entries each must have for num_leaves = L: LightGBM does not check them
# and reads past the end of a short one when it predicts.
_TREE_ARRAYS = {"num_leaves": 0, "split_feature": 1, "threshold": 1, "decision_type": 1, "left_child": 1,
                "right_child": 1, "leaf_value": 0}  # fmt: skip


def _check_tree_shape(path: Path, index: int, shape: dict[str, str]) -> None:
    try:
        leaves = int(shape.get("num_leaves", ""))
    except ValueError:
        raise ModelLoadError(f"{path}: Tree={index} has no valid num_leaves") from None
    for key, fewer in _TREE_ARRAYS.items():
        want = leaves - fewer
        if key == "num_leaves" or (want == 0 and key not in shape):
            continue
        got = len(shape.get(key, "").split())
        if got != want:
            raise ModelLoadError(f"{path}: Tree={index} has num_leaves={leaves} but {got} {key} values (expected "
                                 f"{want}); LightGBM would read past the end of it")  # fmt: skip
    for key in ("left_child", "right_child"):
        children = shape.get(key, "").split()
        try:
            bad = next((c for c in children if not -leaves <= int(c) < leaves - 1), None)
        except ValueError:
            bad = "a non-integer"
        if bad is not None:
            raise ModelLoadError(f"{path}: Tree={index} has {key} {bad}, outside this tree's {leaves} leaves")


def _check_tree_sizes(path: Path, header: dict[str, str], starts: list[int], end: int) -> None:
    if not starts:
        return  # _build_info says "no trees"
    if end < 0:
        raise ModelLoadError(f"{path}: the model file is truncated (no 'end of trees' after {len(starts)} trees)")
    if "tree_sizes" not in header:
        return  # LightGBM then parses tree by tree and reports its own errors
    try:
        declared = [int(size) for size in header["tree_sizes"].split()]
    except ValueError:
        raise ModelLoadError(f"{path}: malformed header: tree_sizes is not a list of integers") from None
    if len(declared) != len(starts):
        raise ModelLoadError(
            f"{path}: the header's tree_sizes lists {len(declared)} trees but the file holds {len(starts)} "
            "(an edited or cut model file; LightGBM would crash on it)"
        )
    actual = [following - start for start, following in zip(starts, [*starts[1:], end], strict=True)]
    for index, (want, got) in enumerate(zip(declared, actual, strict=True)):
        if want != got:
            raise ModelLoadError(
                f"{path}: Tree={index} is {got} bytes but the header's tree_sizes says {want} (an edited model "
                "file; LightGBM would misread it)"
            )


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
