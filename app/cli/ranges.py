"""``mamori exercise provision|status|reconcile|teardown`` and ``mamori host reset``."""
from __future__ import annotations

import json
import threading

import click
from flask.cli import with_appcontext

from app.cli.context import database, settings
from app.cli.exercises import exercise
from app.models import RangeState
from app.services import disk, exercises, job_progress, provisioning, ranges
from app.services.job_records import PROVISION, TEARDOWN, JobRecord
from range import hostfw
from range.docker_backend import DockerBackend
from range.engine import DockerRangeEngine
from range.spec import LogLimits


def range_engine() -> DockerRangeEngine:
    config = settings()
    backend = DockerBackend(config.docker_host, logs=LogLimits(config.range_log_max_size, config.range_log_max_files),
                            layer_quota_bytes=config.range_disk_limit_mb * 1024 * 1024)
    return DockerRangeEngine(backend, pool=config.range_pool, bind_address=config.range_bind_address,
                             gateway_ports=config.gateway_ports)


@exercise.command("provision")
@click.argument("exercise_id", type=int)
@click.option("--team", "teams", type=int, multiple=True, help="Only this team (repeatable); e.g. retry a failed one.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=None,
              help="Teams built at once (default MAMORI_PROVISION_CONCURRENCY, 4).")
@with_appcontext
def provision(exercise_id: int, teams: tuple[int, ...], concurrency: int | None) -> None:
    """Build every team's range and wait until each is ready or failed (exit 1 if any failed)."""
    engine = range_engine()
    config = settings()
    with database().transaction() as session:
        numbers = list(teams) or [t.number for t in exercises.get_exercise(session, exercise_id).teams]
    total_teams = len(numbers)
    lock = threading.Lock()
    with click.progressbar(length=total_teams, label="provisioning", show_pos=True, file=None) as bar:
        def progress(number: int, step: str, state: str) -> None:
            with lock:
                if state in (RangeState.READY.value, RangeState.FAILED.value):
                    bar.update(1)
                    mark = "ready" if state == RangeState.READY.value else f"FAILED: {step}"
                    click.echo(f"\n  team {number}: {mark}", err=True)

        # One job per exercise at a time (job_records): a second build would fight over the same networks.
        outcomes = job_progress.run(config.instance_path, exercise_id, JobRecord(PROVISION, tuple(numbers)),
                                    lambda: provisioning.provision_exercise(
            database(), engine, config.instance_id, exercise_id, teams=list(teams) or None,
            concurrency=concurrency or config.provision_concurrency, progress=progress,
        ))
    failed = [o for o in outcomes if o.state is RangeState.FAILED]
    click.echo(f"{len(outcomes) - len(failed)} of {len(outcomes)} teams ready")
    for outcome in failed:
        click.echo(f"team {outcome.number} failed: {outcome.reason}", err=True)
    if failed:
        raise click.exceptions.Exit(1)


