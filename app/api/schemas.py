"""Marshmallow schemas: what the API returns and accepts (and the OpenAPI document shows)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.services.exercises import MAX_TEAMS
from app.services.scores import MAX_ADJUSTMENT


def _clock(exercise) -> dict:  # type: ignore[no-untyped-def]
    from app.services.lifecycle import reading

    read = reading(exercise)
    return {"day": read.day, "seconds": round(read.seconds, 1), "time": read.hhmmss, "running": read.running}


class UserSchema(Schema):
    id = fields.Int()
    login = fields.Str()
    display_name = fields.Str()
    role = fields.Function(lambda u: u.role.value)
    active = fields.Bool()
    organisation = fields.Function(lambda u: u.organisation.name if u.organisation else None)


class ScenarioSchema(Schema):
    id = fields.Str(attribute="slug")
    version = fields.Str()
    content_hash = fields.Str()
    title = fields.Function(lambda s: {"ja": s.title_ja, "en": s.title_en})
    level = fields.Str()
    days = fields.Int()


class MemberSchema(Schema):
    login = fields.Str(attribute="user.login")
    display_name = fields.Str(attribute="user.display_name")
    organisation = fields.Function(lambda m: m.user.organisation.name if m.user.organisation else None)


class TeamSummarySchema(Schema):
    id = fields.Int()
    number = fields.Int()
    name = fields.Str()


class TeamSchema(TeamSummarySchema):
    exercise_id = fields.Int()
    members = fields.List(fields.Nested(MemberSchema), attribute="memberships")


class ExerciseSchema(Schema):
    id = fields.Int()
    name = fields.Str()
    scenario = fields.Str(attribute="scenario.slug")
    scenario_version = fields.Str(attribute="scenario.version")
    state = fields.Function(lambda e: e.state.value)
    days = fields.Int()
    current_day = fields.Int()
    speed = fields.Float()
    clock = fields.Function(lambda e: _clock(e))
    venue = fields.Str()
    prefecture_id = fields.Int(allow_none=True)
    starts_on = fields.Date(allow_none=True)
    ends_on = fields.Date(allow_none=True)
    teams = fields.List(fields.Nested(TeamSummarySchema))


class TransitionSchema(Schema):
    speed = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, min_inclusive=False, max=600))


class ExerciseCreateSchema(Schema):
    scenario = fields.Str(required=True)
    teams = fields.Int(required=True, strict=True, validate=validate.Range(1, MAX_TEAMS))
    name = fields.Str(load_default="", validate=validate.Length(max=200))
    venue = fields.Str(load_default="", validate=validate.Length(max=200))
    # JIS X 0401 codes; a float (1e20) or a number the database cannot hold is refused with 422, never stored.
    prefecture_id = fields.Int(load_default=None, allow_none=True, strict=True, validate=validate.Range(1, 47))
    starts_on = fields.Date(load_default=None, allow_none=True)
    ends_on = fields.Date(load_default=None, allow_none=True)


class AuditEventSchema(Schema):
    id = fields.Int()
    at = fields.DateTime()
    actor = fields.Str(attribute="actor_login")
    action = fields.Str()
    target = fields.Str()
    exercise_id = fields.Int(allow_none=True)
    ip = fields.Str()
    detail = fields.Dict()


class StandingSchema(Schema):
    rank = fields.Int()
    team = fields.Nested(TeamSummarySchema)
    points = fields.Int()
    events = fields.Int()


class BreakdownLineSchema(Schema):
    source = fields.Function(lambda line: line.source.value)
    source_id = fields.Str()
    points = fields.Int()
    events = fields.Int()


class ScoreEventSchema(Schema):
    id = fields.Int()
    source = fields.Function(lambda e: e.source.value)
    source_id = fields.Str()
    points = fields.Int()
    reason = fields.Str()
    detail = fields.Dict()
    day = fields.Int()
    exercise_seconds = fields.Float()
    timeline_seconds = fields.Float()
    actor_id = fields.Int(allow_none=True)
    created_at = fields.DateTime()


class TeamScoreSchema(Schema):
    team = fields.Nested(TeamSummarySchema)
    points = fields.Int()
    breakdown = fields.List(fields.Nested(BreakdownLineSchema))
    events = fields.List(fields.Nested(ScoreEventSchema), metadata={"description": "newest first"})


class AdjustmentSchema(Schema):
    team = fields.Int(required=True, strict=True, validate=validate.Range(1, MAX_TEAMS),
                      metadata={"description": "the team's number in the exercise"})
    points = fields.Int(required=True, strict=True, validate=validate.Range(-MAX_ADJUSTMENT, MAX_ADJUSTMENT),
                        metadata={"description": "an award (> 0) or a penalty (< 0)"})
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=500),
                        metadata={"description": "shown to the team"})
