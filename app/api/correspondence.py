"""The team's correspondence over the API: its threads, one thread with its messages, writing a message.

The same rules as the team portal (``app.web.correspondence``): whoever may see
the team reads its threads; only its members write, and only a member reading a
thread marks the character's replies read. A thread or attachment of another
team is 404.
"""
from __future__ import annotations

from functools import wraps
from io import BytesIO
from typing import Callable

from flask import send_file, url_for
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from werkzeug.wrappers import Response

from app.api.auth import api_user, authenticate_request, fail, require_api_role, team_for
from app.api.parsing import Blueprint
from app.models import Role, Team
from app.services import correspondence
from app.services.errors import ServiceError
from app.web.context import db_session

bp = Blueprint("api_correspondence", __name__, url_prefix="/api/v1",
               description="A team's messages to the scenario's characters")
bp.before_request(authenticate_request)
BLUEPRINTS = (bp,)


class ThreadSchema(Schema):
    id = fields.Int(attribute="thread.id")
    character = fields.Str(attribute="thread.character_id")
    character_name = fields.Function(lambda v: {"ja": v.character.name.ja, "en": v.character.name.en}
                                     if v.character is not None else None)
    subject = fields.Str(attribute="thread.subject")
    state = fields.Function(lambda v: v.thread.state.value, metadata={"description": "sent | in_progress | answered"})
    messages = fields.Int()
    unread = fields.Int()
    last_at = fields.DateTime()


class AttachmentSchema(Schema):
    id = fields.Int()
    name = fields.Str()
    content_type = fields.Str()
    size = fields.Int()
    url = fields.Str(metadata={"description": "download it with the same token"})


class MessageSchema(Schema):
    id = fields.Int()
    direction = fields.Str(metadata={"description": "out: the team wrote it; in: the character's"})
    sender = fields.Function(lambda m: {"ja": m.sender_ja, "en": m.sender_en})
    subject = fields.Function(lambda m: {"ja": m.subject_ja, "en": m.subject_en})
    text = fields.Function(lambda m: {"ja": m.body_ja, "en": m.body_en})
    day = fields.Int()
    exercise_seconds = fields.Float()
    created_at = fields.DateTime()
    read = fields.Function(lambda m: m.read_at is not None)


class RequestRunSchema(Schema):
    id = fields.Int()
    message_id = fields.Int(allow_none=True)
    request = fields.Str(attribute="request_id")
    params = fields.Dict()
    status = fields.Function(lambda r: r.status.value, metadata={
        "description": "pending | scheduled | running | fulfilled | failed | refused | repeated | interrupted"})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class MessageCreateSchema(Schema):
    character = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=64),
                           metadata={"description": "whom to write to (a new thread); or give thread"})
    thread = fields.Int(load_default=None, allow_none=True, strict=True, validate=validate.Range(1, 2**31 - 1),
                        metadata={"description": "the thread to reply in"})
    subject = fields.Str(load_default="", validate=validate.Length(max=correspondence.MAX_SUBJECT))
    text = fields.Str(required=True, validate=validate.Length(min=1, max=correspondence.MAX_BODY))
    request = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=64),
                         metadata={"description": "one of the character's requests; else the text is matched"})
    params = fields.Dict(keys=fields.Str(validate=validate.Length(max=64)),
                         values=fields.Str(validate=validate.Length(max=500)), load_default=dict)

    @validates_schema
    def _one_addressee(self, data: dict, **_kwargs: object) -> None:
        if (data.get("character") is None) == (data.get("thread") is None):
            raise ValidationError("give exactly one of character (a new thread) or thread (a reply)")


class SentSchema(Schema):
    thread = fields.Int(attribute="thread_id")
    message = fields.Int(attribute="id")




def _is_member(team: Team) -> bool:
    return any(m.user_id == api_user().id for m in team.memberships)


def members_only(view: Callable) -> Callable:  # type: ignore[type-arg]
    """Refuse a caller who may not write as the route's team before its body is even read."""
    @wraps(view)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not _is_member(team_for(db_session(), kwargs["team_id"])):
            abort(403, message="only the team's members write its messages")
        return view(*args, **kwargs)

    return wrapper


@bp.route("/teams/<int:team_id>/threads")
@require_api_role(Role.TRAINEE)
@bp.response(200, ThreadSchema(many=True))
def list_threads(team_id: int):  # type: ignore[no-untyped-def]
    """The team's threads with the scenario's characters, most recently active first."""
    session = db_session()
    return correspondence.threads(session, team_for(session, team_id))


@bp.route("/teams/<int:team_id>/threads/<int:thread_id>")
@require_api_role(Role.TRAINEE)
def get_thread(team_id: int, thread_id: int):  # type: ignore[no-untyped-def]
    """One thread: its messages in order (attachments as metadata with a download URL) and its requests.

    A member of the team reading it marks the character's messages read, as the portal does.
    """
    session = db_session()
    team = team_for(session, team_id)
    try:
        thread = correspondence.get_thread(session, team, thread_id)
    except ServiceError as exc:
        fail(exc)
    messages = correspondence.thread_messages(session, thread)
    files = correspondence.attachments_of(session, messages)
    dumped = []
    for message in messages:
        shown = MessageSchema().dump(message)
        shown["attachments"] = AttachmentSchema(many=True).dump(
            [{"id": a.id, "name": a.name, "content_type": a.content_type, "size": a.size,
              "url": url_for(".download", team_id=team.id, attachment_id=a.id)} for a in files[message.id]])
        dumped.append(shown)
    body = {
        "id": thread.id, "character": thread.character_id, "subject": thread.subject, "state": thread.state.value,
        "messages": dumped, "requests": RequestRunSchema(many=True).dump(correspondence.request_runs(session, thread)),
    }
    if _is_member(team) and correspondence.mark_thread_read(session, thread):
        session.commit()
    return body


@bp.route("/teams/<int:team_id>/attachments/<int:attachment_id>")
@require_api_role(Role.TRAINEE)
def download(team_id: int, attachment_id: int) -> Response:
    """An attachment of the team's messages, as a download."""
    session = db_session()
    team = team_for(session, team_id)
    try:
        row = correspondence.get_attachment(session, team.exercise, attachment_id, team)
    except ServiceError as exc:
        fail(exc)
    response = send_file(BytesIO(row.data), mimetype=correspondence.download_type(row).split(";")[0],
                         as_attachment=True,
                         download_name=row.name, max_age=0, conditional=False, etag=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/teams/<int:team_id>/messages", methods=["POST"])
@require_api_role(Role.TRAINEE)
@members_only
@bp.arguments(MessageCreateSchema)
@bp.response(201, SentSchema)
def write(body: dict, team_id: int):  # type: ignore[no-untyped-def]
    """Write to a character (``character``: a new thread) or reply (``thread``), optionally as one of its
    requests with its parameters; members of the team only."""
    session = db_session()
    team = team_for(session, team_id)
    try:
        message = correspondence.write(session, team.exercise, team, api_user(), character_id=body["character"],
                                       thread_id=body["thread"], subject=body["subject"], body=body["text"],
                                       request_id=body["request"] or None, params=body["params"])
    except ServiceError as exc:
        session.rollback()
        fail(exc)
    session.commit()
    return message
