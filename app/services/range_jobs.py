"""Range work asked for from the web: build all teams, build the failed ones again, tear down, reset a host.

Building a range takes minutes, far longer than a web request may last, so
the web never does it itself: it checks the request, then starts the same
``mamori`` command an operator would type (``mamori exercise provision ID
[--team N]``, ``mamori exercise teardown ID``, ``mamori host reset ID TEAM
HOST``) as a detached process in its own session, with the web process's
settings in its environment so it acts on the same database and Docker
Engine. Its output goes to a log file in the instance folder; its progress
reaches the readiness board through the database, as it does from the
terminal.

Builds and teardowns are the exercise's *job* (``job_records``): one at a
time, whichever worker or terminal asks. Asking again for what the running
job already does joins it (``JobStart.joined``) instead of starting a second
one; asking for something else while it runs is refused until it ends.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Mapping, Sequence

from sqlalchemy.orm import Session

from app.models import Exercise, RangeState, User, utcnow
from app.services import audit, job_records, ranges, scenarios
from app.services.errors import N_, Conflict, InvalidInput, ServiceError
from app.services.provisioning import PROVISIONABLE, TEARDOWN_FROM
from app.settings import Settings

LOG_FOLDER = job_records.FOLDER

Launcher = Callable[..., int]  # (argv, environment, log file, keep_fds=()) -> pid


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


def detached(argv: Sequence[str], env: Mapping[str, str], log: Path, keep_fds: Sequence[int] = ()) -> int:
    """Start *argv* in a session of its own, so it outlives the request and the worker that started it.

    *keep_fds* are passed on open (the job's lock, see ``job_records``); no other descriptor is.
    """
    with open(log, "ab") as output:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=dict(env),
            start_new_session=True, close_fds=True, pass_fds=tuple(keep_fds), cwd=str(log.parent))
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


@dataclass(frozen=True)
class JobStart:
    """A build or teardown asked for: the job that does it, and whether it was already running (joined)."""

    record: job_records.JobRecord
    joined: bool


def build_all(session: Session, settings: Settings, exercise: Exercise, *, actor: User | None, ip: str = "",
              launcher: Launcher | None = None, now: datetime | None = None) -> JobStart:
    """Build every team's range (``mamori exercise provision ID``); joins a build of them all that runs."""
    numbers = [t.number for t in exercise.teams]
    if not numbers:
        raise Conflict(N_("the exercise has no teams to build ranges for"))
    return _build(session, settings, exercise, numbers, "ranges.build_all", actor=actor, ip=ip,
                  launcher=launcher, now=now)


def rebuild_failed(session: Session, settings: Settings, exercise: Exercise, *, actor: User | None,
                   ip: str = "", launcher: Launcher | None = None, now: datetime | None = None) -> JobStart:
    """Build again only the teams whose range failed (or whose build was interrupted)."""
    status = job_records.current(settings.instance_path, exercise.id)
    alive = status is not None and status.alive
    failed = [team.number for team, row in ranges.rows_for(session, exercise)
              if row is not None and (row.state is RangeState.FAILED or (not alive and interrupted(row.state, row.step)))]
    if not failed and not alive:
        raise Conflict(N_("no team's range has failed: there is nothing to build again"))
    return _build(session, settings, exercise, failed or list(status.record.teams if status else ()),
                  "ranges.rebuild_failed", actor=actor, ip=ip, launcher=launcher, now=now)


def retry_team(session: Session, settings: Settings, exercise: Exercise, number: int, *, actor: User | None,
               ip: str = "", launcher: Launcher | None = None, now: datetime | None = None) -> JobStart:
    """Build team *number*'s range (again, after it failed), in the background."""
    ranges.get_team(session, exercise, number)
    return _build(session, settings, exercise, [number], "range.retry", actor=actor, ip=ip, launcher=launcher,
                  now=now)


def interrupted(state: str, step: str) -> bool:
    """A range row (or the board's reading of it) says a build was under way: interrupted when no job runs."""
    return state == RangeState.CREATING or (state == RangeState.PENDING and bool(step))


def _build(session: Session, settings: Settings, exercise: Exercise, numbers: list[int], action: str, *,
           actor: User | None, ip: str, launcher: Launcher | None, now: datetime | None) -> JobStart:
    if exercise.state not in PROVISIONABLE:
        raise Conflict(N_("ranges can be built only before the exercise starts; reset a broken host instead"))
    whole = len(numbers) == len(exercise.teams)
    argv = [mamori_program(), "exercise", "provision", str(exercise.id)]
    for number in () if whole else numbers:
        argv += ["--team", str(number)]
    name = "provision" if whole else "provision-team" + "-".join(map(str, numbers))
    record = job_records.JobRecord(job_records.PROVISION, tuple(numbers), actor=actor.login if actor else "")
    started = _claimed(settings, exercise, tuple(argv), f"exercise{exercise.id}-{name}", record, launcher, now)
    if started.joined:
        return started
    for team, row in ranges.rows_for(session, exercise):
        if team.number in numbers:
            row = row or ranges.team_range(session, team)
            row.state, row.reason, row.step = RangeState.PENDING, "", "queued"
    audit.record(session, action, actor=actor, target=f"exercise:{exercise.id}", exercise_id=exercise.id, ip=ip,
                 teams=numbers, pid=started.record.pid, log=started.record.log,
                 **({"team": numbers[0]} if len(numbers) == 1 else {}))
    return started


def teardown(session: Session, settings: Settings, exercise: Exercise, *, confirmed: bool, actor: User | None,
             ip: str = "", launcher: Launcher | None = None, now: datetime | None = None) -> JobStart:
    """Remove every team's range (``mamori exercise teardown ID``) once the person asking has confirmed it."""
    if not confirmed:
        raise InvalidInput(N_("removing the ranges needs confirmation: nothing was removed"))
    if exercise.state not in TEARDOWN_FROM:
        raise Conflict(N_("the exercise has not finished: finish it before its ranges are removed"))
    numbers = tuple(t.number for t in exercise.teams)
    record = job_records.JobRecord(job_records.TEARDOWN, numbers, actor=actor.login if actor else "")
    argv = (mamori_program(), "exercise", "teardown", str(exercise.id))
    started = _claimed(settings, exercise, argv, f"exercise{exercise.id}-teardown", record, launcher, now)
    if not started.joined:
        audit.record(session, "ranges.teardown", actor=actor, target=f"exercise:{exercise.id}",
                     exercise_id=exercise.id, ip=ip, teams=list(numbers), pid=started.record.pid,
                     log=started.record.log)
    return started


def _claimed(settings: Settings, exercise: Exercise, argv: tuple[str, ...], name: str,
             record: job_records.JobRecord, launcher: Launcher | None, now: datetime | None) -> JobStart:
    """Start *argv* as the exercise's job, or join the running one if it does the same for these teams."""
    log = _log_path(settings, name, now)

    def launch(fd: int) -> int:
        env = {**job_environment(settings), job_records.FD_VARIABLE: str(fd)}
        return _launch(launcher, argv, env, log, keep_fds=(fd,))

    try:
        return JobStart(job_records.start(settings.instance_path, exercise.id,
                                          replace(record, log=log.name), launch), joined=False)
    except job_records.JobRunning as running:
        current = running.status.record
        if current.kind == record.kind and set(record.teams) <= set(current.teams):
            return JobStart(current, joined=True)
        raise


def reset_host(session: Session, settings: Settings, exercise: Exercise, number: int, host: str, *,
               actor: User | None, ip: str = "", launcher: Launcher | None = None,
               now: datetime | None = None) -> RangeJob:
    """Recreate one host of team *number*'s range from its image and the scenario, in the background."""
    team = ranges.get_team(session, exercise, number)
    if host not in {h.id for h in scenarios.parsed(exercise.scenario).network.hosts}:
        raise InvalidInput(N_("the scenario has no host %(host)r"), host=host)
    row = ranges.team_range(session, team)
    if row.state in (RangeState.PENDING, RangeState.CREATING, RangeState.TORN_DOWN):
        raise Conflict(N_("team %(team)d's range is not built (or is being built): a host can be reset once it is"),
                       team=number)
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
    log = _log_path(settings, name, now)
    return RangeJob(argv, _launch(launcher, argv, job_environment(settings), log), log)


def _log_path(settings: Settings, name: str, now: datetime | None) -> Path:
    return job_records.folder(settings.instance_path) / f"{(now or utcnow()).strftime('%Y%m%dT%H%M%S')}-{name}.log"


def _launch(launcher: Launcher | None, argv: Sequence[str], env: Mapping[str, str], log: Path,
            keep_fds: Sequence[int] = ()) -> int:
    try:
        return (launcher or detached)(argv, env, log, keep_fds=keep_fds)
    except OSError as exc:
        raise JobNotStarted(N_("could not start %(command)s: %(error)s"), command=" ".join(argv[1:]),
                            error=exc.strerror or str(exc))
