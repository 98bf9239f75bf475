"""Files made from the review: CSV and JSON tables of exercises, teams, scores and events; the AAR as a PDF.

CSV is written for Excel as Japanese offices use it: UTF-8 with a byte-order
mark (without it Excel reads Shift_JIS and garbles every kanji) and CRLF line
ends. Cells that Excel would run as a formula (starting with ``=``, ``+``,
``-``, ``@``) get a leading apostrophe when they are text. Column names are
the same stable English keys in CSV and JSON, so scripts can read either; times
are in the display time zone. New columns are only ever appended, so a
spreadsheet reading columns by position keeps working: every table about
teams ends with ``organisations``, the organisations (所属団体) of the team's
members.

The PDF embeds the IPAex Gothic font (Debian's ``fonts-ipaexfont-gothic``) so
it prints the same on a machine without Japanese fonts; WeasyPrint may fetch
that font file and nothing else.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Exercise, Message, MessageAttachment, Organisation, ScoreEvent, ScoreSource, Team
from app.services import ledger, participation, review, scenarios
from app.services.errors import N_, ServiceError

CSV_BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SOURCES = tuple(ScoreSource)


@dataclass(frozen=True)
class Table:
    """A named table: one CSV file, or one list of objects in a JSON document."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


# The tables ----------------------------------------------------------------------------------


def exercises_table(rows: list[review.ExerciseRow]) -> Table:
    columns = ("id", "name", "state", "scenario", "scenario_version", "scenario_title_ja", "scenario_title_en",
               "level", "prefecture_code", "prefecture_ja", "prefecture_en", "venue", "starts_on", "ends_on",
               "teams", "created_at", "trainees", "organisations")
    return Table("exercises", columns, [
        (e.id, e.name, e.state.value, e.scenario.slug, e.scenario.version, e.scenario.title_ja, e.scenario.title_en,
         e.scenario.level, e.prefecture_id, e.prefecture.name_ja if e.prefecture else None,
         e.prefecture.name_en if e.prefecture else None, e.venue, e.starts_on, e.ends_on, row.teams, e.created_at,
         row.trainees, row.organisations)
        for row in rows for e in (row.exercise,)])


def _organisations_of(exercise: Exercise) -> dict[int, str]:
    """Team id -> its members' organisations, ``name / name`` (members loaded as ``review.get_exercise`` does)."""
    return {t.id: " / ".join(o.name for o in review.team_organisations(t)) for t in exercise.teams}


def teams_table(session: Session, exercise: Exercise) -> Table:
    """The ranking: every team's rank, total, points per kind of source, members (``exercise`` as from review)."""
    columns = ("exercise_id", "rank", "team", "team_name", "points", "events",
               *(f"points_{s.value}" for s in SOURCES), "members", "organisations")
    organisations = _organisations_of(exercise)
    return Table("teams", columns, [
        (exercise.id, r.rank, r.team.number, r.team.name, r.points, r.events,
         *(r.by_source.get(s, 0) for s in SOURCES),
         " / ".join(sorted(f"{m.user.display_name} ({m.user.login})" for m in r.team.memberships)),
         organisations.get(r.team.id, ""))
        for r in review.ranking(session, exercise)])


def trainees_table(session: Session, exercise: Exercise) -> Table:
    """The roster as it stands: every trainee with team and organisation (所属団体) and its prefecture."""
    columns = ("exercise_id", "team", "team_name", "login", "name", "organisation_id", "organisation",
               "organisation_prefecture_code", "organisation_prefecture_ja", "organisation_prefecture_en")
    rows = []
    for team in exercise.teams:
        for m in sorted(team.memberships, key=lambda m: m.user.login):
            org = m.user.organisation
            prefecture = org.prefecture if org else None
            rows.append((exercise.id, team.number, team.name, m.user.login, m.user.display_name,
                         org.id if org else None, org.name if org else None, prefecture.id if prefecture else None,
                         prefecture.name_ja if prefecture else None, prefecture.name_en if prefecture else None))
    return Table("trainees", columns, rows)


