"""The web side of an exercise's staff: the exercise a view may change, and the add/remove form.

Every instructor view that changes an exercise or looks into its teams gets
the exercise through :func:`exercise_to_run` (404 when there is none, 403 when
the caller does not run it); the overview page uses :func:`exercise_to_view`.
The decision itself is ``app.services.staff``'s.
"""
from __future__ import annotations

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.models import Exercise
from app.services import exercises, staff
from app.services.errors import ServiceError
from app.web.context import db_session


class StaffForm(FlaskForm):
    """Add or remove one instructor by login ID (the remove buttons carry it hidden)."""

    login = StringField(_l("Instructor's login ID"), validators=[DataRequired(), Length(max=64)])


def exercise_to_view(exercise_id: int) -> Exercise:
    """The exercise, for any instructor's read-only look (the overview page); 404 when there is none."""
    try:
        return exercises.get_exercise(db_session(), exercise_id)
    except ServiceError:
        abort(404)


def exercise_to_run(exercise_id: int) -> Exercise:
    """The exercise, when the caller runs it: 404 when there is none, 403 for an instructor not on its staff."""
    exercise = exercise_to_view(exercise_id)
    try:
        staff.require_runner(exercise, current_user._get_current_object())
    except ServiceError as exc:
        abort(exc.status)
    return exercise


def runs(exercise: Exercise) -> bool:
    """Whether the signed-in user runs *exercise* (pages show their controls only then)."""
    return staff.runs(exercise, current_user._get_current_object())
