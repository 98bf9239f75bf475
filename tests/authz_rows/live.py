"""The instructor console's live view, readiness board, range jobs, hint release, roster preview and white cell."""
from tests.authz_rows import Row

STAFF_ONLY = (302, 403, 403, 200, 200)

ROWS = [
    Row("GET", "/exercises/{exercise}/live", STAFF_ONLY),
    Row("GET", "/exercises/999999/live", (302, 403, 403, 404, 404)),
    Row("GET", "/exercises/{exercise}/live/board", STAFF_ONLY),
    Row("GET", "/exercises/{exercise}/readiness", STAFF_ONLY),
    Row("GET", "/exercises/{exercise}/readiness/board", STAFF_ONLY),
    # Building all teams would start a real `mamori exercise provision`: here no such exercise (404 for
    # staff); tests/test_range_board.py checks the real exercise's button refuses trainees and other instructors.
    Row("POST", "/exercises/999999/ranges/build", (302, 403, 403, 404, 404)),
    # No team's range has failed: refused with a message, nothing is started.
    Row("POST", "/exercises/{exercise}/ranges/rebuild-failed", (302, 403, 403, 302, 302)),
    # No confirm field: refused with a message, nothing is removed.
    Row("POST", "/exercises/{exercise}/ranges/teardown", (302, 403, 403, 302, 302)),
    # No team 99: nothing is started (a real team would start `mamori exercise provision`).
    Row("POST", "/exercises/{exercise}/teams/99/provision", (302, 403, 403, 404, 404)),
    # The scenario has no host "nope": refused with a message, nothing is started.
    Row("POST", "/exercises/{exercise}/teams/1/hosts/nope/reset", (302, 403, 403, 302, 302)),
    Row("POST", "/exercises/{exercise}/teams/1/hosts/nope/resume", (302, 403, 403, 302, 302)),
    # Nothing chosen: the form comes back with its errors.
    Row("POST", "/exercises/{exercise}/hints", (302, 403, 403, 400, 400)),
    Row("POST", "/exercises/{exercise}/roster/confirm", (302, 403, 403, 400, 400)),
    # The white cell: the queue, and acting on a message (none such: 404 once the caller runs the exercise).
    Row("GET", "/exercises/{exercise}/white-cell", STAFF_ONLY),
    Row("GET", "/exercises/999999/white-cell", (302, 403, 403, 404, 404)),
    Row("POST", "/exercises/{exercise}/white-cell/999999/answer", (302, 403, 403, 404, 404), {"m999999-body": "了解"}),
    Row("POST", "/exercises/{exercise}/white-cell/999999/request", (302, 403, 403, 404, 404), {"request_id": "logs"}),
    Row("POST", "/exercises/{exercise}/white-cell/999999/dismiss", (302, 403, 403, 404, 404)),
    Row("GET", "/exercises/{exercise}/attachments/999999", (302, 403, 403, 404, 404)),
]