def scores_table(session: Session, exercise: Exercise) -> Table:
    """Each team's points per source (each check, task, report, hints, adjustments): the breakdown."""
    titles = review.titles(exercise)
    columns = ("exercise_id", "team", "team_name", "source", "source_id", "title_ja", "title_en", "points", "events",
               "organisations")
    organisations = _organisations_of(exercise)
    rows = []
    for team in exercise.teams:
        for line in ledger.breakdown(session, team):
            title = titles.get((line.source, line.source_id))
            rows.append((exercise.id, team.number, team.name, line.source.value, line.source_id,
                         title.ja if title else None, title.en if title else None, line.points, line.events,
                         organisations[team.id]))
    return Table("scores", columns, rows)


def events_table(session: Session, exercise: Exercise) -> Table:
    """Every line of the exercise's ledger, in the order it was written."""
    numbers = {t.id: t for t in exercise.teams}
    columns = ("exercise_id", "id", "team", "team_name", "source", "source_id", "points", "reason", "day",
               "exercise_time", "timeline_seconds", "created_at", "key", "organisations")
    organisations = _organisations_of(exercise)
    rows = []
    for e in session.scalars(select(ScoreEvent).where(ScoreEvent.exercise_id == exercise.id)
                             .order_by(ScoreEvent.id)):
        team: Team = numbers[e.team_id]
        rows.append((exercise.id, e.id, team.number, team.name, e.source.value, e.source_id, e.points, e.reason,
                     e.day, _hhmmss(e.exercise_seconds), e.timeline_seconds, e.created_at, e.key,
                     organisations[team.id]))
    return Table("events", columns, rows)


def messages_table(session: Session, exercise: Exercise) -> Table:
    """Every message between the teams and the scenario's characters, oldest first, attachments by name: two queries."""
    numbers = {t.id: t for t in exercise.teams}
    names: dict[int, list[str]] = {}
    for message_id, name in session.execute(
            select(MessageAttachment.message_id, MessageAttachment.name)
            .join(Message, Message.id == MessageAttachment.message_id)
            .where(Message.exercise_id == exercise.id).order_by(MessageAttachment.id)):
        names.setdefault(message_id, []).append(name)
    columns = ("exercise_id", "id", "team", "team_name", "direction", "character", "thread", "subject_ja",
               "subject_en", "body_ja", "body_en", "attachments", "day", "exercise_time", "created_at",
               "organisations")
    organisations = _organisations_of(exercise)
    rows = []
    for m in session.scalars(select(Message).where(Message.exercise_id == exercise.id, Message.character_id != "")
                             .order_by(Message.created_at, Message.id)):
        team: Team = numbers[m.team_id]
        rows.append((exercise.id, m.id, team.number, team.name, m.direction, m.character_id, m.thread_id,
                     m.subject_ja, m.subject_en, m.body_ja, m.body_en, " / ".join(names.get(m.id, [])), m.day,
                     _hhmmss(m.exercise_seconds), m.created_at, organisations[team.id]))
    return Table("messages", columns, rows)


def variables_table(session: Session, exercise: Exercise) -> Table:
    """Each team's drawn value of each of the scenario's variables (per-team variants against answer sharing)."""
    columns = ("exercise_id", "team", "team_name", "variable", "value")
    drawn = scenarios.values_by_team(exercise)
    return Table("variables", columns, [(exercise.id, team.number, team.name, variable.id, values[variable.id])
                                        for team, values in drawn.teams for variable in drawn.variables])


TABLES = {"teams": teams_table, "scores": scores_table, "events": events_table, "messages": messages_table,
          "trainees": trainees_table, "variables": variables_table}


