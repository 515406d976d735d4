"""What the image tests share besides fixtures: where the image is built, the container the contract suite
runs against, and a local registry (Debian's docker-registry) on 127.0.0.1, started and stopped by PID."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from leafline.tools.image import container
from leafline.tools.image.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".cache" / "image"  # `make image`'s work folder: one layer cache for every image test
SAGEMAKER_ENV = {"SAGEMAKER_BIND_TO_PORT": "8080", "SAGEMAKER_PROGRAM": "serve"}
NEEDS_ROOT = "reaching a container with no network needs root (nsenter into its network namespace)"
CONTRACT_SUITE = ROOT / "tests" / "serving" / "test_http_contract.py"
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json",
])  # fmt: skip


@dataclass(frozen=True)
class RunningImage:
    engine: Engine
    container: container.Container
    model_dir: Path


def run_contract_suite(running: RunningImage) -> subprocess.CompletedProcess[str]:
    """tests/serving/test_http_contract.py run from inside the container's network namespace against it."""
    env = {**os.environ, **running.engine.env, "LEAFLINE_CONTRACT_URL": "http://127.0.0.1:8080",
           "LEAFLINE_CONTRACT_LOGS": running.container.logs_command(),
           "LEAFLINE_CONTRACT_MODEL_DIR": str(running.model_dir)}  # fmt: skip
    command = running.container.inside(sys.executable, "-m", "pytest", str(CONTRACT_SUITE), "-q", "-p",
                                       "no:cacheprovider")  # fmt: skip
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)


@dataclass
class LocalRegistry:
    """`docker-registry serve CONFIG` on 127.0.0.1 and a port the kernel picks (read back from its log)."""

    process: subprocess.Popen[str]
    address: str = ""
    log: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @classmethod
    def start(cls, config: Path) -> LocalRegistry:
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)  # fmt: skip
        registry = cls(process)
        listening = threading.Event()

        def drain() -> None:  # read its log to the end, so a full pipe never blocks it
            assert process.stderr is not None
            for line in process.stderr:
                registry.log.append(line)
                found = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
                if found:
                    registry.address = found.group(1)
                    listening.set()
            listening.set()  # it exited

        registry.reader = threading.Thread(target=drain, daemon=True)
        registry.reader.start()
        listening.wait(timeout=30)
        if not registry.address:
            registry.stop()
            raise RuntimeError("docker-registry did not start: " + "".join(registry.log)[-2000:])
        return registry

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def manifest(self, name: str, reference: str) -> tuple[str, bytes]:
        """(media type, exact bytes) of the manifest stored under a tag or digest."""
        request = urllib.request.Request(f"http://{self.address}/v2/{name}/manifests/{reference}",
                                         headers={"Accept": MANIFEST_TYPES})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers.get_content_type(), response.read()

    def tags(self, name: str) -> list[str]:
        import json

        with urllib.request.urlopen(f"http://{self.address}/v2/{name}/tags/list", timeout=10) as response:
            tags: list[str] = json.loads(response.read())["tags"] or []
            return tags


def registry_config(storage: Path, *, read_only: bool = False, login: bool = False) -> str:
    """A registry on 127.0.0.1 (port 0: the kernel picks), storing in storage; read-only refuses pushes; login:
    HTTP basic auth as ECR asks for it (no one logs in here, so the one user's hash never has to match)."""
    maintenance = "  maintenance:\n    readonly:\n      enabled: true\n" if read_only else ""
    users = storage.parent / "htpasswd"
    if login:
        users.write_text("nobody:$2y$05$" + "x" * 53 + "\n")
    auth = f"auth:\n  htpasswd:\n    realm: leafline-tests\n    path: {users}\n" if login else ""
    return (f"version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {storage}\n"
            f"{maintenance}http:\n  addr: 127.0.0.1:0\n  secret: leafline-tests-only\n{auth}")  # fmt: skip
