"""Per-request plumbing shared by the web views and the API: session, caller, address."""
from __future__ import annotations

from flask import current_app, g, request
from sqlalchemy.orm import Session

from app.db import Database
from app.settings import Settings


def database() -> Database:
    return current_app.extensions["mamori.db"]


def settings() -> Settings:
    return current_app.config["MAMORI_SETTINGS"]


def db_session() -> Session:
    """The request's session; the view commits, teardown closes."""
    if "db_session" not in g:
        g.db_session = database().session()
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def client_ip() -> str:
    return request.remote_addr or ""
