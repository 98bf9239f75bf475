"""Web forms (Flask-WTF: CSRF on every form, errors shown beside their fields)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    FloatField,
    IntegerField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from app.scenario.model import Criterion
from app.services.accounts import MIN_PASSWORD_LENGTH
from app.services.exercises import MAX_TEAMS
from app.services.reports import MAX_TEXT
from app.services.scores import MAX_ADJUSTMENT
from app.services.tasks import MAX_ANSWER


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
    # Radio buttons, so each scenario's summary, level and days sit beside its choice.
    scenario = RadioField(_l("Scenario"), validators=[DataRequired()])
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
    preview = SubmitField(_l("Preview"))
    upload = SubmitField(_l("Import"))


class RosterConfirmForm(FlaskForm):
    """The previewed file, carried back (base64) when the instructor confirms the import."""

    content = HiddenField(validators=[DataRequired()])


class HintReleaseForm(FlaskForm):
    """``hint`` is ``TASK_ID:INDEX``; the view fills the choices from the scenario."""

    hint = SelectField(_l("Hint"), validators=[DataRequired()])
    team = IntegerField(_l("Team number (empty: all teams)"), validators=[Optional(), NumberRange(1, MAX_TEAMS)])


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


class ButtonForm(FlaskForm):
    """Nothing but the CSRF token: a confirmation button (take a hint, release grades)."""


class AnswerForm(FlaskForm):
    """One task's answer; made with ``prefix=task.id`` since a page holds one per task."""

    answer = StringField(_l("Answer"), validators=[DataRequired(), Length(max=MAX_ANSWER)])


class ReportForm(FlaskForm):
    """A report's text and the state it was written from (``reports.Base`` token).

    No length validator: WTForms would render it as ``maxlength``, and the
    browser would cut a long paste silently. The service refuses an
    over-long text whole and the page says by how much (``MAX_TEXT``).
    """

    text = TextAreaField(_l("Report text"))
    base = HiddenField()
    save_draft = SubmitField(_l("Save draft"))
    hand_in = SubmitField(_l("Submit"))


class AdjustmentForm(FlaskForm):
    team = SelectField(_l("Team"), coerce=int, validators=[InputRequired()])
    points = IntegerField(_l("Points (negative for a penalty)"),
                          validators=[InputRequired(), NumberRange(-MAX_ADJUSTMENT, MAX_ADJUSTMENT)])
    reason = StringField(_l("Reason (the team reads it)"), validators=[DataRequired(), Length(max=500)])


class NeededFor:
    """Required when the form's *button* was pressed, optional otherwise."""

    def __init__(self, button: str) -> None:
        self.button = button

    def __call__(self, form: FlaskForm, field: object) -> None:
        if form[self.button].data:
            InputRequired()(form, field)
        else:
            Optional()(form, field)


class GradeForm(FlaskForm):
    """A grade's comment and buttons; ``grade_form`` adds one field per rubric criterion."""

    comment = TextAreaField(_l("Comment to the team"), validators=[Length(max=MAX_TEXT)])
    grade = SubmitField(_l("Grade"))
    revise = SubmitField(_l("Request a revision"))

    criterion_fields: list[tuple[Criterion, str]] = []


def grade_form(rubric: list[Criterion], *, scores: dict[str, int] | None = None, comment: str = "") -> GradeForm:
    """A ``GradeForm`` with an input ``criterion_N`` (0 to the criterion's points) per rubric criterion.

    *scores* (by criterion id) and *comment* fill the form when nothing was posted: a re-grade starts from the grade.
    """
    names = [(criterion, f"criterion_{index}") for index, criterion in enumerate(rubric)]

    class RubricGradeForm(GradeForm):
        criterion_fields = names

    for criterion, name in names:
        setattr(RubricGradeForm, name, IntegerField(
            _l("Points"), validators=[NeededFor("grade"), NumberRange(0, criterion.points)]))
    given = scores or {}
    return RubricGradeForm(comment=comment, **{name: given.get(criterion.id) for criterion, name in names})
