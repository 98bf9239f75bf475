"""Who took part: trainees and teams per exercise and per organisation (所属団体), with totals.

A prefecture totals its sessions by municipality with this table. A team may
mix organisations, so a team counts once for each organisation among its
members, and the totals count distinct teams and distinct trainees (never the
sum of the organisation rows). Trainees who have no organisation are counted
under "no organisation" (``organisation`` is ``None``). One query reads every
membership of the chosen exercises; the counting is done in one pass.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models import Exercise, Membership, Organisation, User


@dataclass(frozen=True)
class Count:
    trainees: int
    teams: int
    exercises: int = 1


@dataclass(frozen=True)
class ExerciseLine:
    """One exercise: a count per organisation that took part, and the exercise's own total."""

    exercise: Exercise
    by_organisation: list[tuple[Organisation | None, Count]]
    total: Count


@dataclass(frozen=True)
class Participation:
    exercises: list[ExerciseLine]
    organisations: list[tuple[Organisation | None, Count]]  # across every exercise listed
    total: Count
    only: Organisation | None = None  # the counts were narrowed to this organisation


def count(session: Session, exercises: list[Exercise], *, organisation_id: int | None = None) -> Participation:
    """The participation in *exercises* (in their order); with *organisation_id*, that organisation's only."""
    ids = [e.id for e in exercises]
    query = (select(Membership.exercise_id, Membership.team_id, Membership.user_id, User.organisation_id)
             .join(User, User.id == Membership.user_id).where(Membership.exercise_id.in_(ids)))
    if organisation_id:
        query = query.where(User.organisation_id == organisation_id)
    rows = session.execute(query).all() if ids else []
    known = {o.id: o for o in session.scalars(
        select(Organisation).options(joinedload(Organisation.prefecture))
        .where(Organisation.id.in_({r.organisation_id for r in rows if r.organisation_id})))}
    # (exercise, organisation) -> (users, teams); organisation -> (users, teams, exercises)
    cell: dict[tuple[int, int | None], tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
    per_exercise: dict[int, tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
    per_org: dict[int | None, tuple[set[int], set[int], set[int]]] = defaultdict(lambda: (set(), set(), set()))
    for exercise_id, team_id, user_id, org_id in rows:
        for bucket in (cell[(exercise_id, org_id)], per_exercise[exercise_id], per_org[org_id]):
            bucket[0].add(user_id)
            bucket[1].add(team_id)
        per_org[org_id][2].add(exercise_id)
    order = _order(known)
    lines = []
    for exercise in exercises:
        users, teams = per_exercise.get(exercise.id, (set(), set()))
        lines.append(ExerciseLine(exercise, [
            (known.get(org_id) if org_id else None, Count(len(cell[(exercise.id, org_id)][0]),
                                                          len(cell[(exercise.id, org_id)][1])))
            for org_id in sorted({o for (e, o) in cell if e == exercise.id}, key=order)], Count(len(users), len(teams))))
    organisations = [(known.get(org_id) if org_id else None, Count(len(u), len(t), len(e)))
                     for org_id, (u, t, e) in sorted(per_org.items(), key=lambda item: order(item[0]))]
    total = Count(len({r.user_id for r in rows}), len({r.team_id for r in rows}),
                  len({r.exercise_id for r in rows}))
    only = session.get(Organisation, organisation_id) if organisation_id else None
    return Participation(lines, organisations, total, only)


def _order(known: dict[int, Organisation]):  # type: ignore[no-untyped-def]
    """Organisations by prefecture (JIS order), then name; "no organisation" last."""
    def key(org_id: int | None) -> tuple[int, int, str]:
        if org_id is None or org_id not in known:
            return (1, 0, "")
        organisation = known[org_id]
        return (0, organisation.prefecture_id or 99, organisation.name)
    return key
