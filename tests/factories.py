"""Plain factory functions for tests: ``make_user(session, **overrides)`` and friends."""
from __future__ import annotations

import hashlib
import itertools
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from app.models import Exercise, ExerciseState, InjectRun, Membership, Role, RunStatus, Scenario, Team, User, utcnow
from app.scenario import load_scenario_file
from app.services import accounts, exercises, lifecycle, staff

PASSWORD = "correct-horse-battery"
_counter = itertools.count(1)


def make_user(session: Session, *, role: Role = Role.TRAINEE, login: str | None = None,
              display_name: str | None = None, password: str = PASSWORD,
              must_change_password: bool = False) -> User:
    login = login or f"{role.value}{next(_counter)}"
    user = accounts.create_user(
        session, login=login, display_name=display_name or login, role=role, password=password,
        must_change_password=must_change_password,
    )
    session.flush()
    return user


MINIMAL = Path(__file__).parent / "scenarios" / "valid" / "minimal.yaml"


def make_scenario(session: Session, *, slug: str = "demo", days: int = 1, version: str = "1.0") -> Scenario:
    """A registered scenario: the valid minimal example under another id (and version)."""
    loaded = load_scenario_file(MINIMAL)
    document = {**loaded.document, "id": slug, "version": version}
    if days == 2:
        document["days"] = [*document["days"], {"length": "02:00"}]
    text = loaded.text.replace("id: suspicious-beacon", f"id: {slug}", 1)
    scenario = Scenario(
        slug=slug, version=version, content_hash=hashlib.sha256(f"{text}{version}{days}".encode()).hexdigest(),
        title_ja=loaded.title_ja, title_en=loaded.title_en, level=loaded.level, days=days,
        source_path=f"{slug}.yaml", source_text=text, document=document, bundle={},
    )
    session.add(scenario)
    session.flush()
    return scenario


def make_exercise(session: Session, *, teams: int = 2, scenario: Scenario | None = None,
                  name: str = "テスト演習", instructor: User | None = None) -> Exercise:
    """An exercise made by *instructor* (who then runs it), or by the operator (no staff: administrators only)."""
    scenario = scenario or make_scenario(session, slug=f"demo{next(_counter)}")
    exercise = exercises.create_exercise(
        session, scenario, exercises.ExerciseDraft(name=name, team_count=teams), actor=instructor
    )
    session.flush()
    return exercise


def run_by(session: Session, exercise: Exercise, *instructors: User) -> Exercise:
    """Put *instructors* on the exercise's staff (as an administrator would)."""
    for instructor in instructors:
        staff.add(session, exercise, instructor.login, actor=None)
    return exercise


def make_running_exercise(session: Session, *, teams: int = 2, elapsed: float = 1300.0,
                          fired: dict[str, float] | None = None, instructor: User | None = None) -> Exercise:
    """An exercise of the minimal scenario started *elapsed* seconds ago at speed 1, with the injects
    *fired* (inject id → second of day 1 it started) done for every team."""
    exercise = make_exercise(session, teams=teams, instructor=instructor)
    exercise.state = ExerciseState.READY
    lifecycle.start(session, exercise, actor=None, speed=1, now=utcnow() - timedelta(seconds=elapsed))
    for team in exercise.teams:
        for inject_id, started in (fired or {}).items():
            session.add(InjectRun(exercise_id=exercise.id, team_id=team.id, inject_id=inject_id,
                                  status=RunStatus.DONE, day=1, started_seconds=started))
    session.flush()
    return exercise


def add_member(session: Session, team: Team, user: User) -> Membership:
    membership = Membership(exercise_id=team.exercise_id, team=team, user=user)
    session.add(membership)
    session.flush()
    return membership
