"""The administrators' and instructors' review across exercises: search, ranking, a team's breakdown, score over time.

Every page of the review reads a bounded number of queries whatever the
number of teams: the ranking adds the running totals (``TeamScore``) to one
``GROUP BY team, source`` over the ledger, and the score-over-time series is
one ``GROUP BY team, moment`` turned into running sums in one pass.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models import (
    Exercise, Membership, Message, Organisation, Prefecture, ReportVersion, Scenario, ScoreEvent, ScoreSource, Team,
    User,
)
from app.scenario.model import Text
from app.services import ledger, scenarios, scores
from app.services.errors import N_, InvalidInput, NotFound

LEVELS = ("beginner", "intermediate", "advanced")


# Searching exercises -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExerciseFilter:
    """What the review list is narrowed to; ``None`` (or empty) means any."""

    prefecture_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    level: str | None = None
    scenario: str | None = None  # a scenario's slug (every registered version of it)
    organisation_id: int | None = None  # exercises where some trainee of this organisation took part

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise InvalidInput(N_("the end of the period is before its start"))
        if self.level and self.level not in LEVELS:
            raise InvalidInput(N_("unknown course level %(level)r"), level=self.level)


@dataclass(frozen=True)
class ExerciseRow:
    exercise: Exercise
    teams: int
    trainees: int = 0  # members of its teams
    organisations: int = 0  # distinct organisations of those members


def search(session: Session, criteria: ExerciseFilter, *, limit: int | None = 500) -> list[ExerciseRow]:
    """Exercises matching *criteria*, newest first, with their team, trainee and organisation counts (one query).

    A date filter keeps the exercises held on some day of the period: the
    first day on or before its end, the last day (or the first, for a
    one-day exercise) on or after its start. Exercises without dates are left
    out once a date is given.
    """
    teams = (select(Team.exercise_id, func.count(Team.id).label("teams"))
             .group_by(Team.exercise_id).subquery())
    people = (select(Membership.exercise_id, func.count(Membership.user_id).label("trainees"),
                     func.count(User.organisation_id.distinct()).label("organisations"))
              .join(User, User.id == Membership.user_id).group_by(Membership.exercise_id).subquery())
    query: Select = (select(Exercise, func.coalesce(teams.c.teams, 0), func.coalesce(people.c.trainees, 0),
                            func.coalesce(people.c.organisations, 0))
                     .join(Scenario, Scenario.id == Exercise.scenario_id)
                     .outerjoin(teams, teams.c.exercise_id == Exercise.id)
                     .outerjoin(people, people.c.exercise_id == Exercise.id)
                     .options(joinedload(Exercise.scenario), joinedload(Exercise.prefecture))
                     .order_by(Exercise.starts_on.desc().nulls_last(), Exercise.id.desc()))
    if criteria.prefecture_id:
        query = query.where(Exercise.prefecture_id == criteria.prefecture_id)
    if criteria.level:
        query = query.where(Scenario.level == criteria.level)
    if criteria.scenario:
        query = query.where(Scenario.slug == criteria.scenario)
    if criteria.organisation_id:
        query = query.where(Exercise.id.in_(
            select(Membership.exercise_id).join(User, User.id == Membership.user_id)
            .where(User.organisation_id == criteria.organisation_id)))
    if criteria.date_from:
        last_day = func.coalesce(Exercise.ends_on, Exercise.starts_on)
        query = query.where(last_day >= criteria.date_from)
    if criteria.date_to:
        query = query.where(Exercise.starts_on <= criteria.date_to)
    if limit is not None:
        query = query.limit(limit)
    return [ExerciseRow(exercise, int(count), int(trainees), int(organisations))
            for exercise, count, trainees, organisations in session.execute(query).unique()]


@dataclass(frozen=True)
class FilterChoices:
    prefectures: list[Prefecture]  # all 47, in JIS order
    scenarios: list[Scenario]  # the newest version of each slug that some exercise used
    organisations: list[Organisation] = field(default_factory=list)  # those some trainee of an exercise is in
    levels: tuple[str, ...] = LEVELS


def filter_choices(session: Session) -> FilterChoices:
    """What the filters offer: every prefecture, the scenarios some exercise was made from, and the
    organisations some exercise's trainees are in (by prefecture, then name)."""
    prefectures = list(session.scalars(select(Prefecture).order_by(Prefecture.id)))
    used = session.scalars(select(Scenario).where(Scenario.id.in_(select(Exercise.scenario_id)))
                           .order_by(Scenario.slug, Scenario.id.desc()))
    newest: dict[str, Scenario] = {}
    for scenario in used:
        newest.setdefault(scenario.slug, scenario)
    taking_part = list(session.scalars(
        select(Organisation).where(Organisation.id.in_(
            select(User.organisation_id).join(Membership, Membership.user_id == User.id)))
        .options(joinedload(Organisation.prefecture))
        .order_by(Organisation.prefecture_id.asc().nulls_last(), Organisation.name)))
    return FilterChoices(prefectures, list(newest.values()), taking_part)


