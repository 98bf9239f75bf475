"""The team's correspondence in the portal: writing to the scenario's characters, threads, attachments.

Anyone who may see the team page may read its threads (staff included); only
the team's members write, and only a member opening a thread marks the
character's replies read. A thread or attachment of another team is not found
(404) under this team's address; another team's address is refused (403) as
every team page is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from app.i18n import text_of, translate
from app.models import Message, RequestStatus, Role, Team, Thread, ThreadState
from app.scenario.model import Character, CharacterRequest, RequestParam
from app.services import correspondence, scenarios, team_portal
from app.services.errors import ServiceError
from app.web.access import is_member as _is_member, require_member as _require_member, team_for as _team, require_role
from app.web.context import db_session
from app.web.forms import ButtonForm

bp = Blueprint("correspondence", __name__, url_prefix="/teams")

KIND_LABELS = {"boss": _l("Boss"), "colleague": _l("Colleague"), "vendor": _l("Vendor"),
               "authority": _l("Authority"), "attacker": _l("Attacker"), "other": _l("Other")}
THREAD_STATES = {ThreadState.SENT: _l("Sent"), ThreadState.IN_PROGRESS: _l("Being handled"),
                 ThreadState.ANSWERED: _l("Answered")}
RUN_STATUS = {
    RequestStatus.PENDING: _l("Received"),
    RequestStatus.SCHEDULED: _l("Scheduled"),
    RequestStatus.RUNNING: _l("Being handled"),
    RequestStatus.FULFILLED: _l("Completed"),
    RequestStatus.FAILED: _l("Failed"),
    RequestStatus.REFUSED: _l("Declined"),
    RequestStatus.REPEATED: _l("Already done"),
    RequestStatus.INTERRUPTED: _l("Interrupted"),
}
ATTACHMENT_FIELD = "attachment"
THREAD_POLL_SECONDS = 10  # a thread refreshes its messages this often (the reply form is left alone)


# What the forms offer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamField:
    name: str  # the form field's name
    param: RequestParam
    options: list[tuple[str, str]]  # (value, label) for host/choice; empty for text
    value: str


@dataclass(frozen=True)
class RequestOption:
    key: str  # "character/request": the value of the request <select>
    character: Character
    request: CharacterRequest
    fields: list[ParamField]


@dataclass
class Draft:
    """What the team typed (kept when the form comes back with an error)."""

    to: str = ""
    subject: str = ""
    body: str = ""
    request: str = ""
    params: MultiDict = field(default_factory=MultiDict)


def _field_name(char: Character, req: CharacterRequest, param: RequestParam) -> str:
    return f"param.{char.id}.{req.id}.{param.id}"


def request_options(team: Team, people: list[Character], posted: MultiDict | None = None) -> list[RequestOption]:
    """Every request *people* offer, with its parameters as form fields (host/choice: the values offered)."""
    model = scenarios.for_team(team)
    hosts = {h.id: h for h in model.network.hosts}
    options = []
    for char in people:
        for req in char.requests:
            offered = correspondence.param_choices(team.exercise, req)
            fields = []
            for param in req.params:
                labels = {c.id: text_of(c.label) for c in param.choices}
                if param.type == "host":
                    labels = {h: f"{h}（{text_of(hosts[h].name)}）" for h in offered.get(param.id, []) if h in hosts}
                choices = [(value, labels.get(value, value)) for value in offered.get(param.id, [])]
                name = _field_name(char, req, param)
                fields.append(ParamField(name, param, choices, (posted or MultiDict()).get(name, "")))
            options.append(RequestOption(f"{char.id}/{req.id}", char, req, fields))
    return options


def _draft(form: MultiDict, to: str = "") -> Draft:
    return Draft(to=to or form.get("to", ""), subject=form.get("subject", ""), body=form.get("body", ""),
                 request=form.get("request", ""), params=form)


def _chosen_request(draft: Draft, char_id: str) -> tuple[str | None, dict[str, str]]:
    """The request the form names (``character/request``) and its parameters' values."""
    if not draft.request:
        return None, {}
    owner, _slash, request_id = draft.request.partition("/")
    if owner != char_id or not request_id:
        raise ChoiceMismatch()
    prefix = f"param.{owner}.{request_id}."
    return request_id, {name[len(prefix):]: value for name, value in draft.params.items() if name.startswith(prefix)}


