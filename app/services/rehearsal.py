"""Rehearsing a scenario: a throw-away exercise with scripted teams, judged against what the scenario promises.

The rehearsal never touches the operator's database or exercises: it makes a
temporary SQLite database, registers the scenario there, and provisions real
ranges under an instance id of its own (``rh`` + 6 hex digits), which are torn
down by label whatever happens. Exercise time is a virtual clock that moves
as a real one would at the chosen speed — by the time each step's work took,
at least one scoring round and at most a few — so every inject fires and the
rounds run as in a real session, without waiting for the idle time between.

Scripted teams (*defenders*), assigned in this order and then cycled:

- ``perfect`` carries out the scenario's ``model_response`` when each step
  falls due: commands over SSH through the team's gateway as a trainee would,
  answers through the task service, reports graded with the rubric's full marks,
  messages and requests to the scenario's characters through the correspondence
  service (the engine carries the requests out in its ticks, as in a session);
- ``passive`` does nothing;
- ``late`` is ``perfect`` an hour (of exercise time) late.

The result must match the scenario: the perfect team within
``expectations.perfect_at_least`` of the maximum, the passive team at most
``expectations.passive_at_most``, the late team between the two; every check
seen failing and passing; every inject fired for some team and none failed;
for the perfect team, every request with actions its model response makes
carried out (fulfilled), and none refused or failed.
Two exceptions, because no scripted team can show them: an availability
check need not be seen failing (that takes a team that breaks the service),
and a check that was only ever active for passive teams (its ``active_from``
attack was prevented everywhere else) need not be seen passing — that is a
note. Problems and notes are said in Japanese, naming the piece at fault.
"""
from __future__ import annotations

import math
import secrets
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import migrate
from app.db import Database
from app.models import (
    CheckResultRow, Exercise, ExerciseState, InjectRun, Membership, Message, RangeState, RequestRun, RequestStatus,
    Role, RunStatus, Team, User, utcnow,
)
from app.runtime.engine import Engine
from app.runtime.triggers import counts_from
from app.scenario import ScenarioError, ScenarioFile, load_scenario_file
from app.scenario.model import (
    After, At, CommandStep, Expectations, Inject, MessageStep, ReportStep, Scenario, When, minutes,
)
from app.services import (
    accounts, correspondence, exercises, images, ledger, lifecycle, provisioning, ranges, reports, scenarios, scores,
    tasks,
)
from app.services.errors import N_, InvalidInput, ServiceError
from range import labels, ssh
from range.engine import DockerRangeEngine
from range.errors import RangeError
from range.probes import RangeProbe
from scoring.probe import ProbeError

DEFENDERS = ("perfect", "passive", "late")
DEFENDER_NAMES = {"perfect": "模範対応", "passive": "無対応", "late": "1時間遅れ"}
LATE_BY = 3600.0  # exercise seconds the late team lags behind the model response
COMMAND_TIMEOUT = 120.0  # seconds a model-response command may run
PROVISION_ATTEMPTS = 3  # a team whose range failed is removed and built again
DEFAULT_SPEED = 60.0
MAX_ROUNDS_PER_STEP = 5  # the clock never jumps further, however long one step's work took
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TeamResult:
    number: int
    name: str
    defender: str
    score: int
    maximum: int  # what the team could have earned (availability counts its own rounds)
    injects_fired: int
    injects_total: int
    steps_done: int
    steps_total: int
    breakdown: tuple[ledger.BreakdownLine, ...] = ()
    messages_sent: int = 0  # the team's messages to characters
    requests_fulfilled: int = 0  # its requests the organisation carried out
    reports_late: int = 0  # reports submitted after their due moment, or due and never submitted

    def as_json(self) -> dict[str, Any]:
        return {"team": self.name, "number": self.number, "defender": self.defender, "score": self.score,
                "maximum": self.maximum, "injects_fired": self.injects_fired, "injects_total": self.injects_total,
                "steps_done": self.steps_done, "steps_total": self.steps_total,
                "messages_sent": self.messages_sent, "requests_fulfilled": self.requests_fulfilled,
                "reports_late": self.reports_late,
                "share": round(self.score / self.maximum, 4) if self.maximum else None,
                "breakdown": [{"source": line.source.value, "id": line.source_id, "points": line.points,
                               "events": line.events} for line in self.breakdown]}


