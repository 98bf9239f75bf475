"""A signed-in user's own account: password and API tokens."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from app.i18n import translate
from app.models import Role
from app.services import accounts, tokens
from app.services.errors import ServiceError
from app.web import sessions
from app.web.access import require_role
from app.web.caching import no_store
from app.web.context import client_ip, db_session
from app.web.forms import ButtonForm, PasswordChangeForm, TokenForm

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.route("/password", methods=["GET", "POST"])
@require_role(Role.TRAINEE)
@no_store
def password() -> Response | str | tuple[str, int]:
    form = PasswordChangeForm()
    if form.validate_on_submit():
        session = db_session()
        user = current_user._get_current_object()
        try:
            accounts.change_password(session, user, form.current.data or "", form.new.data or "", ip=client_ip())
        except accounts.WrongPassword:
            form.current.errors = [*form.current.errors, _("The current password is wrong.")]
        except ServiceError as exc:
            form.new.errors = [*form.new.errors, translate(exc.text)]
        else:
            session.commit()
            sessions.keep_after_generation_change(user)  # every other session has ended
            flash(_("Password changed."), "info")
            return redirect(url_for("main.index"))
    status = 400 if form.errors else 200
    return render_template("account/password.html", form=form, logout_form=ButtonForm()), status


@bp.route("/logout-everywhere", methods=["POST"])
@require_role(Role.TRAINEE)
def logout_everywhere() -> Response:
    """End every session of this account: other browsers, copied cookies and this one."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    session = db_session()
    accounts.log_out_everywhere(session, current_user._get_current_object(), ip=client_ip())
    sessions.end()
    session.commit()
    flash(_("You have logged out on every device."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/tokens", methods=["GET", "POST"])
@require_role(Role.INSTRUCTOR)
@no_store
def api_tokens() -> str:
    session = db_session()
    form = TokenForm()
    issued = None
    user = current_user._get_current_object()
    if form.validate_on_submit():
        issued = tokens.issue(session, user, form.name.data or "", actor=user)
        session.commit()
        form = TokenForm(formdata=None)
    return render_template(
        "account/tokens.html", form=form, issued=issued, tokens=tokens.tokens_of(session, user)
    )


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@require_role(Role.INSTRUCTOR)
def revoke_token(token_id: int) -> Response:
    session = db_session()
    try:
        user = current_user._get_current_object()
        tokens.revoke(session, user, token_id, actor=user)
    except ServiceError:
        abort(404)
    session.commit()
    flash(_("Token revoked."), "info")
    return redirect(url_for("account.api_tokens"))