def participation_table(counted: participation.Participation) -> Table:
    """The participant counts of the review list, one row per kind of line (``row``):

    ``exercise_organisation`` (an organisation in an exercise), ``exercise_total``
    (the exercise, every organisation), ``organisation_total`` (an organisation
    across the listed exercises) and one ``total``. Trainees and teams are
    distinct counts: a mixed team counts once in each of its organisations'
    rows and once in the totals.
    """
    columns = ("row", "exercise_id", "exercise_name", "starts_on", "exercise_prefecture_ja", "organisation_id",
               "organisation", "organisation_prefecture_code", "organisation_prefecture_ja", "exercises",
               "trainees", "teams")

    def org_cells(org: Organisation | None) -> tuple[Any, ...]:
        prefecture = org.prefecture if org else None
        return (org.id if org else None, org.name if org else None, prefecture.id if prefecture else None,
                prefecture.name_ja if prefecture else None)

    rows: list[tuple[Any, ...]] = []
    for line in counted.exercises:
        e = line.exercise
        head = (e.id, e.name, e.starts_on, e.prefecture.name_ja if e.prefecture else None)
        for org, n in line.by_organisation:
            rows.append(("exercise_organisation", *head, *org_cells(org), 1, n.trainees, n.teams))
        rows.append(("exercise_total", *head, *org_cells(counted.only), 1, line.total.trainees, line.total.teams))
    for org, n in counted.organisations:
        rows.append(("organisation_total", None, None, None, None, *org_cells(org), n.exercises, n.trainees, n.teams))
    t = counted.total
    rows.append(("total", None, None, None, None, *org_cells(counted.only), t.exercises, t.trainees, t.teams))
    return Table("participation", columns, rows)


def _hhmmss(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


# CSV and JSON --------------------------------------------------------------------------------


def to_csv(table: Table, zone: tzinfo) -> bytes:
    """UTF-8 with BOM, CRLF, a header row; times as ``YYYY-MM-DD HH:MM:SS`` in *zone* (Excel reads them)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_csv_cell(value, zone) for value in row])
    return (CSV_BOM + buffer.getvalue()).encode("utf-8")


def _csv_cell(value: Any, zone: tzinfo) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_json(tables: list[Table], zone: tzinfo, **head: Any) -> bytes:
    """One document: *head* (e.g. the exercise) and each table as a list of objects; times in ISO 8601."""
    document: dict[str, Any] = dict(head)
    for table in tables:
        document[table.name] = [dict(zip(table.columns, (_json_value(v, zone) for v in row))) for row in table.rows]
    return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")


def _json_value(value: Any, zone: tzinfo) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# PDF -----------------------------------------------------------------------------------------

FONT_FAMILY = "IPAexGothic"
KNOWN_FONT_FILES = (
    Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"),
    Path("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf"),
)


class FontMissing(ServiceError):
    status = 503


def japanese_font() -> Path:
    """The IPAex Gothic font file: the Debian package's path, or where fontconfig knows it."""
    for path in KNOWN_FONT_FILES:
        if path.is_file():
            return path
    if shutil.which("fc-list"):
        found = subprocess.run(["fc-list", f":family={FONT_FAMILY}", "file"], capture_output=True, text=True,
                               timeout=10, check=False).stdout
        for line in found.splitlines():
            path = Path(line.strip().rstrip(":"))
            if path.is_file():
                return path
    raise FontMissing(N_("the Japanese font for PDFs (IPAex Gothic) is not installed: "
                         "on Debian run `apt-get install fonts-ipaexfont-gothic`"))


def to_pdf(html: str, stylesheet: str) -> bytes:
    """Render *html* with *stylesheet* (CSS text) to PDF, IPAex Gothic embedded as the font of everything."""
    from weasyprint import CSS, HTML  # heavy: only the PDF needs it
    from weasyprint.text.fonts import FontConfiguration

    font = japanese_font().as_uri()
    fetcher = _only(font)
    fonts = FontConfiguration()
    face = (f"@font-face {{ font-family: '{FONT_FAMILY}'; src: url('{font}'); }}\n"
            f"html {{ font-family: '{FONT_FAMILY}'; }}\n")
    css = CSS(string=face + stylesheet, font_config=fonts, url_fetcher=fetcher)
    return HTML(string=html, url_fetcher=fetcher).write_pdf(stylesheets=[css], font_config=fonts)


def _only(allowed: str) -> Any:
    """A WeasyPrint URL fetcher that fetches *allowed* and refuses everything else (no network, no files)."""
    from weasyprint.urls import URLFetcher, URLFetchingError

    class FontOnly(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url != allowed:
                raise URLFetchingError(f"the PDF may not load {url}")
            return super().fetch(url, headers)

    return FontOnly(allowed_protocols=("file",))
