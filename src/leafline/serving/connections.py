"""Connections: one event loop holds every open connection, a fixed pool of workers serves requests.

A thread per connection let 1,000 slow clients cost 1,000 threads, and a client that stalled held its
thread forever. Here an idle keep-alive connection, or one still sending its header section, costs a
file descriptor and a buffer in the loop, no thread; a worker takes a connection only once its headers
have arrived, every read after that waits at most the read timeout, and the connection goes back to the
loop between requests. Threads: the loop, the workers, nothing per connection.
"""

from __future__ import annotations

import contextlib
import io
import queue
import resource
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from leafline.serving.jsonlog import log_event

_HEADER_END = (b"\r\n\r\n", b"\n\n")
_RECV_BYTES = 65536


@dataclass(frozen=True)
class ConnectionLimits:
    workers: int  # requests being read or answered at once (each holds at most one body in memory)
    read_timeout: float  # seconds for a whole header section; for a body, seconds without a byte
    idle_timeout: float  # seconds a keep-alive connection may wait for its next request
    max_connections: int = 1000  # open connections; beyond it the longest-waiting one is closed
    max_header_bytes: int = 64 * 1024  # a worker takes the connection once this much arrived, headers ended or not
    min_body_rate: float = 500.0  # bytes/s a body must average after its first read timeout (body_pace); 0: off


@dataclass(eq=False)
class Connection:
    sock: socket.socket
    address: tuple[str, int]
    pending: bytearray = field(default_factory=bytearray)  # bytes the loop read before a worker took over
    since: float = field(default_factory=time.monotonic)  # first header byte, or when it began to wait


