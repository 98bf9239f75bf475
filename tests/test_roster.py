"""Roster import: the service, ``mamori roster import`` and the upload page.

A roster is accepted whole or not at all. The bad files are data:
``tests/rosters/invalid/<what-is-wrong>.csv`` with a sibling ``.expected``
holding, one per line, the substrings the error must contain. Every
``line N:`` in an ``.expected`` file is a line that must be named, and no
other line may be.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.cli import cli
from app.models import AuditEvent, Exercise, Membership, Organisation, Role, User
from app.services import staff
from app.services.roster import RosterError, import_roster
from tests.factories import make_exercise, make_user

INVALID_DIR = Path(__file__).parent / "rosters" / "invalid"
EXISTING_LOGIN = "sato.existing"  # in the database before every import; see login-already-exists.csv

GOOD_ROSTER = (
    "name,organisation,login,team\n"
    "山田 太郎,〇〇市役所 情報政策課,yamada.taro,Team 01\n"
    "佐藤 花子,〇〇市役所 情報政策課,sato.hanako,2\n"
    "鈴木 一郎,△△町役場 総務課,suzuki-ichiro,Team 02\n"
)
GOOD_ROWS = {  # login: (name, organisation, team)
    "yamada.taro": ("山田 太郎", "〇〇市役所 情報政策課", "Team 01"),
    "sato.hanako": ("佐藤 花子", "〇〇市役所 情報政策課", "Team 02"),
    "suzuki-ichiro": ("鈴木 一郎", "△△町役場 総務課", "Team 02"),
}
ENCODINGS = {
    "utf-8": GOOD_ROSTER.encode("utf-8"),
    # What Excel writes for "CSV UTF-8": a byte order mark and CRLF line ends.
    "excel-csv-utf-8": ("\ufeff" + GOOD_ROSTER.replace("\n", "\r\n")).encode("utf-8"),
}


# Helpers ----------------------------------------------------------------------


@dataclass(frozen=True)
class BadRoster:
    name: str
    data: bytes
    expected: list[str]

    @property
    def lines(self) -> set[int]:
        return {int(m.group(1)) for s in self.expected if (m := re.match(r"line (\d+):", s))}


def bad_rosters() -> list[BadRoster]:
    cases = []
    for path in sorted(INVALID_DIR.glob("*.csv")):
        expected_file = path.with_suffix(".expected")
        expected = [s for s in expected_file.read_text(encoding="utf-8").splitlines() if s.strip()]
        cases.append(BadRoster(path.stem, path.read_bytes(), expected))
    # Excel's default "CSV" on a Japanese Windows is Shift_JIS (cp932).
    cases.append(BadRoster("shift-jis", GOOD_ROSTER.encode("cp932"), ["not UTF-8", "CSV UTF-8"]))
    return cases


BAD_ROSTERS = bad_rosters()


def named_lines(message: str) -> set[int]:
    """The lines an error message blames: each problem starts a line with ``line N:``."""
    return {int(n) for n in re.findall(r"(?m)^(?:Error: )?line (\d+):", message)}


def counts(app: Flask) -> dict[str, int]:
    """Row counts read on a fresh session, so nothing uncommitted or stale is seen."""
    session = app.extensions["mamori.db"].session()
    try:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (User, Membership, Organisation, AuditEvent)
        }
    finally:
        session.close()


def mamori(runner: FlaskCliRunner, *args: str):  # type: ignore[no-untyped-def]
    # The runner's own ``app.cli`` has none of the ``mamori`` commands: pass the group.
    return runner.invoke(cli, args=list(args))


def password_table(output: str) -> dict[str, tuple[str, str, str]]:
    """``login -> (name, team, password)`` from the CLI's tab-separated output."""
    lines = output.strip().splitlines()
    assert lines[0] == "login\tname\tteam\tone-time password"
    rows = {}
    for line in lines[1:]:
        login, name, team, password = line.split("\t")
        rows[login] = (name, team, password)
    return rows


@pytest.fixture
def exercise_id(db: Session) -> int:
    """An exercise with teams ``Team 01`` and ``Team 02``, and one account already taken."""
    exercise = make_exercise(db, teams=2)
    make_user(db, login=EXISTING_LOGIN)
    db.commit()
    return exercise.id


