"""Web forms (Flask-WTF: CSRF on every form, errors shown beside their fields)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    FloatField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from app.services.accounts import MIN_PASSWORD_LENGTH
from app.services.exercises import MAX_TEAMS


class LoginForm(FlaskForm):
    login = StringField(_l("Login ID"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)]
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("new", message=_l("The passwords do not match."))],
    )


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])


class ExerciseForm(FlaskForm):
    scenario = SelectField(_l("Scenario"), validators=[DataRequired()])
    name = StringField(_l("Exercise name"), validators=[Optional(), Length(max=200)])
    team_count = IntegerField(
        _l("Number of teams"), default=5, validators=[InputRequired(), NumberRange(1, MAX_TEAMS)]
    )
    prefecture = SelectField(_l("Prefecture"), coerce=int, validators=[Optional()])
    venue = StringField(_l("Venue"), validators=[Optional(), Length(max=200)])
    starts_on = DateField(_l("First day"), validators=[Optional()])
    ends_on = DateField(_l("Last day"), validators=[Optional()])


class TransitionForm(FlaskForm):
    speed = FloatField(_l("Speed (exercise seconds per second)"), validators=[Optional(), NumberRange(0.01, 600)])


class InjectControlForm(FlaskForm):
    inject = SelectField(_l("Inject"), validators=[DataRequired()])
    action = SelectField(_l("Action"), choices=lambda: [
        SelectChoice("fire", _l("Fire now")), SelectChoice("hold", _l("Hold")),
        SelectChoice("release", _l("Release")), SelectChoice("skip", _l("Skip"))])
    team = IntegerField(_l("Team number (empty: all teams)"), validators=[Optional(), NumberRange(1, MAX_TEAMS)])


class MessageForm(FlaskForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=300)])
    body = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=20000)])
    team = IntegerField(_l("Team number (empty: all teams)"), validators=[Optional(), NumberRange(1, MAX_TEAMS)])


class RosterForm(FlaskForm):
    roster = FileField(_l("Roster (CSV, UTF-8)"), validators=[FileRequired()])


def _role_choices() -> list[SelectChoice]:
    return [
        SelectChoice("trainee", _l("Trainee")),
        SelectChoice("instructor", _l("Instructor")),
        SelectChoice("admin", _l("Administrator")),
    ]


class UserForm(FlaskForm):
    login = StringField(_l("Login ID"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(_l("Role"), choices=_role_choices, default="instructor")


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=_role_choices)
