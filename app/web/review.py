"""The administrator's review: exercises, rankings, breakdowns, after-action reports, exports."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("review", __name__, url_prefix="/review")
