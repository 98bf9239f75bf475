"""The readiness board's words: build steps, lists of teams, a range job's progress and result line."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.i18n import translate, when
from app.services import job_records
from app.services.job_progress import FINISHED, INTERRUPTED, RUNNING, JobProgress

# A team's build step as the range engine reports it ("create ws01"), in words for the instructor.
STEP_LABELS = {
    "queued": _l("Waiting for its turn"), "start": _l("Starting"), "networks": _l("Creating the networks"),
    "create": _l("Creating %(host)s"), "configure": _l("Configuring %(host)s"),
    "wait": _l("Waiting for %(host)s to answer"),
}


# A container's state as Docker (or the control plane, "missing") reports it.
HOST_LABELS = {
    "running": _l("Up and running"), "exited": _l("Stopped"), "paused": _l("Paused"), "missing": _l("Missing"),
    "created": _l("Created, not started"), "restarting": _l("Restarting"), "dead": _l("Dead"),
    "removing": _l("Being removed"),
}


def host_label(state: str) -> str:
    return str(HOST_LABELS.get(state, state))


def step_label(step: str) -> str:
    word, _sep, host = step.partition(" ")
    label = STEP_LABELS.get(word)
    if label is None:
        return step
    return str(label) % {"host": host} if "%(host)s" in str(label) else str(label)


def teams_text(numbers: tuple[int, ...] | list[int]) -> str:
    """``チーム1〜3、5`` / ``teams 1–3, 5``: runs of consecutive numbers shortened."""
    ordered = sorted(set(numbers))
    if len(ordered) == 1:
        return _("team %(number)d", number=ordered[0])
    runs: list[list[int]] = []
    for number in ordered:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    parts = [str(r[0]) if len(r) == 1 else _("%(first)d–%(last)d", first=r[0], last=r[-1]) for r in runs]
    return _("teams %(list)s", list=_(", ").join(parts))


def started_message(kind: str, numbers: tuple[int, ...], joined: bool) -> str:
    teams = teams_text(numbers)
    if kind == job_records.TEARDOWN:
        return (_("Removal is already under way (%(teams)s). This board follows the progress.", teams=teams)
                if joined else
                _("Removing the ranges of %(teams)s. This board follows the progress.", teams=teams))
    return (_("Building is already under way (%(teams)s). This board follows the progress.", teams=teams)
            if joined else _("Building the ranges of %(teams)s. This board follows the progress.", teams=teams))


def busy_message(running: job_records.JobRecord) -> str:
    """Why a different job cannot start now."""
    what = _("a removal") if running.kind == job_records.TEARDOWN else _("a build")
    return _("Another range job is running (%(what)s of %(teams)s): press again when it has ended.",
             what=what, teams=teams_text(running.teams))


def progress_line(job: JobProgress) -> str:
    """One line: what the job does and how far it is, or how it ended."""
    teardown = job.kind == job_records.TEARDOWN
    if job.phase == RUNNING:
        return (_("Removing: %(done)d/%(total)d teams done", done=job.done, total=job.total) if teardown else
                _("Building: %(done)d/%(total)d teams done", done=job.done, total=job.total))
    if job.phase == INTERRUPTED:
        return (_("The removal was interrupted: its process ended without a result (log: %(log)s).", log=job.log)
                if teardown else
                _("The build was interrupted: its process ended without a result (log: %(log)s).", log=job.log))
    if job.phase != FINISHED:
        error = translate(job.error) if job.error is not None else ""
        return (_("The removal stopped: %(error)s", error=error) if teardown else
                _("The build stopped: %(error)s", error=error))
    if teardown:
        return _("Removal finished: the containers and networks of %(count)d teams are gone (%(removed)d in all).",
                 count=job.done, removed=job.removed)
    line = _("Build finished: %(ready)d of %(total)d teams succeeded", ready=len(job.ready), total=job.total)
    if job.failed:
        reasons = _(", ").join(_("team %(number)d: %(reason)s", number=n, reason=r) for n, r in job.failed)
        line += _(", %(count)d failed (%(reasons)s)", count=len(job.failed), reasons=reasons)
    return line


def job_meta(job: JobProgress) -> str:
    """Who asked for it and when it started or ended."""
    who = job.actor or _("the command line")
    if job.finished_at is None:
        return _("started %(when)s by %(who)s", when=when(job.started_at, "short"), who=who)
    return _("ended %(when)s, asked for by %(who)s", when=when(job.finished_at, "short"), who=who)
