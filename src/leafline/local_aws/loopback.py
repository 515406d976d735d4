"""boto3 clients that call local AWS itself, with throwaway credentials (no AWS account is involved)."""

from __future__ import annotations

import threading
from typing import Any

from leafline.sagemaker.storage import Storage

LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class Loopback:
    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()  # building a boto3 client is not thread-safe; using one is

    def client(self, service: str, region: str) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                import boto3

                session = boto3.session.Session(
                    aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
                    aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
                    region_name=region,
                )
                self._clients[key] = session.client(service, endpoint_url=self.url)  # type: ignore[call-overload]
            return self._clients[key]

    def storage(self, region: str) -> Storage:
        return Storage(region=region, client=self.client("s3", region))
