"""The JSON API under ``/api/v1``, described by ``/api/v1/openapi.json``."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect

from app.api import resources
from app.api.auth import authenticate_request


def register_api(app: Flask, api: Api, csrf: CSRFProtect) -> None:
    for blueprint in resources.BLUEPRINTS:
        blueprint.before_request(authenticate_request)
        # Token-authenticated, never cookie-authenticated: CSRF cannot apply.
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)
