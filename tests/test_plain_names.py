"""Names a person types reach pages, slips, exported files and the operator's terminal: no control
characters and no bidi overrides in any of them (issue 14, item 10). Rosters: tests/rosters/invalid/."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import Exercise, Role
from app.services import tokens
from app.services.text import is_plain_text
from tests.factories import make_scenario, make_user

REFUSED = {
    "OSC escape": "\x1b]0;pwned\x07",
    "line break": "a\nb",
    "tab": "a\tb",
    "C1 CSI": "a\x9bb",
    "C1 NEL": "a\x85b",
    "right-to-left override": "\u202eabc",
    "left-to-right embedding": "\u202aabc",
    "pop directional formatting": "abc\u202c",
    "first strong isolate": "\u2068abc",
    "pop directional isolate": "abc\u2069",
}
ACCEPTED = ["山田 太郎", "〇〇市役所 情報政策課", "Team 01", "Café ｶﾀｶﾅ", "left\u200emark", "🙂"]


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
def test_control_and_bidi_characters_are_not_plain_text(value: str) -> None:
    assert not is_plain_text(value)


@pytest.mark.parametrize("value", ACCEPTED)
def test_ordinary_names_are_plain_text(value: str) -> None:
    assert is_plain_text(value)


@pytest.mark.parametrize("field", ["name", "venue"])
def test_the_api_refuses_a_bidi_override_in_an_exercise_name(client, db, field: str) -> None:  # type: ignore[no-untyped-def]
    raw = tokens.issue(db, make_user(db, role=Role.INSTRUCTOR, login="sensei"), "t", actor=None)
    make_scenario(db, slug="web-deface")
    db.commit()

    response = client.post("/api/v1/exercises", headers={"Authorization": f"Bearer {raw}"},
                           json={"scenario": "web-deface", "teams": 1, field: "演習\u202e1 日目"})

    assert response.status_code == 400
    assert "control characters" in response.get_data(as_text=True)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Exercise)) == 0
