"""Organisations (所属団体): the municipalities and bodies trainees come from, keyed by name and prefecture.

The same name may exist in two prefectures (府中市 is in Tokyo and in
Hiroshima), so an organisation is found by its name *and* its prefecture;
one without a prefecture is a third, separate organisation.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.models import Organisation, Prefecture, User
from app.services import audit
from app.services.errors import N_, InvalidInput, NotFound
from app.services.text import is_plain_text

MAX_NAME = 200


def validate_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput(N_("the organisation's name is empty"))
    if not is_plain_text(name):
        raise InvalidInput(N_("names cannot contain line breaks or control characters"))
    if len(name) > MAX_NAME:
        raise InvalidInput(N_("the organisation's name is longer than %(max)d characters"), max=MAX_NAME)
    return name


def find_or_create(session: Session, name: str, prefecture_id: int | None) -> Organisation:
    """The organisation called *name* in *prefecture_id* (``None``: no prefecture), made if new."""
    name = validate_name(name)
    if prefecture_id is not None and session.get(Prefecture, prefecture_id) is None:
        raise InvalidInput(N_("unknown prefecture %(code)r"), code=prefecture_id)
    found = session.scalar(select(Organisation).where(
        Organisation.name == name,
        Organisation.prefecture_id.is_(None) if prefecture_id is None else Organisation.prefecture_id == prefecture_id,
    ))
    if found is None:
        found = Organisation(name=name, prefecture_id=prefecture_id)
        session.add(found)
        session.flush()
    return found


def get(session: Session, organisation_id: int) -> Organisation:
    found = session.get(Organisation, organisation_id)
    if found is None:
        raise NotFound(N_("no organisation %(id)d"), id=organisation_id)
    return found


def list_all(session: Session) -> list[Organisation]:
    """Every organisation, by prefecture (JIS order, none last) then name."""
    return list(session.scalars(select(Organisation).options(joinedload(Organisation.prefecture))
                                .order_by(Organisation.prefecture_id.asc().nulls_last(), Organisation.name)))


def label(organisation: Organisation | None, locale: str = "ja") -> str:
    """``府中市（東京都）`` / ``府中市 (Tokyo)``: the name with its prefecture, which tells two of one name apart."""
    if organisation is None:
        return ""
    if organisation.prefecture is None:
        return organisation.name
    if locale == "ja":
        return f"{organisation.name}（{organisation.prefecture.name_ja}）"
    return f"{organisation.name} ({organisation.prefecture.name_en})"


def set_organisation(session: Session, user: User, organisation: Organisation | None, *, actor: User | None,
                     ip: str = "") -> bool:
    """Put *user* in *organisation* (``None``: in none); audited. Returns whether anything changed."""
    if user.organisation_id == (organisation.id if organisation else None):
        return False
    previous = user.organisation
    user.organisation = organisation
    audit.record(session, "user.organisation_change", actor=actor, target=f"user:{user.login}", ip=ip,
                 old=label(previous) or None, new=label(organisation) or None)
    return True


def choose(session: Session, *, existing_id: int | None, new_name: str = "",
           prefecture_id: int | None = None) -> Organisation | None:
    """What an administrator picked: an existing organisation by id, or a typed name (found or made) in
    *prefecture_id*; neither is no organisation. Both at once is refused rather than guessed."""
    if new_name.strip():
        if existing_id:
            raise InvalidInput(N_("choose an existing organisation or type a new name, not both"))
        return find_or_create(session, new_name, prefecture_id)
    return get(session, existing_id) if existing_id else None
