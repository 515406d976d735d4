"""Opt-in profiling (LEAFLINE_PROFILING=1): the Python counterpart of the seed's pprof port.

GET /debug/profile?seconds=N profiles every request that runs in the next N seconds (cProfile, merged
across request threads) and returns the top functions by cumulative time; GET /debug/stats returns
request counters, time per stage, garbage-collector counts and the process's peak RSS.
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import resource
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
MAX_PROFILE_SECONDS = 300


class Profiler:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._profiles: list[cProfile.Profile] = []
        self.requests = 0
        self.rows = 0
        self.stage_ms: dict[str, float] = {}

    def run(self, work: Callable[[], T]) -> T:
        """Run one request's work, under cProfile while a profiling window is open."""
        if time.monotonic() >= self._until:
            return work()
        profile = cProfile.Profile()
        try:
            return profile.runcall(work)
        finally:
            with self._lock:
                self._profiles.append(profile)

    def record(self, rows: int, stages_ms: dict[str, float]) -> None:
        with self._lock:
            self.requests += 1
            self.rows += rows
            for stage, ms in stages_ms.items():
                self.stage_ms[stage] = self.stage_ms.get(stage, 0.0) + ms

    def profile_for(self, seconds: float) -> str:
        seconds = min(max(seconds, 0.1), MAX_PROFILE_SECONDS)
        with self._lock:
            self._profiles = []
            self._until = time.monotonic() + seconds
        time.sleep(seconds)  # the window during which request threads profile themselves
        with self._lock:
            self._until = 0.0
            profiles, self._profiles = self._profiles, []
        if not profiles:
            return f"no requests ran during the {seconds:g} s window\n"
        out = io.StringIO()
        pstats.Stats(*profiles, stream=out).sort_stats("cumulative").print_stats(40)
        return out.getvalue()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "rows": self.rows,
                "stage_ms_total": {k: round(v, 3) for k, v in self.stage_ms.items()},
                "gc_counts": gc.get_count(),
                "gc_collections": [s["collections"] for s in gc.get_stats()],
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
