"""Administrator pages: users and roles, the audit log."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from app.i18n import translate
from app.models import Role, User
from app.services import accounts, audit
from app.services.errors import ServiceError
from app.web.access import require_role
from app.web.caching import no_store
from app.web.context import client_ip, db_session
from app.web.forms import RoleForm, UserForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", methods=["GET", "POST"])
@require_role(Role.ADMIN)
@no_store
def users() -> str | tuple[str, int]:
    session = db_session()
    form = UserForm()
    created: tuple[str, str] | None = None
    status = 200
    if form.validate_on_submit():
        password = accounts.generate_password()
        try:
            user = accounts.create_user(
                session, login=form.login.data or "", display_name=form.display_name.data or "",
                role=Role(form.role.data), password=password, must_change_password=True,
                actor=current_user._get_current_object(),
            )
        except ServiceError as exc:
            session.rollback()
            form.login.errors = [*form.login.errors, translate(exc.text)]
            status = 400
        else:
            session.commit()
            created = (user.login, password)
            form = UserForm(formdata=None)
    elif request.method == "POST":
        status = 400
    return render_template(
        "admin/users.html", users=accounts.list_users(session), form=form, created=created,
        role_form=RoleForm,
    ), status


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
