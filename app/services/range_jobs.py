"""Range work asked for from the web: retry a team's provisioning, reset one host.

Building a range takes minutes, far longer than a web request may last, so
the web never does it itself: it checks the request, then starts the same
``mamori`` command an operator would type (``mamori exercise provision ID
--team N``, ``mamori host reset ID TEAM HOST``) as a detached process in its
own session, with the web process's settings in its environment so it acts
on the same database and Docker Engine. Its output goes to a log file in the
instance folder; its progress reaches the readiness board through the
database, as it does from the terminal.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Mapping, Sequence

from sqlalchemy.orm import Session

from app.models import Exercise, RangeState, User, utcnow
from app.services import audit, ranges, scenarios
from app.services.errors import N_, Conflict, InvalidInput, ServiceError
from app.services.provisioning import PROVISIONABLE
from app.settings import Settings

LOG_FOLDER = "range-jobs"

Launcher = Callable[[Sequence[str], Mapping[str, str], Path], int]  # argv, environment, log file -> pid


class JobNotStarted(ServiceError):
    """The command could not be started (a missing program, no permission)."""

    status = 500


@dataclass(frozen=True)
class RangeJob:
    """A command started in the background: what it runs, its process id, where its output goes."""

    argv: tuple[str, ...]
    pid: int
    log: Path


def mamori_program() -> str:
    """The ``mamori`` command installed beside the running Python (the same virtual environment)."""
    return str(Path(sys.executable).parent / "mamori")


def job_environment(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the web process, with every setting that says which database and ranges to use."""
    env = dict(os.environ if base is None else base)
    env.update({
        "DATABASE_URL": settings.database_url,
        "MAMORI_INSTANCE_PATH": str(settings.instance_path),
        "MAMORI_INSTANCE_ID": settings.instance_id,
        "MAMORI_RANGE_BIND_ADDRESS": settings.range_bind_address,
        "MAMORI_RANGE_POOL": settings.range_pool,
        "MAMORI_GATEWAY_PORTS": f"{settings.gateway_ports[0]}-{settings.gateway_ports[1]}",
        "MAMORI_PROVISION_CONCURRENCY": str(settings.provision_concurrency),
        "TZ": settings.display_timezone,
    })
    if settings.docker_host:
        env["DOCKER_HOST"] = settings.docker_host
    return env


# Commands this process started that are still running; each has a thread that reaps it when it ends.
_started: set[int] = set()
_started_lock = threading.Lock()


def detached(argv: Sequence[str], env: Mapping[str, str], log: Path) -> int:
    """Start *argv* in a session of its own, so it outlives the request and the worker that started it."""
    with open(log, "ab") as output:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=dict(env),
            start_new_session=True, close_fds=True, cwd=str(log.parent))
    with _started_lock:
        _started.add(process.pid)
    threading.Thread(target=_reap, args=(process,), name=f"reap-{process.pid}", daemon=True).start()
    return process.pid


def _reap(process: subprocess.Popen[bytes]) -> None:
    """Wait for the command to end (no zombie is left), then forget it."""
    process.wait()
    with _started_lock:
        _started.discard(process.pid)


def running() -> int:
    """How many commands this process started are still running."""
    with _started_lock:
        return len(_started)


def retry_team(session: Session, settings: Settings, exercise: Exercise, number: int, *, actor: User | None,
               ip: str = "", launcher: Launcher | None = None, now: datetime | None = None) -> RangeJob:
    """Build team *number*'s range again (after it failed), in the background."""
    team = ranges.get_team(session, exercise, number)
    if exercise.state not in PROVISIONABLE:
        raise Conflict(N_("ranges can be built only before the exercise starts (it is %(state)s); "
                          "reset a broken host instead"), state=exercise.state.value)
    row = ranges.team_range(session, team)
    if row.state is RangeState.CREATING:
        raise Conflict(N_("team %(team)d's range is being built already"), team=number)
    argv = (mamori_program(), "exercise", "provision", str(exercise.id), "--team", str(number))
    job = _start(settings, argv, f"exercise{exercise.id}-team{number}-provision", launcher, now)
    row.state, row.reason, row.step = RangeState.PENDING, "", "queued"
    audit.record(session, "range.retry", actor=actor, target=f"team:{team.id}", exercise_id=exercise.id, ip=ip,
                 team=number, pid=job.pid, log=job.log.name)
    return job


def reset_host(session: Session, settings: Settings, exercise: Exercise, number: int, host: str, *,
               actor: User | None, ip: str = "", launcher: Launcher | None = None,
               now: datetime | None = None) -> RangeJob:
    """Recreate one host of team *number*'s range from its image and the scenario, in the background."""
    team = ranges.get_team(session, exercise, number)
    if host not in {h.id for h in scenarios.parsed(exercise.scenario).network.hosts}:
        raise InvalidInput(N_("the scenario has no host %(host)r"), host=host)
    row = ranges.team_range(session, team)
    if row.state in (RangeState.PENDING, RangeState.CREATING, RangeState.TORN_DOWN):
        raise Conflict(N_("team %(team)d's range is %(state)s: a host can be reset once it has been built"),
                       team=number, state=row.state.value)
    argv = (mamori_program(), "host", "reset", str(exercise.id), str(number), host)
    job = _start(settings, argv, f"exercise{exercise.id}-team{number}-reset-{host}", launcher, now)
    audit.record(session, "host.reset.requested", actor=actor, target=f"team:{team.id}:{host}",
                 exercise_id=exercise.id, ip=ip, team=number, host=host, pid=job.pid, log=job.log.name)
    return job


def resume_host(session: Session, settings: Settings, exercise: Exercise, number: int, host: str, *,
                actor: User | None, ip: str = "", launcher: Launcher | None = None,
                now: datetime | None = None) -> RangeJob:
    """Unpause one host (e.g. one the disk watchdog paused) with ``mamori host resume``, in the background."""
    team = ranges.get_team(session, exercise, number)
    if host not in {h.id for h in scenarios.parsed(exercise.scenario).network.hosts}:
        raise InvalidInput(N_("the scenario has no host %(host)r"), host=host)
    argv = (mamori_program(), "host", "resume", str(exercise.id), str(number), host)
    job = _start(settings, argv, f"exercise{exercise.id}-team{number}-resume-{host}", launcher, now)
    audit.record(session, "host.resume.requested", actor=actor, target=f"team:{team.id}:{host}",
                 exercise_id=exercise.id, ip=ip, team=number, host=host, pid=job.pid, log=job.log.name)
    return job


def _start(settings: Settings, argv: tuple[str, ...], name: str, launcher: Launcher | None,
           now: datetime | None) -> RangeJob:
    """Start *argv* with *launcher* (``detached`` unless a test gives another), its output in a new log file."""
    folder = settings.instance_path / LOG_FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = folder / f"{(now or utcnow()).strftime('%Y%m%dT%H%M%S')}-{name}.log"
    try:
        pid = (launcher or detached)(argv, job_environment(settings), log)
    except OSError as exc:
        raise JobNotStarted(N_("could not start %(command)s: %(error)s"), command=" ".join(argv[1:]),
                            error=exc.strerror or str(exc))
    return RangeJob(argv, pid, log)
