"""Creating exercises and their teams; who may see which exercise and team."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models import Exercise, Membership, Prefecture, Role, Scenario, Team, User
from app.models.exercises import ExerciseStaff
from app.services import audit, scenarios, staff
from app.services.errors import N_, Forbidden, InvalidInput, NotFound
from app.services.text import is_plain_text

MAX_TEAMS = 40


@dataclass(frozen=True)
class ExerciseDraft:
    """What an instructor fills in to create an exercise."""

    name: str
    team_count: int
    venue: str = ""
    prefecture_id: int | None = None
    starts_on: date | None = None
    ends_on: date | None = None


def team_name(number: int) -> str:
    return f"Team {number:02d}"


def plain_text(value: str) -> bool:
    """No control characters or bidi overrides (a newline in a name could forge lines in files made from it)."""
    return is_plain_text(value)


def create_exercise(
    session: Session, scenario: Scenario, draft: ExerciseDraft, *, actor: User | None, ip: str = ""
) -> Exercise:
    if not (plain_text(draft.name) and plain_text(draft.venue)):
        raise InvalidInput(N_("names cannot contain line breaks or control characters"))
    if not 1 <= draft.team_count <= MAX_TEAMS:
        raise InvalidInput(N_("the number of teams must be between 1 and %(max)d"), max=MAX_TEAMS)
    if draft.prefecture_id is not None and session.get(Prefecture, draft.prefecture_id) is None:
        raise InvalidInput(N_("unknown prefecture code %(code)s"), code=draft.prefecture_id)
    if draft.starts_on and draft.ends_on:
        if draft.ends_on < draft.starts_on:
            raise InvalidInput(N_("the last day is before the first day"))
        if (draft.ends_on - draft.starts_on).days + 1 != scenario.days:
            raise InvalidInput(
                N_("the scenario lasts %(days)d day(s); the dates do not match"), days=scenario.days
            )
    exercise = Exercise(
        name=draft.name.strip() or scenario.title_ja,
        scenario=scenario,
        days=scenario.days,
        venue=draft.venue.strip(),
        prefecture_id=draft.prefecture_id,
        starts_on=draft.starts_on,
        ends_on=draft.ends_on,
        created_by=actor,
    )
    exercise.teams = [Team(number=n, name=team_name(n)) for n in range(1, draft.team_count + 1)]
    for team in exercise.teams:  # drawn now and fixed: the values never change afterwards
        scenarios.team_values(team)
    if actor is not None:  # the creator runs it; one made from the CLI is left to the administrators
        exercise.staff = [ExerciseStaff(user=actor, added_by_id=actor.id)]
    session.add(exercise)
    session.flush()
    audit.record(
        session, "exercise.create", actor=actor, target=f"exercise:{exercise.id}",
        exercise_id=exercise.id, ip=ip, scenario=scenario.slug, teams=draft.team_count,
    )
    return exercise


def list_exercises(session: Session) -> list[Exercise]:
    return list(session.scalars(select(Exercise).order_by(Exercise.id.desc())))


def get_exercise(session: Session, exercise_id: int) -> Exercise:
    # Its staff come in the same query: nearly every caller asks ``staff.runs`` next.
    exercise = session.get(Exercise, exercise_id, options=[joinedload(Exercise.staff)])
    if exercise is None:
        raise NotFound(N_("no exercise %(id)d"), id=exercise_id)
    return exercise


def get_team_for(session: Session, user: User, team_id: int) -> Team:
    """The team, if *user* may see it: a trainee only their own, an instructor the teams of an exercise
    they run (``app.services.staff``), an administrator every team."""
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(N_("no team %(id)d"), id=team_id)
    if any(m.user_id == user.id for m in team.memberships):
        return team
    if user.has_role(Role.INSTRUCTOR):
        staff.require_runner(team.exercise, user)
        return team
    raise Forbidden(N_("this team is not yours"))


def teams_of(session: Session, user: User) -> list[Team]:
    """The teams *user* belongs to, newest exercise first."""
    return list(
        session.scalars(
            select(Team)
            .join(Membership, Membership.team_id == Team.id)
            .where(Membership.user_id == user.id)
            .order_by(Team.exercise_id.desc())
        )
    )
