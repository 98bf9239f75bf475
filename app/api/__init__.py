"""The JSON API under ``/api/v1``, described by ``/api/v1/openapi.json``."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api
from flask_wtf.csrf import CSRFProtect

from app.api import correspondence, reports, resources


def register_api(app: Flask, csrf: CSRFProtect) -> Api:
    """Attach the API to *app*.

    One ``Api`` per application: flask-smorest keeps the OpenAPI document on
    the ``Api`` object, so a shared one would accumulate paths across apps.
    """
    api = Api(app)
    for blueprint in (*resources.BLUEPRINTS, *correspondence.BLUEPRINTS, *reports.BLUEPRINTS):
        # Token-authenticated, never cookie-authenticated: CSRF cannot apply.
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint)
    return api
