"""A terminal recording's size limit, on the file itself (the real-range test in test_terminal.py covers a session)."""
from __future__ import annotations

import json
from pathlib import Path

from app.services.terminal_recordings import Recorder, read_recording


def test_a_recording_never_passes_its_limit_and_says_where_it_stopped(tmp_path: Path) -> None:
    path = tmp_path / "t.cast"
    with Recorder(path, 80, 24, "title", max_bytes=8 * 1024, notice="記録停止") as recorder:
        for n in range(200):
            recorder.output(f"line {n} ".encode() * 10)
            recorder.input("ls\r")
        assert recorder.truncated and recorder.written == path.stat().st_size <= 8 * 1024
        recorder.resize(100, 30)  # after the limit: dropped
    header, events = read_recording(path)
    assert header["width"] == 80 and events[-1].kind == "o" and "記録停止" in str(events[-1].data)
    assert [e.kind for e in events[:-1]] == ["o", "i"] * (len(events[:-1]) // 2)
    assert json.loads(path.read_text(encoding="utf-8").splitlines()[-1])[2].endswith("\x1b[0m\r\n")


def test_a_recording_under_its_limit_is_whole(tmp_path: Path) -> None:
    with Recorder(tmp_path / "t.cast", 80, 24, "title", max_bytes=64 * 1024) as recorder:
        recorder.output("日本語".encode()[:4])  # a character split between two reads
        recorder.output("日本語".encode()[4:])
    _header, events = read_recording(tmp_path / "t.cast")
    assert not recorder.truncated and "".join(str(e.data) for e in events) == "日本語"