@exercise.command("status")
@click.argument("exercise_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def status(exercise_id: int, as_json: bool) -> None:
    """Each team's range state and hosts, read back from Docker by label."""
    config = settings()
    engine = range_engine()
    with database().transaction() as session:
        current = exercises.get_exercise(session, exercise_id)
        provisioning.refresh_status(session, engine, config.instance_id, current)
        report = status_report(session, current, config.range_bind_address)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(f"exercise {report['exercise']} ({report['state']})")
    for team in report["teams"]:
        reason = f" — {team['reason']}" if team["reason"] else ""
        click.echo(f"  team {team['team']:>2} {team['state']:<10} port {team['gateway']['port']}{reason}")
        for host in team["hosts"]:
            addresses = " ".join(f"{k}={v}" for k, v in host["addresses"].items())
            click.echo(f"      {host['name']:<12} {host['state']:<8} {addresses}")


def status_report(session, current, bind_address: str) -> dict:  # type: ignore[no-untyped-def]
    teams = []
    for team in current.teams:
        row = ranges.team_range(session, team)
        teams.append({
            "team": team.number, "name": team.name, "state": row.state.value, "reason": row.reason,
            "step": row.step,
            "gateway": {"host": bind_address, "port": row.gateway_port, "user": row.gateway_user},
            "hosts": [{"name": h.name, "container_id": h.container_id, "addresses": h.addresses,
                       "state": h.state} for h in row.hosts],
        })
    return {"exercise": current.id, "state": current.state.value, "teams": teams}


@exercise.command("reconcile")
@click.argument("exercise_id", type=int)
@with_appcontext
def reconcile(exercise_id: int) -> None:
    """After a crash or a Docker restart: restart stopped hosts, restore routes, mark what is missing."""
    config = settings()
    engine = range_engine()
    with database().transaction() as session:
        current = exercises.get_exercise(session, exercise_id)
        provisioning.refresh_status(session, engine, config.instance_id, current, repair=True)
        report = status_report(session, current, config.range_bind_address)
    for team in report["teams"]:
        click.echo(f"team {team['team']}: {team['state']} {team['reason']}".rstrip())


@exercise.command("teardown")
@click.argument("exercise_id", type=int)
@click.option("--force", is_flag=True, help="Even while the exercise is running, paused or between days.")
@with_appcontext
def teardown(exercise_id: int, force: bool) -> None:
    """Remove every container and network of the exercise, team by team (safe to repeat).

    Scores, reports, terminal recordings and the audit log are kept. Before the
    exercise has started it goes back to draft (build again at will); after, to torn down.
    """
    config = settings()
    engine = range_engine()
    with database().transaction() as session:
        numbers = tuple(t.number for t in exercises.get_exercise(session, exercise_id).teams)

    def progress(number: int, step: str, state: str) -> None:
        click.echo(f"  team {number}: removed", err=True)

    outcome = job_progress.run(config.instance_path, exercise_id, JobRecord(TEARDOWN, numbers),
                               lambda: provisioning.teardown_ranges(database(), engine, config.instance_id,
                                                                    exercise_id, force=force, progress=progress))
    click.echo(f"removed {outcome.removed} containers and networks of {len(outcome.teams)} teams")


@click.group()
def host() -> None:
    """Range hosts."""


@host.command("reset")
@click.argument("exercise_id", type=int)
@click.argument("team", type=int)
@click.argument("host_name")
@with_appcontext
def reset(exercise_id: int, team: int, host_name: str) -> None:
    """Recreate one host of one team from its image and the scenario."""
    config = settings()
    with database().transaction() as session:
        current = exercises.get_exercise(session, exercise_id)
        provisioning.reset_host(session, range_engine(), config.instance_id, current, team, host_name)
    click.echo(f"team {team} {host_name}: reset")


@host.command("resume")
@click.argument("exercise_id", type=int)
@click.argument("team", type=int)
@click.argument("host_name")
@with_appcontext
def resume(exercise_id: int, team: int, host_name: str) -> None:
    """Unpause one host (e.g. one the disk watchdog paused); its files and processes are as they were."""
    with database().transaction() as session:
        disk.resume_host(session, range_engine(), settings().instance_id,
                         exercises.get_exercise(session, exercise_id), team, host_name)
    click.echo(f"team {team} {host_name}: resumed")


@click.group()
def team() -> None:
    """Teams' ranges."""


@team.command("reset")
@click.argument("exercise_id", type=int)
@click.argument("team_number", type=int)
@with_appcontext
def reset_team(exercise_id: int, team_number: int) -> None:
    """Rebuild one team's whole range from the scenario, touching no other team."""
    config = settings()
    engine = range_engine()

    def rebuild() -> list[provisioning.TeamOutcome]:
        with database().transaction() as session:
            current = exercises.get_exercise(session, exercise_id)
            provisioning.discard_team(session, engine, config.instance_id, current, team_number)
        return provisioning.provision_exercise(
            database(), engine, config.instance_id, exercise_id, teams=[team_number], concurrency=1)

    outcomes = job_progress.run(config.instance_path, exercise_id, JobRecord(PROVISION, (team_number,)), rebuild)
    outcome = outcomes[0]
    if outcome.state is not RangeState.READY:
        click.echo(f"team {team_number} failed: {outcome.reason}", err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"team {team_number}: reset and ready")


@click.group("ranges")
def ranges_group() -> None:
    """All ranges of an exercise at once."""


@ranges_group.command("pause")
@click.argument("exercise_id", type=int)
@with_appcontext
def pause_ranges(exercise_id: int) -> None:
    """Freeze every team's range (e.g. overnight between day 1 and day 2); files and processes are kept."""
    config = settings()
    with database().transaction() as session:
        current = exercises.get_exercise(session, exercise_id)
        frozen = provisioning.pause_ranges(session, range_engine(), config.instance_id, current)
    click.echo(f"paused {frozen} containers")


@ranges_group.command("resume")
@click.argument("exercise_id", type=int)
@with_appcontext
def resume_ranges(exercise_id: int) -> None:
    """Unfreeze every team's range."""
    config = settings()
    with database().transaction() as session:
        current = exercises.get_exercise(session, exercise_id)
        provisioning.resume_ranges(session, range_engine(), config.instance_id, current)
        report = status_report(session, current, config.range_bind_address)
    for team in report["teams"]:
        click.echo(f"team {team['team']}: {team['state']} {team['reason']}".rstrip())


@ranges_group.command("firewall")
def firewall() -> None:
    """Put the Docker host's range firewall rules in place (run after dockerd or the host restarts)."""
    added = hostfw.ensure_rules()
    click.echo(f"{len(added)} rule(s) added" if added else "the rules are in place")