def get_exercise(session: Session, exercise_id: int) -> Exercise:
    """The exercise with its teams and their members loaded (the review lists them all)."""
    exercise = session.scalar(select(Exercise).where(Exercise.id == exercise_id).options(
        joinedload(Exercise.scenario), joinedload(Exercise.prefecture),
        selectinload(Exercise.teams).selectinload(Team.memberships).joinedload(Membership.user)
        .joinedload(User.organisation).joinedload(Organisation.prefecture)))
    if exercise is None:
        raise NotFound(N_("no exercise %(id)d"), id=exercise_id)
    return exercise


def team_organisations(team: Team) -> list[Organisation]:
    """The distinct organisations of a team's members, by name (members loaded as ``get_exercise`` does)."""
    found = {m.user.organisation.id: m.user.organisation for m in team.memberships if m.user.organisation}
    return sorted(found.values(), key=lambda o: (o.name, o.prefecture_id or 0))


def get_team(exercise: Exercise, number: int) -> Team:
    team = next((t for t in exercise.teams if t.number == number), None)
    if team is None:
        raise NotFound(N_("the exercise has no team %(team)d"), team=number)
    return team


# The ranking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RankRow:
    rank: int
    team: Team
    points: int
    events: int
    by_source: dict[ScoreSource, int] = field(default_factory=dict)


def ranking(session: Session, exercise: Exercise) -> list[RankRow]:
    """The scoreboard (ties share a rank) with each team's points per kind of source: two queries."""
    per_source: dict[int, dict[ScoreSource, int]] = defaultdict(dict)
    for team_id, source, points in session.execute(
            select(ScoreEvent.team_id, ScoreEvent.source, func.sum(ScoreEvent.points))
            .where(ScoreEvent.exercise_id == exercise.id).group_by(ScoreEvent.team_id, ScoreEvent.source)):
        per_source[team_id][ScoreSource(source)] = int(points or 0)
    return [RankRow(s.rank, s.team, s.points, s.events, per_source.get(s.team.id, {}))
            for s in ledger.scoreboard(session, exercise)]


# Score over time -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesPoint:
    timeline: float  # exercise seconds since day 1 began
    day: int
    seconds: float  # into that day
    total: int  # the team's score once every event of this moment is counted


def score_series(session: Session, exercise: Exercise, team: Team | None = None) -> dict[int, list[SeriesPoint]]:
    """Each team's running total after every moment it scored: one grouped query, one pass.

    Every series starts at 0 at the start of day 1, so a team that never
    scored is a flat line rather than no line.
    """
    query = (select(ScoreEvent.team_id, ScoreEvent.timeline_seconds, ScoreEvent.day, ScoreEvent.exercise_seconds,
                    func.sum(ScoreEvent.points))
             .where(ScoreEvent.exercise_id == exercise.id)
             .group_by(ScoreEvent.team_id, ScoreEvent.timeline_seconds, ScoreEvent.day, ScoreEvent.exercise_seconds)
             .order_by(ScoreEvent.team_id, ScoreEvent.timeline_seconds))
    if team is not None:
        query = query.where(ScoreEvent.team_id == team.id)
    teams = [team] if team is not None else exercise.teams
    series: dict[int, list[SeriesPoint]] = {t.id: [SeriesPoint(0.0, 1, 0.0, 0)] for t in teams}
    for team_id, timeline, day, seconds, points in session.execute(query):
        line = series.setdefault(team_id, [SeriesPoint(0.0, 1, 0.0, 0)])
        line.append(SeriesPoint(float(timeline), int(day), float(seconds), line[-1].total + int(points or 0)))
    return series


# A team's breakdown --------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricLine:
    """One response metric of one attack: the team's seconds beside the cohort's median."""

    attack: str
    title: Text | None  # the inject's title in the scenario
    metric: str  # detect, contain, recover, report
    seconds: float | None
    median: float | None


@dataclass(frozen=True)
class TeamBreakdown:
    team: Team
    rank: RankRow
    lines: list[ledger.BreakdownLine]
    events: list[ScoreEvent]  # every line of the ledger, oldest first
    metrics: list[MetricLine]
    series: list[SeriesPoint]


def titles(exercise: Exercise, team: Team | None = None) -> dict[tuple[ScoreSource, str], Text]:
    """What each ledger source names (a check, a task, a report), as the scenario's bilingual text (*team*'s own)."""
    model = scenarios.for_team(team) if team is not None else scenarios.parsed(exercise.scenario)
    found: dict[tuple[ScoreSource, str], Text] = {}
    for check in model.checks:
        found[(ScoreSource.CHECK, check.id)] = check.title
    for task in model.tasks:
        for source in (ScoreSource.TASK, ScoreSource.WRONG_ANSWER, ScoreSource.HINT):
            found[(source, task.id)] = task.prompt
    for report in model.reports:
        found[(ScoreSource.REPORT, report.id)] = report.title
    return found


