"""The instructor's live view of a running exercise (filled in by the portals work)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("live", __name__, url_prefix="/exercises")
