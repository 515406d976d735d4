"""The score distribution in bounded memory (histogram, quantiles) and its drift from a previous run (PSI).

Histogram counts are exact when the bin edges are known before reading (probabilities: ten bins over
[0, 1]; or the previous report's edges, so PSI compares like with like). Otherwise edges are the deciles of
a uniform sample of up to 100,000 scores and the counts are scaled from that sample ("approximate": true).
Quantiles always come from the sample (exact when there are fewer scores than that).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

RESERVOIR = 100_000
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
PSI_FLOOR = 1e-4  # an empty bin counts as this share, so PSI stays finite


class ScoreSummary:
    def __init__(self, columns: int, edges: Sequence[Sequence[float]] | None, seed: int = 0) -> None:
        self.columns = columns
        self._edges = [np.asarray(e, dtype=np.float64) for e in edges] if edges else None
        self._counts = [np.zeros(len(e) - 1, dtype=np.int64) for e in self._edges] if self._edges else None
        self._rng = np.random.default_rng(seed)
        self._sample = np.empty((0, columns))
        self._keys = np.empty(0)
        self._count = 0
        self._sum = np.zeros(columns)
        self._min = np.full(columns, math.inf)
        self._max = np.full(columns, -math.inf)

    def add(self, scores: npt.NDArray[np.float64]) -> None:
        finite = scores[np.isfinite(scores).all(axis=1)]
        if not len(finite):
            return
        self._count += len(finite)
        self._sum += finite.sum(axis=0)
        self._min = np.minimum(self._min, finite.min(axis=0))
        self._max = np.maximum(self._max, finite.max(axis=0))
        if self._edges is not None and self._counts is not None:
            for column, edges in enumerate(self._edges):
                clipped = np.clip(finite[:, column], edges[0], edges[-1])
                self._counts[column] += np.histogram(clipped, bins=edges)[0]
        # Bottom-k by random key: a uniform sample of every score seen, whatever the arrival order.
        keys = self._rng.random(len(finite))
        self._sample = np.concatenate([self._sample, finite])
        self._keys = np.concatenate([self._keys, keys])
        if len(self._keys) > RESERVOIR:
            keep = np.argpartition(self._keys, RESERVOIR)[:RESERVOIR]
            self._sample, self._keys = self._sample[keep], self._keys[keep]

    def to_json(self) -> dict[str, Any]:
        columns = []
        for column in range(self.columns):
            sample = self._sample[:, column]
            histogram = self._histogram(column, sample)
            columns.append({
                "column": column,
                "count": self._count,
                "mean": float(self._sum[column] / self._count) if self._count else None,
                "min": float(self._min[column]) if self._count else None,
                "max": float(self._max[column]) if self._count else None,
                "quantiles": {f"{q:g}": float(np.quantile(sample, q)) for q in QUANTILES} if len(sample) else {},
                "histogram": histogram,
            })  # fmt: skip
        return {"count": self._count, "sampled": len(self._sample), "columns": columns}

    def _histogram(self, column: int, sample: npt.NDArray[np.float64]) -> dict[str, Any]:
        if self._edges is not None and self._counts is not None:
            return {
                "edges": self._edges[column].tolist(),
                "counts": self._counts[column].tolist(),
                "approximate": False,
            }
        if not len(sample):
            return {"edges": [], "counts": [], "approximate": True}
        edges = np.unique(np.quantile(sample, np.linspace(0, 1, 11)))
        if len(edges) < 2:
            edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
        counts = np.histogram(sample, bins=edges)[0] * (self._count / len(sample))
        return {"edges": edges.tolist(), "counts": [round(float(c)) for c in counts], "approximate": True}


def probability_edges(columns: int) -> list[list[float]]:
    return [np.linspace(0.0, 1.0, 11).tolist() for _ in range(columns)]


def previous_edges(previous: dict[str, Any] | None, columns: int) -> list[list[float]] | None:
    """The previous report's bin edges, when it summarised the same number of columns."""
    if not previous:
        return None
    past = previous.get("scores", {}).get("columns", [])
    if len(past) != columns or not all(len(c.get("histogram", {}).get("edges", [])) >= 2 for c in past):
        return None
    return [list(c["histogram"]["edges"]) for c in past]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index between two histograms over the same bins."""
    expected_total, actual_total = sum(expected), sum(actual)
    if not expected_total or not actual_total:
        return math.nan
    value = 0.0
    for e, a in zip(expected, actual, strict=True):
        p = max(e / expected_total, PSI_FLOOR)
        q = max(a / actual_total, PSI_FLOOR)
        value += (q - p) * math.log(q / p)
    return value
