"""Settings from the environment: the secret key, time zone, defaults; workers agreeing."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app import create_app
from app.settings import PROJECT_ROOT, ConfigurationError, Settings
from tests.factories import PASSWORD, make_user


def settings_in(instance: Path, **environ: str) -> Settings:
    return Settings.from_env(environ=environ, instance_path=instance)


# --- the secret key ---------------------------------------------------------------------


def test_secret_key_is_generated_once_into_a_private_file(tmp_path):
    settings = settings_in(tmp_path)

    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text(encoding="ascii").strip() == settings.secret_key
    assert len(settings.secret_key) >= 32
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_the_same_instance_folder_gives_the_same_key(tmp_path):
    first = settings_in(tmp_path / "instance")
    second = settings_in(tmp_path / "instance")
    elsewhere = settings_in(tmp_path / "other-instance")

    assert second.secret_key == first.secret_key
    assert elsewhere.secret_key != first.secret_key


def test_secret_key_from_the_environment_wins(tmp_path):
    from_file = settings_in(tmp_path).secret_key

    settings = settings_in(tmp_path, SECRET_KEY="set-by-the-operator-0123456789")

    assert settings.secret_key == "set-by-the-operator-0123456789"
    assert (tmp_path / "secret_key").read_text(encoding="ascii").strip() == from_file


def test_an_empty_secret_file_is_a_configuration_error(tmp_path):
    (tmp_path / "secret_key").write_text("\n", encoding="ascii")

    with pytest.raises(ConfigurationError, match="secret_key"):
        settings_in(tmp_path)


def test_the_default_instance_folder_is_git_ignored(monkeypatch, tmp_path):
    """Without MAMORI_INSTANCE_PATH the key lands in <project>/instance, which git ignores."""
    monkeypatch.setattr("app.settings.PROJECT_ROOT", tmp_path)
    settings = Settings.from_env(environ={})
    assert settings.instance_path == tmp_path / "instance"
    assert (tmp_path / "instance" / "secret_key").exists()

    ignored = {
        line.strip().strip("/")
        for line in (PROJECT_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    }
    assert "instance" in ignored


# --- time zone and defaults -------------------------------------------------------------


def test_unknown_time_zone_is_a_configuration_error_naming_tz(tmp_path):
    with pytest.raises(ConfigurationError, match=r"\bTZ\b") as error:
        settings_in(tmp_path, TZ="Not/AZone")

    assert "Not/AZone" in str(error.value)


def test_defaults(tmp_path):
    settings = settings_in(tmp_path)

    assert settings.display_timezone == "Asia/Tokyo"
    assert settings.default_locale == "ja"
    assert settings.range_bind_address == "127.0.0.1"
    assert settings.secure_cookies is False
    url = make_url(settings.database_url)
    assert url.get_backend_name() == "sqlite"
    assert Path(url.database).parent == tmp_path.resolve()


def test_environment_overrides(tmp_path):
    settings = settings_in(
        tmp_path, TZ="UTC", MAMORI_RANGE_BIND_ADDRESS="10.0.0.5", DATABASE_URL="sqlite:////srv/m.db"
    )

    assert settings.display_timezone == "UTC"
    assert settings.range_bind_address == "10.0.0.5"
    assert settings.database_url == "sqlite:////srv/m.db"


# --- two workers ------------------------------------------------------------------------


def test_two_apps_on_one_instance_folder_share_sessions(app, db, database_url, settings, tmp_path):
    """Two gunicorn workers read the same instance folder, so each accepts the other's cookie."""
    make_user(db, login="sato", display_name="佐藤 花子")
    db.commit()
    first = app.test_client()
    assert first.post("/login", data={"login": "sato", "password": PASSWORD}).status_code == 302
    cookie = first.get_cookie("mamori_session")
    assert cookie is not None

    worker = create_app(settings_in(settings.instance_path, DATABASE_URL=database_url))
    stranger = create_app(settings_in(tmp_path / "another-install", DATABASE_URL=database_url))
    try:
        second = worker.test_client()
        second.set_cookie("mamori_session", cookie.value)
        response = second.get("/")
        assert response.status_code == 200
        assert "佐藤 花子" in response.get_data(as_text=True)

        # Control: an app with a different secret must not accept it.
        third = stranger.test_client()
        third.set_cookie("mamori_session", cookie.value)
        assert third.get("/").status_code == 302
    finally:
        worker.extensions["mamori.db"].dispose()
        stranger.extensions["mamori.db"].dispose()


# --- the public URL printed on password slips --------------------------------------------


def test_the_public_url_is_unset_by_default_and_kept_without_its_trailing_slash(tmp_path):
    assert settings_in(tmp_path).public_url is None
    assert settings_in(tmp_path, MAMORI_PUBLIC_URL="https://mamori.example.lg.jp/").public_url == \
        "https://mamori.example.lg.jp"
    assert settings_in(tmp_path, MAMORI_PUBLIC_URL=" http://10.1.2.3:8000/kenshu ").public_url == \
        "http://10.1.2.3:8000/kenshu"


@pytest.mark.parametrize("value", ["mamori.example.lg.jp", "ftp://mamori.example.lg.jp", "https://",
                                   "https://a.example/?next=/", "https://a.example/#top",
                                   "https://user:pw@a.example", "https://a.example:99999", "https://a b.example"])
def test_a_public_url_that_is_not_a_plain_web_address_is_refused(tmp_path, value):
    with pytest.raises(ConfigurationError, match="MAMORI_PUBLIC_URL"):
        settings_in(tmp_path, MAMORI_PUBLIC_URL=value)
