"""A WSGI app that echoes WebSocket messages, for serving through ``PrereadWorker`` in tests/test_serve.py."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from simple_websocket import ConnectionClosed, Server


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    ws = Server(environ)
    try:
        while True:
            ws.send(f"echo:{ws.receive()}")
    except ConnectionClosed:
        pass
    start_response("200 OK", [])  # gunicorn wants a response; the socket is gone already
    return []
