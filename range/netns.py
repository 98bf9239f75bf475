"""Network probes run in a container's network namespace by one short-lived thread of this process.

Only the calling thread of ``setns`` changes namespace, so a probe gets a
thread of its own: it joins the container's namespace, runs the probe (the
same ``range.netprobe`` functions ``nsenter`` would run in a child process),
goes back to the namespace it came from and checks that it did, and ends. No
other code ever runs on it, and no thread of a pool is ever lent to it.

A probe is bounded by its caller: past ``wait`` seconds its sockets are shut
down (a server dripping bytes cannot hold the thread) and ``ProbeTimeout``
is raised. ``HostReadUnavailable`` (no ``setns``: not root, not Linux) means
the caller falls back to ``nsenter``.
"""
from __future__ import annotations

import ctypes
import functools
import os
import socket
import threading
from typing import Any, Callable, TypeVar

from range.hostread import HostReadUnavailable, container_process

CLONE_NEWNET = 0x40000000
T = TypeVar("T")
Opened = Callable[[socket.socket], None]  # a probe reports each socket it opens, so it can be shut down


class ProbeTimeout(Exception):
    """The probe did not finish in time; its sockets were shut down."""


def run_in_network_namespace(pid: int, container_id: str, probe: Callable[[Opened], T], wait: float) -> T:
    """``probe(opened)`` on a new thread inside the network namespace of *container_id*'s process *pid*."""
    with container_process(pid, container_id) as process:
        try:
            target = os.open("ns/net", os.O_RDONLY | os.O_CLOEXEC, dir_fd=process.fd)
        except OSError as exc:
            raise HostReadUnavailable(f"the network namespace of {pid} cannot be opened: {exc.strerror}") from None
    sockets = _Sockets()
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=_in_namespace, args=(target, probe, sockets, outcome),
                              name=f"netns-{pid}", daemon=True)
    try:
        worker.start()
    except BaseException:
        os.close(target)
        raise
    worker.join(wait)
    if worker.is_alive():
        sockets.shut_down()
        worker.join(1.0)
        raise ProbeTimeout(f"the probe did not finish within {wait:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def _in_namespace(target: int, probe: Callable[[Opened], T], sockets: _Sockets, outcome: dict[str, Any]) -> None:
    """The whole life of a probe's thread: join, probe, return, check — then the thread ends."""
    try:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        os.close(target)
        outcome["error"] = HostReadUnavailable(f"this thread's network namespace cannot be opened: {exc.strerror}")
        return
    try:
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            outcome["value"] = probe(sockets.add)
        finally:
            _return_to(own)
    except BaseException as exc:  # handed to the caller; the thread ends either way
        outcome.setdefault("error", exc)
    finally:
        os.close(own)


def _return_to(own: int) -> None:
    try:
        _setns(own)
    except HostReadUnavailable as exc:
        raise RuntimeError(f"the probe thread could not return to its network namespace ({exc})") from None
    now, before = os.stat("/proc/thread-self/ns/net"), os.fstat(own)
    if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
        raise RuntimeError("the probe thread is not back in its own network namespace")


def _setns(fd: int) -> None:
    setns = getattr(os, "setns", None)  # Python 3.12+
    if setns is not None:
        try:
            setns(fd, CLONE_NEWNET)
        except OSError as exc:
            raise HostReadUnavailable(f"setns: {exc.strerror}") from None
        return
    try:
        call = _libc().setns
    except (OSError, AttributeError):
        raise HostReadUnavailable("setns is not available on this system") from None
    if call(ctypes.c_int(fd), ctypes.c_int(CLONE_NEWNET)) != 0:
        raise HostReadUnavailable(f"setns: {os.strerror(ctypes.get_errno())}")


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


class _Sockets:
    """The sockets a probe opened, to shut down from outside when it runs late."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._late = False

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.append(sock)
            if self._late:
                _shut(sock)

    def shut_down(self) -> None:
        with self._lock:
            self._late = True
            for sock in self._open:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv; closing stays the probe's job
    except OSError:
        pass
