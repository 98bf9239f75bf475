"""Per-team variables: each team's drawn values are the answers a neighbour could copy, so their export is the
exercise's staff's and the administrators' (another instructor is refused it; trainees never get it)."""
from __future__ import annotations

from tests.authz_rows import Row

STAFF = (302, 403, 403, 200, 200)

ROWS = [
    Row("GET", "/review/exercises/{exercise}/export/variables.csv", STAFF),
    Row("GET", "/review/exercises/{exercise}/export/variables.json", STAFF),
    Row("GET", "/review/exercises/999999/export/variables.csv", (302, 403, 403, 404, 404)),
]