class ChoiceMismatch(Exception):
    """The request chosen is one of another character's (possible without JavaScript)."""


def _uploads() -> tuple[correspondence.Upload, ...]:
    # Never more than one byte past the cap is read: the service refuses the file by its size.
    return tuple(correspondence.Upload(upload.filename or "", upload.read(correspondence.MAX_ATTACHMENT_BYTES + 1))
                 for upload in request.files.getlist(ATTACHMENT_FIELD) if upload and upload.filename)


def _write(team: Team, draft: Draft, *, thread: Thread | None) -> tuple[Message | None, str | None]:
    """Send the team's message; ``(message, None)``, or ``(None, error)`` with nothing saved."""
    session = db_session()
    char_id = thread.character_id if thread is not None else draft.to
    try:
        request_id, params = _chosen_request(draft, char_id)
        message = correspondence.write(
            session, team.exercise, team, current_user._get_current_object(),
            character_id=None if thread is not None else (draft.to or None),
            thread_id=thread.id if thread is not None else None, subject=draft.subject, body=draft.body,
            request_id=request_id, params=params, uploads=_uploads())
    except ChoiceMismatch:
        session.rollback()
        return None, _("The request you chose is not one this person offers: choose one of theirs, or none.")
    except ServiceError as exc:
        session.rollback()
        return None, translate(exc.text)
    session.commit()
    return message, None


def _sent_notice(team: Team, message: Message) -> str:
    char = next((c for c in correspondence.contactable(team.exercise) if c.id == message.character_id), None)
    name = text_of(char.name) if char is not None else message.character_id
    run = correspondence.request_runs(db_session(), db_session().get(Thread, message.thread_id))
    made = next((r for r in run if r.message_id == message.id), None)
    if made is not None and char is not None:
        label = next((text_of(r.label) for r in char.requests if r.id == made.request_id), made.request_id)
        return _("Sent to %(name)s: your request “%(request)s” was received.", name=name, request=label)
    return _("Sent to %(name)s.", name=name)


# Writing a new message ---------------------------------------------------------------------------


@bp.route("/<int:team_id>/messages/new", methods=["GET", "POST"])
@require_role(Role.TRAINEE)
def compose(team_id: int) -> Response | str | tuple[str, int]:
    team = _team(team_id)
    people = correspondence.contactable(team.exercise)
    if request.method == "GET":
        draft = Draft(to=request.args.get("to", ""))
        wanted = request.args.get("request", "")
        if draft.to and wanted:
            draft.request = f"{draft.to}/{wanted}"
        return _render_compose(team, people, draft)
    _require_member(team)
    if not ButtonForm().validate_on_submit():
        abort(400)
    draft = _draft(request.form)
    message, error = _write(team, draft, thread=None)
    if message is None:
        return _render_compose(team, people, draft, error), 400
    flash(_sent_notice(team, message), "info")
    return redirect(url_for(".thread", team_id=team.id, thread_id=message.thread_id, _anchor=f"message-{message.id}"))


def _render_compose(team: Team, people: list[Character], draft: Draft, error: str | None = None) -> str:
    return render_template("teams/compose.html", team=team, people=people, draft=draft, error=error,
                           options=request_options(team, people, draft.params), member=_is_member(team),
                           writable=team.exercise.state in correspondence.WRITABLE_STATES, form=ButtonForm(),
                           **_helpers())


def _helpers() -> dict[str, object]:
    return {"kind_labels": KIND_LABELS, "thread_states": THREAD_STATES, "run_status": RUN_STATUS,
            "max_attachments": correspondence.MAX_ATTACHMENTS,
            "max_attachment_kib": correspondence.MAX_ATTACHMENT_BYTES // 1024,
            "max_subject": correspondence.MAX_SUBJECT, "max_body": correspondence.MAX_BODY,
            "attachment_field": ATTACHMENT_FIELD}


