"""gunicorn's gthread worker with a header-read timeout in front of its threads.

Stock gthread hands a connection to a thread as soon as its first bytes arrive, and the thread then
blocks until the whole request head has come: 64 clients that each send half a request line and
wait hold every thread of ``mamori serve`` (2 workers × 32), and the site, /healthz included, stops
answering — a slowloris, from any trainee's laptop when the server listens on the venue network.

``PrereadWorker`` reads in its event loop instead, without a thread: the request head and a body of
up to ``BODY_PREREAD`` bytes must all arrive within ``MAMORI_REQUEST_READ_SECONDS`` of the
connection (or of its next request on a kept-alive one), or the connection is closed. Only a complete
request reaches a thread. A larger or chunked body is read by the thread as usual, but with that same
timeout on the socket, so a stalled upload frees its thread. WebSocket upgrades have no body: their
socket keeps no timeout (a terminal is idle for minutes).

It subclasses gunicorn's internals (pinned in pyproject.toml); ``tests/test_serve.py`` runs the real
``mamori serve`` against 80 half-open connections.
"""
from __future__ import annotations

import errno
import os
import re
import resource
import selectors
import time
from dataclasses import dataclass, field
from functools import partial

from gunicorn.workers.gthread import TConn, ThreadWorker

READ_TIMEOUT_ENV = "MAMORI_REQUEST_READ_SECONDS"
DEFAULT_READ_TIMEOUT = 10.0
MAX_HEAD = 64 * 1024  # gunicorn refuses a longer request line or header anyway
BODY_PREREAD = 64 * 1024  # every form and JSON body of the platform fits; larger ones stream to the app
_CONTENT_LENGTH = re.compile(rb"^content-length:[ \t]*([^\r\n]*?)[ \t]*\r?$", re.I | re.M)
_STREAMED = re.compile(rb"^(transfer-encoding|expect):", re.I | re.M)


@dataclass
class Preread:
    """What a connection has sent of its next request so far."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)

    def ready(self) -> tuple[bool, bool]:
        """(ready for a thread, whole request in hand). Not whole: the thread reads the rest under a timeout."""
        end = self.data.find(b"\r\n\r\n")
        if end < 0:
            return len(self.data) > MAX_HEAD, False
        head = bytes(self.data[:end + 2])
        if _STREAMED.search(head):  # chunked, or a client waiting for "100 Continue" before its body
            return True, False
        lengths = _CONTENT_LENGTH.findall(head)
        if not lengths:
            return True, True
        if len(lengths) > 1 or not lengths[0].isdigit() or int(lengths[0]) > BODY_PREREAD:
            return True, False  # gunicorn refuses the odd ones; a big body streams to the app
        return len(self.data) >= end + 4 + int(lengths[0]), True


class PrereadWorker(ThreadWorker):
    """gthread, except that the event loop reads each request (head and small body) before a thread takes it."""

    def init_process(self) -> None:
        self.read_timeout = float(os.environ.get(READ_TIMEOUT_ENV) or DEFAULT_READ_TIMEOUT)
        self.reading: dict[TConn, Preread] = {}
        # Idle and slow connections now cost a file descriptor, not a thread: allow worker_connections of them.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = self.cfg.worker_connections + 256
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted if hard == resource.RLIM_INFINITY
                                                        else min(wanted, hard), hard))
        super().init_process()

    def accept(self, server, listener) -> None:  # type: ignore[no-untyped-def]
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        conn = TConn(self.cfg, sock, client, server)
        self.nr_conns += 1
        self.reading[conn] = Preread(deadline=time.monotonic() + self.read_timeout)
        with self._lock:
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self.on_client_socket_readable, conn))

    def on_client_socket_readable(self, conn, client) -> None:  # type: ignore[no-untyped-def]
        preread = self.reading.get(conn)
        if preread is None:  # a kept-alive connection starts its next request
            with self._lock:
                try:
                    self._keep.remove(conn)
                except ValueError:  # closed by the keep-alive timeout meanwhile
                    return
            preread = self.reading[conn] = Preread(deadline=time.monotonic() + self.read_timeout)
        try:
            chunk = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(conn)
            return
        preread.data += chunk
        ready, whole = preread.ready()
        if ready:
            self._dispatch(conn, bytes(preread.data), whole)

    def _dispatch(self, conn: TConn, data: bytes, whole: bool) -> None:
        del self.reading[conn]
        with self._lock:
            self.poller.unregister(conn.sock)
        conn.init()  # blocking socket and, on a new connection, gunicorn's parser
        conn.parser.unreader.unread(data)
        if not whole:
            conn.sock.settimeout(self.read_timeout)
        future = self.tpool.submit(self.handle, conn)
        self._wrap_future(future, conn)

    def murder_keepalived(self) -> None:
        super().murder_keepalived()
        now = time.monotonic()
        for conn in [c for c, preread in self.reading.items() if preread.deadline <= now]:
            self._drop(conn)

    def _drop(self, conn: TConn) -> None:
        self.reading.pop(conn, None)
        with self._lock:
            try:
                self.poller.unregister(conn.sock)
            except (KeyError, ValueError, OSError):
                pass
        self.nr_conns -= 1
        conn.close()
