"""Organisations (所属団体): set by administrators (web and CLI), carried by every export, counted in the review.

The world: two exercises in Tokyo. みなと市 演習 (three teams) has trainees of
港区 (team 1: two, team 2: one), 府中市 of Tokyo (team 2: one) and one with no
organisation (team 3); 多摩の演習 (one team) has one trainee of 府中市 of Tokyo
and one of 府中市 of Hiroshima — a different organisation with the same name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.cli import cli
from app.models import AuditEvent, Exercise, Organisation, Role, User
from app.services import organisations
from tests.factories import add_member, make_exercise, make_user, run_by
from tests.test_exports import download, read_csv
from tests.test_review import World, build_world, cells, page


@dataclass
class Orgs:
    world: World
    tama: Exercise
    minato: Organisation
    fuchu_tokyo: Organisation
    fuchu_hiroshima: Organisation


def member(db: Session, team, login: str, organisation: Organisation | None) -> User:  # type: ignore[no-untyped-def]
    user = make_user(db, login=login, display_name=login)
    user.organisation = organisation
    add_member(db, team, user)
    return user


@pytest.fixture
def orgs(db: Session) -> Orgs:
    world = build_world(db)
    minato = organisations.find_or_create(db, "港区", 13)
    fuchu_tokyo = organisations.find_or_create(db, "府中市", 13)
    fuchu_hiroshima = organisations.find_or_create(db, "府中市", 34)
    one, two, three = world.teams
    world.trainee.organisation = minato  # kenshu-a, team 1
    db.get(User, next(m.user_id for m in two.memberships)).organisation = minato  # kenshu-b, team 2
    member(db, one, "minato-2", minato)
    member(db, two, "fuchu-t1", fuchu_tokyo)
    member(db, three, "nobody-1", None)
    tama = make_exercise(db, teams=1, name="多摩の演習")
    tama.prefecture_id = 13
    run_by(db, tama, world.instructor)
    member(db, tama.teams[0], "fuchu-t2", fuchu_tokyo)
    member(db, tama.teams[0], "fuchu-h1", fuchu_hiroshima)
    db.commit()
    return Orgs(world, tama, minato, fuchu_tokyo, fuchu_hiroshima)


@pytest.fixture
def instructor(client: FlaskClient, auth, orgs: Orgs) -> FlaskClient:  # type: ignore[no-untyped-def]
    auth.login("sensei")
    return client


# --- the service --------------------------------------------------------------------------------------------------


def test_an_organisation_is_keyed_by_name_and_prefecture(db: Session) -> None:
    tokyo = organisations.find_or_create(db, " 府中市 ", 13)
    assert organisations.find_or_create(db, "府中市", 13).id == tokyo.id, "found again, spaces trimmed"
    hiroshima = organisations.find_or_create(db, "府中市", 34)
    nowhere = organisations.find_or_create(db, "府中市", None)
    assert len({tokyo.id, hiroshima.id, nowhere.id}) == 3
    assert organisations.find_or_create(db, "府中市", None).id == nowhere.id
    assert organisations.label(hiroshima) == "府中市（広島県）"
    assert organisations.label(hiroshima, "en") == "府中市 (Hiroshima)"
    for bad in ("", "市\n役所", "x" * 201):
        with pytest.raises(organisations.InvalidInput):
            organisations.find_or_create(db, bad, 13)
    with pytest.raises(organisations.InvalidInput):
        organisations.find_or_create(db, "どこか", 48)


# --- administrators -----------------------------------------------------------------------------------------------


@pytest.fixture
def admin(db: Session, client: FlaskClient, auth) -> FlaskClient:  # type: ignore[no-untyped-def]
    make_user(db, role=Role.ADMIN, login="root")
    db.commit()
    auth.login("root")
    return client


def test_an_administrator_sets_changes_and_clears_a_users_organisation(db: Session, admin: FlaskClient) -> None:
    user = make_user(db, login="tanaka", display_name="田中")
    existing = organisations.find_or_create(db, "港区", 13)
    db.commit()
    path = f"/admin/users/{user.id}/organisation"
    assert "所属団体なし" in page(admin, path)

    response = admin.post(path, data={"organisation": existing.id, "new_name": "", "prefecture": 0})
    assert response.status_code == 302
    assert "tanaka の所属団体を 港区（東京都） にしました。" in page(admin, "/admin/users")
    assert cells(page(admin, "/admin/users"), "tanaka")[2].startswith("港区（東京都）")

    response = admin.post(path, data={"organisation": 0, "new_name": "府中市", "prefecture": 34})
    assert response.status_code == 302
    db.expire_all()
    assert organisations.label(db.get(User, user.id).organisation) == "府中市（広島県）"

    refused = admin.post(path, data={"organisation": existing.id, "new_name": "別の市", "prefecture": 13})
    assert refused.status_code == 400
    assert "どちらか一方にしてください" in refused.get_data(as_text=True)

    assert admin.post(path, data={"organisation": 0, "new_name": "", "prefecture": 0}).status_code == 302
    db.expire_all()
    assert db.get(User, user.id).organisation is None
    changes = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "user.organisation_change")
                              .order_by(AuditEvent.id)))
    assert [(e.actor_login, e.target, e.detail["old"], e.detail["new"]) for e in changes] == [
        ("root", "user:tanaka", None, "港区（東京都）"),
        ("root", "user:tanaka", "港区（東京都）", "府中市（広島県）"),
        ("root", "user:tanaka", "府中市（広島県）", None),
    ]
    assert admin.get("/admin/users/999999/organisation").status_code == 404


def test_a_new_user_may_be_added_with_an_organisation(db: Session, admin: FlaskClient) -> None:
    response = admin.post("/admin/users", data={"login": "newbie", "display_name": "新人", "role": "trainee",
                                                "organisation": "みなと市役所", "prefecture": 13})
    assert response.status_code == 200
    user = db.scalar(select(User).where(User.login == "newbie"))
    assert organisations.label(user.organisation) == "みなと市役所（東京都）"
    assert '<option value="みなと市役所">' in page(admin, "/admin/users"), "offered again when typing"


def test_only_administrators_change_organisations(db: Session, client: FlaskClient, auth) -> None:  # type: ignore[no-untyped-def]
    user = make_user(db, login="tanaka")
    make_user(db, role=Role.INSTRUCTOR, login="teacher")
    db.commit()
    auth.login("teacher")
    assert client.get(f"/admin/users/{user.id}/organisation").status_code == 403
    assert client.post(f"/admin/users/{user.id}/organisation",
                       data={"organisation": 0, "new_name": "乗っ取り市", "prefecture": 13}).status_code == 403
    assert db.scalar(select(Organisation).where(Organisation.name == "乗っ取り市")) is None


def test_the_cli_creates_a_user_in_an_organisation_and_moves_them(app, db: Session) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["user", "create", "suzuki", "--role", "trainee", "--organisation", "府中市",
                                 "--prefecture", "34", "--password", "correct-horse-battery"])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["user", "list"]).output
    assert "suzuki\ttrainee\tsuzuki\t府中市 (Hiroshima)" in listed
    result = runner.invoke(cli, ["user", "set-organisation", "suzuki", "府中市", "--prefecture", "13"])
    assert result.exit_code == 0 and "suzuki is now in 府中市 (Tokyo)" in result.output
    result = runner.invoke(cli, ["user", "set-organisation", "suzuki"])
    assert result.exit_code == 0 and "no organisation" in result.output
    assert runner.invoke(cli, ["user", "set-organisation", "suzuki", "x", "--prefecture", "48"]).exit_code != 0
    db.expire_all()
    assert db.scalar(select(User).where(User.login == "suzuki")).organisation is None
    assert len(list(db.scalars(select(AuditEvent).where(AuditEvent.action == "user.organisation_change")))) == 2


# --- the review: filters and counts -------------------------------------------------------------------------------


def test_the_review_counts_trainees_and_teams_per_exercise_and_organisation(orgs: Orgs, instructor) -> None:  # type: ignore[no-untyped-def]
    html = page(instructor, "/review/")
    assert cells(html, "みなと市 演習", "都庁")[-2:] == ["5", "2"], "5 trainees from 2 organisations"
    assert cells(html, "多摩の演習")[-2:] == ["2", "2"]
    assert cells(html, "みなと市 演習", "港区（東京都）") == ["みなと市 演習", "港区（東京都）", "3", "2"]
    assert cells(html, "みなと市 演習", "府中市（東京都）") == ["みなと市 演習", "府中市（東京都）", "1", "1"]
    assert cells(html, "みなと市 演習", "所属団体なし") == ["みなと市 演習", "所属団体なし", "1", "1"]
    assert cells(html, "みなと市 演習", "演習の合計") == ["みなと市 演習", "演習の合計", "5", "3"], \
        "team 2 mixes two organisations but counts once in the total"
    assert cells(html, "多摩の演習", "府中市（広島県）") == ["多摩の演習", "府中市（広島県）", "1", "1"]
    # Across both exercises: 府中市 of Tokyo took part in two, with one team in each.
    assert cells(html, "府中市（東京都）", "2") == ["府中市（東京都）", "2", "2", "2"]
    assert cells(html, '<th scope="row">合計</th>') == ["合計", "2", "7", "4"]


def test_filtering_by_organisation_narrows_the_exercises_and_the_counts(orgs: Orgs, instructor) -> None:  # type: ignore[no-untyped-def]
    html = page(instructor, f"/review/?organisation={orgs.fuchu_hiroshima.id}")
    assert "多摩の演習" in html and "みなと市 演習" not in html
    assert "府中市（広島県） の受講者だけを数えています。" in html
    assert cells(html, '<th scope="row">合計</th>') == ["合計", "1", "1", "1"]
    assert f'<option selected value="{orgs.fuchu_hiroshima.id}">府中市（広島県）</option>' in html
    both = page(instructor, f"/review/?organisation={orgs.fuchu_tokyo.id}&prefecture=13")
    assert "多摩の演習" in both and "みなと市 演習" in both
    unknown = page(instructor, "/review/?organisation=999999")
    assert "多摩の演習" not in unknown and "みなと市 演習" not in unknown, "an unknown one lists nothing"


def test_the_counts_download_as_csv_with_totals(orgs: Orgs, instructor) -> None:  # type: ignore[no-untyped-def]
    rows = read_csv(download(instructor, "/review/export/participation.csv"))
    by = {(r["row"], r["exercise_name"], r["organisation"], r["organisation_prefecture_ja"]):
          (r["exercises"], r["trainees"], r["teams"]) for r in rows}
    assert by[("exercise_organisation", "みなと市 演習", "港区", "東京都")] == ("1", "3", "2")
    assert by[("exercise_organisation", "みなと市 演習", "", "")] == ("1", "1", "1"), "no organisation"
    assert by[("exercise_total", "みなと市 演習", "", "")] == ("1", "5", "3")
    assert by[("organisation_total", "", "府中市", "東京都")] == ("2", "2", "2")
    assert by[("organisation_total", "", "府中市", "広島県")] == ("1", "1", "1")
    assert by[("total", "", "", "")] == ("2", "7", "4")
    document = json.loads(download(instructor, f"/review/export/participation.json?organisation={orgs.minato.id}"))
    assert [(r["row"], r["trainees"], r["teams"]) for r in document["participation"]] == [
        ("exercise_organisation", 3, 2), ("exercise_total", 3, 2), ("organisation_total", 3, 2), ("total", 3, 2)]


def test_the_ranking_names_each_teams_organisations(orgs: Orgs, instructor) -> None:  # type: ignore[no-untyped-def]
    html = page(instructor, f"/review/exercises/{orgs.world.exercise.id}")
    assert cells(html, "Team 02", "/teams/2/aar")[-1] == "府中市（東京都） / 港区（東京都）"
    assert cells(html, "Team 03", "/teams/3/aar")[-1] == "—"
    counts = html.split('class="review-participation"')[1]
    assert cells(counts, "港区（東京都）") == ["港区（東京都）", "3", "2"]
    assert cells(counts, "演習の合計") == ["演習の合計", "5", "3"]


# --- exports ------------------------------------------------------------------------------------------------------

OLD_COLUMNS = {  # before organisations: these stay first, in this order
    "teams": ["exercise_id", "rank", "team", "team_name", "points", "events"],
    "scores": ["exercise_id", "team", "team_name", "source", "source_id", "title_ja", "title_en", "points", "events"],
    "events": ["exercise_id", "id", "team", "team_name", "source", "source_id", "points", "reason", "day",
               "exercise_time", "timeline_seconds", "created_at", "key"],
}


@pytest.mark.parametrize("kind", ["teams", "scores", "events"])
def test_every_team_export_ends_with_the_teams_organisations(orgs: Orgs, instructor, kind: str) -> None:  # type: ignore[no-untyped-def]
    data = download(instructor, f"/review/exercises/{orgs.world.exercise.id}/export/{kind}.csv")
    header = data.decode("utf-8-sig").splitlines()[0].split(",")
    assert header[:len(OLD_COLUMNS[kind])] == OLD_COLUMNS[kind] and header[-1] == "organisations"
    rows = read_csv(data)
    assert {r["team"]: r["organisations"] for r in rows if r["team"] in ("1", "2")} == {
        "1": "港区", "2": "府中市 / 港区"}


def test_the_messages_export_carries_organisations(orgs: Orgs, instructor) -> None:  # type: ignore[no-untyped-def]
    header = download(instructor, f"/review/exercises/{orgs.world.exercise.id}/export/messages.csv")
    assert header.decode("utf-8-sig").splitlines()[0].endswith(",created_at,organisations")


def test_the_trainee_export_is_the_roster_with_organisations(orgs: Orgs, instructor) -> None:  # type: ignore[no-untyped-def]
    rows = read_csv(download(instructor, f"/review/exercises/{orgs.tama.id}/export/trainees.csv"))
    assert [(r["login"], r["organisation"], r["organisation_prefecture_code"], r["organisation_prefecture_ja"])
            for r in rows] == [("fuchu-h1", "府中市", "34", "広島県"), ("fuchu-t2", "府中市", "13", "東京都")]
    document = json.loads(download(instructor, f"/review/exercises/{orgs.world.exercise.id}/export/trainees.json"))
    assert {t["login"]: t["organisation"] for t in document["trainees"]}["nobody-1"] is None


def test_the_exercise_list_export_appends_trainee_and_organisation_counts(orgs: Orgs, instructor) -> None:  # type: ignore[no-untyped-def]
    data = download(instructor, "/review/export/exercises.csv")
    assert data.decode("utf-8-sig").splitlines()[0].endswith(",teams,created_at,trainees,organisations")
    assert {r["name"]: (r["trainees"], r["organisations"]) for r in read_csv(data)} == {
        "みなと市 演習": ("5", "2"), "多摩の演習": ("2", "2")}


def test_the_api_names_each_members_organisation(orgs: Orgs, db: Session, app) -> None:  # type: ignore[no-untyped-def]
    from app.services import tokens

    raw = tokens.issue(db, orgs.world.instructor, "t", actor=None)
    db.commit()
    team = orgs.world.teams[1]
    response = app.test_client().get(f"/api/v1/teams/{team.id}", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert sorted((m["login"], m["organisation"]) for m in response.get_json()["members"]) == [
        ("fuchu-t1", "府中市"), ("kenshu-b", "港区")]