def test_every_invalid_roster_says_what_it_must_produce() -> None:
    for path in INVALID_DIR.glob("*.csv"):
        expected = path.with_suffix(".expected")
        assert expected.is_file(), f"{path.name} has no {expected.name}"
        assert expected.read_text(encoding="utf-8").strip(), f"{expected.name} is empty"
    assert len(BAD_ROSTERS) >= 12


# A good roster ----------------------------------------------------------------


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_service_imports_every_trainee(app: Flask, db: Session, exercise_id: int, encoding: str) -> None:
    exercise = db.get(Exercise, exercise_id)
    imported = import_roster(db, exercise, ENCODINGS[encoding], actor=None)
    db.commit()

    assert {t.login: (t.name, t.team) for t in imported} == {
        login: (name, team) for login, (name, _org, team) in GOOD_ROWS.items()
    }
    assert len({t.password for t in imported}) == 3
    for login, (name, organisation, team) in GOOD_ROWS.items():
        user = db.scalar(select(User).where(User.login == login))
        assert user is not None
        assert user.role is Role.TRAINEE
        assert user.must_change_password
        assert user.display_name == name
        assert user.organisation is not None and user.organisation.name == organisation
        assert [m.team.name for m in user.memberships] == [team]
        assert all(m.exercise_id == exercise_id for m in user.memberships)
    organisations = db.scalars(select(Organisation.name).order_by(Organisation.name)).all()
    assert sorted(organisations) == sorted({"〇〇市役所 情報政策課", "△△町役場 総務課"})


def test_organisations_are_reused_by_a_later_roster(app: Flask, db: Session, exercise_id: int) -> None:
    import_roster(db, db.get(Exercise, exercise_id), ENCODINGS["utf-8"], actor=None)
    db.commit()
    other = make_exercise(db, teams=1)
    db.commit()
    second = "name,organisation,login,team\n高橋 次郎,〇〇市役所 情報政策課,takahashi,1\n"
    import_roster(db, other, second.encode("utf-8"), actor=None)
    db.commit()

    assert counts(app)["organisations"] == 2
    takahashi = db.scalar(select(User).where(User.login == "takahashi"))
    yamada = db.scalar(select(User).where(User.login == "yamada.taro"))
    assert takahashi is not None and yamada is not None
    assert takahashi.organisation_id == yamada.organisation_id


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_cli_prints_passwords_that_log_in(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient, auth, exercise_id: int,  # type: ignore[no-untyped-def]
    tmp_path: Path, encoding: str,
) -> None:
    path = tmp_path / "名簿.csv"
    path.write_bytes(ENCODINGS[encoding])

    result = mamori(runner, "roster", "import", str(exercise_id), str(path))

    assert result.exit_code == 0, result.output
    table = password_table(result.stdout)
    assert {login: (name, team) for login, (name, team, _pw) in table.items()} == {
        login: (name, team) for login, (name, _org, team) in GOOD_ROWS.items()
    }
    for login, (_name, _team, password) in table.items():
        assert len(password) >= 10
        response = auth.login(login, password)
        assert response.status_code == 302, f"{login} could not log in with the printed password"
        first_page = client.get("/")
        assert first_page.status_code == 302
        assert first_page.headers["Location"].endswith("/account/password")
        auth.logout()


