"""The API's request parser: webargs, except that JSON nested too deeply is a 400 like any malformed body."""
from __future__ import annotations

import json
import typing

import flask
import flask_smorest
from webargs.flaskparser import FlaskParser


class BoundedParser(FlaskParser):
    def _raw_load_json(self, req: flask.Request) -> typing.Any:
        try:
            return super()._raw_load_json(req)
        except RecursionError:
            # webargs answers a JSONDecodeError with 400 "Invalid JSON body." (an empty doc would mean "no body").
            raise json.JSONDecodeError("JSON nested too deeply", "(body)", 0) from None


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint reading arguments through ``BoundedParser``."""

    ARGUMENTS_PARSER = BoundedParser()
