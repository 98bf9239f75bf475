"""A range job's progress and result: the job records its result, the readiness board reads both.

While a build runs, how far it is comes from the teams' range rows (each team's
build commits its steps as it goes); while a teardown runs, from the rows it
has marked torn down. When the job ends it stores its result on its record
(``job_records.finish``) and the board shows that result line until the next
job starts. A job whose process vanished without a result was interrupted.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlalchemy.orm import Session

from app.models import Exercise, RangeState
from app.services import job_records, ranges
from app.services.errors import ServiceError, Text
from app.services.provisioning import TeamOutcome, TeardownOutcome

T = TypeVar("T")
RUNNING, FINISHED, REFUSED, INTERRUPTED = "running", "finished", "refused", "interrupted"


@dataclass(frozen=True)
class JobProgress:
    """What the board says about the exercise's last range job."""

    kind: str  # job_records.PROVISION or TEARDOWN
    teams: tuple[int, ...]
    phase: str  # RUNNING, FINISHED, REFUSED (the command stopped with an error) or INTERRUPTED
    done: int  # teams finished so far (while running) or in all (once over)
    ready: tuple[int, ...] = ()
    failed: tuple[tuple[int, str], ...] = ()  # (team, reason)
    removed: int = 0
    error: Text | None = None
    actor: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    log: str = ""

    @property
    def total(self) -> int:
        return len(self.teams)

    @property
    def running(self) -> bool:
        return self.phase == RUNNING


def progress(session: Session, instance_path: Path, exercise: Exercise) -> JobProgress | None:
    """The last job of *exercise* (``None`` if it never had one): how far it is, or how it ended."""
    status = job_records.current(instance_path, exercise.id)
    if status is None:
        return None
    record, result = status.record, status.record.result or {}
    common = dict(kind=record.kind, teams=record.teams, actor=record.actor, log=record.log,
                  started_at=_when(record.started_at), finished_at=_when(record.finished_at))
    if status.alive:
        return JobProgress(phase=RUNNING, done=_done(session, exercise, record), **common)  # type: ignore[arg-type]
    if record.result is None:
        return JobProgress(phase=INTERRUPTED, done=0, **common)  # type: ignore[arg-type]
    if "error" in result:
        error = Text(result["error"].get("template", ""), result["error"].get("params", {}))
        return JobProgress(phase=REFUSED, done=0, error=error, **common)  # type: ignore[arg-type]
    failed = tuple((int(number), str(reason)) for number, reason in result.get("failed", ()))
    ready = tuple(int(n) for n in result.get("ready", ()))
    return JobProgress(phase=FINISHED, done=len(ready) + len(failed) if record.kind == job_records.PROVISION
                       else len(result.get("teams", ())), ready=ready, failed=failed,
                       removed=int(result.get("removed", 0)), **common)  # type: ignore[arg-type]


def _done(session: Session, exercise: Exercise, record: job_records.JobRecord) -> int:
    finished = ({RangeState.READY, RangeState.FAILED} if record.kind == job_records.PROVISION
                else {RangeState.TORN_DOWN})
    return sum(1 for team, row in ranges.rows_for(session, exercise)
               if team.number in record.teams and row is not None and row.state in finished)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# The job's own side ---------------------------------------------------------------------------


def run(instance_path: Path, exercise_id: int, record: job_records.JobRecord, body: Callable[[], T]) -> T:
    """Run *body* as the exercise's job (``job_records.held``) and record how it ended, error or result."""
    with job_records.held(instance_path, exercise_id, record):
        try:
            outcome = body()
        except ServiceError as exc:
            job_records.finish(instance_path, exercise_id, {"error": _error(exc.text)})
            raise
        except Exception as exc:  # noqa: BLE001  (recorded for the board, then raised as it was)
            error = {"template": "%(error)s", "params": {"error": str(exc) or type(exc).__name__}}
            job_records.finish(instance_path, exercise_id, {"error": error})
            raise
        job_records.finish(instance_path, exercise_id, result_of(outcome))
    return outcome


def result_of(outcome: Any) -> dict[str, Any]:
    """A build's or a teardown's outcome as the record stores it."""
    if isinstance(outcome, TeardownOutcome):
        return {"teams": list(outcome.teams), "removed": outcome.removed}
    outcomes: list[TeamOutcome] = list(outcome)
    return {"ready": [o.number for o in outcomes if o.state is RangeState.READY],
            "failed": [[o.number, o.reason] for o in outcomes if o.state is not RangeState.READY]}


def _error(text: Text) -> dict[str, Any]:
    params = {k: v if isinstance(v, (int, float, str)) else str(v) for k, v in text.params.items()}
    return {"template": text.template, "params": params}
