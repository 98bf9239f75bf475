"""Japanese first, English on request; the catalog complete and current; times in Asia/Tokyo."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from app.models import Role
from tests.factories import make_exercise, make_user

PROJECT_ROOT = Path(__file__).resolve().parent.parent
JA_PO = PROJECT_ROOT / "app" / "translations" / "ja" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle)


def forms(value: str | tuple[str, ...] | list[str]) -> list[str]:
    """A message's singular and plural forms as one list."""
    return [value] if isinstance(value, str) else list(value)


# --- choosing the language --------------------------------------------------------------


def test_pages_are_japanese_by_default(client):
    page = client.get("/login").get_data(as_text=True)

    assert '<html lang="ja"' in page
    assert "ログイン" in page
    assert "Log in" not in page


def test_switching_to_english_sets_a_cookie_and_translates_pages(client):
    response = client.get("/lang/en")

    assert response.status_code == 302
    assert any(h.startswith("mamori_lang=en") for h in response.headers.getlist("Set-Cookie"))
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en"' in page
    assert "Log in" in page
    assert "ログイン" not in page


def test_switching_back_to_japanese(client):
    client.get("/lang/en")
    client.get("/lang/ja")

    assert '<html lang="ja"' in client.get("/login").get_data(as_text=True)


def test_unknown_language_code_is_ignored(client):
    response = client.get("/lang/fr")

    assert response.status_code == 302
    assert not any(h.startswith("mamori_lang=") for h in response.headers.getlist("Set-Cookie"))
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="ja"' in page
    assert "ログイン" in page


def test_forged_language_cookie_is_ignored(client):
    client.set_cookie("mamori_lang", "xx")

    page = client.get("/login").get_data(as_text=True)

    assert '<html lang="ja"' in page


# --- the catalog ------------------------------------------------------------------------


def test_japanese_catalog_translates_every_message():
    untranslated = []
    fuzzy = []
    for message in read_catalog(JA_PO):
        if not message.id:
            continue  # the header
        if message.fuzzy:
            fuzzy.append(message.id)
        if not all(forms(message.string)):
            untranslated.append(message.id)

    assert fuzzy == [], "fuzzy entries in ja/messages.po"
    assert untranslated == [], f"{len(untranslated)} msgids without Japanese in ja/messages.po"


def test_japanese_catalog_keeps_every_placeholder():
    mismatched = []
    for message in read_catalog(JA_PO):
        if not message.id:
            continue
        wanted = {m.group(0) for s in forms(message.id) for m in PLACEHOLDER.finditer(s)}
        for translation in forms(message.string):
            if not translation:
                continue  # reported by the completeness test
            found = {m.group(0) for m in PLACEHOLDER.finditer(translation)}
            if found != wanted:
                mismatched.append((message.id, sorted(wanted), sorted(found)))

    assert mismatched == []


def test_placeholder_pattern_sees_what_gettext_substitutes():
    """Guard the guard: the regex must find the placeholders the catalog test compares."""
    found = [m.group(0) for m in PLACEHOLDER.finditer("%(count)d of %(name)s (%(id)r), 100%")]

    assert found == ["%(count)d", "%(name)s", "%(id)r"]


def test_catalog_has_every_message_the_code_uses(tmp_path):
    """Same extraction as `make translations`: a new UI string must reach the catalog."""
    pybabel = Path(sys.executable).parent / "pybabel"
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [str(pybabel), "extract", "-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "-k", "N_",
         "--no-location", "--sort-output", "--project=Mamori", "-o", str(pot), "."],
        cwd=PROJECT_ROOT, check=True, capture_output=True,
    )
    extracted = read_catalog(pot)
    catalog = read_catalog(JA_PO)

    assert len([m for m in extracted if m.id]) > 50, "extraction found almost nothing"
    missing = sorted(str(m.id) for m in extracted if m.id and m.id not in catalog)
    assert missing == [], "run `make translations` and translate the new strings"


# --- time zone --------------------------------------------------------------------------

# 23:30 UTC on 27 November is 08:30 on 28 November in Tokyo.
LATE_EVENING_UTC = datetime(2026, 11, 27, 23, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("lang", "tokyo", "utc"),
    [("ja", "2026/11/28 8:30", "2026/11/27"), ("en", "Nov 28, 2026, 8:30", "Nov 27")],
)
def test_exercise_times_are_shown_in_tokyo(client, db, auth, lang, tokyo, utc):
    make_user(db, role=Role.INSTRUCTOR, login="sensei")
    exercise = make_exercise(db, name="深夜の演習")
    exercise.created_at = LATE_EVENING_UTC
    db.commit()
    auth.login("sensei")
    client.get(f"/lang/{lang}")

    page = client.get("/exercises/").get_data(as_text=True)

    assert "深夜の演習" in page
    assert tokyo in page
    assert utc not in page
    assert "23:30" not in page and "11:30" not in page