def test_cli_rejects_a_roster_imported_twice(
    app: Flask, runner: FlaskCliRunner, exercise_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(ENCODINGS["utf-8"])
    assert mamori(runner, "roster", "import", str(exercise_id), str(path)).exit_code == 0
    before = counts(app)

    again = mamori(runner, "roster", "import", str(exercise_id), str(path))

    assert again.exit_code == 1
    assert named_lines(again.stderr) == {2, 3, 4}
    assert "already exists" in again.stderr
    assert counts(app) == before


def test_cli_names_a_missing_exercise(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(ENCODINGS["utf-8"])
    before = counts(app)

    result = mamori(runner, "roster", "import", "999999", str(path))

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "no exercise 999999" in result.stderr
    assert counts(app) == before


# Bad rosters (data-driven) ------------------------------------------------------


@pytest.mark.parametrize("case", BAD_ROSTERS, ids=lambda c: c.name)
def test_service_rejects_bad_roster_whole(app: Flask, db: Session, exercise_id: int, case: BadRoster) -> None:
    before = counts(app)

    with pytest.raises(RosterError) as caught:
        import_roster(db, db.get(Exercise, exercise_id), case.data, actor=None)
    db.commit()  # even a caller that commits after the error must find nothing written

    assert counts(app) == before
    message = str(caught.value)
    for expected in case.expected:
        assert expected in message
    assert named_lines(message) == case.lines
    assert len(caught.value.problems) >= max(len(case.lines), 1)


@pytest.mark.parametrize("case", BAD_ROSTERS, ids=lambda c: c.name)
def test_cli_rejects_bad_roster_whole(
    app: Flask, runner: FlaskCliRunner, exercise_id: int, tmp_path: Path, case: BadRoster
) -> None:
    path = tmp_path / f"{case.name}.csv"
    path.write_bytes(case.data)
    before = counts(app)

    result = mamori(runner, "roster", "import", str(exercise_id), str(path))

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), "an unexpected exception escaped the command"
    assert "Traceback" not in result.output
    assert "one-time password" not in result.stdout
    for expected in case.expected:
        assert expected in result.stderr
    assert named_lines(result.stderr) == case.lines
    assert counts(app) == before


# The upload page ------------------------------------------------------------------


def upload(client: FlaskClient, exercise_id: int, data: bytes, filename: str = "名簿.csv"):  # type: ignore[no-untyped-def]
    return client.post(
        f"/exercises/{exercise_id}/roster",
        data={"roster": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def instructor(db: Session, auth, exercise_id: int) -> None:  # type: ignore[no-untyped-def]
    """An instructor who runs the exercise (its staff), signed in."""
    make_user(db, role=Role.INSTRUCTOR, login="sensei")
    staff.add(db, db.get(Exercise, exercise_id), "sensei", actor=None)
    db.commit()
    assert auth.login("sensei").status_code == 302


def test_upload_shows_slips_with_working_passwords(
    app: Flask, client: FlaskClient, exercise_id: int, instructor: None
) -> None:
    page = upload(client, exercise_id, ENCODINGS["excel-csv-utf-8"])

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store", "no browser or proxy may keep the one-time passwords"
    html = page.get_data(as_text=True)
    assert "3 名の受講者を取り込みました" in html
    slips = dict(re.findall(r"<code>([\w.-]+)</code><br>[^<]*<code>(\w+)</code>", html))
    assert set(slips) == set(GOOD_ROWS)
    trainee = app.test_client()
    response = trainee.post("/login", data={"login": "sato.hanako", "password": slips["sato.hanako"]})
    assert response.status_code == 302
    assert trainee.get("/").headers["Location"].endswith("/account/password")


def test_bad_upload_lists_every_bad_line_in_japanese(
    app: Flask, client: FlaskClient, exercise_id: int, instructor: None
) -> None:
    case = next(c for c in BAD_ROSTERS if c.name == "several-bad-lines")
    before = counts(app)

    page = upload(client, exercise_id, case.data)

    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "受講者名簿は取り込まれませんでした。次の行を修正して、もう一度アップロードしてください" in html
    problems = re.search(r'<div class="flash flash-error" role="alert">.*?<ul>(.*?)</ul>', html, re.S)
    assert problems is not None
    assert problems.group(1).count("<li>") == len(case.lines)
    assert "suzuki ichiro" in problems.group(1)
    assert counts(app) == before


def test_shift_jis_upload_is_refused(app: Flask, client: FlaskClient, exercise_id: int, instructor: None) -> None:
    before = counts(app)

    page = upload(client, exercise_id, GOOD_ROSTER.encode("cp932"))

    assert page.status_code == 400
    assert "受講者名簿は取り込まれませんでした" in page.get_data(as_text=True)
    assert counts(app) == before


def test_trainee_cannot_upload_a_roster(app: Flask, db: Session, client: FlaskClient, auth, exercise_id: int) -> None:  # type: ignore[no-untyped-def]
    make_user(db, role=Role.TRAINEE, login="trainee.x")
    db.commit()
    auth.login("trainee.x")
    before = counts(app)

    assert upload(client, exercise_id, ENCODINGS["utf-8"]).status_code == 403
    assert counts(app) == before
