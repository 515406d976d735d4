"""`leafline compile`: turn model.txt into a shared library that predicts exactly what LightGBM predicts.

The backend is lleaves (LLVM); its object file is linked into a plain shared library with the system C
compiler, so the image loads it with ctypes and needs neither LLVM nor a compiler at run time. Code is
generated for a baseline CPU of the architecture (x86-64-v2, generic aarch64) so an artifact built on a
new CPU never meets an illegal instruction on an older SageMaker host. Every artifact is checked against
LightGBM on probe rows (missing values, zeros, negatives, out-of-range and unseen categories) before
it is written; a model the backend cannot reproduce exactly is left to LightGBM.
"""

from __future__ import annotations

import math
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from leafline.errors import CompileError, UsageError
from leafline.serving import artifacts
from leafline.serving.errors import ModelLoadError
from leafline.serving.model_info import MODEL_FILE_NAME, ModelInfo, read_model_info
from leafline.serving.predictors import CompiledPredictor

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

BACKEND = "lleaves"
SYMBOL = "leafline_predict"
TOLERANCE = 1e-9  # far inside the 1e-5 promise: a compiled model either matches or is not used
PROBE_ROWS_STORED = 17  # len(EDGE_VALUES): every edge value, in every feature
_TARGET_CPU = {"x86_64": "x86-64-v2", "aarch64": "generic"}
# Objectives whose output transform lleaves implements; anything else stays on LightGBM.
_SUPPORTED_OBJECTIVES = frozenset({
    "binary", "multiclass", "regression", "regression_l1", "huber", "fair", "quantile", "mape", "poisson",
    "gamma", "tweedie", "cross_entropy", "xentropy", "cross_entropy_lambda", "xentlambda", "lambdarank",
    "rank_xendcg",
})  # fmt: skip


@dataclass(frozen=True)
class CompileResult:
    model: ModelInfo
    library: Path | None
    skipped_reason: str
    seconds: float
    max_abs_diff: float | None

    def summary(self) -> str:
        if self.library is None:
            return f"not compiled: {self.skipped_reason}; the server will use LightGBM for {self.model.path}"
        return (
            f"compiled {self.model.path} -> {self.library} in {self.seconds:.1f} s "
            f"(max |diff| vs LightGBM {self.max_abs_diff:.1e} on probe rows)"
        )


def unsupported_reason(info: ModelInfo) -> str | None:
    if info.has_linear_trees:
        return "linear trees (the compiler would ignore the leaf models)"
    if info.objective not in _SUPPORTED_OBJECTIVES:
        return f"objective {info.objective!r} has no compiled output transform"
    if _averages_output(info.path):
        return "random-forest averaging (average_output)"
    return None


def compile_model_dir(model_dir: Path) -> CompileResult:
    path = model_dir / MODEL_FILE_NAME
    try:
        info = read_model_info(path)
    except ModelLoadError as exc:  # no file is a usage error (2); a file that is no usable model fails (1)
        raise (CompileError if path.is_file() else UsageError)(exc.message) from None
    check_lightgbm_loads(info.path)
    reason = unsupported_reason(info)
    if reason is not None:
        return CompileResult(info, None, reason, 0.0, None)
    started = time.perf_counter()
    arch = artifacts.machine_arch()
    version = metadata.version(BACKEND)
    out_dir = model_dir / artifacts.COMPILED_DIR
    out_dir.mkdir(exist_ok=True)
    library = out_dir / f"model-{info.sha256[:16]}-{arch}-{BACKEND}{version}.so"
    try:
        _build_library(info, library, arch)
    except (ValueError, RuntimeError, AssertionError) as exc:  # the backend's own refusals
        return CompileResult(info, None, f"the {BACKEND} backend cannot compile it ({exc})", 0.0, None)
    try:  # a library nothing vouches for is never left behind
        rows = probe_rows(info)
        expected = _lightgbm_predict(info, rows)
        zero_band = zero_band_features(info)
        predictor = CompiledPredictor(library, SYMBOL, info.num_features, info.output_columns, 1, zero_band)
        diff = float(_max_abs_diff(expected, predictor.predict(rows, 1)))
    except BaseException:
        library.unlink(missing_ok=True)
        raise
    if not diff <= TOLERANCE:
        library.unlink()
        return CompileResult(info, None, f"compiled model differs from LightGBM by {diff:.3g}", 0.0, diff)
    stored = rows[:PROBE_ROWS_STORED]  # the edge rows
    artifacts.write_entry(
        model_dir,
        artifacts.ArtifactEntry(
            model_sha256=info.sha256,
            arch=arch,
            backend=BACKEND,
            backend_version=version,
            library=library.name,
            symbol=SYMBOL,
            output_columns=info.output_columns,
            probe_rows=[[None if math.isnan(v) else v for v in row] for row in stored.tolist()],
            probe_expected=expected[:PROBE_ROWS_STORED].tolist(),
            zero_band_features=zero_band,
        ),
    )
    return CompileResult(info, library, "", time.perf_counter() - started, diff)


