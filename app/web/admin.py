"""Administrator pages: users, their roles and organisations (所属団体), the audit log."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import Length, Optional

from app.i18n import localized, select_locale, translate
from app.models import Organisation, Prefecture, Role, User
from app.services import accounts, audit, organisations
from app.services.errors import ServiceError
from app.web.access import require_role
from app.web.caching import no_store
from app.web.context import client_ip, db_session
from app.web.forms import RoleForm, UserForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


class NewUserForm(UserForm):
    """A new account, optionally in an organisation: a typed name is found (same name and prefecture) or made."""

    organisation = StringField(_l("Organisation"), validators=[Optional(), Length(max=organisations.MAX_NAME)])
    prefecture = SelectField(_l("Prefecture of the organisation"), coerce=int, default=0)


class OrganisationForm(FlaskForm):
    """A user's organisation: one of the existing ones, or a new name with its prefecture."""

    organisation = SelectField(_l("Existing organisation"), coerce=int, default=0)
    new_name = StringField(_l("Or a new organisation"), validators=[Optional(), Length(max=organisations.MAX_NAME)])
    prefecture = SelectField(_l("Prefecture of the new organisation"), coerce=int, default=0)


def _prefecture_choices() -> list[SelectChoice]:
    return [SelectChoice(0, "—")] + [SelectChoice(p.id, localized(p, "name"))
                                     for p in db_session().scalars(select(Prefecture).order_by(Prefecture.id))]


def _organisation_label(organisation: Organisation | None) -> str:
    return organisations.label(organisation, select_locale())


@bp.route("/users", methods=["GET", "POST"])
@require_role(Role.ADMIN)
@no_store
def users() -> str | tuple[str, int]:
    session = db_session()
    form = NewUserForm()
    form.prefecture.choices = _prefecture_choices()
    created: tuple[str, str] | None = None
    status = 200
    if form.validate_on_submit():
        password = accounts.generate_password()
        try:
            organisation = organisations.choose(session, existing_id=None, new_name=form.organisation.data or "",
                                                prefecture_id=form.prefecture.data or None)
            user = accounts.create_user(
                session, login=form.login.data or "", display_name=form.display_name.data or "",
                role=Role(form.role.data), password=password, must_change_password=True,
                organisation=organisation, actor=current_user._get_current_object(),
            )
        except ServiceError as exc:
            session.rollback()
            form.login.errors = [*form.login.errors, translate(exc.text)]
            status = 400
        else:
            session.commit()
            created = (user.login, password)
            form = NewUserForm(formdata=None)
            form.prefecture.choices = _prefecture_choices()
    elif request.method == "POST":
        status = 400
    return render_template(
        "admin/users.html", users=accounts.list_users(session), form=form, created=created,
        role_form=RoleForm, organisation_names=sorted({o.name for o in organisations.list_all(session)}),
        organisation_label=_organisation_label,
    ), status


@bp.route("/users/<int:user_id>/organisation", methods=["GET", "POST"])
@require_role(Role.ADMIN)
def user_organisation(user_id: int) -> Response | tuple[str, int]:
    """Set or change a user's organisation (audited as ``user.organisation_change``)."""
    session = db_session()
    try:
        user = accounts.get_user_by_id(session, user_id)
    except ServiceError:
        abort(404)
    form = OrganisationForm(organisation=user.organisation_id or 0)
    form.organisation.choices = [SelectChoice(0, _("No organisation"))] + [
        SelectChoice(o.id, _organisation_label(o)) for o in organisations.list_all(session)]
    form.prefecture.choices = _prefecture_choices()
    status = 200
    if form.validate_on_submit():
        try:
            chosen = organisations.choose(session, existing_id=form.organisation.data or None,
                                          new_name=form.new_name.data or "", prefecture_id=form.prefecture.data or None)
            changed = organisations.set_organisation(session, user, chosen, actor=current_user._get_current_object(),
                                                     ip=client_ip())
        except ServiceError as exc:
            session.rollback()
            form.new_name.errors = [*form.new_name.errors, translate(exc.text)]
            status = 400
        else:
            session.commit()
            if changed and chosen is not None:
                flash(_("The organisation of %(login)s is now %(organisation)s.", login=user.login,
                        organisation=_organisation_label(chosen)), "info")
            elif changed:
                flash(_("%(login)s now belongs to no organisation.", login=user.login), "info")
            return redirect(url_for("admin.users"))
    elif request.method == "POST":
        status = 400
    return render_template("admin/user_organisation.html", user=user, form=form,
                           current=_organisation_label(user.organisation)), status


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@require_role(Role.ADMIN)
def change_role(user_id: int) -> Response:
    session = db_session()
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        accounts.set_role(session, user, Role(form.role.data), actor=current_user._get_current_object(), ip=client_ip())
    except ServiceError as exc:
        session.rollback()
        flash(translate(exc.text), "error")
    else:
        session.commit()
        flash(_("Role changed."), "info")
    return redirect(url_for("admin.users"))


@bp.route("/audit")
@require_role(Role.ADMIN)
def audit_log() -> str:
    action = request.args.get("action") or None
    return render_template(
        "admin/audit.html", events=audit.recent(db_session(), limit=500, action=action), action=action
    )
