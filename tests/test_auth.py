"""Logging in and out: audit, throttling, CSRF, cookies, forced password change, roles."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import create_app
from app.cli import cli
from app.models import AuditEvent, LoginThrottle, Role, User
from app.settings import Settings
from tests.factories import PASSWORD, make_user

NEW_PASSWORD = "a-brand-new-passphrase"
WRONG_LOGIN_JA = "ログインIDまたはパスワードが正しくありません。"


def see_app_commits(db: Session) -> None:
    """End the test session's transaction and forget loaded state, so the app's commits show."""
    db.rollback()
    db.expire_all()


def events(db: Session, action: str) -> list[AuditEvent]:
    """Audit events with *action*, as the app committed them."""
    see_app_commits(db)
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def reload(db: Session, user: User) -> User:
    see_app_commits(db)
    fresh = db.get(User, user.id)
    assert fresh is not None
    return fresh


def is_logged_in(client: FlaskClient) -> bool:
    """The home page redirects anonymous callers to the login page."""
    response = client.get("/")
    if response.status_code == 302:
        assert response.headers["Location"].endswith("/login")
        return False
    assert response.status_code == 200
    return True


def csrf_token_from(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, "the page has no CSRF token field"
    return match.group(1)


def session_cookie(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The attributes of the mamori_session Set-Cookie header, lower-cased."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith("mamori_session="):
            return [part.strip().lower() for part in header.split(";")[1:]]
    raise AssertionError(f"no mamori_session cookie in {response.headers.getlist('Set-Cookie')}")


# --- logging in -------------------------------------------------------------------------


def test_login_success_redirects_and_is_audited(client, db, auth):
    user = make_user(db, login="sato")
    db.commit()

    response = auth.login("sato")

    assert response.status_code == 302
    assert is_logged_in(client)
    [event] = events(db, "login.success")
    assert event.actor_id == user.id
    assert event.target == "login:sato"
    assert event.ip == "127.0.0.1"


def test_wrong_password_is_refused_in_japanese_and_audited(client, db, auth):
    make_user(db, login="sato")
    db.commit()

    response = auth.login("sato", "not-the-password")

    assert response.status_code == 401
    assert WRONG_LOGIN_JA in response.get_data(as_text=True)
    assert not is_logged_in(client)
    [event] = events(db, "login.failure")
    assert event.target == "login:sato"
    assert events(db, "login.success") == []


def test_deactivated_user_cannot_log_in(client, db, auth):
    user = make_user(db, login="gone")
    user.active = False
    db.commit()

    response = auth.login("gone")

    assert response.status_code == 401
    assert WRONG_LOGIN_JA in response.get_data(as_text=True)
    assert not is_logged_in(client)


def test_deactivating_a_signed_in_user_ends_their_session(client, db, auth):
    user = make_user(db, login="leaver")
    db.commit()
    assert auth.login("leaver").status_code == 302

    db.execute(update(User).where(User.id == user.id).values(active=False))
    db.commit()

    assert not is_logged_in(client)


# --- throttling -------------------------------------------------------------------------


def fail_five_times(auth, login: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        assert auth.login(login, "guessing-wrong").status_code == 401


def test_sixth_attempt_is_throttled_even_with_the_right_password(client, db, auth):
    make_user(db, login="target")
    db.commit()
    fail_five_times(auth, "target")

    response = auth.login("target", PASSWORD)

    assert response.status_code == 429
    assert "ログインの失敗が多すぎます" in response.get_data(as_text=True)
    assert not is_logged_in(client)
    assert events(db, "login.success") == []
    assert len(events(db, "login.throttled")) == 1


def test_throttling_one_login_leaves_others_from_the_same_address_alone(client, db, auth):
    make_user(db, login="target")
    make_user(db, login="neighbour", display_name="隣の席の人")
    db.commit()
    fail_five_times(auth, "target")
    assert auth.login("target").status_code == 429

    response = auth.login("neighbour")

    assert response.status_code == 302
    assert "隣の席の人" in client.get("/").get_data(as_text=True)


def test_throttling_lifts_after_the_window(client, db, auth, settings):
    make_user(db, login="target")
    db.commit()
    fail_five_times(auth, "target")
    assert auth.login("target").status_code == 429

    # Move the counts to just before the window, as if 15 minutes had passed.
    see_app_commits(db)
    earlier = timedelta(seconds=settings.login_failure_window_seconds + 1)
    for row in db.scalars(select(LoginThrottle)):
        row.window_started_at -= earlier
        row.last_failure_at -= earlier
        row.blocked_until = row.blocked_until and row.blocked_until - earlier
    db.commit()

    assert auth.login("target").status_code == 302
    assert is_logged_in(client)


# --- CSRF -------------------------------------------------------------------------------


def test_login_without_csrf_token_is_rejected(app, client, db):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user(db, login="sato")
    db.commit()

    response = client.post("/login", data={"login": "sato", "password": PASSWORD})

    assert response.status_code == 400
    assert not is_logged_in(client)
    assert events(db, "login.success") == []


def test_login_with_the_forms_csrf_token_works(app, client, db):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user(db, login="sato")
    db.commit()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))

    response = client.post("/login", data={"login": "sato", "password": PASSWORD, "csrf_token": token})

    assert response.status_code == 302
    assert is_logged_in(client)


def test_logout_without_csrf_token_is_rejected(app, client, db):
    app.config["WTF_CSRF_ENABLED"] = True
    make_user(db, login="sato")
    db.commit()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"login": "sato", "password": PASSWORD, "csrf_token": token}).status_code == 302

    assert client.post("/logout").status_code == 400
    assert is_logged_in(client)

    page_token = csrf_token_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": page_token}).status_code == 302
    assert not is_logged_in(client)


# --- cookies ----------------------------------------------------------------------------


def test_session_cookie_is_httponly_and_samesite_lax(db, auth):
    make_user(db, login="sato")
    db.commit()

    attributes = session_cookie(auth.login("sato"))

    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes


def test_session_cookie_is_secure_when_configured(db, database_url, tmp_path):
    make_user(db, login="sato")
    db.commit()
    secure_settings = Settings.from_env(
        environ={"DATABASE_URL": database_url, "MAMORI_SECURE_COOKIES": "1"}, instance_path=tmp_path
    )
    assert secure_settings.secure_cookies
    secure_app = create_app(secure_settings)
    secure_app.config["WTF_CSRF_ENABLED"] = False
    try:
        response = secure_app.test_client().post("/login", data={"login": "sato", "password": PASSWORD})
        assert response.status_code == 302
        attributes = session_cookie(response)
    finally:
        secure_app.extensions["mamori.db"].dispose()

    assert "secure" in attributes
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


# --- forced password change -------------------------------------------------------------

PAGES_BEHIND_PASSWORD_CHANGE = ["/", "/exercises/", "/exercises/new", "/account/tokens", "/admin/users", "/admin/audit"]


def test_must_change_password_redirects_every_page_until_changed(client, db, auth):
    make_user(db, role=Role.ADMIN, login="fresh", must_change_password=True)
    db.commit()
    assert auth.login("fresh").status_code == 302

    for path in PAGES_BEHIND_PASSWORD_CHANGE:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"] == "/account/password", path
    assert client.get("/account/password").status_code == 200

    response = client.post(
        "/account/password",
        data={"current": "not-my-password", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 400
    assert "現在のパスワードが正しくありません。" in response.get_data(as_text=True)
    assert client.get("/").headers["Location"] == "/account/password"

    response = client.post(
        "/account/password", data={"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert response.status_code == 302
    for path in PAGES_BEHIND_PASSWORD_CHANGE:
        assert client.get(path).status_code == 200, path


def test_after_a_password_change_only_the_new_password_logs_in(client, db, auth):
    make_user(db, login="fresh", must_change_password=True)
    db.commit()
    auth.login("fresh")
    client.post("/account/password", data={"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    auth.logout()

    assert auth.login("fresh", PASSWORD).status_code == 401
    assert not is_logged_in(client)
    assert auth.login("fresh", NEW_PASSWORD).status_code == 302
    assert is_logged_in(client)


# --- redirects --------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(client, db, target):
    make_user(db, login="sato")
    db.commit()

    response = client.post("/login", query_string={"next": target}, data={"login": "sato", "password": PASSWORD})

    assert response.status_code == 302
    location = response.headers["Location"]
    # Browsers read "//host" and "/\host" as another site; a plain local path is safe.
    assert location.startswith("/")
    assert not location.startswith("//")
    assert "\\" not in location
    assert urlsplit(location).netloc == ""


def test_login_follows_a_local_next(client, db):
    make_user(db, role=Role.INSTRUCTOR, login="sato")
    db.commit()

    response = client.post("/login", query_string={"next": "/exercises/"}, data={"login": "sato", "password": PASSWORD})

    assert response.headers["Location"] == "/exercises/"


def test_external_next_after_login_goes_home(client, db):
    make_user(db, login="sato")
    db.commit()

    response = client.post(
        "/login", query_string={"next": "https://evil.example/"}, data={"login": "sato", "password": PASSWORD}
    )

    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "///evil.example"])
def test_language_switch_never_redirects_off_site(client, target):
    response = client.get("/lang/en", query_string={"next": target})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_language_switch_returns_to_a_local_page(client):
    assert client.get("/lang/en", query_string={"next": "/login?x=1"}).headers["Location"] == "/login?x=1"


# --- logging out ------------------------------------------------------------------------


def test_logout_is_post_only(client, db, auth):
    make_user(db, login="sato")
    db.commit()
    auth.login("sato")

    assert client.get("/logout").status_code == 405
    assert is_logged_in(client)


def test_logout_ends_the_session_and_is_audited(client, db, auth):
    user = make_user(db, login="sato")
    db.commit()
    auth.login("sato")

    response = auth.logout()

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert not is_logged_in(client)
    [event] = events(db, "logout")
    assert event.actor_id == user.id


# --- roles ------------------------------------------------------------------------------


def test_admin_changes_a_role_and_it_is_audited(client, db, auth):
    admin = make_user(db, role=Role.ADMIN, login="root")
    trainee = make_user(db, role=Role.TRAINEE, login="tanaka")
    db.commit()
    auth.login("root")

    response = client.post(f"/admin/users/{trainee.id}/role", data={"role": "instructor"})

    assert response.status_code == 302
    assert reload(db, trainee).role is Role.INSTRUCTOR
    [event] = events(db, "user.role_change")
    assert event.actor_id == admin.id
    assert event.target == "user:tanaka"
    assert event.detail == {"old": "trainee", "new": "instructor"}
    assert "権限を変更しました。" in client.get("/admin/users").get_data(as_text=True)


def test_admin_cannot_change_their_own_role(client, db, auth):
    admin = make_user(db, role=Role.ADMIN, login="root")
    make_user(db, role=Role.ADMIN, login="root2")
    db.commit()
    auth.login("root")

    response = client.post(f"/admin/users/{admin.id}/role", data={"role": "instructor"})

    assert response.status_code == 302
    assert reload(db, admin).role is Role.ADMIN
    assert events(db, "user.role_change") == []
    assert "自分自身の権限は変更できません" in client.get("/admin/users").get_data(as_text=True)


def test_the_last_admin_cannot_be_demoted(app, db):
    """Only the operator's CLI acts without being an admin, so only it can reach the last admin."""
    admin = make_user(db, role=Role.ADMIN, login="root")
    db.commit()

    result = app.test_cli_runner().invoke(cli, ["user", "set-role", "root", "instructor"])

    assert result.exit_code == 1
    assert "last administrator" in result.output
    assert reload(db, admin).role is Role.ADMIN
    assert events(db, "user.role_change") == []


