"""Browser terminals into range hosts."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("terminal", __name__, url_prefix="/teams")
