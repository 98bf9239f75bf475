"""No route answers 500, whatever a visitor types: hostile values in every route of the url_map.

For each caller (anonymous, trainee, instructor, administrator) and every rule of the app's url_map,
each path argument in turn gets hostile values for its converter (the others stay valid, so the view
is reached), every query parameter the views read gets hostile values, and POST routes get hostile
form fields (every field of every form) or hostile JSON (API). Any 500, or any exception the app
lets escape, is a failure; all of them are reported at once. Bounded: a few thousand requests through
the test client.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from werkzeug.routing import Rule
from wtforms.fields.core import UnboundField

import app.web.forms  # noqa: F401 - the forms whose fields are fuzzed
from app.models import Role
from app.scenario import load_scenario_file
from app.services import injects, staff, tokens
from tests.factories import MINIMAL, PASSWORD, add_member, make_running_exercise, make_user

APP_DIR = Path(__file__).resolve().parent.parent / "app"
HUGE = "99999999999999999999"  # > 2**64

# Hostile path segments by converter (percent-encoded: they travel in the path).
INT_VALUES = [HUGE, "9223372036854775808", "-1", "0"]
TEXT_VALUES = ["..%2F..%2Fetc%2Fpasswd", "%00%0D%0AX:%201", "A" * 2000, quote("日本語\u202e"), "%FF%FE", HUGE]
PATH_VALUES = ["../../etc/passwd", "..%2F..%2Fsecret_key", "%00", quote("日本語")]
# Hostile query and form values.
VALUES = [HUGE, "-1", "1e26", "\x00\r\nX-Injected: 1", "/\\evil.example/\r\n", "A" * 1000 + "日本語\u202e\u0007"]
JSON_BODIES: list[Any] = [
    {"scenario": "x", "teams": 1, "prefecture_id": 1e20, "starts_on": "2026-01-01"},
    {"scenario": "x", "teams": 1, "prefecture_id": int(HUGE)},
    {"scenario": "\x00", "teams": 1e20, "name": "A" * 20000, "venue": "\r\n", "prefecture_id": -1,
     "starts_on": "9999-99-99", "ends_on": "0000-01-01"},
    {"team": int(HUGE), "points": int(HUGE), "reason": "\x00"},
    {"team": 1, "points": 1e300, "reason": "x"},
    {"speed": 1e308}, {"speed": "nan"}, {"speed": -1},
    [], "text", None, 1e400,
]
RAW_BODIES = [b"[" * 100_000, b"{\"a\":" * 50_000, b"\xff\xfe", b"{\"teams\": 1e99999}"]

# Ids and names that exist in the world below, so only the fuzzed argument is wrong.
VALID: dict[str, str] = {}


def _query_names() -> list[str]:
    """Every query parameter a view reads (``request.args.get("name"...)``), and the review filters."""
    names = {"next", "before", "host", "account", "cols", "rows", "action", "page", "limit",
             "prefecture", "date_from", "date_to", "level", "scenario", "format", "lang"}
    for source in APP_DIR.rglob("*.py"):
        names.update(re.findall(r"request\.args\.get\(\s*['\"]([A-Za-z_]+)['\"]", source.read_text("utf-8")))
    return sorted(names)


def _form_field_names() -> list[str]:
    """Every field of every form of the web UI."""
    names: set[str] = set()
    stack = list(FlaskForm.__subclasses__())
    while stack:
        form = stack.pop()
        stack.extend(form.__subclasses__())
        for klass in form.__mro__:
            names.update(k for k, v in vars(klass).items() if isinstance(v, UnboundField))
    return sorted(names)


def _paths(rule: Rule) -> Iterator[str]:
    """The rule with valid arguments, then with each argument in turn hostile."""
    arguments = sorted(rule.arguments)
    valid = {name: _valid(rule, name) for name in arguments}
    yield _build(rule, valid)
    for name in arguments:
        converter = type(rule._converters[name]).__name__
        if converter == "AnyConverter":
            hostile = ["nope", "%00"]
        elif converter == "PathConverter":
            hostile = PATH_VALUES
        elif converter in ("IntegerConverter", "BoundedIntegerConverter"):
            hostile = INT_VALUES
        else:
            hostile = TEXT_VALUES
        for value in hostile:
            yield _build(rule, {**valid, name: value})


def _valid(rule: Rule, name: str) -> str:
    converter = rule._converters[name]
    if type(converter).__name__ == "AnyConverter":
        return re.search(r"\(([^,)]+)", rule.rule[max(0, rule.rule.index(name) - 60):]).group(1).strip(" '")  # type: ignore[union-attr]
    return VALID.get(name, "1")


def _build(rule: Rule, values: dict[str, str]) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>", lambda m: values[m.group(1)],
                  re.sub(r"<any\([^)]*\):([a-z_]+)>", r"<\1>", rule.rule))


@pytest.fixture
def world(app: Flask, db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    exercise = make_running_exercise(db, teams=2)
    team = exercise.teams[0]
    users = {role: make_user(db, role=role, login=f"fuzz-{role.value}") for role in Role}
    staff.add(db, exercise, users[Role.INSTRUCTOR].login, actor=None)
    add_member(db, team, users[Role.TRAINEE])
    api_tokens = {role: tokens.issue(db, user, "fuzz", actor=user) for role, user in users.items()}
    injects.send(db, exercise, subject="件名", body="本文", teams=[1], actor=None)
    db.commit()
    scenario = load_scenario_file(MINIMAL).document
    VALID.update(
        exercise_id=str(exercise.id), team_id=str(team.id), number="1", index="0",
        message_id=str(injects.inbox(db, team)[0].id), user_id=str(users[Role.TRAINEE].id),
        token_id=str(tokens.tokens_of(db, users[Role.INSTRUCTOR])[0].id), version_id="1", terminal_id="1",
        host="ws01", code="en", filename="mamori.css",
        task_id=str((scenario.get("tasks") or [{"id": "t1"}])[0]["id"]),
        report_id=str((scenario.get("reports") or [{"id": "r1"}])[0]["id"]),
    )
    return {"logins": {role: user.login for role, user in users.items()}, "tokens": api_tokens}


def _rules(app: Flask) -> list[Rule]:
    # Logging out last: it ends the session the other requests use.
    ending = {"auth.logout", "account.logout_everywhere"}
    return sorted((r for r in app.url_map.iter_rules() if not r.websocket),
                  key=lambda r: (r.endpoint in ending, r.rule))


# One hostile request that keeps a worker this long is a failure too (a regex that backtracks, a query
# that scans a table for a huge number): generous, so a busy machine running tests in parallel never trips it.
SLOW_REQUEST_SECONDS = 10


def _send(client: FlaskClient, method: str, path: str, failures: list[str], **kwargs: Any) -> None:
    started = time.monotonic()
    try:
        response = client.open(path, method=method, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the app let an exception escape: that is what we look for
        failures.append(f"{method} {path[:120]} {kwargs_summary(kwargs)}: {type(exc).__name__}: {exc}"[:400])
        return
    took = time.monotonic() - started
    if response.status_code >= 500:
        failures.append(f"{method} {path[:120]} {kwargs_summary(kwargs)}: {response.status_code}")
    elif took > SLOW_REQUEST_SECONDS:
        failures.append(f"{method} {path[:120]} {kwargs_summary(kwargs)}: took {took:.0f} s")
    response.close()


def kwargs_summary(kwargs: dict[str, Any]) -> str:
    return repr({k: (repr(v)[:80]) for k, v in kwargs.items() if k != "headers"})


@pytest.mark.parametrize("persona", ["anonymous", Role.TRAINEE, Role.INSTRUCTOR, Role.ADMIN],
                         ids=["anonymous", "trainee", "instructor", "admin"])
def test_no_route_answers_500(app: Flask, world: dict[str, Any], persona: Any) -> None:
    client = app.test_client()
    headers: dict[str, str] = {}
    if persona != "anonymous":
        assert client.post("/login", data={"login": world["logins"][persona], "password": PASSWORD}).status_code == 302
        headers["Authorization"] = f"Bearer {world['tokens'][persona]}"
    query_names, field_names = _query_names(), _form_field_names()
    failures: list[str] = []
    for rule in _rules(app):
        api = rule.rule.startswith("/api/")
        methods = sorted((rule.methods or set()) & {"GET", "POST"})
        for number, path in enumerate(_paths(rule)):
            for method in methods:
                _send(client, method, path, failures, headers=headers)
            if number or rule.rule.endswith(".pdf"):  # a PDF takes a second to make: its path is enough
                continue
            # The valid path: hostile query strings, and hostile bodies for POST.
            for value in VALUES:
                if "GET" in methods:
                    _send(client, "GET", path, failures, headers=headers,
                          query_string={name: value for name in query_names})
                if "POST" in methods and not api:
                    _send(client, "POST", path, failures, headers=headers, query_string={"next": value},
                          data={name: value for name in field_names})
            if api and "POST" in methods:
                for body in JSON_BODIES:
                    _send(client, "POST", path, failures, headers=headers, json=body)
                for raw in RAW_BODIES:
                    _send(client, "POST", path, failures, headers={**headers, "Content-Type": "application/json"},
                          data=raw)
    assert failures == [], f"{len(failures)} request(s) failed:\n" + "\n".join(failures[:60])


# The cases of the report, one by one -------------------------------------------------------------


def _logged_in(app: Flask, world: dict[str, Any], role: Role) -> FlaskClient:
    client = app.test_client()
    assert client.post("/login", data={"login": world["logins"][role], "password": PASSWORD}).status_code == 302
    return client


@pytest.mark.parametrize("path", ["/teams/99999999999999999999", "/teams/9223372036854775808/score",
                                  "/exercises/99999999999999999999/live", "/api/v1/teams/99999999999999999999"])
def test_an_id_the_database_cannot_hold_is_not_found(app: Flask, world: dict[str, Any], path: str) -> None:
    client = _logged_in(app, world, Role.ADMIN)
    response = client.get(path, headers={"Authorization": f"Bearer {world['tokens'][Role.ADMIN]}"})
    assert response.status_code == 404


@pytest.mark.parametrize("before", ["1e26", "99999999999999999999", "-5", "9223372036854775807"])
def test_a_score_page_with_a_wild_before_shows_the_newest_lines(app: Flask, world: dict[str, Any],
                                                                before: str) -> None:
    client = _logged_in(app, world, Role.INSTRUCTOR)
    response = client.get(f"/teams/{VALID['team_id']}/score", query_string={"before": before})
    assert response.status_code == 200


@pytest.mark.parametrize(("body", "status"), [
    pytest.param({"scenario": "x", "teams": 1, "prefecture_id": 1e20}, 422, id="prefecture-1e20"),
    pytest.param({"scenario": "x", "teams": 1, "prefecture_id": 99999999999999999999}, 422, id="prefecture-huge"),
    pytest.param({"scenario": "x", "teams": 1e400}, 422, id="teams-infinity"),
    pytest.param("[" * 100_000, 400, id="nested-100000"),
])
def test_the_api_refuses_numbers_out_of_range_and_json_nested_too_deeply(app: Flask, world: dict[str, Any],
                                                                          body: Any, status: int) -> None:
    headers = {"Authorization": f"Bearer {world['tokens'][Role.INSTRUCTOR]}", "Content-Type": "application/json"}
    data = body if isinstance(body, str) else json.dumps(body)
    response = app.test_client().post("/api/v1/exercises", data=data, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:300]


@pytest.mark.parametrize(("target", "location"), [
    ("/%0d%0aSet-Cookie:%20stolen=1", "/"),
    ("/\\evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/teams/1?x=%E6%97%A5", "/teams/1?x=%E6%97%A5"),
])
def test_the_language_switch_goes_back_only_to_a_plain_path_of_this_site(client: FlaskClient, target: str,
                                                                        location: str) -> None:
    response = client.get(f"/lang/en?next={target}")
    assert response.status_code == 302
    assert response.headers["Location"] == location
    assert "stolen" not in str(response.headers)


@pytest.mark.parametrize("where", ["/lang/en?next=/%00", "/login?next=%00", "/admin/audit?account=a%00b"])
def test_a_nul_character_in_a_query_is_refused_before_any_view(client: FlaskClient, where: str) -> None:
    """PostgreSQL's text columns cannot hold NUL: the request is a 400, not a DataError (500) later."""
    assert client.get(where).status_code == 400
    assert client.post("/login", data={"login": "ad\x00min", "password": "x"}).status_code == 400
