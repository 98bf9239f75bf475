"""The team portal's own routes: the polled status fragment, the team's score, the instructor's toggle, and the
team's correspondence with the scenario's characters (pages and API)."""
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
    # Correspondence: staff read, only members write. The world's exercise is a draft, so the member's
    # message is refused beside the form (400); no thread or attachment 999999 exists (404 to whoever
    # may see the team; another team's member is refused the team first, 403).
    Row("GET", "/teams/{team_a}/messages/new", (302, 200, 403, 200, 200)),
    Row("GET", "/teams/{team_b}/messages/new", (302, 403, 200, 200, 200)),
    Row("POST", "/teams/{team_a}/messages/new", (302, 400, 403, 403, 403),
        {"to": "nisc", "subject": "件名", "body": "本文"}),
    Row("GET", "/teams/{team_a}/threads/999999", (302, 404, 403, 404, 404)),
    Row("POST", "/teams/{team_a}/threads/999999", (302, 404, 403, 404, 404), {"body": "本文"}),
    Row("GET", "/teams/{team_a}/threads/999999/body", (302, 404, 403, 404, 404)),
    Row("GET", "/teams/{team_a}/attachments/999999", (302, 404, 403, 404, 404)),
    Row("GET", "/api/v1/teams/{team_a}/threads", (401, 200, 403, 200, 200)),
    Row("GET", "/api/v1/teams/{team_b}/threads", (401, 403, 200, 200, 200)),
    Row("GET", "/api/v1/teams/{team_a}/threads/999999", (401, 404, 403, 404, 404)),
    Row("GET", "/api/v1/teams/{team_a}/attachments/999999", (401, 404, 403, 404, 404)),
    # The member's message is refused by the service (the exercise is a draft: 409); the others before
    # the body is read.
    Row("POST", "/api/v1/teams/{team_a}/messages", (401, 409, 403, 403, 403),
        {"character": "nisc", "subject": "件名", "text": "本文"}),
]