@dataclass(frozen=True)
class RehearsalResult:
    scenario: str
    title: str
    teams: tuple[TeamResult, ...]
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()  # worth knowing, not failures (a late step the day had no room for)
    seconds: float = 0.0
    expectations: Expectations | None = None
    range_label: str = ""  # the exercise label of its ranges on the Docker Engine (all removed at the end)

    @property
    def ok(self) -> bool:
        return not self.problems and bool(self.teams)

    def ranks(self) -> dict[int, int]:
        """Each team's place by score, by team number (teams with equal scores share a place)."""
        return {t.number: 1 + sum(1 for other in self.teams if other.score > t.score) for t in self.teams}

    def as_json(self) -> dict[str, Any]:
        """Everything the text report shows (``app.cli.rehearse.report_lines``), with English keys."""
        ranks = self.ranks()
        expect = None if self.expectations is None else {
            "perfect_at_least": self.expectations.perfect_at_least,
            "passive_at_most": self.expectations.passive_at_most}
        return {"scenario": self.scenario, "title": self.title, "ok": self.ok, "expectations": expect,
                "teams": [{**t.as_json(), "rank": ranks[t.number]} for t in self.teams],
                "problems": list(self.problems), "notes": list(self.notes), "seconds": round(self.seconds, 1),
                "range_label": self.range_label}


def scenario_path(source: str, scenarios_dir: Path) -> Path:
    """*source* as a scenario file: a path, or the id of a scenario in the scenarios folder."""
    path = Path(source)
    if path.is_file():
        return path
    named = scenarios_dir / f"{source}.yaml"
    if path.suffix in (".yaml", ".yml") or "/" in source:
        raise ScenarioError([f"{source}: no such scenario file"])
    if not named.is_file():
        raise ScenarioError([f"{source}: no such scenario file, nor a scenario {named}"])
    return named


def defenders(count: int) -> list[str]:
    """perfect, passive, late, perfect, … for *count* teams."""
    return [DEFENDERS[i % len(DEFENDERS)] for i in range(count)]


def rehearse(source: Path, range_engine: DockerRangeEngine, *, teams: int = 3, speed: float = DEFAULT_SPEED,
             concurrency: int = 4, instance_id: str | None = None,
             progress: Progress | None = None) -> RehearsalResult:
    """Rehearse the scenario file *source* with *teams* scripted teams, then remove everything it made.

    *speed* is exercise seconds per real second, as on a real exercise: each
    scoring round takes at least ``round_seconds / speed`` real seconds (more
    when the round's work takes longer), so background attacks get real time
    to act. A scenario the validator refuses gives a result with its problems.
    """
    say = progress or (lambda text: None)
    if not 1 <= teams <= exercises.MAX_TEAMS:
        raise InvalidInput(N_("the number of teams must be between 1 and %(max)d"), max=exercises.MAX_TEAMS)
    if not 0 < speed <= lifecycle.MAX_SPEED:
        raise InvalidInput(N_("the speed must be above 0 and at most %(max)d"), max=int(lifecycle.MAX_SPEED))
    started = time.monotonic()
    try:
        loaded = load_scenario_file(source)
    except ScenarioError as exc:
        return RehearsalResult(source.stem, "", (), tuple(exc.problems))
    say(f"シナリオ {loaded.slug}（{loaded.title_ja}）を検証しました")
    # Role images and the scenario's own extensions that are not built yet (only then is the mirror needed).
    images.build(range_engine.backend, [images.for_scenario(str(source), loaded.scenario, loaded.bundle())],
                 log=lambda line: None if line.startswith(" ") else say(line))
    workdir = Path(tempfile.mkdtemp(prefix="mamori-rehearsal-"))
    database = Database(f"sqlite:///{workdir / 'rehearsal.sqlite3'}")
    instance = instance_id or f"rh{secrets.token_hex(3)}"
    label: str | None = None
    try:
        migrate.upgrade(database)
        with database.transaction() as session:
            run = _Run.prepare(session, database, range_engine, instance, loaded, teams, speed, say)
        label = run.label
        result = run.play(concurrency)
        return replace(result, seconds=time.monotonic() - started, range_label=label)
    finally:
        try:
            if label is not None:
                say("演習環境を削除しています")
                range_engine.teardown(label)
        finally:
            database.dispose()
            shutil.rmtree(workdir, ignore_errors=True)


