"""Importing a trainee roster (CSV) into an exercise, all rows or none."""
from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exercise, Membership, Role, Team, User
from app.services import accounts, audit, organisations
from app.services.errors import N_, InvalidInput, ServiceError, Text
from app.services.text import is_plain_text

COLUMNS = ("name", "organisation", "login", "team")
MAX_ROWS = 500
MAX_BYTES = 1_000_000


class RosterError(ServiceError):
    """The roster was rejected as a whole; ``problems`` names each bad line."""

    def __init__(self, problems: list[Text]) -> None:
        super().__init__(N_("the roster was not imported (%(count)d problems)"), count=len(problems))
        self.problems = problems

    def __str__(self) -> str:
        return "the roster was not imported:\n" + "\n".join(str(p) for p in self.problems)


@dataclass(frozen=True)
class RosterRow:
    line: int
    name: str
    organisation: str
    login: str
    team: str


@dataclass(frozen=True)
class ImportedTrainee:
    login: str
    name: str
    team: str
    password: str
    organisation: str = ""


def _at(line: int, template: str, **params: object) -> Text:
    return Text(template, params, line=line)


def parse_roster(data: bytes) -> list[RosterRow]:
    """Parse and check a roster file; raise ``RosterError`` listing every bad line."""
    rows, problems = _parse(data)
    if problems:
        raise RosterError(problems)
    return rows


def _parse(data: bytes) -> tuple[list[RosterRow], list[Text]]:
    """Rows that parsed, and every problem found; a fatal problem stops at once."""
    if len(data) > MAX_BYTES:
        raise RosterError([Text(N_("the file is larger than %(max)d bytes"), {"max": MAX_BYTES})])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError([Text(
            N_("the file is not UTF-8 (byte %(byte)d); save it as CSV UTF-8"), {"byte": exc.start}
        )])
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [cell.strip() for cell in next(reader, [])]
    except csv.Error as exc:
        raise RosterError([_at(1, N_("not CSV: %(error)s"), error=str(exc))])
    if tuple(cell.lower() for cell in header) != COLUMNS:
        raise RosterError([_at(
            1, N_("the header must be %(expected)s (found %(found)s)"),
            expected=",".join(COLUMNS), found=",".join(header),
        )])
    rows: list[RosterRow] = []
    problems: list[Text] = []
    seen: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(COLUMNS):
                problems.append(_at(
                    line, N_("expected %(expected)d fields, found %(found)d"),
                    expected=len(COLUMNS), found=len(cells),
                ))
                continue
            row = RosterRow(line, *(cell.strip() for cell in cells))
            problems.extend(_row_problems(row, seen))
            rows.append(row)
    except csv.Error as exc:
        problems.append(_at(reader.line_num, N_("not CSV: %(error)s"), error=str(exc)))
    if len(rows) > MAX_ROWS:
        problems.append(Text(N_("more than %(max)d rows"), {"max": MAX_ROWS}))
    if not rows and not problems:
        problems.append(Text(N_("the file has no trainees")))
    return rows, problems


def _row_problems(row: RosterRow, seen: dict[str, int]) -> list[Text]:
    problems = []
    for name, value in (("name", row.name), ("organisation", row.organisation), ("team", row.team)):
        if not value:
            problems.append(_at(row.line, N_("%(field)s is empty"), field=name))
        elif not is_plain_text(value):
            problems.append(_at(row.line, N_("%(field)s contains line breaks or control characters"), field=name))
    try:
        accounts.validate_login_name(row.login)
    except InvalidInput as exc:
        problems.append(Text(exc.text.template, exc.text.params, line=row.line))
    else:
        if row.login in seen:
            problems.append(_at(
                row.line, N_("login %(login)r already used on line %(other)d"),
                login=row.login, other=seen[row.login],
            ))
        seen.setdefault(row.login, row.line)
    if len(row.name) > 200 or len(row.organisation) > 200 or len(row.team) > 100:
        problems.append(_at(row.line, N_("a field is too long")))
    return problems


def import_roster(
    session: Session, exercise: Exercise, data: bytes, *, actor: User | None, ip: str = ""
) -> list[ImportedTrainee]:
    """Create every trainee, organisation and membership in *data*, or nothing.

    Teams are matched by name (``Team 01``) or number (``1``); the roster may
    not create teams the exercise does not have.
    """
    rows, problems = _parse(data)
    teams = {_team_key(t.name): t for t in exercise.teams} | {str(t.number): t for t in exercise.teams}
    existing = set(session.scalars(select(User.login).where(User.login.in_([r.login for r in rows]))))
    problems += [
        _at(r.line, N_("login %(login)r already exists"), login=r.login)
        for r in rows if r.login in existing
    ]
    problems += [
        _at(r.line, N_("the exercise has no team %(team)r (teams: %(teams)s)"),
            team=r.team, teams=", ".join(t.name for t in exercise.teams))
        for r in rows if r.team and _team_key(r.team) not in teams
    ]
    if problems:
        raise RosterError(sorted(problems, key=lambda p: p.line or 0))
    imported: list[ImportedTrainee] = []
    for row in rows:
        password = accounts.generate_password()
        user = accounts.create_user(
            session,
            login=row.login,
            display_name=row.name,
            role=Role.TRAINEE,
            password=password,
            organisation=organisations.find_or_create(session, row.organisation, exercise.prefecture_id),
            must_change_password=True,
            actor=actor,
        )
        team: Team = teams[_team_key(row.team)]
        session.add(Membership(exercise_id=exercise.id, team=team, user=user))
        imported.append(ImportedTrainee(row.login, row.name, team.name, password, row.organisation))
    session.flush()
    audit.record(
        session, "roster.import", actor=actor, target=f"exercise:{exercise.id}",
        exercise_id=exercise.id, ip=ip, trainees=len(imported),
    )
    return imported


def _team_key(value: str) -> str:
    """``Team 01``, ``team 1``, ``チーム1``, ``０１`` and ``1`` all name team 1."""
    folded = unicodedata.normalize("NFKC", value).strip().lower()
    for prefix in ("team", "チーム"):
        folded = folded.removeprefix(prefix).strip()
    return str(int(folded)) if folded.isdigit() else folded

