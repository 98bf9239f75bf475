"""What a team sees of its range: the SSH commands, credentials and an ssh_config — never hidden hosts."""
from __future__ import annotations

from app.models import RangeHost, RangeState, Role
from app.services import ranges
from tests.factories import add_member, make_exercise, make_user


def ready_range(db, team):  # type: ignore[no-untyped-def]
    row = ranges.team_range(db, team)
    row.state, row.gateway_port = RangeState.READY, 40022
    row.hosts = [RangeHost(name="ws01", state="running", addresses={"office": "10.160.1.10"}),
                 RangeHost(name="attacker", state="running", addresses={"office": "10.160.1.11"})]
    db.commit()
    return row


def test_the_team_page_shows_how_to_connect(client, db, auth) -> None:  # type: ignore[no-untyped-def]
    exercise = make_exercise(db, teams=2)
    trainee = make_user(db, role=Role.TRAINEE, login="kenshu1")
    add_member(db, exercise.teams[0], trainee)
    db.commit()
    auth.login("kenshu1")
    page = client.get(f"/teams/{exercise.teams[0].id}").get_data(as_text=True)
    assert "演習環境はまだ準備できていません" in page

    row = ready_range(db, exercise.teams[0])
    page = client.get(f"/teams/{exercise.teams[0].id}").get_data(as_text=True)
    assert f"ssh -J {row.gateway_user}@127.0.0.1:40022 staff@ws01" in page
    assert row.gateway_password in page and "Minato2024!" in page and "10.160.1.10" in page
    assert "attacker" not in page, "hidden hosts are never shown to trainees"

    config = client.get(f"/teams/{exercise.teams[0].id}/ssh_config")
    assert config.status_code == 200 and "attachment" in config.headers["Content-Disposition"]
    text = config.get_data(as_text=True)
    assert "ProxyJump mamori-gateway" in text and "Port 40022" in text and "Host ws01" in text
    assert "attacker" not in text
    assert client.get(f"/teams/{exercise.teams[1].id}/ssh_config").status_code == 403


def test_the_instructor_sees_each_teams_range(client, db, auth) -> None:  # type: ignore[no-untyped-def]
    exercise = make_exercise(db, teams=2)
    make_user(db, role=Role.INSTRUCTOR, login="sensei1")
    ready_range(db, exercise.teams[0])
    failed = ranges.team_range(db, exercise.teams[1])
    failed.state, failed.reason = RangeState.FAILED, "ws01: start-up command 1 failed (exit 1)"
    db.commit()
    auth.login("sensei1")
    page = client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
    assert "準備完了" in page and "失敗" in page and "start-up command 1 failed" in page
    assert "ws01: 稼働中" in page
    assert 'http-equiv="refresh"' not in page
    failed.state = RangeState.CREATING
    db.commit()
    assert 'http-equiv="refresh"' in client.get(f"/exercises/{exercise.id}").get_data(as_text=True)
