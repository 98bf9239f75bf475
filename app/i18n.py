"""Language and time zone: Japanese first, English on request; times in the display zone."""
from __future__ import annotations

from datetime import date, datetime

from flask import current_app, request
from flask_babel import format_date, format_datetime
from flask_babel import lazy_gettext as _l

LANGUAGES = ("ja", "en")
LANG_COOKIE = "mamori_lang"


def select_locale() -> str:
    chosen = request.cookies.get(LANG_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    return current_app.config["MAMORI_SETTINGS"].default_locale


def select_timezone() -> str:
    return current_app.config["MAMORI_SETTINGS"].display_timezone


def localized(obj: object, field: str) -> str:
    """``obj.field_ja`` or ``obj.field_en`` for the current language, Japanese as fallback."""
    lang = select_locale()
    return getattr(obj, f"{field}_{lang}", None) or getattr(obj, f"{field}_ja")


def text_of(text: object) -> str:
    """A scenario text (``ja``/``en``) in the current language."""
    return str(getattr(text, select_locale(), None) or getattr(text, "ja"))


def when(value: datetime | date | None, style: str = "medium") -> str:
    """Render a moment in the display time zone (Asia/Tokyo unless configured)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return format_datetime(value, style)
    return format_date(value, style)


STATE_LABELS = {
    "draft": _l("Draft"),
    "provisioning": _l("Provisioning"),
    "ready": _l("Ready"),
    "running": _l("Running"),
    "paused": _l("Paused"),
    "day_ended": _l("Day ended"),
    "finished": _l("Finished"),
    "torn_down": _l("Torn down"),
}


def _label(table: dict[str, object], state: object) -> str:
    value = str(getattr(state, "value", state))
    return str(table.get(value, value))


def state_label(state: object) -> str:
    return _label(STATE_LABELS, state)


def translate(text: object) -> str:
    """Render a service ``Text`` (or any object) in the current language."""
    from flask_babel import gettext

    template = getattr(text, "template", None)
    if template is None:
        return str(text)
    params = dict(getattr(text, "params", {}) or {})
    if "state" in params:  # an exercise's state, named by a refusal, in the reader's words ("一時停止中", not "paused")
        params["state"] = state_label(params["state"])
    body = gettext(template, **params) if params else gettext(template)
    line = getattr(text, "line", None)
    return body if line is None else gettext("line %(line)d: ", line=line) + body


RANGE_LABELS = {
    "pending": _l("Waiting"),
    "creating": _l("Being built"),
    "ready": _l("Ready"),
    "failed": _l("Failed"),
    "paused": _l("Paused"),
    "torn_down": _l("Torn down"),
}


# An inject's state for one team, as the live view and the review word it ("pending": not run yet).
INJECT_LABELS = {
    "pending": _l("Pending"), "requested": _l("Requested"), "held": _l("Held"), "running": _l("In progress"),
    "fired": _l("Fired"), "failed": _l("Failed"), "skipped": _l("Skipped"), "missed": _l("Missed"),
    "interrupted": _l("Interrupted"),
}


def range_label(state: object) -> str:
    return _label(RANGE_LABELS, state)
