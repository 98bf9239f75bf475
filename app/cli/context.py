"""Helpers the CLI commands share: the database of the current app, the caller's name."""
from __future__ import annotations

from flask import current_app

from app.db import Database
from app.settings import Settings


def database() -> Database:
    return current_app.extensions["mamori.db"]


def settings() -> Settings:
    return current_app.config["MAMORI_SETTINGS"]
