"""POST /invocations as Batch Transform does: a keep-alive connection per worker, a timeout, retries.

InvocationsTimeoutInSeconds bounds each wait on the socket (connect, and each read of the answer): a
container that computes in silence for longer is treated as not answering, as SageMaker does.
Which failures InvocationsMaxRetries covers is undocumented; leafline retries what may pass on a second
try (no answer, a dropped connection, 5xx and 429) and not other 4xx, which say the payload is bad and
would fail again. Retries resend the same payload, so /invocations must be idempotent (leafline's is).
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass

from leafline.errors import LeaflineError

_RETRY_BACKOFF_S = (0.05, 0.2, 0.5)


class InvocationError(LeaflineError):
    """The container did not answer 200 after every allowed attempt; the message is SageMaker's wording."""

    def __init__(self, message: str, status: int | None, attempts: int) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


@dataclass(frozen=True)
class InvocationSettings:
    timeout_s: float
    max_retries: int
    content_type: str | None
    accept: str | None


class Invoker:
    """Not thread-safe: each worker owns one."""

    def __init__(self, port: int, settings: InvocationSettings, host: str = "127.0.0.1") -> None:
        self._host = host
        self._port = port
        self._settings = settings
        self._headers = {k: v for k, v in (("Content-Type", settings.content_type), ("Accept", settings.accept)) if v}
        self._connection: http.client.HTTPConnection | None = None
        self.retries = 0

    def invoke(self, body: bytes) -> bytes:
        attempts = self._settings.max_retries + 1
        failure = InvocationError("no attempt made", None, 0)
        for attempt in range(attempts):
            if attempt:
                self.retries += 1
                time.sleep(_RETRY_BACKOFF_S[min(attempt - 1, len(_RETRY_BACKOFF_S) - 1)])
            status, answer = self._post(body)
            if status == 200:
                return answer
            failure = InvocationError(self._describe(status, answer), status, attempt + 1)
            if status is not None and 400 <= status < 500 and status != 429:
                break
        raise failure

    def _post(self, body: bytes) -> tuple[int | None, bytes]:
        try:
            connection = self._connection or self._connect()
            connection.request("POST", "/invocations", body=body, headers=self._headers)
            response = connection.getresponse()
            answer = response.read()
            if response.will_close:
                self.close()
            return response.status, answer
        except TimeoutError:
            self.close()
            return None, f"no response within {self._settings.timeout_s:g} s".encode()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return None, f"the connection failed ({type(exc).__name__}: {exc})".encode()

    def _connect(self) -> http.client.HTTPConnection:
        self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self._settings.timeout_s)
        return self._connection

    def _describe(self, status: int | None, answer: bytes) -> str:
        text = answer.decode("utf-8", errors="replace").strip()
        if len(text) > 300:
            text = text[:300] + "..."
        if status is None:
            return f"Unable to get response from algorithm: {text}"
        return f"ClientError: {status}: {text}" if text else f"ClientError: {status}"

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
