"""The team portal's own routes: the polled status fragment, the team's score, the instructor's toggle."""
from __future__ import annotations

from tests.authz_rows import Row

ROWS = [
    Row("GET", "/teams/{team_a}/status", (302, 200, 403, 200, 200)),
    Row("GET", "/teams/{team_b}/status", (302, 403, 200, 200, 200)),
    # Scores are hidden in this world: the member gets the page that says so, staff the numbers.
    Row("GET", "/teams/{team_a}/score", (302, 200, 403, 200, 200)),
    Row("GET", "/teams/{team_b}/score", (302, 403, 200, 200, 200)),
    Row("GET", "/teams/999999/score", (302, 404, 404, 404, 404)),
    # Neither "show" nor "hide" chosen: refused, nothing changes.
    Row("POST", "/exercises/{exercise}/scores/visibility", (302, 403, 403, 400, 400)),
    Row("POST", "/exercises/999999/scores/visibility", (302, 403, 403, 404, 404), {"visible": "1"}),
]