# A thread ----------------------------------------------------------------------------------------


@bp.route("/<int:team_id>/threads/<int:thread_id>", methods=["GET", "POST"])
@require_role(Role.TRAINEE)
def thread(team_id: int, thread_id: int) -> Response | str | tuple[str, int]:
    """The thread's messages in order, its requests, a reply form; a member opening it reads the replies."""
    team = _team(team_id)
    session = db_session()
    try:
        row = correspondence.get_thread(session, team, thread_id)
    except ServiceError as exc:
        abort(exc.status)
    draft, error, status = Draft(to=row.character_id), None, 200
    if request.method == "POST":
        _require_member(team)
        if not ButtonForm().validate_on_submit():
            abort(400)
        draft = _draft(request.form, to=row.character_id)
        message, error = _write(team, draft, thread=row)
        if message is not None:
            flash(_sent_notice(team, message), "info")
            return redirect(url_for(".thread", team_id=team.id, thread_id=row.id, _anchor=f"message-{message.id}"))
        status = 400
        row = correspondence.get_thread(session, team, thread_id)
    char = next((c for c in scenarios.for_team(team).story.characters
                 if c.id == row.character_id), None)
    reachable = char is not None and char.reachable
    return render_template("teams/thread.html", draft=draft, error=error,
                           options=request_options(team, [char], draft.params) if reachable else [],
                           reachable=reachable, writable=team.exercise.state in correspondence.WRITABLE_STATES,
                           form=ButtonForm(), **_conversation(team, row, char, read=request.method == "GET")), status


@bp.route("/<int:team_id>/threads/<int:thread_id>/body")
@require_role(Role.TRAINEE)
def thread_body(team_id: int, thread_id: int) -> str:
    """The polled part of a thread: its state, messages and requests (a member's poll reads new replies)."""
    team = _team(team_id)
    try:
        row = correspondence.get_thread(db_session(), team, thread_id)
    except ServiceError as exc:
        abort(exc.status)
    char = next((c for c in scenarios.for_team(team).story.characters
                 if c.id == row.character_id), None)
    return render_template("teams/_thread_body.html", **_conversation(team, row, char, read=True))


def _conversation(team: Team, row: Thread, char: Character | None, *, read: bool) -> dict[str, object]:
    """What a thread shows of itself; marks the character's new replies read when a member reads them."""
    session = db_session()
    messages = correspondence.thread_messages(session, row)
    unread = {m.id for m in messages if m.direction == "in" and m.read_at is None}
    if unread and read and _is_member(team):  # staff looking in do not mark it read
        correspondence.mark_thread_read(session, row)
        session.commit()
    return {"team": team, "thread": row, "character": char, "messages": messages, "unread": unread,
            "attachments": correspondence.attachments_of(session, messages),
            "runs": correspondence.request_runs(session, row), "member": _is_member(team),
            "authors": {u.id: u.display_name for u in team_portal.members(session, team)},
            "request_label": _request_label(char), "poll_seconds": THREAD_POLL_SECONDS, **_helpers()}


def _request_label(char: Character | None):  # type: ignore[no-untyped-def]
    labels = {r.id: text_of(r.label) for r in (char.requests if char is not None else [])}
    return lambda request_id: labels.get(request_id, request_id)


@bp.route("/<int:team_id>/attachments/<int:attachment_id>")
@require_role(Role.TRAINEE)
def attachment(team_id: int, attachment_id: int) -> Response:
    """A file of one of the team's messages, always as a download (images as themselves, the rest as text)."""
    team = _team(team_id)
    try:
        row = correspondence.get_attachment(db_session(), team.exercise, attachment_id, team)
    except ServiceError as exc:
        abort(exc.status)
    # The type without its charset: send_file adds "charset=utf-8" to text itself.
    response = send_file(BytesIO(row.data), mimetype=correspondence.download_type(row).split(";")[0],
                         as_attachment=True,
                         download_name=row.name, max_age=0, conditional=False, etag=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response