def check_lightgbm_loads(path: Path, timeout_s: float = 300.0) -> None:
    """Load the model with LightGBM in a child process before this one trusts LightGBM with it: on some
    damaged files LightGBM aborts or segfaults instead of raising, which would take this process along."""
    script = "import sys, lightgbm; lightgbm.Booster(model_file=sys.argv[1])"
    try:
        done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                              timeout=timeout_s, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise CompileError(f"{path}: LightGBM did not finish loading the model in {timeout_s:g} s") from None
    if done.returncode == 0:
        return
    fatal = [line for line in done.stderr.splitlines() + done.stdout.splitlines() if "[Fatal]" in line]
    said = f": {fatal[0].split('[Fatal]', 1)[1].strip()[:200]}" if fatal else ""
    how = f"was killed by {signal.Signals(-done.returncode).name}" if done.returncode < 0 else "failed"
    raise CompileError(f"{path}: LightGBM cannot load this model (loading it {how}{said})")


def _build_library(info: ModelInfo, library: Path, arch: str) -> None:
    import lleaves

    linker = shutil.which("cc") or shutil.which("gcc")
    if linker is None:
        raise CompileError("linking the compiled model needs a C compiler driver (cc or gcc) on PATH")
    with tempfile.TemporaryDirectory(prefix="leafline-compile-") as tmp:
        obj = Path(tmp) / "model.o"
        model = lleaves.Model(model_file=str(info.path))
        model.compile(
            cache=str(obj),
            froot_func_name=SYMBOL,
            target_cpu=_TARGET_CPU.get(arch, "generic"),
            target_cpu_features="",
            fcodemodel="small" if info.size_bytes < 50 * 2**20 else "large",
        )
        partial = library.with_suffix(".partial")
        done = subprocess.run(
            [linker, "-shared", "-o", str(partial), str(obj), "-lm"], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise CompileError(f"linking {library.name} failed: {done.stderr.strip()[:500]}")
        partial.replace(library)


def probe_rows(info: ModelInfo, rows: int = 2000, seed: int = 7) -> npt.NDArray[np.float64]:
    """Rows that visit every kind of branch, edge rows first (they are the ones stored for the start-up
    check): each edge value LightGBM special-cases in every feature; then every numerical split threshold
    with its two neighbouring doubles; then random rows over each feature's range from the model header,
    with missing values, exact and tiny zeros, negatives, values past both ends, and category codes seen
    and unseen."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ranges = _feature_ranges(info.path, info.num_features)
    columns = []
    for low, high, categories in ranges:
        if categories:
            pool = np.array([*categories, -1, -3, max(categories) + 1, max(categories) + 50], dtype=np.float64)
            column = rng.choice(pool, size=rows)
        else:
            span = (high - low) or 1.0
            column = rng.uniform(low - 0.1 * span, high + 0.1 * span, size=rows)
            negative = rng.random(rows) < 0.02
            column[negative] = -np.abs(column[negative]) - 1.0
        column[rng.random(rows) < 0.1] = np.nan
        column[rng.random(rows) < 0.05] = 0.0
        tiny = rng.random(rows) < 0.03
        column[tiny] = rng.choice(EDGE_VALUES, size=int(tiny.sum()))
        columns.append(column)
    random_rows = np.column_stack(columns)
    edge_rows = np.repeat(np.array(EDGE_VALUES, dtype=np.float64)[:, None], info.num_features, axis=1)
    split_rows = _split_rows(info, random_rows, rng)
    return np.ascontiguousarray(np.vstack([edge_rows, split_rows, random_rows]))


# What LightGBM treats specially: missing, the two zeros, |x| <= kZeroThreshold (its float 1e-35 as a
# double) and the doubles either side of it, subnormals, and the smallest normal doubles.
_ZERO_THRESHOLD = 1.0000000180025095e-35
EDGE_VALUES = (
    math.nan, 0.0, -0.0, _ZERO_THRESHOLD, -_ZERO_THRESHOLD,
    math.nextafter(_ZERO_THRESHOLD, math.inf), -math.nextafter(_ZERO_THRESHOLD, math.inf),
    math.nextafter(_ZERO_THRESHOLD, 0.0), -math.nextafter(_ZERO_THRESHOLD, 0.0),
    1e-36, -1e-36, 5e-324, -5e-324, 2.2250738585072014e-308, -2.2250738585072014e-308, 1e-40, -1e-40,
)  # fmt: skip
_MAX_SPLIT_NODES = 30_000  # 3 rows each; a bigger model gets a random sample of its nodes


@dataclass(frozen=True)
class _Tree:
    features: list[int]
    thresholds: list[float]
    decision_types: list[int]
    left: list[int]
    right: list[int]


def _split_rows(info: ModelInfo, base: npt.NDArray[np.float64], rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """For each numerical split: rows that reach that node (every numerical split above it satisfied) with
    its feature on the threshold and on the doubles just below and above it, where `x <= threshold`
    changes side. Features the path does not constrain come from the random rows."""
    import numpy as np

    trees = _trees(info.path)
    total = sum(len(tree.features) for tree in trees)
    keep = min(1.0, _MAX_SPLIT_NODES / total) if total else 0.0
    rows: list[npt.NDArray[np.float64]] = []
    for tree in trees:
        stack: list[tuple[int, dict[int, tuple[float, float]]]] = [(0, {})] if tree.features else []
        while stack:
            node, box = stack.pop()
            feature, threshold = tree.features[node], tree.thresholds[node]
            left_box = right_box = box
            if not tree.decision_types[node] & 1:  # bit 0 set: a categorical split, not constrained here
                if keep >= 1.0 or rng.random() < keep:
                    row = base[rng.integers(len(base))].copy()
                    for constrained, (low, high) in box.items():
                        row[constrained] = _inside(low, high)
                    for value in (threshold, math.nextafter(threshold, -math.inf), math.nextafter(threshold, math.inf)):
                        row[feature] = value
                        rows.append(row.copy())
                low, high = box.get(feature, (-math.inf, math.inf))
                left_box = {**box, feature: (low, min(high, threshold))}
                right_box = {**box, feature: (max(low, threshold), high)}
            for child, child_box in ((tree.left[node], left_box), (tree.right[node], right_box)):
                if child >= 0:  # negative: a leaf
                    stack.append((child, child_box))
    return np.array(rows, dtype=np.float64).reshape(-1, info.num_features)


def zero_band_features(info: ModelInfo) -> list[int]:
    """The features where making |x| <= kZeroThreshold 0.0 (as LightGBM does) can change a decision, so
    the only ones the server must look at: a numerical threshold in [-kZeroThreshold, kZeroThreshold)
    (typically exactly -kZeroThreshold), a split whose missing type is Zero, or a categorical split.
    The probe rows check the result like everything else: a feature missed here fails the compile."""
    found: set[int] = set()
    for tree in _trees(info.path):
        for feature, threshold, kind in zip(tree.features, tree.thresholds, tree.decision_types, strict=True):
            categorical, zero_missing = kind & 1, (kind >> 2) & 3 == 1
            if categorical or zero_missing or -_ZERO_THRESHOLD <= threshold < _ZERO_THRESHOLD:
                found.add(feature)
    return sorted(found)


def _inside(low: float, high: float) -> float:
    """A value x with low < x <= high (the side of each split above a node that leads to it)."""
    if math.isinf(low) and math.isinf(high):
        return 0.5
    if math.isinf(low):
        return high - max(1.0, abs(high))
    if math.isinf(high):
        return low + max(1.0, abs(low))
    middle = low + (high - low) / 2
    return middle if low < middle <= high else high


def _trees(path: Path) -> list[_Tree]:
    trees: list[_Tree] = []
    fields: dict[str, list[str]] = {}
    wanted = ("split_feature", "threshold", "decision_type", "left_child", "right_child")
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key in wanted:
            fields[key] = value.split()
        elif key == "Tree" or line == "end of trees":
            if all(name in fields for name in wanted):
                trees.append(_Tree(
                    [int(v) for v in fields["split_feature"]], [float(v) for v in fields["threshold"]],
                    [int(v) for v in fields["decision_type"]], [int(v) for v in fields["left_child"]],
                    [int(v) for v in fields["right_child"]],
                ))  # fmt: skip
            fields = {}
            if line == "end of trees":
                break
    return trees


def _feature_ranges(path: Path, num_features: int) -> list[tuple[float, float, list[int]]]:
    infos: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("feature_infos="):
            infos = line.partition("=")[2].split()
            break
        if line.startswith("Tree="):
            break
    ranges: list[tuple[float, float, list[int]]] = []
    for index in range(num_features):
        item = infos[index] if index < len(infos) else "none"
        if item.startswith("[") and ":" in item:
            low, high = (float(x) for x in item.strip("[]").split(":"))
            ranges.append((low, high, []))
        elif item != "none" and all(part.lstrip("-").isdigit() for part in item.split(":")):
            ranges.append((0.0, 0.0, [int(part) for part in item.split(":")]))
        else:
            ranges.append((-1.0, 1.0, []))
    return ranges


def _lightgbm_predict(info: ModelInfo, rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    import lightgbm
    import numpy as np

    booster = lightgbm.Booster(model_file=str(info.path))
    return np.asarray(booster.predict(rows, num_threads=1), dtype=np.float64)


def _max_abs_diff(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    import numpy as np

    if a.shape != b.shape:
        return float("inf")
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    return float(np.nanmax(np.where(np.isnan(diff), np.inf, diff))) if diff.size else 0.0


def _averages_output(path: Path) -> bool:
    with path.open() as handle:
        for line in handle:
            if line.strip() == "average_output":
                return True
            if line.startswith("Tree="):
                return False
    return False