class _Clock:
    """The virtual wall clock the engine, the scorer and the scripted teams all read."""

    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value


@dataclass
class _Squad:
    """One scripted team."""

    team_id: int
    number: int
    name: str
    defender: str
    members: list[int]  # trainee user ids (answers are rate-limited per account)
    done: set[int] = field(default_factory=set)  # indices of model_response steps performed
    answers: int = 0

    @property
    def offset(self) -> float | None:
        """Exercise seconds the team lags behind the model response; ``None``: it does nothing."""
        return {"perfect": 0.0, "late": LATE_BY}.get(self.defender)


class _Run:
    def __init__(self, database: Database, range_engine: DockerRangeEngine, instance: str, model: Scenario,
                 exercise_id: int, label: str, squads: list[_Squad], instructor_id: int, speed: float,
                 say: Progress) -> None:
        self.database, self.ranges, self.instance, self.model = database, range_engine, instance, model
        self.exercise_id, self.label, self.squads, self.instructor_id = exercise_id, label, squads, instructor_id
        self.speed, self.say = speed, say
        self.clock = _Clock(utcnow())
        self.engine = Engine(database, range_engine, instance, holder=f"rehearsal:{instance}", now=self.clock)
        self.problems: list[str] = []
        self.notes: list[str] = []

    @classmethod
    def prepare(cls, session: Session, database: Database, range_engine: DockerRangeEngine, instance: str,
                loaded: ScenarioFile, count: int, speed: float, say: Progress) -> "_Run":
        """The scenario registered, the exercise made, a trainee or more per team and an instructor."""
        row = scenarios.register_file(session, loaded).scenario
        draft = exercises.ExerciseDraft(name=f"リハーサル {loaded.slug}", team_count=count)
        exercise = exercises.create_exercise(session, row, draft, actor=None)
        answers = sum(1 for step in loaded.scenario.model_response if step.do == "answer")
        per_team = max(1, math.ceil(answers / (tasks.RATE_LIMIT - 1)))
        squads = []
        for team, defender in zip(exercise.teams, defenders(count)):
            members = [_user(session, f"rehearsal-t{team.number:02d}-{i}", Role.TRAINEE) for i in range(per_team)]
            for user in members:
                session.add(Membership(exercise_id=exercise.id, team=team, user=user))
            squads.append(_Squad(team.id, team.number, team.name, defender, [u.id for u in members]))
        instructor = _user(session, "rehearsal-instructor", Role.INSTRUCTOR)
        session.flush()
        return cls(database, range_engine, instance, loaded.scenario, exercise.id,
                   ranges.range_label(instance, exercise), squads, instructor.id, speed, say)

    # Playing the exercise ---------------------------------------------------------------

    def play(self, concurrency: int) -> RehearsalResult:
        self.say(f"演習環境を構築しています（{len(self.squads)} チーム、ラベル {self.label}）")
        failed = self._provision(concurrency)
        if failed:
            return RehearsalResult(self.model.id, self.model.title.ja, (), tuple(
                f"チーム {o.number} の演習環境を構築できませんでした: {o.reason}" for o in failed))
        for day, spec in enumerate(self.model.days, start=1):
            self._play_day(day, minutes(spec.length) * 60)
        with self.database.transaction() as session:
            lifecycle.finish(session, self._exercise(session), actor=None, now=self.clock())
        with self.database.session() as session:
            return self._judge(session)

    def _provision(self, concurrency: int) -> list[provisioning.TeamOutcome]:
        """Every team's range, retrying failed teams: another process may take a port or subnet meanwhile."""
        failed: list[provisioning.TeamOutcome] = []
        for attempt in range(PROVISION_ATTEMPTS):
            if failed:
                with self.database.transaction() as session:
                    for outcome in failed:
                        self.say(f"チーム {outcome.number} の構築に失敗したので作り直します: {outcome.reason}")
                        provisioning.discard_team(session, self.ranges, self.instance, self._exercise(session),
                                                  outcome.number)
                time.sleep(attempt * 2.0)
            outcomes = provisioning.provision_exercise(
                self.database, self.ranges, self.instance, self.exercise_id, concurrency=concurrency,
                teams=[o.number for o in failed] or None)
            failed = [o for o in outcomes if o.state is not RangeState.READY]
            if not failed:
                break
        return failed

    def _play_day(self, day: int, length: float) -> None:
        with self.database.transaction() as session:
            exercise = self._exercise(session)
            if day > 1 and exercise.state is not ExerciseState.DAY_ENDED:  # the engine ends a day at its length
                lifecycle.end_day(session, exercise, actor=None, now=self.clock())
            lifecycle.start(session, exercise, actor=None, speed=self.speed, now=self.clock())
        step = self.model.round_seconds
        wall_step = step / self.speed
        start = self.clock.value
        played, reported = 0.0, -1
        while played <= length:
            began = time.monotonic()
            self.clock.value = start + timedelta(seconds=played / self.speed)
            self.engine.tick()
            for squad in self.squads:
                self._defend(squad)
            self.engine.scorer.run_due_round(self.exercise_id)
            if int(played // 1800) > reported:
                reported = int(played // 1800)
                self.say(f"{day} 日目 {_hhmm(played)} / {_hhmm(length)}")
            time.sleep(max(0.0, began + wall_step - time.monotonic()))
            # As a real clock would: the time the work took passes in the exercise too, but never
            # more than a few rounds at once (a minutes-long inject must not skip the afternoon).
            took = time.monotonic() - began
            advance = min(max(took * self.speed, step), MAX_ROUNDS_PER_STEP * step)
            played = min(played + advance, length) if played < length else length + 1

    def _exercise(self, session: Session) -> Exercise:
        return exercises.get_exercise(session, self.exercise_id)

    # The scripted teams ------------------------------------------------------------------

    def _defend(self, squad: _Squad) -> None:
        """Carry out every model-response step that has fallen due for *squad*, earliest first."""
        if squad.offset is None:
            return
        with self.database.session() as session:
            exercise = self._exercise(session)
            team = session.get(Team, squad.team_id)
            now = ledger.moment(exercise, self.clock()).timeline
            steps = scenarios.for_team(team).model_response  # the team's own values (variables)
            due = []
            for index, step in enumerate(self.model.model_response):
                at = None if index in squad.done else _due(session, exercise, team, step.at)
                if at is not None and now >= at + squad.offset:
                    due.append((at, index))
        for _, index in sorted(due):
            squad.done.add(index)
            why = self._perform(squad, steps[index])
            if why:
                self.problems.append(f"{squad.name}（{DEFENDER_NAMES[squad.defender]}）"
                                     f"model_response[{index}]（{_describe(self.model.model_response[index])}）: {why}")

    def _perform(self, squad: _Squad, step: Any) -> str:
        """Do one step as the team would; what went wrong, or ``""``."""
        try:
            if isinstance(step, CommandStep):
                return self._command(squad, step)
            with self.database.transaction() as session:
                exercise, team = self._exercise(session), session.get(Team, squad.team_id)
                if isinstance(step, ReportStep):
                    self._report(session, exercise, team, squad, step)
                    return ""
                if isinstance(step, MessageStep):
                    self._message(session, exercise, team, squad, step)
                    return ""
                member = session.get(User, squad.members[squad.answers // (tasks.RATE_LIMIT - 1)])
                squad.answers += 1
                outcome = tasks.submit_answer(session, exercise, team, member, step.task, step.value,
                                              now=self.clock())
                return "" if outcome.correct else f"模範解答 {step.value!r} が不正解と判定されました"
        except ServiceError as exc:
            return f"受け付けられませんでした: {exc}"

    def _command(self, squad: _Squad, step: CommandStep) -> str:
        with self.database.session() as session:
            exercise, team = self._exercise(session), session.get(Team, squad.team_id)
            host = next(h for h in scenarios.for_team(team).network.hosts if h.id == step.host)
            password = next(a.password for a in host.accounts if a.user == step.user)
            row = ranges.team_range(session, team)
            spec = ranges.compile_range(self.instance, exercise, team, row)
            gateway_user, gateway_password, port = row.gateway_user, row.gateway_password, row.gateway_port
        try:
            target = RangeProbe(self.ranges, spec).address(labels.GATEWAY_HOST, step.host)
            port = port or self.ranges.status(spec).gateway_port
            if port is None:
                return "ゲートウェイの SSH ポートがありません"
            result = ssh.run_command(_reachable(self.ranges.bind_address), port, gateway_user, gateway_password,
                                     target, step.user, password, step.command, COMMAND_TIMEOUT)
        except (ProbeError, RangeError) as exc:
            return f"SSH で実行できませんでした: {exc}"
        if result.timed_out:
            return f"{int(COMMAND_TIMEOUT)} 秒以内に終わりませんでした"
        if result.exit_code == -1:  # the channel closed without an exit status
            return "SSH の接続が終了コードなしで切れました（コマンドが自分のセッションまで止めていませんか）"
        if result.exit_code != 0:
            tail = " ".join(result.text.strip().splitlines()[-3:])[-300:]
            return f"終了コード {result.exit_code} で失敗しました: {tail or '（出力なし）'}"
        return ""

    def _report(self, session: Session, exercise: Exercise, team: Team, squad: _Squad, step: ReportStep) -> None:
        """Submit the model report, grade it with the rubric's full marks, release the grade."""
        instructor = session.get(User, self.instructor_id)
        trainee = session.get(User, squad.members[0])
        version = reports.submit(session, exercise, team, trainee, step.report, text=step.text.ja, now=self.clock())
        rubric = next(r for r in self.model.reports if r.id == step.report).rubric
        reports.grade(session, version, {c.id: c.points for c in rubric}, "リハーサル（満点で採点）", instructor,
                      now=self.clock())
        reports.release(session, exercise, instructor, team=team, now=self.clock())

    def _message(self, session: Session, exercise: Exercise, team: Team, squad: _Squad, step: MessageStep) -> None:
        """Write to the character as one of the team's members would; the engine's next ticks answer it."""
        member = session.get(User, squad.members[len(squad.done) % len(squad.members)])
        message = correspondence.write(session, exercise, team, member, character_id=step.to,
                                       subject=_subject(self.model, step), body=step.text.ja,
                                       request_id=step.request, params=dict(step.params), now=self.clock())
        if message.white_cell == correspondence.WAITING and squad.defender == "perfect":
            self.notes.append(f"{squad.name}（{DEFENDER_NAMES[squad.defender]}）: {step.to} への連絡"
                              f"「{message.subject_ja}」はどの依頼にも当たらず、講師（ホワイトセル）待ちになりました")

    # Judging the result ------------------------------------------------------------------

    def _judge(self, session: Session) -> RehearsalResult:
        exercise = self._exercise(session)
        points = {s.team.id: s.points for s in ledger.scoreboard(session, exercise)}
        names = {s.team_id: s.name for s in self.squads}
        runs: dict[str, dict[str, InjectRun]] = {name: {} for name in names.values()}
        for run in session.scalars(select(InjectRun).where(InjectRun.exercise_id == exercise.id)):
            runs[names[run.team_id]][run.inject_id] = run
        errors = dict(session.execute(
            select(CheckResultRow.check_id, func.min(CheckResultRow.reason))
            .where(CheckResultRow.exercise_id == exercise.id, CheckResultRow.status == "error")
            .group_by(CheckResultRow.check_id)).all())
        seen: dict[str, set[str]] = defaultdict(set)
        responding = {s.team_id for s in self.squads if s.offset is not None}
        defended: set[str] = set()  # checks that ran for a team that responds
        rounds: dict[tuple[int, str], int] = defaultdict(int)
        for team_id, check_id, status, count in session.execute(
                select(CheckResultRow.team_id, CheckResultRow.check_id, CheckResultRow.status, func.count())
                .where(CheckResultRow.exercise_id == exercise.id)
                .group_by(CheckResultRow.team_id, CheckResultRow.check_id, CheckResultRow.status)):
            seen[check_id].add(status)
            rounds[(team_id, check_id)] += count
            if team_id in responding:
                defended.add(check_id)
        sent = dict(session.execute(select(Message.team_id, func.count()).where(
            Message.exercise_id == exercise.id, Message.direction == "out").group_by(Message.team_id)).all())
        requested: dict[int, list[RequestRun]] = defaultdict(list)
        for request_run in session.scalars(select(RequestRun).where(RequestRun.exercise_id == exercise.id)
                                           .order_by(RequestRun.id)):
            requested[request_run.team_id].append(request_run)
        timings = reports.timeliness(session, exercise)
        end = ledger.moment(exercise, self.clock()).timeline
        teams = []
        for squad in self.squads:
            drawn = scenarios.team_values(session.get(Team, squad.team_id))
            if drawn:
                self.notes.append(f"{squad.name}: 変数 " + ", ".join(f"{k}={v}" for k, v in drawn.items()))
            fired = sum(1 for r in runs[squad.name].values() if r.status is RunStatus.DONE)
            mine = requested[squad.team_id]
            late = sum(1 for (team_id, _), t in timings.items()
                       if team_id == squad.team_id and (t.late or t.overdue(end)))
            teams.append(TeamResult(
                squad.number, squad.name, squad.defender, points.get(squad.team_id, 0),
                maximum(self.model, {c: n for (t, c), n in rounds.items() if t == squad.team_id}), fired,
                len(self.model.injects), len(squad.done), len(self.model.model_response),
                tuple(ledger.breakdown(session, session.get(Team, squad.team_id))),
                messages_sent=int(sent.get(squad.team_id, 0)),
                requests_fulfilled=sum(1 for r in mine if r.status is RequestStatus.FULFILLED), reports_late=late))
            if squad.offset is not None:
                self._unperformed(squad)
                found, said = judge_requests(self.model, mine, perfect=squad.defender == "perfect")
                who = f"{squad.name}（{DEFENDER_NAMES[squad.defender]}）"
                self.problems += [f"{who}: {text}" for text in found]
                self.notes += [f"{who}: {text}" for text in said]
        self.problems += judge_scores(self.model.expectations, teams)
        problems, notes = judge_checks(self.model.checks, seen, defended, errors)
        self.problems += problems
        self.notes += notes
        self.problems += judge_injects(self.model.injects, runs,
                                       {s.name for s in self.squads if s.defender == "passive"})
        for check in scores.recompute(session, exercise):
            if not check.agrees:
                self.problems.append(f"{check.team.name}: 得点の再計算が台帳と一致しません "
                                     f"（再計算 {check.recomputed}、台帳 {check.ledger}、集計 {check.total}）")
        return RehearsalResult(self.model.id, self.model.title.ja, tuple(teams), tuple(self.problems),
                               tuple(self.notes), expectations=self.model.expectations)

    def _unperformed(self, squad: _Squad) -> None:
        for index, step in enumerate(self.model.model_response):
            if index in squad.done:
                continue
            text = f"{squad.name}（{DEFENDER_NAMES[squad.defender]}）model_response[{index}]（{_describe(step)}）"
            if squad.defender == "perfect":
                self.problems.append(f"{text}: 実行する時刻になりませんでした（{_moment(step.at)}）")
            else:
                self.notes.append(f"{text}: 1時間遅れでは演習時間内に実行できませんでした")


# The verdict: plain data in, problems (and notes) out -----------------------------------------

def maximum(model: Scenario, rounds: Mapping[str, int]) -> int:
    """A team's best possible score: objectives, tasks and reports in full, hints untaken, the points
    of every character's request (each is awarded once per team: all of them can be earned, whether
    the model response makes them or not), and availability points for each of the team's rounds of
    each availability check (*rounds*)."""
    total = sum(c.scoring.points for c in model.checks if c.scoring.mode == "objective")
    total += sum(r.points for c in model.story.characters for r in c.requests)
    total += sum(c.scoring.points_per_round * rounds.get(c.id, 0)
                 for c in model.checks if c.scoring.mode == "availability")
    total += sum(t.points for t in model.tasks)
    return total + sum(c.points for r in model.reports for c in r.rubric)


def judge_scores(expect: Expectations, teams: Sequence[TeamResult]) -> list[str]:
    """Perfect teams near the maximum, passive ones at the floor, late ones strictly between."""
    problems = []
    by = {kind: [t for t in teams if t.defender == kind] for kind in DEFENDERS}
    for team in by["perfect"]:
        floor = math.ceil(expect.perfect_at_least * team.maximum)
        if team.score < floor:
            problems.append(f"{team.name}（模範対応）の得点 {team.score} が満点 {team.maximum} の "
                            f"{expect.perfect_at_least:.0%}（{floor} 点、expectations.perfect_at_least）に届きません")
    for team in by["passive"]:
        if team.score > expect.passive_at_most:
            problems.append(f"{team.name}（無対応）の得点 {team.score} が上限 {expect.passive_at_most} 点"
                            "（expectations.passive_at_most）を超えています")
    low = max((t.score for t in by["passive"]), default=None)
    high = min((t.score for t in by["perfect"]), default=None)
    for team in by["late"]:
        if (low is not None and team.score <= low) or (high is not None and team.score >= high):
            problems.append(f"{team.name}（1時間遅れ）の得点 {team.score} が無対応（{low}）と"
                            f"模範対応（{high}）の間にありません")
    return problems


def judge_checks(checks: Sequence[Any], seen: Mapping[str, set[str]], defended: set[str],
                 errors: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Each check seen failing and passing, from the statuses *seen* over all teams.

    *defended*: the checks that ran for a responding team; *errors*: a reason
    for each check that could not decide some time. The two exceptions are in
    the module's docstring. Returns (problems, notes).
    """
    problems, notes = [], []
    for check in checks:
        statuses = seen.get(check.id, set())
        if not statuses:
            since = f"（active_from: {check.active_from} がどのチームでも起きていません）" if check.active_from else ""
            problems.append(f"チェック {check.id} は一度も実行されませんでした{since}")
            continue
        if "error" in statuses:
            why = (errors or {}).get(check.id, "")
            notes.append(f"チェック {check.id} は判定できなかった（error）回がありました" + (f": {why}" if why else ""))
        if "up" not in statuses and check.id in defended:
            problems.append(f"チェック {check.id} は一度も成功（up）しませんでした")
        elif "up" not in statuses:
            notes.append(f"チェック {check.id} は対応したチームでは有効にならず（active_from: {check.active_from}）、"
                         "成功する様子は確かめられていません")
        if "down" not in statuses and check.scoring.mode != "availability":
            problems.append(f"チェック {check.id} は一度も失敗（down）しませんでした（攻撃の前後を見分けていません）")
    return problems, notes


def judge_injects(injects: Sequence[Inject], runs: Mapping[str, Mapping[str, InjectRun]],
                  passive: set[str]) -> list[str]:
    """Every inject done for some team, none failed; for *passive* teams, every attack but the conditional.

    *runs*: each team's runs by inject id, the team named by its name.
    """
    problems = []
    for inject in injects:
        mine = {team: found[inject.id] for team, found in runs.items() if inject.id in found}
        if not any(r.status is RunStatus.DONE for r in mine.values()):
            states = ", ".join(sorted({r.status.value for r in mine.values()})) or "記録なし"
            problems.append(f"インジェクト {inject.id} はどのチームでも実行されませんでした（{states}）")
        for team, run in sorted(mine.items()):
            if run.status in (RunStatus.FAILED, RunStatus.INTERRUPTED):
                problems.append(f"インジェクト {inject.id} が {team} で失敗しました: {(run.result or '')[:300]}")
    for team in sorted(passive):
        # Nobody defends, so an attack may stay away only where the scenario itself says so.
        for inject in injects:
            run = runs[team].get(inject.id)
            if run is not None and run.status is RunStatus.DONE:
                continue
            conditional = isinstance(inject.when, When) or inject.skip_if is not None
            parent = runs[team].get(inject.when.inject) if isinstance(inject.when, After) else None
            if conditional or (parent is not None and parent.status is not RunStatus.DONE):
                continue
            state = run.status.value if run is not None else "記録なし"
            problems.append(f"インジェクト {inject.id} が {team}（無対応）で実行されませんでした（{state}）")
    return problems


def judge_requests(model: Scenario, runs: Sequence[RequestRun], *, perfect: bool) -> tuple[list[str], list[str]]:
    """A responding team's requests: (problems, notes).

    For the perfect team, each request with actions (or attachments) that the
    model response makes must have been carried out, and no request of the team
    refused or failed; for the late team, the same findings are notes.
    """
    problems: list[str] = []
    requests = {(c.id, r.id): r for c in model.story.characters for r in c.requests}
    named = set()  # requests already named for a refusal or a failure
    for run in runs:
        if run.status in _STATUS_JA:
            named.add((run.character_id, run.request_id))
            problems.append(f"依頼 {run.character_id}/{run.request_id}（{_params(run.params)}）が"
                            f"{_STATUS_JA[run.status]}: {(run.result or '')[:300]}")
    wanted = {(s.to, s.request) for s in model.model_response if isinstance(s, MessageStep) and s.request}
    for key in sorted(wanted):
        request = requests.get(key)
        if request is None or not (request.actions or request.attach):
            continue
        mine = [r for r in runs if (r.character_id, r.request_id) == key]
        if key in named or any(r.status is RequestStatus.FULFILLED for r in mine):
            continue
        last = mine[-1] if mine else None
        state = f"{last.status.value}: {(last.result or '')[:300]}" if last is not None else "依頼の記録なし"
        problems.append(f"依頼 {key[0]}/{key[1]} の対応（actions）が実行されませんでした（{state}）")
    return (problems, []) if perfect else ([], problems)


_STATUS_JA = {RequestStatus.REFUSED: "断られました", RequestStatus.FAILED: "失敗しました",
              RequestStatus.INTERRUPTED: "中断されました"}


def _params(values: Mapping[str, str] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((values or {}).items())) or "パラメータなし"


def _subject(model: Scenario, step: MessageStep) -> str:
    """The message's subject: the step's, else the request's label, else a plain one."""
    if step.subject is not None:
        return step.subject.ja
    char = next((c for c in model.story.characters if c.id == step.to), None)
    request = next((r for r in char.requests if r.id == step.request), None) if char and step.request else None
    return request.label.ja if request is not None else "ご連絡"


def _user(session: Session, login: str, role: Role) -> User:
    return accounts.create_user(session, login=login, display_name=login, role=role,
                                password=accounts.generate_password(16))


def _due(session: Session, exercise: Exercise, team: Team, moment: At | After) -> float | None:
    """When *moment* comes for *team*, on the timeline (``tasks.reached``'s rule); ``None`` while unknown."""
    if isinstance(moment, At):
        return ledger.at(exercise, moment.day, minutes(moment.at) * 60.0).timeline
    run = session.scalar(select(InjectRun).where(
        InjectRun.exercise_id == exercise.id, InjectRun.team_id == team.id, InjectRun.inject_id == moment.inject))
    begun = counts_from(run, exercise, moment)
    if run is None or begun is None:
        return None
    return ledger.at(exercise, run.day, begun).timeline + minutes(moment.delay) * 60.0


def _reachable(bind_address: str) -> str:
    """Where the gateway's published port is reached from this machine."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(bind_address, bind_address)


def _describe(step: Any) -> str:
    if isinstance(step, CommandStep):
        command = " ".join(step.command.split())
        return f"{step.host} で {step.user}: {command[:80]}{'…' if len(command) > 80 else ''}"
    if isinstance(step, ReportStep):
        return f"報告書 {step.report} を提出"
    if isinstance(step, MessageStep):
        return f"{step.to} に連絡" + (f"（依頼 {step.request}）" if step.request else "")
    return f"設問 {step.task} に回答"


def _moment(moment: At | After) -> str:
    if isinstance(moment, At):
        return f"{moment.day} 日目 {moment.at}"
    return f"{moment.inject} の{'終了から ' if moment.on_finish else ' '}{moment.delay} 後"


def _hhmm(seconds: float) -> str:
    whole = int(seconds) // 60
    return f"{whole // 60:02d}:{whole % 60:02d}"
