"""Who runs an exercise: its staff (担当講師), and the one check every caller makes before changing it.

An exercise's staff are the instructors recorded for it: its creator from the
start, then whoever one of them (or an administrator) adds. Only they — and
every administrator — change the exercise or look into its teams: the clock,
injects, messages, hints, adjustments, grading, the roster, ranges, terminal
recordings, exports and the teams' score visibility. Any other instructor sees
it in the list and on its overview page, read-only. The CLI is the operator and
passes ``actor=None``, which is never refused.

The web views, the API and the CLI all ask :func:`require_runner`; no view
decides this on its own.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exercise, Role, User
from app.models.exercises import ExerciseStaff
from app.services import audit
from app.services.errors import N_, Conflict, Forbidden, InvalidInput, NotFound


def runs(exercise: Exercise, user: User | None) -> bool:
    """Whether *user* may change *exercise*: an administrator, one of its staff, or the operator (``None``)."""
    if user is None or user.has_role(Role.ADMIN):
        return True
    return user.has_role(Role.INSTRUCTOR) and any(member.user_id == user.id for member in exercise.staff)


def require_runner(exercise: Exercise, user: User | None) -> None:
    """Refuse anyone who does not run *exercise* (see :func:`runs`)."""
    if not runs(exercise, user):
        raise Forbidden(N_("you do not run exercise %(id)d: one of its instructors or an administrator can add you"),
                        id=exercise.id)


def members(exercise: Exercise) -> list[User]:
    """The exercise's staff, in the order they were added."""
    return [member.user for member in exercise.staff]


def add(session: Session, exercise: Exercise, login: str, *, actor: User | None, ip: str = "") -> User:
    """Make the instructor *login* one of the exercise's staff (the caller must run it)."""
    require_runner(exercise, actor)
    user = _user(session, login)
    if not user.has_role(Role.INSTRUCTOR):
        raise InvalidInput(N_("%(login)s is not an instructor: only instructors and administrators can run an "
                              "exercise"), login=user.login)
    if not user.active:
        raise InvalidInput(N_("%(login)s is deactivated"), login=user.login)
    if any(member.user_id == user.id for member in exercise.staff):
        raise Conflict(N_("%(login)s already runs this exercise"), login=user.login)
    exercise.staff.append(ExerciseStaff(user=user, added_by_id=actor.id if actor is not None else None))
    session.flush()
    audit.record(session, "exercise.staff_add", actor=actor, target=f"exercise:{exercise.id}",
                 exercise_id=exercise.id, ip=ip, login=user.login)
    return user


def remove(session: Session, exercise: Exercise, login: str, *, actor: User | None, ip: str = "") -> User:
    """Take *login* off the exercise's staff; the last one stays (add another first)."""
    require_runner(exercise, actor)
    user = _user(session, login)
    member = next((m for m in exercise.staff if m.user_id == user.id), None)
    if member is None:
        raise NotFound(N_("%(login)s does not run this exercise"), login=user.login)
    if len(exercise.staff) == 1:
        raise Conflict(N_("%(login)s is the exercise's only instructor: add another one first"), login=user.login)
    exercise.staff.remove(member)
    session.flush()
    audit.record(session, "exercise.staff_remove", actor=actor, target=f"exercise:{exercise.id}",
                 exercise_id=exercise.id, ip=ip, login=user.login)
    return user


def _user(session: Session, login: str) -> User:
    user = session.scalar(select(User).where(User.login == login.strip()))
    if user is None:
        raise NotFound(N_("no user %(login)r"), login=login.strip())
    return user