# The organisational measures: time from each attack to the team's first word to a kind of character.
ORGANISATION_METRICS = {"report_up": "boss", "vendor": "vendor", "notify": "authority"}


@dataclass(frozen=True)
class OrganisationMetrics:
    seconds: dict[tuple[int, str, str], float | None]  # (team id, attack, metric) -> seconds after the attack
    medians: dict[tuple[str, str], float | None]  # (attack, metric) -> the cohort's median


def organisation_metrics(session: Session, exercise: Exercise, cohort: scores.CohortMetrics) -> OrganisationMetrics:
    """Time from each measured attack to the team's first report up, vendor request and notification.

    Reporting up is the first message to a ``boss`` character or the first
    submitted report addressed to one, whichever came first; asking the vendor
    is the first message to a ``vendor``; notifying, the first to an
    ``authority``. Two queries for the whole exercise.
    """
    model = scenarios.parsed(exercise.scenario)
    kinds = {c.id: c.kind for c in model.story.characters}
    wanted = {kind: metric for metric, kind in ORGANISATION_METRICS.items()}
    moments: dict[tuple[int, str], list[float]] = defaultdict(list)  # (team id, metric) -> timeline seconds
    targets = [cid for cid, kind in kinds.items() if kind in wanted]
    if targets:
        for team_id, character_id, day, seconds in session.execute(
                select(Message.team_id, Message.character_id, Message.day, Message.exercise_seconds).where(
                    Message.exercise_id == exercise.id, Message.direction == "out",
                    Message.character_id.in_(targets))):
            moments[(team_id, wanted[kinds[character_id]])].append(ledger.at(exercise, day, seconds).timeline)
    upward = [r.id for r in model.reports if r.to and kinds.get(r.to) == "boss"]
    if upward:
        for team_id, seconds in session.execute(
                select(ReportVersion.team_id, ReportVersion.timeline_seconds).where(
                    ReportVersion.exercise_id == exercise.id, ReportVersion.submitted_at.is_not(None),
                    ReportVersion.report_id.in_(upward))):
            moments[(team_id, "report_up")].append(float(seconds))
    found: dict[tuple[int, str, str], float | None] = {}
    for team in cohort.teams:
        for attack in team.attacks:
            for metric in ORGANISATION_METRICS:
                after = [m - attack.fired for m in moments.get((team.team.id, metric), ())
                         if attack.fired is not None and m >= attack.fired]
                found[(team.team.id, attack.attack, metric)] = min(after) if after else None
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (_team, attack, metric), value in found.items():
        if value is not None:
            values[(attack, metric)].append(value)
    medians = {(attack, metric): statistics.median(values[(attack, metric)]) if values[(attack, metric)] else None
               for _team, attack, metric in found}
    return OrganisationMetrics(found, medians)


def team_metrics(session: Session, exercise: Exercise, team: Team) -> list[MetricLine]:
    """Time to detect / contain / recover / report, and to report up / ask the vendor / notify, for each
    measured attack, beside the cohort median."""
    cohort = scores.metrics(session, exercise)
    organisation = organisation_metrics(session, exercise, cohort)
    injects = {i.id: i.title for i in scenarios.for_team(team).injects}
    mine = next((t for t in cohort.teams if t.team.id == team.id), None)
    lines = []
    for attack in (mine.attacks if mine else ()):
        for metric in scores.METRICS:
            lines.append(MetricLine(attack.attack, injects.get(attack.attack), metric, attack.seconds.get(metric),
                                    cohort.medians.get((attack.attack, metric))))
        for metric in ORGANISATION_METRICS:
            lines.append(MetricLine(attack.attack, injects.get(attack.attack), metric,
                                    organisation.seconds.get((team.id, attack.attack, metric)),
                                    organisation.medians.get((attack.attack, metric))))
    return lines


def team_breakdown(session: Session, exercise: Exercise, team: Team) -> TeamBreakdown:
    """Everything behind one team's score: per source, every event with its reason, metrics, the series."""
    rank = next(r for r in ranking(session, exercise) if r.team.id == team.id)
    events = list(session.scalars(select(ScoreEvent).where(ScoreEvent.team_id == team.id)
                                  .order_by(ScoreEvent.timeline_seconds, ScoreEvent.id)))
    return TeamBreakdown(team=team, rank=rank, lines=ledger.breakdown(session, team), events=events,
                         metrics=team_metrics(session, exercise, team),
                         series=score_series(session, exercise, team)[team.id])

