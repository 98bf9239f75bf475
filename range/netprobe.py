"""Network probes the engine runs inside a container's network namespace (standard library only).

The range engine calls these functions on the Docker host from a thread that
joined a container's network namespace (``range.netns``), or, where it cannot
(not root), starts this module with
``nsenter -t <container pid> -n python -m range.netprobe …``. Either way the
probe sees the range's network exactly as that container does (its
addresses, routes and the routers' rules on the way) but runs none of the
container's programs, so a trainee with root in the container cannot fake
its answer. It is bounded by its timeout and body size; as a program it
prints one line of JSON::

    python -m range.netprobe tcp ADDRESS PORT TIMEOUT
        {"open": true} | {"open": false, "error": "…"}
    python -m range.netprobe http METHOD URL ADDRESS TIMEOUT MAX_BODY
        {"status": 200, "body": "<base64>"} | {"status": 0, "error": "…"}

Names are resolved by the caller (``ADDRESS``): in the container's network
namespace this process still reads the Docker host's ``/etc/hosts``.
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import sys
import time
from typing import Callable, Mapping
from urllib.parse import urlsplit


Opened = Callable[[socket.socket], None]


def tcp(address: str, port: int, timeout: float, opened: Opened | None = None) -> dict[str, object]:
    """Does a TCP connection to *address*:*port* get established within *timeout*?

    *opened* is told of the connected socket (so a caller can shut it down).
    """
    try:
        with socket.create_connection((address, port), timeout=timeout) as connection:
            if opened is not None:
                opened(connection)
            return {"open": True}
    except OSError as exc:
        return {"open": False, "error": _why(exc)}


def http_request(method: str, url: str, address: str, timeout: float, max_body: int,
                 opened: Opened | None = None, headers: Mapping[str, str] | None = None) -> dict[str, object]:
    """One HTTP request to *address*, with the URL's host in ``Host``; at most *max_body* bytes read.

    *headers* are sent too (a given ``User-Agent`` replaces ``mamori-check/1``);
    ``Host`` and ``Connection`` stay the probe's own.

    *opened* is told of the connection's socket: a server dripping its headers
    byte by byte is only stopped by its caller shutting that socket down.
    """
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout
    connection = http.client.HTTPConnection(address, parts.port or 80, timeout=timeout)
    try:
        connection.connect()
        if opened is not None and connection.sock is not None:
            opened(connection.sock)
        connection.request(method, path, headers={
            "User-Agent": "mamori-check/1", **(headers or {}), "Host": parts.netloc, "Connection": "close",
        })
        response = connection.getresponse()
        body = bytearray()
        while len(body) < max_body:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"the response did not arrive within {timeout:g} s")
            if connection.sock is not None:
                connection.sock.settimeout(remaining)  # a slow drip of bytes cannot stretch the deadline
            chunk = response.read1(min(65536, max_body - len(body)))
            if not chunk:
                break
            body += chunk
        return {"status": response.status, "body": base64.b64encode(bytes(body)).decode("ascii")}
    except (OSError, http.client.HTTPException) as exc:
        return {"status": 0, "error": _why(exc)}
    finally:
        connection.close()


def _why(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return str(exc) if str(exc) and str(exc) != "timed out" else "timed out"
    text = getattr(exc, "strerror", None) or str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["tcp"] and len(argv) == 4:
            result = tcp(argv[1], int(argv[2]), float(argv[3]))
        elif argv[:1] == ["http"] and len(argv) in (6, 7):
            headers = json.loads(argv[6]) if len(argv) == 7 else None
            result = http_request(argv[1], argv[2], argv[3], float(argv[4]), int(argv[5]), headers=headers)
        else:
            print(json.dumps({"error": f"usage: tcp ADDRESS PORT TIMEOUT | http METHOD URL ADDRESS TIMEOUT "
                                       f"MAX_BODY [HEADERS_JSON] (got {argv!r})"}))
            return 2
    except ValueError as exc:
        print(json.dumps({"error": f"bad argument: {exc}"}))
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
