"""Deterministic sample data and models: the demo's model, the benchmark's workload, test fixtures.

The standard workload (from the seeds' study): binary LightGBM models on 50 numeric features,
"big" = 500 trees x 63 leaves, "small" = 100 trees x 31 leaves, scored in 6 MB CSV mini-batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class ModelShape:
    name: str
    trees: int
    leaves: int


BIG = ModelShape("big", trees=500, leaves=63)
SMALL = ModelShape("small", trees=100, leaves=31)
DEMO = ModelShape("demo", trees=100, leaves=31)
NUM_FEATURES = 50
MISSING_FRACTION = 0.05


def features(rows: int, seed: int, num_features: int = NUM_FEATURES) -> npt.NDArray[np.float64]:
    """Gaussian features with ~5% missing values and some exact zeros, as real tables have."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, num_features))
    x[rng.random(size=x.shape) < MISSING_FRACTION] = np.nan
    x[rng.random(size=x.shape) < 0.01] = 0.0
    return x


def labels(x: npt.NDArray[np.float64], seed: int) -> npt.NDArray[np.int64]:
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    z = np.nan_to_num(x)
    signal = np.sin(z[:, 0]) + z[:, 1] * z[:, 2] - 0.5 * np.abs(z[:, 3]) + 0.3 * z[:, 4:10].sum(axis=1)
    result: npt.NDArray[np.int64] = (signal + rng.normal(scale=0.5, size=len(z)) > 0).astype(np.int64)
    return result


def train_binary(shape: ModelShape, path: Path, rows: int = 60_000, seed: int = 0) -> Path:
    """Train and save a binary model with the given trees x leaves; deterministic for a seed."""
    import lightgbm

    x = features(rows, seed)
    params: dict[str, Any] = {
        "objective": "binary",
        "num_leaves": shape.leaves,
        "min_data_in_leaf": 5,
        "learning_rate": 0.05,
        "deterministic": True,
        "num_threads": 2,
        "seed": seed,
        "verbose": -1,
    }
    booster = lightgbm.train(params, lightgbm.Dataset(x, labels(x, seed)), num_boost_round=shape.trees)
    path.parent.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(path))
    return path


def csv_batch(rows: int, seed: int, num_features: int = NUM_FEATURES) -> bytes:
    """A headerless CSV mini-batch; missing values are empty fields, floats with 6 significant digits."""
    x = features(rows, seed, num_features)
    lines = (",".join("" if math.isnan(v) else f"{v:.6g}" for v in row) for row in x.tolist())
    return ("\n".join(lines) + "\n").encode()


def csv_batch_of_size(target_bytes: int, seed: int) -> bytes:
    """The largest whole-record CSV batch that fits target_bytes (a 6 MB MaxPayloadInMB batch)."""
    probe = csv_batch(1000, seed)
    rows = int(1000 * target_bytes / len(probe))
    body = csv_batch(rows, seed)
    while len(body) > target_bytes:
        rows -= max(1, (len(body) - target_bytes) // (len(body) // rows) + 1)
        body = csv_batch(rows, seed)
    return body
