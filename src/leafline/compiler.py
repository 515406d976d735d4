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
import subprocess
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
PROBE_ROWS_STORED = 16
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
    except ModelLoadError as exc:
        raise UsageError(exc.message) from None
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
    rows = probe_rows(info)
    expected = _lightgbm_predict(info, rows)
    actual = CompiledPredictor(library, SYMBOL, info.num_features, info.output_columns, workers=1).predict(rows, 1)
    diff = float(_max_abs_diff(expected, actual))
    if not diff <= TOLERANCE:
        library.unlink()
        return CompileResult(info, None, f"compiled model differs from LightGBM by {diff:.3g}", 0.0, diff)
    stored = rows[:PROBE_ROWS_STORED]
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
        ),
    )
    return CompileResult(info, library, "", time.perf_counter() - started, diff)


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
    """Rows that visit every kind of branch: each feature's own range from the model header, with
    missing values, exact and tiny zeros, negatives, values past both ends, and category codes seen and
    unseen."""
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
        # LightGBM treats |x| <= 1e-35 as zero; a compiler that tests `== 0` diverges only there.
        tiny = rng.random(rows) < 0.03
        column[tiny] = rng.choice([1e-36, -1e-36, 1e-40, -5e-324, -0.0], size=int(tiny.sum()))
        columns.append(column)
    return np.ascontiguousarray(np.column_stack(columns))


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
