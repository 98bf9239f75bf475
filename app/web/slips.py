"""The login URL printed on password slips: ``MAMORI_PUBLIC_URL`` when set, else this request's own root."""
from __future__ import annotations

from flask import request, url_for

from app.services import slips
from app.web.context import settings


def login_slip() -> slips.LoginSlip:
    root = settings().public_url or request.url_root
    path = url_for("auth.login")[len(request.script_root):]
    return slips.login_slip(slips.login_url(root, path))