def test_an_admin_can_demote_another_admin(client, db, auth):
    make_user(db, role=Role.ADMIN, login="root")
    other = make_user(db, role=Role.ADMIN, login="root2")
    db.commit()
    auth.login("root")

    client.post(f"/admin/users/{other.id}/role", data={"role": "instructor"})

    assert reload(db, other).role is Role.INSTRUCTOR


def test_a_deactivated_admin_can_be_demoted_while_an_active_admin_remains(client, db, auth):
    make_user(db, role=Role.ADMIN, login="root")
    former = make_user(db, role=Role.ADMIN, login="former")
    former.active = False
    db.commit()
    auth.login("root")

    client.post(f"/admin/users/{former.id}/role", data={"role": "trainee"})

    assert reload(db, former).role is Role.TRAINEE


def test_a_background_poll_after_the_session_ended_sends_the_whole_page_to_login(client, db):
    # htmx would put a redirected login form inside the polled box; it follows HX-Redirect instead.
    response = client.get("/exercises/", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login"
    assert client.get("/exercises/").status_code == 302  # an ordinary request is still redirected


# --- password rules and pages no cache may keep -----------------------------------------


@pytest.mark.parametrize(("new", "error"), [
    (PASSWORD, "新しいパスワードは現在のパスワードと違うものにしてください"),
    ("aaaaaaaaaaaaaaaa", "同じ文字の繰り返しだけのパスワードは使えません"),
])
def test_a_weak_new_password_is_refused_beside_the_field(client, db, auth, new, error):
    user = make_user(db, login="fresh", must_change_password=True)
    db.commit()
    auth.login("fresh")

    response = client.post("/account/password", data={"current": PASSWORD, "new": new, "confirm": new})

    assert response.status_code == 400
    errors = re.search(r'<ul class="errors" id="new-errors">(.*?)</ul>', response.get_data(as_text=True), re.S)
    assert errors and error in errors.group(1)
    assert reload(db, user).must_change_password
    assert client.get("/").headers["Location"] == "/account/password"


def test_pages_with_passwords_or_tokens_are_never_cached(client, db, auth):
    make_user(db, role=Role.ADMIN, login="root")
    db.commit()
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    auth.login("root")

    pages = {
        "password page": client.get("/account/password"),
        "new token": client.post("/account/tokens", data={"name": "script"}),
        "new user's one-time password": client.post(
            "/admin/users", data={"login": "newbie", "display_name": "新人", "role": "trainee"}),
    }

    assert "mmr_" in pages["new token"].get_data(as_text=True)
    assert "newbie" in pages["new user's one-time password"].get_data(as_text=True)
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert response.headers["Cache-Control"] == "no-store", name


def test_a_name_with_control_characters_is_refused_on_the_users_page(client, db, auth):
    make_user(db, role=Role.ADMIN, login="root")
    db.commit()
    auth.login("root")

    response = client.post(
        "/admin/users", data={"login": "osc", "display_name": "新人\x1b]0;pwned\x07", "role": "trainee"})

    assert response.status_code == 400
    assert "制御文字" in response.get_data(as_text=True)
    see_app_commits(db)
    assert db.scalar(select(User).where(User.login == "osc")) is None