class _Prefixed(io.RawIOBase):
    """The bytes the loop already read, then the socket: what a worker's buffered reader reads from."""

    def __init__(self, connection: Connection) -> None:
        self._prefix = memoryview(bytes(connection.pending))
        self._sock = connection.sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int | None:  # type: ignore[override]
        if self._prefix:
            count = min(len(buffer), len(self._prefix))
            buffer[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            return count
        try:
            return self._sock.recv_into(buffer)
        except BlockingIOError:  # only while the worker checks for a pipelined request
            return None


class SocketWriter(io.BufferedIOBase):
    """sendall() per write: headers and body leave as soon as they are written."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._sock.sendall(data)
        return len(data)


# Serves requests from the reader until it returns False (close) or the reader has no buffered bytes.
ServeRequests = Callable[[Connection, io.BufferedReader], bool]


class ConnectionServer:
    """Accepts on address; `serve` runs each request (in a worker); `serve_forever` runs the loop."""

    def __init__(self, address: tuple[str, int], limits: ConnectionLimits, serve: ServeRequests) -> None:
        self.limits = limits
        self._serve = serve
        self._listener = socket.create_server(address, backlog=128)
        self._listener.setblocking(False)
        self.server_address: tuple[str, int] = self._listener.getsockname()[:2]
        self._max_connections = min(limits.max_connections, _fd_budget())
        self._selector = selectors.DefaultSelector()
        self._waker_read, self._waker_write = socket.socketpair()
        self._waker_read.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._waker_read, selectors.EVENT_READ, "wake")
        self._waiting: dict[Connection, None] = {}  # in the loop, oldest first
        self._open = 0
        self._open_lock = threading.Lock()
        self._returned: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._work: queue.SimpleQueue[Connection | None] = queue.SimpleQueue()
        self._stopping = False
        self._stopped = threading.Event()
        self._next_expiry = 0.0
        self._accept_paused = False
        # Started up front so the thread count is fixed; daemons, so a worker stuck on a client cannot delay exit.
        for number in range(limits.workers):
            threading.Thread(target=self._worker, name=f"http-worker-{number}", daemon=True).start()

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        try:
            while not self._stopping:
                for key, _ in self._selector.select(poll_interval):
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "wake":
                        self._drain_waker()
                    else:
                        self._receive(key.data)
                self._take_back()
                now = time.monotonic()
                if now >= self._next_expiry:  # a scan per poll interval, not per event
                    self._resume_accepting()
                    self._expire(now)
                    self._next_expiry = now + poll_interval
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        self._stopping = True
        self._wake()
        self._stopped.wait()

    def server_close(self) -> None:
        for connection in list(self._waiting):
            self._close(connection)
        self._selector.close()
        self._listener.close()
        self._waker_read.close()
        self._waker_write.close()
        for _ in range(self.limits.workers):
            self._work.put(None)

    # The loop.

    def _accept(self) -> None:
        while True:
            try:
                sock, address = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # out of descriptors despite the budget: make room, or pause accepting
                log_event("accept_failed", level="warning", error=str(exc))
                if not self._evict_oldest():
                    self._pause_accepting()
                return
            if self._open >= self._max_connections and not self._evict_oldest():
                sock.close()
                continue
            sock.setblocking(False)
            # Headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK
            # of the headers on a keep-alive connection (measured: 1 MB payloads took 60 ms instead of 15 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._open_lock:
                self._open += 1
            self._wait_for_request(Connection(sock, address))

    def _pause_accepting(self) -> None:
        """Stop watching the listener for a poll interval, so a failing accept() cannot spin the loop."""
        self._selector.unregister(self._listener)
        self._accept_paused = True

    def _resume_accepting(self) -> None:
        if self._accept_paused:
            self._selector.register(self._listener, selectors.EVENT_READ, "accept")
            self._accept_paused = False

    def _wait_for_request(self, connection: Connection) -> None:
        connection.since = time.monotonic()
        self._waiting[connection] = None
        self._selector.register(connection.sock, selectors.EVENT_READ, connection)

    def _receive(self, connection: Connection) -> None:
        try:
            data = connection.sock.recv(_RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(connection)
            return
        if not connection.pending:  # the header section's clock starts at its first byte, not its last:
            connection.since = time.monotonic()  # a byte a second cannot keep a connection open forever
        searched = max(0, len(connection.pending) - 3)  # only the new bytes (and 3 before): no rescans
        connection.pending += data
        ended = any(connection.pending.find(end, searched) >= 0 for end in _HEADER_END)
        if ended or len(connection.pending) >= self.limits.max_header_bytes:
            self._selector.unregister(connection.sock)
            del self._waiting[connection]
            self._work.put(connection)

    def _take_back(self) -> None:
        while True:
            try:
                connection = self._returned.get_nowait()
            except queue.Empty:
                return
            self._wait_for_request(connection)

    def _expire(self, now: float) -> None:
        for connection in list(self._waiting):
            if connection.pending:
                if now - connection.since > self.limits.read_timeout:
                    self._log_header_timeout(connection)
                    self._close(connection)
            elif now - connection.since > self.limits.idle_timeout:
                self._close(connection)

    def _log_header_timeout(self, connection: Connection) -> None:
        log_event(
            "read_timeout",
            level="warning",
            client=connection.address[0],
            received_bytes=len(connection.pending),
            error=f"header section not complete within LEAFLINE_READ_TIMEOUT={self.limits.read_timeout:g} s",
        )

    def _evict_oldest(self) -> bool:
        oldest = next(iter(self._waiting), None)
        if oldest is None:
            return False
        self._close(oldest)
        return True

    def _close(self, connection: Connection) -> None:
        if connection in self._waiting:
            del self._waiting[connection]
            self._selector.unregister(connection.sock)
        self._discard(connection)

    def _discard(self, connection: Connection) -> None:
        try:
            connection.sock.close()
        finally:
            with self._open_lock:
                self._open -= 1

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # the buffer is full: the loop is being woken anyway
            self._waker_write.send(b"\0")

    def _drain_waker(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._waker_read.recv(4096):
                pass

    # The workers.

    def _worker(self) -> None:
        while (connection := self._work.get()) is not None:
            keep = False
            try:
                connection.sock.settimeout(self.limits.read_timeout)
                keep = self._serve(connection, io.BufferedReader(_Prefixed(connection), _RECV_BYTES))
            except OSError:
                keep = False  # reset, broken pipe or a timed-out write: nothing left to answer
            except Exception as exc:  # a bug must not cost a worker
                log_event("connection_error", level="error", error=repr(exc))
            if keep and not self._stopping:
                connection.pending = bytearray()
                connection.sock.setblocking(False)
                self._returned.put(connection)
                self._wake()
            else:
                self._discard(connection)


def next_request_within(sock: socket.socket, reader: io.BufferedReader, linger: float, timeout: float) -> bool:
    """Whether the next request is already buffered, or starts arriving within `linger` seconds.

    A client that sends request after request (Batch Transform does) is then served by the same worker;
    handing the connection to the loop and back costs ~0.1 ms a request. An idle one goes back after linger.
    """
    sock.setblocking(False)
    try:
        if reader.peek(1):
            return True
    except OSError:
        return False
    finally:
        sock.settimeout(timeout)
    return bool(select.select([sock], [], [], linger)[0])


def _fd_budget() -> int:
    """Half the process's descriptor limit: the rest stays for the model, logs and the OS."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, soft // 2) if soft != resource.RLIM_INFINITY else 1 << 20
