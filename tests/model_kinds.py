"""Small LightGBM models of every kind the server must reproduce, trained deterministically for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Kind:
    name: str
    params: dict[str, Any]
    label: str = "binary"  # how labels are drawn: binary, multiclass, positive, unit, relevance, real
    categorical: tuple[int, ...] = ()
    rounds: int = 12
    compiles: bool = True  # whether the compiled backend is expected to take this model
    extra: dict[str, Any] = field(default_factory=dict)


KINDS = [
    Kind("binary", {"objective": "binary"}),
    Kind("binary_sigmoid_half", {"objective": "binary", "sigmoid": 0.5}),
    Kind("multiclass", {"objective": "multiclass", "num_class": 3}, label="multiclass"),
    Kind("multiclassova", {"objective": "multiclassova", "num_class": 3}, label="multiclass", compiles=False),
    Kind("regression", {"objective": "regression"}, label="real"),
    Kind("regression_sqrt", {"objective": "regression", "reg_sqrt": True}, label="real"),
    Kind("regression_l1", {"objective": "regression_l1"}, label="real"),
    Kind("huber", {"objective": "huber"}, label="real"),
    Kind("quantile", {"objective": "quantile", "alpha": 0.8}, label="real"),
    Kind("poisson", {"objective": "poisson"}, label="positive"),
    Kind("gamma", {"objective": "gamma"}, label="positive"),
    Kind("tweedie", {"objective": "tweedie"}, label="positive"),
    Kind("cross_entropy", {"objective": "cross_entropy"}, label="unit"),
    Kind("lambdarank", {"objective": "lambdarank"}, label="relevance"),
    Kind(
        "random_forest",
        {"objective": "binary", "boosting": "rf", "bagging_fraction": 0.8, "bagging_freq": 1},
        compiles=False,
    ),
    Kind("dart", {"objective": "binary", "boosting": "dart"}),
    Kind("categorical", {"objective": "binary", "min_data_per_group": 5, "cat_smooth": 1}, categorical=(0, 3)),
    # lleaves tests `x == 0` where LightGBM tests |x| <= 1e-35: equal once tiny values are made 0.0 first,
    # as LightGBM itself does before its trees (predictors.as_lightgbm_sees_it).
    Kind("zero_as_missing", {"objective": "binary", "zero_as_missing": True}),
    Kind("no_missing_handling", {"objective": "binary", "use_missing": False}),
    Kind("linear_trees", {"objective": "regression", "linear_tree": True}, label="real", compiles=False),
]

NUM_FEATURES = 6


def features(rows: int, seed: int, categorical: tuple[int, ...] = ()) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, NUM_FEATURES))
    for column in categorical:
        x[:, column] = rng.integers(0, 8 if column == 0 else 20, size=rows)
    x[rng.random(size=x.shape) < 0.08] = np.nan
    x[rng.random(size=x.shape) < 0.03] = 0.0
    return x


def _labels(kind: Kind, x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = np.nan_to_num(x)
    signal = z[:, 0] * 0.8 + np.sin(z[:, 1]) + z[:, 2] * z[:, 4] + rng.normal(scale=0.3, size=len(z))
    if kind.label == "binary":
        return (signal > 0).astype(float)
    if kind.label == "multiclass":
        return np.digitize(signal, [-0.5, 0.5]).astype(float)
    if kind.label == "positive":
        return np.exp(signal / 2)
    if kind.label == "unit":
        return 1 / (1 + np.exp(-signal))
    if kind.label == "relevance":
        return np.digitize(signal, [-1, 0, 1]).astype(float)
    return signal


def train(kind: Kind, directory: Path, rows: int = 1500, seed: int = 0) -> Path:
    x = features(rows, seed, kind.categorical)
    params = {
        "num_leaves": 15,
        "min_data_in_leaf": 5,
        "verbose": -1,
        "deterministic": True,
        "num_threads": 1,
        "seed": seed,
        **kind.params,
    }
    dataset_args: dict[str, Any] = {"categorical_feature": list(kind.categorical)} if kind.categorical else {}
    if kind.label == "relevance":
        dataset_args["group"] = [50] * (rows // 50)
    dataset = lightgbm.Dataset(x, _labels(kind, x, seed), **dataset_args)
    booster = lightgbm.train(params, dataset, num_boost_round=kind.rounds)
    directory.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(directory / "model.txt"))
    return directory


def scoring_rows(num_features: int, rows: int = 300, seed: int = 11, categorical: tuple[int, ...] = ()) -> np.ndarray:
    """Rows with missing values, zeros, negatives, far-out values and unseen/negative category codes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=2.0, size=(rows, num_features))
    for column in categorical:
        x[:, column] = rng.choice([0, 1, 2, 3, 5, 7, 19, 25, -1, 40], size=rows)
    x[rng.random(size=x.shape) < 0.1] = np.nan
    x[rng.random(size=x.shape) < 0.05] = 0.0
    x[rng.random(size=x.shape) < 0.03] = 1e-36  # LightGBM's "zero" includes |x| <= 1e-35
    x[0, :] = np.nan
    return x


def to_csv(x: np.ndarray) -> bytes:
    """Full-precision CSV (repr round-trips), empty field for missing."""
    lines = (",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in x)
    return ("\n".join(lines) + "\n").encode()
