"""Team ranges: compiling a scenario into each team's range spec, and reading their state."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exercise, RangeHost, RangeState, Team, TeamRange
from app.scenario.model import Host as HostModel
from app.scenario.model import HostFile
from app.scenario.model import Scenario as ScenarioModel
from app.services import accounts, bundles, images, scenarios
from app.services.errors import N_, NotFound
from range.images import image_tag
from range.spec import Account, HostSpec, PlacedFile, RangeSpec, ServicePort
from range.status import TeamRangeState


def range_label(instance_id: str, exercise: Exercise) -> str:
    """The exercise label of this installation's ranges (ids alone could clash on a shared engine)."""
    return f"{instance_id}-{exercise.id}"


def team_label(team: Team) -> str:
    return str(team.number)


def team_range(session: Session, team: Team) -> TeamRange:
    """The team's range row, made with its gateway credentials the first time."""
    row = session.scalar(select(TeamRange).where(TeamRange.team_id == team.id))
    if row is None:
        row = TeamRange(
            team=team, state=RangeState.PENDING, gateway_user=f"team{team.number:02d}",
            gateway_password=accounts.generate_password(12),
        )
        session.add(row)
        session.flush()
    return row


def compile_range(instance_id: str, exercise: Exercise, team: Team, row: TeamRange) -> RangeSpec:
    """The scenario version the exercise was created with, as *team*'s range."""
    return compile_model(
        scenarios.for_team(team), scenarios.bundle_for_team(team),  # the team's own variables filled
        exercise=range_label(instance_id, exercise), team=team_label(team),
        gateway_user=row.gateway_user, gateway_password=row.gateway_password,
    )


def compile_model(model: ScenarioModel, bundle: dict[str, str], *, exercise: str, team: str,
                  gateway_user: str, gateway_password: str) -> RangeSpec:
    """A validated scenario and its bundled files as one team's range spec."""
    tags = images.host_images(model, bundle)
    return RangeSpec(
        exercise=exercise,
        team=team,
        segments=tuple(segment.id for segment in model.network.segments),
        hosts=tuple(_host(host, bundle, tags[host.image]) for host in model.network.hosts),
        access_segments=tuple(model.network.access_segments),
        gateway_image=image_tag(images.GATEWAY_IMAGE),
        gateway_user=gateway_user,
        gateway_password=gateway_password,
        fixed_subnets=tuple((s.id, str(s.subnet)) for s in model.network.segments if s.subnet is not None),
        dns=model.network.dns,
    )


def _placed(placed: HostFile, bundle: dict[str, str]) -> list[PlacedFile]:
    """One file, or every file under a bundled folder at ``path/<relative>``: the same mode and owner."""
    return [PlacedFile(path, content, int(placed.mode, 8), placed.owner)
            for path, content in bundles.files_at(placed.path, placed.content, placed.source, bundle)]


def _host(host: HostModel, bundle: dict[str, str], image: str) -> HostSpec:
    return HostSpec(
        name=host.id,
        image=image,
        segments=tuple(link.id for link in host.segments),
        aliases=tuple(host.aliases),
        accounts=tuple(Account(a.user, a.password, a.sudo, a.shell) for a in host.accounts),
        files=tuple(f for placed in host.files for f in _placed(placed, bundle)),
        startup=tuple(host.startup),
        services=tuple(ServicePort(s.name, s.port, s.protocol) for s in host.services),
        capabilities=tuple(host.capabilities),
        forwarding=host.forwarding,
        gateway=host.gateway,
        hidden=host.hidden,
        trainee_login=host.trainee_login,
        fixed_addresses=tuple((link.id, str(link.address)) for link in host.segments if link.address is not None),
    )


def record_state(session: Session, row: TeamRange, seen: TeamRangeState) -> None:
    """Store what Docker shows (the labels are the truth) on the team's range rows."""
    by_name = {host.name: host for host in row.hosts}
    for host in seen.hosts:
        stored = by_name.get(host.name)
        if stored is None:
            stored = RangeHost(name=host.name)
            row.hosts.append(stored)
        stored.container_id = host.container_id
        stored.state = host.state
        stored.addresses = dict(host.addresses)
    row.gateway_port = seen.gateway_port


@dataclass(frozen=True)
class HostAccess:
    """What a trainee needs to reach one host."""

    name: str
    title_ja: str
    title_en: str
    address: str
    accounts: list[tuple[str, str]]
    services: list[str]


def access_for(session: Session, team: Team) -> tuple[TeamRange | None, list[HostAccess]]:
    """The team's gateway and the hosts trainees may log in to (never hidden hosts)."""
    row = session.scalar(select(TeamRange).where(TeamRange.team_id == team.id))
    model = scenarios.for_team(team)
    addresses = {h.name: h.addresses for h in row.hosts} if row else {}
    visible = []
    for host in model.network.hosts:
        if host.hidden or not host.trainee_login:
            continue
        first = host.segments[0].id
        visible.append(HostAccess(
            host.id, host.name.ja, host.name.en, addresses.get(host.id, {}).get(first, ""),
            [(a.user, a.password) for a in host.accounts],
            [f"{s.name}/{s.port}" for s in host.services],
        ))
    return row, visible


def ssh_config(team: Team, row: TeamRange, hosts: list[HostAccess], bind_address: str) -> str:
    """An OpenSSH client configuration: every host through the team's gateway (ProxyJump)."""
    title = " ".join(f"{team.exercise.name} / {team.name}".split())  # never a line break
    lines = [
        f"# Mamori — {title}",
        "Host mamori-gateway",
        f"    HostName {bind_address}",
        f"    Port {row.gateway_port or 22}",
        f"    User {row.gateway_user}",
        "    StrictHostKeyChecking accept-new",
        "",
    ]
    for host in hosts:
        user = host.accounts[0][0] if host.accounts else row.gateway_user
        lines += [f"Host {host.name}", f"    HostName {host.name}", f"    User {user}",
                  "    ProxyJump mamori-gateway", "    StrictHostKeyChecking accept-new", ""]
    return "\n".join(lines)


def rows_for(session: Session, exercise: Exercise) -> list[tuple[Team, TeamRange | None]]:
    """Each team with its range row (``None`` before the first provisioning)."""
    rows = {
        row.team_id: row
        for row in session.scalars(
            select(TeamRange).where(TeamRange.team_id.in_([t.id for t in exercise.teams]))
        )
    }
    return [(team, rows.get(team.id)) for team in exercise.teams]


def get_team(session: Session, exercise: Exercise, number: int) -> Team:
    for team in exercise.teams:
        if team.number == number:
            return team
    raise NotFound(N_("no team %(id)d"), id=number)
