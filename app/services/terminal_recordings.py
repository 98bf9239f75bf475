"""Terminal recordings: asciicast v2 files written as a terminal runs, followed live, read back.

A recording is written line by line and flushed at once, so an instructor
watching live follows the file from any worker. Its size is bounded: the
event that would pass the limit is replaced by a last line saying the
recording stopped there (the terminal itself goes on).
"""
from __future__ import annotations

import codecs
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from app.services.errors import N_, NotFound

TERM = "xterm-256color"
NOTICE_ROOM = 1024  # bytes kept free under a recording's limit for the line saying it stopped


class Recorder:
    """An asciicast v2 recording being written: a header line, then one JSON line per event, flushed at once.

    The file stays under *max_bytes*: the event that would pass it is
    replaced by a last output line, *notice*, saying the recording stopped
    (``truncated`` is then true) and later events are dropped. A context
    manager: the file is closed on leaving.
    """

    def __init__(self, path: Path, cols: int, rows: int, title: str, *, max_bytes: int | None = None,
                 notice: str = "[the recording stopped here: it reached its size limit]") -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Typed input is recorded too (passwords typed at a prompt included): owner only.
        self._file = open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8")
        self._path = path
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")  # a character split between reads
        self._max_bytes = max_bytes
        self._notice = notice
        self.written = 0
        self.truncated = False
        self._write({"version": 2, "width": cols, "height": rows, "timestamp": int(time.time()),
                     "title": title, "env": {"TERM": TERM, "SHELL": "/bin/bash"}})

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def output(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if text:
            self._event("o", text)

    def input(self, text: str) -> None:
        self._event("i", text)

    def resize(self, cols: int, rows: int) -> None:
        self._event("r", f"{cols}x{rows}")

    def touch(self) -> None:
        os.utime(self._path)

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def _event(self, kind: str, data: str) -> None:
        if not self.truncated:
            self._write([self._now(), kind, data])

    def _now(self) -> float:
        return round(time.monotonic() - self._started, 6)

    def _write(self, value: object) -> None:
        line = json.dumps(value, ensure_ascii=False) + "\n"
        size = len(line.encode("utf-8"))
        with self._lock:
            if self._file.closed or self.truncated:
                return
            if self._max_bytes is not None and self.written and self.written + size > self._max_bytes - NOTICE_ROOM:
                self.truncated = True
                line = json.dumps([self._now(), "o", f"\r\n\x1b[7m{self._notice}\x1b[0m\r\n"], ensure_ascii=False) + "\n"
                size = len(line.encode("utf-8"))
            self._file.write(line)
            self._file.flush()
            self.written += size


@dataclass(frozen=True)
class CastEvent:
    """One line of a recording: the header (kind "header", data = the header dict) or an event."""

    at: float
    kind: str
    data: object


def follow(path: Path, still_open: Callable[[], bool], wait: Callable[[float], bool],
           poll: float = 0.25) -> Iterator[CastEvent]:
    """The recording's lines as they are written, until the session has ended and everything is read.

    *wait* sleeps up to *poll* seconds and returns ``False`` when the reader
    has gone (the viewer closed the page); *still_open* is asked between reads.
    """
    pending = b""
    offset = 0
    first = True
    while True:
        open_before = still_open()
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
        except FileNotFoundError:
            chunk = b""
        offset += len(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            value = json.loads(line)
            if first:
                first = False
                yield CastEvent(0.0, "header", value)
            else:
                yield CastEvent(float(value[0]), str(value[1]), value[2])
        if not chunk and not open_before:
            return
        if not chunk and not wait(poll):
            return


def read_recording(path: Path) -> tuple[dict, list[CastEvent]]:
    """A finished recording: its header and its events (``NotFound`` if the file is gone)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        raise NotFound(N_("the recording is missing")) from None
    header = json.loads(lines[0]) if lines else {}
    events = [CastEvent(float(v[0]), str(v[1]), v[2]) for v in map(json.loads, filter(None, lines[1:]))]
    return header, events
