"""Which range job runs for an exercise, across every web worker and terminal: a lock and a record.

One job at a time may build or remove an exercise's ranges (two at once fight
over the same Docker networks: ``network with name … already exists``). The
instance folder holds, per exercise, ``exercise-N.lock`` — a ``flock`` held
by the job's process for as long as it lives, released by the kernel when it
ends however it ends — and ``exercise-N.json``, the record of the last job:
what it does, for which teams, who asked, and, once it is over, its result.

A job is alive exactly while its lock is held, so every gunicorn worker (and
``mamori`` typed at a terminal) sees the same answer with no pid to trust.
The web starts a job by taking the lock and handing the locked descriptor to
the child process (``FD_VARIABLE`` names it), so there is no moment when the
job runs unlocked. Every look at the lock happens under ``exercise-N.launch``,
a lock held only for those few milliseconds, so a look never makes a start fail.
"""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from app.models import utcnow
from app.services.errors import N_, Conflict

FOLDER = "range-jobs"
FD_VARIABLE = "MAMORI_RANGE_JOB_FD"
PROVISION, TEARDOWN = "provision", "teardown"


@dataclass(frozen=True)
class JobRecord:
    """One range job: *kind* (provision or teardown) of *teams*; *result* once it has ended."""

    kind: str
    teams: tuple[int, ...]
    actor: str = ""
    pid: int = 0
    log: str = ""
    started_at: str = field(default_factory=lambda: utcnow().isoformat())
    finished_at: str | None = None
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobStatus:
    """The last job of an exercise and whether its process still runs."""

    record: JobRecord
    alive: bool


class JobRunning(Conflict):
    """Another job holds the exercise's lock."""

    def __init__(self, status: JobStatus) -> None:
        self.status = status
        super().__init__(N_("another range job is running for this exercise (%(kind)s, teams %(teams)s, "
                            "process %(pid)d); wait until it ends"),
                         kind=status.record.kind, teams=", ".join(map(str, status.record.teams)),
                         pid=status.record.pid)


def folder(instance_path: Path) -> Path:
    path = instance_path / FOLDER
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def current(instance_path: Path, exercise_id: int) -> JobStatus | None:
    """The exercise's last job (``None`` if it never had one) and whether it still runs."""
    with _looking(instance_path, exercise_id):
        record = _read(instance_path, exercise_id)
        return None if record is None else JobStatus(record, _held(instance_path, exercise_id))


def start(instance_path: Path, exercise_id: int, record: JobRecord, launch: Callable[[int], int]) -> JobRecord:
    """Take the lock, call *launch* with its descriptor (it starts the process, returns its pid), record the job.

    Raises ``JobRunning`` (and calls nothing) when a job already holds the lock.
    """
    with _looking(instance_path, exercise_id):
        fd = _try_lock(instance_path, exercise_id)
        if fd is None:
            raise JobRunning(JobStatus(_read(instance_path, exercise_id) or record, True))
        try:
            started = replace(record, pid=launch(fd))
            _write(instance_path, exercise_id, started)
        finally:
            os.close(fd)  # the child holds the lock from here on
    return started


@contextmanager
def held(instance_path: Path, exercise_id: int, record: JobRecord) -> Iterator[JobRecord]:
    """Run the body as the exercise's job: the lock the web passed on, or (from a terminal) one taken here."""
    inherited = _inherited(instance_path, exercise_id)
    if inherited is not None:
        try:
            yield (_read(instance_path, exercise_id) or record)
        finally:
            os.close(inherited)
        return
    with _looking(instance_path, exercise_id):
        fd = _try_lock(instance_path, exercise_id)
        if fd is None:
            raise JobRunning(JobStatus(_read(instance_path, exercise_id) or record, True))
        mine = replace(record, pid=os.getpid())
        _write(instance_path, exercise_id, mine)
    try:
        yield mine
    finally:
        os.close(fd)


def finish(instance_path: Path, exercise_id: int, result: dict[str, Any]) -> None:
    """Store the job's *result* on its record (called by the job itself, before it lets go of the lock)."""
    with _looking(instance_path, exercise_id):
        record = _read(instance_path, exercise_id)
        if record is not None:
            _write(instance_path, exercise_id, replace(record, result=result, finished_at=utcnow().isoformat()))


# The files ------------------------------------------------------------------------------------


def _path(instance_path: Path, exercise_id: int, suffix: str) -> Path:
    return folder(instance_path) / f"exercise-{exercise_id}.{suffix}"


@contextmanager
def _looking(instance_path: Path, exercise_id: int) -> Iterator[None]:
    with open(_path(instance_path, exercise_id, "launch"), "a") as mutex:
        fcntl.flock(mutex, fcntl.LOCK_EX)
        yield  # closing the file releases it


def _try_lock(instance_path: Path, exercise_id: int) -> int | None:
    fd = os.open(_path(instance_path, exercise_id, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _held(instance_path: Path, exercise_id: int) -> bool:
    fd = _try_lock(instance_path, exercise_id)
    if fd is None:
        return True
    os.close(fd)
    return False


def _inherited(instance_path: Path, exercise_id: int) -> int | None:
    """The lock descriptor the web passed to this process, if it is this exercise's lock file."""
    value = os.environ.get(FD_VARIABLE, "")
    if not value.isdigit():
        return None
    fd = int(value)
    try:
        same = os.path.samestat(os.fstat(fd), os.stat(_path(instance_path, exercise_id, "lock")))
    except OSError:
        return None
    return fd if same else None


def _read(instance_path: Path, exercise_id: int) -> JobRecord | None:
    try:
        data = json.loads(_path(instance_path, exercise_id, "json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    data["teams"] = tuple(data.get("teams", ()))
    return JobRecord(**{k: v for k, v in data.items() if k in JobRecord.__dataclass_fields__})


def _write(instance_path: Path, exercise_id: int, record: JobRecord) -> None:
    target = _path(instance_path, exercise_id, "json")
    partial = target.with_suffix(".json.part")
    partial.write_text(json.dumps({**asdict(record), "teams": list(record.teams)}, ensure_ascii=False),
                       encoding="utf-8")
    os.replace(partial, target)
