"""How long a request body may take to arrive: the read timeout, plus one second per `min_rate` bytes
received (Apache's mod_reqtimeout MinRate). Without it a client trickling a byte just inside each read
timeout would hold a worker for as long as it liked; with it such a body fails with a 408 once it falls
behind, while a real client (Batch Transform sends a body at network speed) never notices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BodyPace:
    started: float  # time.monotonic() when the body's first read began
    read_timeout: float  # seconds a read may wait for a byte
    min_rate: float  # bytes per second on average after the first read_timeout; 0 turns the pace off

    def deadline(self, received: int) -> float:
        if self.min_rate <= 0:
            return math.inf
        return self.started + self.read_timeout + received / self.min_rate

    def next_wait(self, received: int, now: float) -> float:
        """Seconds the next read may wait for a byte: the read timeout, or less when the deadline is near
        (<= 0: the body is already behind)."""
        return min(self.read_timeout, self.deadline(received) - now)

    def behind_message(self, received: int, now: float) -> str:
        return (
            f"request body too slow: {received} bytes in {now - self.started:.1f} s; after the first "
            f"LEAFLINE_READ_TIMEOUT={self.read_timeout:g} s a body must arrive at LEAFLINE_MIN_BODY_RATE="
            f"{self.min_rate:g} bytes/s on average"
        )
