"""The login throttle slows guessing but is no lockout button (issue 14, item 5).

Clients at different addresses are separate Flask test clients with their own
``REMOTE_ADDR``; the throttle's state is in the database, as every gunicorn
worker shares it.
"""
from __future__ import annotations

import dataclasses
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli import cli
from app.models import AuditEvent, LoginThrottle, Role, utcnow
from app.services import login_throttle
from app.services.login_throttle import ThrottlePolicy
from tests.factories import PASSWORD, make_user

ATTACKER = "203.0.113.66"
ADMIN_DESK = "198.51.100.10"
VENUE_NAT = "192.0.2.1"


def client_at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def log_in(client: FlaskClient, login: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/login", data={"login": login, "password": password})


def signed_in(client: FlaskClient) -> bool:
    return client.get("/").status_code == 200


def lift_waits(db: Session) -> None:
    """As if the current waits had passed (they are seconds long; the test does not sleep)."""
    db.rollback()
    for row in db.scalars(select(LoginThrottle).where(LoginThrottle.blocked_until.is_not(None))):
        row.blocked_until = utcnow() - timedelta(seconds=1)
    db.commit()


def test_the_lockout_loop_never_keeps_the_administrator_out(app: Flask, db: Session) -> None:
    make_user(db, role=Role.ADMIN, login="admin")
    db.commit()
    attacker = client_at(app, ATTACKER)

    refused = 0
    for _ in range(30):
        refused += log_in(attacker, "admin", "guess-guess-guess").status_code == 429
        admin = client_at(app, ADMIN_DESK)  # a fresh browser each time: no cookie helps it
        response = log_in(admin, "admin")
        assert response.status_code == 302, "the right password from another address must always work"
        assert signed_in(admin)

    assert refused >= 20, "the attacker's own address is made to wait (5 s, 10 s, 20 s … between its tries)"
    assert not signed_in(attacker)


def test_the_administrators_own_browser_gets_in_behind_the_attackers_nat(app: Flask, db: Session) -> None:
    """Same address as the attacker: a browser that signed in as admin before is not made to wait."""
    make_user(db, role=Role.ADMIN, login="admin")
    db.commit()
    own_browser = client_at(app, VENUE_NAT)
    assert log_in(own_browser, "admin").status_code == 302
    own_browser.post("/logout")
    attacker = client_at(app, VENUE_NAT)

    for _ in range(10):
        log_in(attacker, "admin", "guess-guess-guess")
        response = log_in(own_browser, "admin")
        assert response.status_code == 302
        own_browser.post("/logout")

    # A stranger's browser at that address shares the attacker's wait for admin, and is told how long.
    stranger = log_in(client_at(app, VENUE_NAT), "admin")
    assert stranger.status_code == 429
    assert 1 <= int(stranger.headers["Retry-After"]) <= 60
    assert "ログインの失敗が多すぎます" in stranger.get_data(as_text=True)


def test_many_failures_from_one_address_only_slow_a_neighbour(app: Flask, db: Session) -> None:
    # Lower the address limit so the test need not make 300 failures.
    app.config["MAMORI_SETTINGS"] = dataclasses.replace(app.config["MAMORI_SETTINGS"], login_address_failure_limit=12)
    for login in ("tanaka", "suzuki"):
        make_user(db, login=login)
    db.commit()
    prankster = client_at(app, VENUE_NAT)
    for n in range(101):  # the 100 failures that used to lock the whole address
        assert log_in(prankster, f"nobody{n:03d}", "wrong-wrong-wrong").status_code == 401
    for _ in range(10):
        log_in(prankster, "suzuki", "wrong-wrong-wrong")

    # A neighbour's first try goes straight in.
    tanaka = client_at(app, VENUE_NAT)
    assert log_in(tanaka, "tanaka").status_code == 302
    assert signed_in(tanaka)

    # Suzuki's pair is shared with the prankster: waits, never longer than a minute, then gets in.
    suzuki = client_at(app, VENUE_NAT)
    waited = log_in(suzuki, "suzuki")
    assert waited.status_code == 429
    assert int(waited.headers["Retry-After"]) <= 60
    lift_waits(db)
    assert log_in(suzuki, "suzuki").status_code == 302

    # Over the address limit a typo costs a few seconds, not a lockout.
    tanaka.post("/logout")
    assert log_in(tanaka, "tanaka", "typo-typo-typo").status_code == 401
    slowed = log_in(tanaka, "tanaka")
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) <= 5
    lift_waits(db)
    assert log_in(tanaka, "tanaka").status_code == 302


def test_a_venue_of_100_trainees_mistyping_three_times_is_never_made_to_wait(db: Session) -> None:
    """The default numbers: 300 failures in the window from one NAT make nobody wait."""
    policy, now = ThrottlePolicy(), utcnow()
    for attempt in range(3):
        for trainee in range(100):
            login = f"kenshu{trainee:03d}"
            login_throttle.check(db, login, VENUE_NAT, now=now)
            wait = login_throttle.record_failure(db, login, VENUE_NAT, network=VENUE_NAT, policy=policy,
                                                 now=now + timedelta(seconds=attempt))
            assert wait == 0, f"{login} made to wait after {attempt + 1} mistakes"
    for trainee in range(100):
        login_throttle.check(db, f"kenshu{trainee:03d}", VENUE_NAT, now=now)  # the fourth try is let through
    # One more failure and the address is over its limit: from now on a pair waits after its first failure.
    assert login_throttle.record_failure(db, "latecomer", VENUE_NAT, network=VENUE_NAT, policy=policy,
                                         now=now) == policy.first_wait_seconds
    login_throttle.check(db, "kenshu001", VENUE_NAT, now=now)
    login_throttle.check(db, "someone-else", VENUE_NAT, now=now)


def test_waits_double_up_to_a_minute(db: Session) -> None:
    policy, now = ThrottlePolicy(), utcnow()
    waits = [login_throttle.record_failure(db, "target", ATTACKER, network=ATTACKER, policy=policy, now=now)
             for _ in range(10)]
    assert waits == [0, 0, 0, 0, 5, 10, 20, 40, 60, 60]


def test_unlock_clears_the_wait_and_is_audited(app: Flask, db: Session) -> None:
    make_user(db, role=Role.INSTRUCTOR, login="sensei")
    db.commit()
    browser = client_at(app, ATTACKER)
    for _ in range(5):
        assert log_in(browser, "sensei", "wrong-wrong-wrong").status_code == 401
    assert log_in(browser, "sensei").status_code == 429

    result = app.test_cli_runner().invoke(cli, ["user", "unlock", "sensei"])

    assert result.exit_code == 0, result.output
    assert "sensei unlocked (1 " in result.output
    assert log_in(browser, "sensei").status_code == 302
    db.rollback()
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "user.unlock")).all()
    assert event.target == "user:sensei" and event.actor_id is None and event.detail["cleared"] == 1


def test_unlock_names_an_unknown_login(app: Flask) -> None:
    result = app.test_cli_runner().invoke(cli, ["user", "unlock", "nobody"])
    assert result.exit_code == 1
    assert "no user with login 'nobody'" in result.output


def test_a_refused_try_adds_no_audit_row(app: Flask, db: Session) -> None:
    """A loop against a waiting pair must not fill the audit log."""
    make_user(db, login="target")
    db.commit()
    browser = client_at(app, ATTACKER)
    for _ in range(25):
        log_in(browser, "target", "wrong-wrong-wrong")
    db.rollback()
    actions = list(db.scalars(select(AuditEvent.action)))
    assert actions.count("login.failure") == 5
    assert actions.count("login.throttled") == 1
