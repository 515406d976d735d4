"""What transform jobs and endpoints share: clients of local AWS itself, a work folder, a log, the container."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from leafline.local_aws.loopback import Loopback
from leafline.transform.instances import ServeCommand


@dataclass
class Host:
    loopback: Loopback
    workdir: Path  # each job's and endpoint's model copy and logs
    log: Callable[[str], None] = lambda line: None
    serve_command: ServeCommand | None = None  # another container (default: this Python's `serve`)
