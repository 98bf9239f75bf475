"""A team's reports over the API: staff read, only members write (tests/test_api_reports.py)."""
from __future__ import annotations

from tests.authz_rows import Row

WRITE = {"text": "第一報", "base": "0.0"}

ROWS = [
    Row("GET", "/api/v1/teams/{team_a}/reports", (401, 200, 403, 200, 200)),
    Row("GET", "/api/v1/teams/{team_b}/reports", (401, 403, 200, 200, 200)),
    # The world's exercise is a draft: the member's write is refused by the service (409); the others
    # before the body is read.
    Row("POST", "/api/v1/teams/{team_a}/reports/first-report/draft", (401, 409, 403, 403, 403), WRITE),
    Row("POST", "/api/v1/teams/{team_a}/reports/first-report/submit", (401, 409, 403, 403, 403), WRITE),
]
