"""The review (振り返り): administrators and instructors only; trainees get 403 on every page and export."""
from __future__ import annotations

from tests.authz_rows import Row

STAFF = (302, 403, 403, 200, 200)
MISSING = (302, 403, 403, 404, 404)

ROWS = [
    Row("GET", "/review/", STAFF),
    Row("GET", "/review/export/exercises.csv", STAFF),
    Row("GET", "/review/export/exercises.json", STAFF),
    Row("GET", "/review/exercises/{exercise}", STAFF),
    Row("GET", "/review/exercises/999999", MISSING),
    Row("GET", "/review/exercises/{exercise}/teams/1", STAFF),
    Row("GET", "/review/exercises/{exercise}/teams/99", MISSING),
    Row("GET", "/review/exercises/{exercise}/teams/2/aar", STAFF),
    Row("GET", "/review/exercises/{exercise}/teams/99/aar", MISSING),
    Row("GET", "/review/exercises/{exercise}/teams/1/aar.pdf", STAFF),
    Row("GET", "/review/exercises/{exercise}/export/events.csv", STAFF),
    Row("GET", "/review/exercises/{exercise}/export/teams.json", STAFF),
    Row("GET", "/review/exercises/999999/export/scores.csv", MISSING),
]
