"""Organisations (所属団体): only administrators set a user's; the review's counts and the trainee (roster) export
are the review's (staff and administrators; another instructor is refused the export of an exercise not theirs)."""
from __future__ import annotations

from tests.authz_rows import Row

STAFF = (302, 403, 403, 200, 200)

ROWS = [
    Row("GET", "/admin/users/{trainee_a_user}/organisation", (302, 403, 403, 403, 200)),
    # No choice given: nothing changes, the administrator is sent back to the list.
    Row("POST", "/admin/users/{trainee_a_user}/organisation", (302, 403, 403, 403, 302),
        {"organisation": "0", "new_name": "", "prefecture": "0"}),
    Row("GET", "/admin/users/999999/organisation", (302, 403, 403, 403, 404)),
    Row("GET", "/review/export/participation.csv", STAFF),
    Row("GET", "/review/export/participation.json", STAFF),
    Row("GET", "/review/exercises/{exercise}/export/trainees.csv", STAFF),
    Row("GET", "/review/exercises/999999/export/trainees.json", (302, 403, 403, 404, 404)),
]
