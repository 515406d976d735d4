"""Run the image as SageMaker runs it: `IMAGE serve`, the image's non-root user, a read-only root
filesystem (only /tmp writable), every capability dropped, the model mounted read-only at /opt/ml/model,
SageMaker's environment variables, and either no network at all or only port 8080 published on
127.0.0.1 (what a Batch Transform agent reaches). With no network, clients reach the server from inside
the container's network namespace (`nsenter`, as root), which is how the contract tests run against it.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from leafline.tools.image.engine import Engine, EngineError

MODEL_MOUNT = "/opt/ml/model"
SCRATCH = "/tmp:rw,size=512m"  # noqa: S108 - the container's own /tmp (a tmpfs), not the host's
# Inside the container's network namespace: poll /ping until 200 (exit 0); exit 1 once the container
# process is gone (its PID, argv[2], no longer exists) or the time is up.
_PING_LOOP = """
import http.client, os, sys, time
deadline, pid = time.monotonic() + float(sys.argv[1]), int(sys.argv[2])
while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", 8080, timeout=2)
        connection.request("GET", "/ping")
        if connection.getresponse().status == 200:
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.01)
sys.exit(1)
"""


def sagemaker_run_arguments(
    image: str, model_dir: Path, environment: Mapping[str, str], engine: Engine, *, publish: str | None = None,
    detach: bool = True,
) -> list[str]:  # fmt: skip
    """`run` arguments, locked down as above, with an init process (so SIGTERM stops it at once): detached,
    or in the foreground and removed when it stops; no network, or port 8080 published on 127.0.0.1:publish."""
    network = ["--network", "none"]
    if publish is not None:
        slirp = ["--network", "slirp4netns:port_handler=slirp4netns"] if engine.name == "podman" else []
        network = [*slirp, "-p", f"127.0.0.1:{publish}:8080"]
    env = [item for key, value in sorted(environment.items()) for item in ("-e", f"{key}={value}")]
    return ["run", "-d" if detach else "--rm", "--init", "--read-only", "--tmpfs", SCRATCH, "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", *network, "-v", f"{model_dir.resolve()}:{MODEL_MOUNT}:ro",
            *env, image, "serve"]  # fmt: skip


@dataclass
class Container:
    engine: Engine
    container_id: str
    started: float  # time.perf_counter() just before `run`

    @property
    def pid(self) -> int:
        return int(self.engine.run("inspect", "--format", "{{.State.Pid}}", self.container_id).strip())

    def inside(self, *command: str) -> list[str]:
        """A host command run in the container's network namespace (needs root)."""
        return ["nsenter", f"--net=/proc/{self.pid}/ns/net", *command]

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Seconds from `run` to the first 200 from /ping (checked from inside its network namespace)."""
        pid = self.pid
        done = subprocess.run(self.inside(sys.executable, "-c", _PING_LOOP, str(timeout), str(pid)), check=False)
        if done.returncode != 0:
            state = self.engine.run("inspect", "--format", "{{.State.Status}}", self.container_id, check=False)
            raise EngineError(f"no 200 from /ping (container {state.strip() or 'gone'}): {self.logs()[-1500:]}")
        return time.perf_counter() - self.started

    def logs(self) -> str:
        return self.engine.run("logs", self.container_id, check=False)

    def logs_command(self) -> str:
        return shlex.join(self.engine.command("logs", self.container_id))

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.engine.command("exec", self.container_id, *command), env=self.engine.environment(),
                              capture_output=True, text=True, check=False)  # fmt: skip

    def stop(self) -> None:
        self.engine.run("rm", "-f", "-t", "5", self.container_id, check=False)


def start(
    engine: Engine, image: str, model_dir: Path, environment: Mapping[str, str] | None = None,
    publish_port: int | None = None, extra: Sequence[str] = (),
) -> Container:  # fmt: skip
    port = None if publish_port is None else str(publish_port)
    arguments = sagemaker_run_arguments(image, model_dir, environment or {}, engine, publish=port)
    started = time.perf_counter()
    container_id = engine.run(*arguments[:-2], *extra, *arguments[-2:]).strip().splitlines()[-1]
    return Container(engine, container_id, started)


def serve_command(engine: Engine, image: str, scratch: Path) -> Callable[[Mapping[str, str], Path], list[str]]:
    """The emulator's instance as the image (`--engine container`): run in the foreground as SageMaker runs it,
    port 8080 published on the "{port}" the emulator chose, removed when it stops. A model directory the
    image's user could not read is copied (readable) under scratch first."""

    def command(environment: Mapping[str, str], model_dir: Path) -> list[str]:
        mounted = readable_model_dir(model_dir, scratch)
        arguments = sagemaker_run_arguments(image, mounted, environment, engine, publish="{port}", detach=False)
        settings = [f"{key}={value}" for key, value in sorted(engine.env.items())]
        return ["env", *settings, *engine.command(*arguments)] if settings else engine.command(*arguments)

    return command


def readable_model_dir(model_dir: Path, scratch: Path) -> Path:
    """model_dir itself when everyone may read it, else a readable copy (the image runs as a non-root user)."""
    import hashlib
    import shutil
    import stat

    def readable_by_all(path: Path) -> bool:
        need = stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0)
        return path.stat().st_mode & need == need

    if all(readable_by_all(p) for p in [model_dir, *model_dir.rglob("*")]):
        return model_dir
    # One copy per source directory, refreshed each time (not one more per job, filling the disk).
    copy = scratch / hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:16]
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(model_dir, copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return copy


def start_times(engine: Engine, image: str, model_dir: Path, runs: int) -> list[float]:
    """Seconds from `run` to the first 200 from /ping, for `runs` fresh containers (no network, as in tests)."""
    times = []
    for _ in range(runs):
        started = start(engine, image, model_dir, {"SAGEMAKER_BIND_TO_PORT": "8080"})
        try:
            times.append(started.wait_ready())
        finally:
            started.stop()
    return times
