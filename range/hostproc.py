"""Host-side helpers of the Docker backend that need no Docker SDK.

Reading Docker's multiplexed exec stream, closing a hijacked connection,
killing an exec'd process tree (host PIDs, checked against the container's
cgroup), reading a container's passwd file.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import struct
import time


def read_frames(sock: socket.socket, deadline: float, max_output: int) -> tuple[bytes, bool, bool]:
    """Read Docker's multiplexed stdout/stderr frames until EOF, the deadline or the cap."""
    buffer = b""
    output = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(output[:max_output]), len(output) > max_output, True
        ready, _, _ = select.select([sock], [], [], min(remaining, 0.5))
        if not ready:
            continue
        try:
            chunk = sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            return bytes(output[:max_output]), len(output) > max_output, False
        buffer += chunk
        while len(buffer) >= 8:
            size = struct.unpack(">I", buffer[4:8])[0]
            if len(buffer) < 8 + size:
                break
            output += buffer[8:8 + size]
            buffer = buffer[8 + size:]
        if len(output) > max_output:
            return bytes(output[:max_output]), True, False


def passwd_names(passwd: bytes) -> dict[int, str]:
    """uid → the first name /etc/passwd gives it (the container's file, read through Docker)."""
    names: dict[int, str] = {}
    for line in passwd.decode("utf-8", errors="replace").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


def close_hijacked(raw: object) -> None:
    """Close a hijacked exec connection and the HTTP response that owns its socket."""
    # The HTTP response (whose buffered file holds the SocketIO), then the socket itself.
    http_response = getattr(getattr(getattr(raw, "_response", None), "raw", None), "_fp", None)
    for closer in (getattr(http_response, "close", None), getattr(raw, "close", None),
                   getattr(getattr(raw, "_sock", None), "close", None)):
        if closer is not None:
            try:
                closer()
            except (OSError, ValueError):
                pass


def in_container(pid: int, container_id: str) -> bool:
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8") as handle:
            return container_id in handle.read()
    except OSError:
        return False


def kill_tree(pid: int, container_id: str) -> None:
    if not in_container(pid, container_id):
        return
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                children += [int(c) for c in handle.read().split()]
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    for child in children:
        kill_tree(child, container_id)
