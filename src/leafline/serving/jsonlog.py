"""One JSON object per line on stdout: what CloudWatch and `jq` read best."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import IO, Any

_lock = threading.Lock()


def log_event(event: str, stream: IO[str] | None = None, **fields: Any) -> None:
    record = {"ts": round(time.time(), 3), "event": event, **fields}
    line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
    out = stream or sys.stdout
    with _lock:
        out.write(line)
        out.flush()
